using System;
using static LossDsl.LossMath;

namespace LossDsl.Samples;

/// <summary>The seed losses, one per loss shape, written in the LossDsl subset of C#.</summary>
public static partial class Losses
{
    /// <summary>
    /// Poly-1 (Leng et al. 2022), a class-row loss: cross-entropy plus ε(1 − p_t), where p = softmax(logits). The paper
    /// takes ε ≥ −1, where the loss still decreases in p_t.
    /// </summary>
    [Loss]
    public static partial float Poly1(ReadOnlySpan<float> logits, int target, [Range(-1, double.PositiveInfinity)] float epsilon = 1f)
        => -LogSoftmax(logits, target) + epsilon * (1 - Softmax(logits, target));

    /// <summary>
    /// Tversky loss, a set loss, on sigmoid probabilities (segmentation_models_pytorch binary/multilabel mode):
    /// one set per channel over batch and pixels. <paramref name="alpha"/> weights false positives and
    /// <paramref name="beta"/> false negatives (the smp, kornia and MONAI convention); the denominator is
    /// clamped at <paramref name="eps"/> as smp does.
    /// </summary>
    [Loss(Shape = LossShape.ChannelSet)]
    public static partial float Tversky(ReadOnlySpan<float> logits, ReadOnlySpan<float> targets,
        [Range(0, double.PositiveInfinity)] float alpha = 0.5f, [Range(0, double.PositiveInfinity)] float beta = 0.5f,
        [Range(0, double.PositiveInfinity)] float smooth = 0f, [Range(0, double.PositiveInfinity, MinExclusive = true)] float eps = 1e-7f)
    {
        float tp = Sum(logits, targets, (x, y) => Sigmoid(x) * y);
        float fp = Sum(logits, targets, (x, y) => Sigmoid(x) * (1 - y));
        float fn = Sum(logits, targets, (x, y) => (1 - Sigmoid(x)) * y);
        return 1 - (tp + smooth) / Max(tp + alpha * fp + beta * fn + smooth, eps);
    }

    /// <summary>
    /// Sigmoid focal loss (Lin et al. 2017), elementwise, as torchvision's <c>sigmoid_focal_loss</c>:
    /// α_t (1 − p_t)^γ · BCE(x, y). A negative <paramref name="alpha"/> turns the α weighting off.
    /// </summary>
    [Loss(Task = LossTask.BinaryLogit)]
    public static partial float SigmoidFocal(float logit, float target, float alpha = 0.25f, [Range(0, double.PositiveInfinity)] float gamma = 2f)
    {
        float p = Sigmoid(logit);
        float ce = Softplus(logit) - logit * target;
        float pt = p * target + (1 - p) * (1 - target);
        float at = alpha >= 0 ? alpha * target + (1 - alpha) * (1 - target) : 1f;
        return at * ce * Pow(1 - pt, gamma);
    }

    /// <summary>
    /// Supervised contrastive loss (Khosla et al. 2020), a pair loss, as pytorch-metric-learning's SupConLoss: on one
    /// anchor's row of a similarity matrix, the mean log-probability of its positives among every other item. The
    /// tensor overloads take the [N, N] similarity matrix and the labels; the masks are built from the labels. A row
    /// without positives has loss 0 and drops out of the mean.
    /// </summary>
    [Loss]
    public static partial float SupCon(ReadOnlySpan<float> similarity, [Positives] ReadOnlySpan<float> positive, [Negatives] ReadOnlySpan<float> negative,
        [Range(0, double.PositiveInfinity, MinExclusive = true)] float temperature = 0.1f)
    {
        float lse = LogSumExp(similarity, positive, negative, (s, p, n) => p + n > 0 ? s / temperature : float.NegativeInfinity);
        float count = Sum(positive);
        return count > 0 ? -Sum(similarity, positive, (s, p) => p * (s / temperature - lse)) / count : 0;
    }

    /// <summary>
    /// Multiclass Dice plus cross-entropy, the usual segmentation pair, as segmentation_models_pytorch's
    /// <c>DiceLoss(mode="multiclass", from_logits=True)</c> plus <c>cross_entropy</c>, in one multiclass set loss: the
    /// tensor overloads take logits [N, C, H, W] and an int64 mask [N, H, W]. The body runs once per class c, on p (the
    /// softmax across the classes) and y (the one-hot of the mask) over the pixels. Classes absent from the target add
    /// no Dice loss, as in smp; each class set holds its own pixels' share of the pixel-mean cross-entropy, which the
    /// mean over the classes adds back up: Σ_c Classes·CE_c / Classes.
    /// </summary>
    [Loss]
    public static partial float DiceCE([Softmax] ReadOnlySpan<float> probs, ReadOnlySpan<float> targets,
        [Range(0, double.PositiveInfinity)] float smooth = 0f, [Range(0, double.PositiveInfinity, MinExclusive = true)] float eps = 1e-7f)
    {
        float intersection = Sum(probs, targets, (p, y) => p * y);
        float cardinality = Sum(probs, targets, (p, y) => p + y);
        float dice = (2 * intersection + smooth) / Max(cardinality + smooth, eps);
        float crossEntropy = -Sum(probs, targets, (p, y) => y * Log(p)) / targets.Length;
        return (Sum(targets) > 0 ? 1 - dice : 0) + Classes * crossEntropy;
    }
}
