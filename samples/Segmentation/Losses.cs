using System;
using LossDsl;
using static LossDsl.LossMath;

namespace LossDsl.Samples.Segmentation;

/// <summary>The sample's own loss.</summary>
public static partial class Losses
{
    /// <summary>
    /// Multiclass Dice plus cross-entropy, as segmentation_models_pytorch's <c>DiceLoss(mode="multiclass")</c> plus
    /// <c>cross_entropy</c>. <c>[Softmax]</c> makes it a multiclass set loss: the tensor overloads take logits
    /// [N, C, H, W] and an int64 mask [N, H, W], and the body runs once per class c, on p = softmax across the classes
    /// and y = [mask = c] over every pixel of the batch. A class absent from the batch's mask adds no Dice term. Each class
    /// set carries its pixels' share of the pixel-mean cross-entropy, times C, so the mean over the classes (reduction
    /// Mean) adds the whole cross-entropy back up.
    /// </summary>
    [Loss]
    public static partial float DiceCE([Softmax] ReadOnlySpan<float> probs, ReadOnlySpan<float> targets, float smooth = 0f, float eps = 1e-7f)
    {
        float intersection = Sum(probs, targets, (p, y) => p * y);
        float cardinality = Sum(probs, targets, (p, y) => p + y);
        float dice = (2 * intersection + smooth) / Max(cardinality + smooth, eps);
        float crossEntropy = -Sum(probs, targets, (p, y) => y * Log(p)) / targets.Length;
        return (Sum(targets) > 0 ? 1 - dice : 0) + Classes * crossEntropy;
    }
}
