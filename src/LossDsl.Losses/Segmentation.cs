using System;
using static LossDsl.LossMath;

namespace LossDsl.Losses;

/// <summary>
/// Segmentation (set) losses. The binary/multilabel ones take logits and float targets <c>[N, C, *spatial]</c>, apply a
/// sigmoid, and compute one loss per channel over the batch and pixels (segmentation_models_pytorch's binary and
/// multilabel modes with <c>from_logits=True</c>); <c>Reduction.Mean</c> averages the channels. The multiclass ones take
/// logits <c>[N, C, *spatial]</c> and an int64 class mask <c>[N, *spatial]</c>, apply a softmax across C, and compute one
/// loss per class (smp's multiclass mode). Over a set, with p the probabilities and y the targets:
/// TP = Σ p·y, FP = Σ p·(1 − y), FN = Σ (1 − p)·y. smp's empty-channel convention is the option <c>skip_empty</c> of
/// Dice, Jaccard and Tversky (binary, multilabel and multiclass): at 1, the default, a channel (class) with no positive
/// target pixel adds 0 to the mean, as smp masks it; at 0 it adds its formula's value, as smp did before it masked
/// (an empty channel then scores 1 − smooth / max(Σ p + smooth, eps)). <c>weight</c> weighs the channels (classes) as
/// <c>cross_entropy</c>'s class weights: Mean divides by their sum.
/// </summary>
public static partial class Segmentation
{
    /// <summary>
    /// Soft Dice loss: ℓ = 1 − (2·TP + smooth) / max(Σ p + Σ y + smooth, eps), and ℓ = 0 for a channel whose target is
    /// empty (as smp masks it) unless skip_empty = 0.
    /// </summary>
    /// <remarks>
    /// Source: Milletari et al., "V-Net", 3DV 2016 (soft Dice); as segmentation_models_pytorch's
    /// <c>DiceLoss(mode="multilabel", from_logits=True, smooth=0, eps=1e-7)</c>.
    /// </remarks>
    [Loss(Sets = LossSets.PerChannel)]
    public static partial float Dice(ReadOnlySpan<float> logits, ReadOnlySpan<float> targets,
        [Range(0, double.PositiveInfinity)] float smooth = 0f, [Range(0, double.PositiveInfinity, MinExclusive = true)] float eps = 1e-7f,
        [Range(0, 1)] float skip_empty = 1f)
    {
        float intersection = Sum(logits, targets, (x, y) => Sigmoid(x) * y);
        float cardinality = Sum(logits, targets, (x, y) => Sigmoid(x) + y);
        return skip_empty > 0 && Sum(targets) == 0 ? 0 : 1 - (2 * intersection + smooth) / Max(cardinality + smooth, eps);
    }

    /// <summary>
    /// Soft Jaccard (IoU) loss: ℓ = 1 − (TP + smooth) / max(Σ p + Σ y − TP + smooth, eps), and 0 for an empty target
    /// unless skip_empty = 0.
    /// </summary>
    /// <remarks>
    /// Source: Rahman and Wang, "Optimizing Intersection-over-Union in Deep Neural Networks for Image Segmentation",
    /// 2016; as segmentation_models_pytorch's <c>JaccardLoss(mode="multilabel", from_logits=True)</c>.
    /// </remarks>
    [Loss(Sets = LossSets.PerChannel)]
    public static partial float Jaccard(ReadOnlySpan<float> logits, ReadOnlySpan<float> targets,
        [Range(0, double.PositiveInfinity)] float smooth = 0f, [Range(0, double.PositiveInfinity, MinExclusive = true)] float eps = 1e-7f,
        [Range(0, 1)] float skip_empty = 1f)
    {
        float intersection = Sum(logits, targets, (x, y) => Sigmoid(x) * y);
        float union = Sum(logits, targets, (x, y) => Sigmoid(x) + y) - intersection;
        return skip_empty > 0 && Sum(targets) == 0 ? 0 : 1 - (intersection + smooth) / Max(union + smooth, eps);
    }

    /// <summary>
    /// Tversky loss: ℓ = 1 − (TP + smooth) / max(TP + α·FP + β·FN + smooth, eps), and 0 for an empty target unless
    /// skip_empty = 0; α weights false positives and β false negatives (α = β = ½ is Dice).
    /// </summary>
    /// <remarks>
    /// Source: Salehi et al., "Tversky Loss Function for Image Segmentation Using 3D Fully Convolutional Deep Networks",
    /// 2017; as segmentation_models_pytorch's <c>TverskyLoss(mode="multilabel", from_logits=True, alpha=0.5, beta=0.5)</c>
    /// at gamma = 1 (the smp, kornia and MONAI convention for α and β).
    /// </remarks>
    [Loss(Sets = LossSets.PerChannel)]
    public static partial float Tversky(ReadOnlySpan<float> logits, ReadOnlySpan<float> targets,
        [Range(0, double.PositiveInfinity)] float alpha = 0.5f, [Range(0, double.PositiveInfinity)] float beta = 0.5f,
        [Range(0, double.PositiveInfinity)] float smooth = 0f, [Range(0, double.PositiveInfinity, MinExclusive = true)] float eps = 1e-7f,
        [Range(0, 1)] float skip_empty = 1f)
    {
        float tp = Sum(logits, targets, (x, y) => Sigmoid(x) * y);
        float fp = Sum(logits, targets, (x, y) => Sigmoid(x) * (1 - y));
        float fn = Sum(logits, targets, (x, y) => Sigmoid(-x) * y);
        return skip_empty > 0 && Sum(targets) == 0 ? 0 : 1 - (tp + smooth) / Max(tp + alpha * fp + beta * fn + smooth, eps);
    }

    /// <summary>
    /// Focal Tversky loss: ℓ = max(1 − TI, eps)^γ per channel, with the Tversky index TI = (TP + smooth) / max(TP + α·FP + β·FN + smooth, eps)
    /// (the base stops at eps: for γ &lt; 1 the slope of (1 − TI)^γ is infinite at TI = 1).
    /// α weights false positives and β false negatives (smp's naming; Abraham and Khan's code names them the other way
    /// round: its α = 0.7 weights false negatives, which is β = 0.7 here).
    /// </summary>
    /// <remarks>
    /// Source: Abraham and Khan, "A Novel Focal Tversky Loss Function with Improved Attention U-Net for Lesion
    /// Segmentation", ISBI 2019 (reference code nabsabraham/focal-tversky-unet: γ = 0.75, smooth = 1). smp's
    /// <c>TverskyLoss(gamma)</c> raises the mean over the channels to γ instead.
    /// </remarks>
    [Loss(Sets = LossSets.PerChannel)]
    public static partial float FocalTversky(ReadOnlySpan<float> logits, ReadOnlySpan<float> targets,
        [Range(0, double.PositiveInfinity)] float alpha = 0.3f, [Range(0, double.PositiveInfinity)] float beta = 0.7f,
        [Range(0, double.PositiveInfinity, MinExclusive = true)] float gamma = 0.75f,
        [Range(0, double.PositiveInfinity)] float smooth = 1f, [Range(0, double.PositiveInfinity, MinExclusive = true)] float eps = 1e-7f)
    {
        float tp = Sum(logits, targets, (x, y) => Sigmoid(x) * y);
        float fp = Sum(logits, targets, (x, y) => Sigmoid(x) * (1 - y));
        float fn = Sum(logits, targets, (x, y) => Sigmoid(-x) * y);
        float index = (tp + smooth) / Max(tp + alpha * fp + beta * fn + smooth, eps);
        return Pow(Max(1 - index, eps), gamma);   // γ < 1 has an infinite slope at TI = 1: the base stops at eps
    }

    /// <summary>
    /// smp's focal Tversky loss: ℓ = (mean_c ℓ_c)^γ, the mean over the channels of the Tversky losses
    /// ℓ_c = 1 − (TP + smooth) / max(TP + α·FP + β·FN + smooth, eps), with ℓ_c = 0 for a channel without a positive target
    /// pixel (smp masks it and still counts it in the mean). One value per call: a reduction across the channels, so
    /// <c>reduction</c> returns it as it is and the channels take no <c>weight</c>.
    /// </summary>
    /// <remarks>
    /// Source: segmentation_models_pytorch's <c>TverskyLoss(mode="multilabel", alpha=0.5, beta=0.5, gamma=1.0)</c>
    /// (<c>aggregate_loss</c>: <c>loss.mean() ** gamma</c>), after Salehi et al., "Tversky loss function for image
    /// segmentation using 3D fully convolutional deep networks", MLMI 2017; for γ &lt; 1 its slope is infinite where every
    /// channel's loss is 0, as smp's is. <c>FocalTversky</c> raises each channel's loss instead (Abraham and Khan).
    /// </remarks>
    [Loss(Sets = LossSets.PerChannel, Task = LossTask.None)]
    public static partial float SmpFocalTversky(ReadOnlySpan<float> logits, ReadOnlySpan<float> targets,
        [Range(0, double.PositiveInfinity)] float alpha = 0.5f, [Range(0, double.PositiveInfinity)] float beta = 0.5f,
        [Range(0, double.PositiveInfinity, MinExclusive = true)] float gamma = 1f,
        [Range(0, double.PositiveInfinity)] float smooth = 0f, [Range(0, double.PositiveInfinity, MinExclusive = true)] float eps = 1e-7f)
    {
        float tp = Sum(logits, targets, (x, y) => Sigmoid(x) * y);
        float fp = Sum(logits, targets, (x, y) => Sigmoid(x) * (1 - y));
        float fn = Sum(logits, targets, (x, y) => Sigmoid(-x) * y);
        float loss = Sum(targets) > 0 ? 1 - (tp + smooth) / Max(tp + alpha * fp + beta * fn + smooth, eps) : 0;
        return Pow(MeanOverClasses(loss), gamma);
    }

    /// <summary>
    /// Matthews correlation coefficient loss: ℓ = 1 − MCC, with MCC = (TP·TN − FP·FN) / √((TP + FP)(TP + FN)(TN + FP)(TN + FN)),
    /// TN = Σ (1 − p)(1 − y), and eps added to each of TP, TN, FP and FN.
    /// </summary>
    /// <remarks>
    /// Source: Abhishek and Hamarneh, "Matthews Correlation Coefficient Loss for Deep Convolutional Networks: Application
    /// to Skin Lesion Segmentation", ISBI 2021; as segmentation_models_pytorch's <c>MCCLoss(eps=1e-5)</c> on σ(logits).
    /// smp pools every channel into one set; here each channel is a set (the same for one channel).
    /// </remarks>
    [Loss(Sets = LossSets.PerChannel)]
    public static partial float Mcc(ReadOnlySpan<float> logits, ReadOnlySpan<float> targets, [Range(0, double.PositiveInfinity, MinExclusive = true)] float eps = 1e-5f)
    {
        float tp = Sum(logits, targets, (x, y) => Sigmoid(x) * y) + eps;
        float tn = Sum(logits, targets, (x, y) => Sigmoid(-x) * (1 - y)) + eps;
        float fp = Sum(logits, targets, (x, y) => Sigmoid(x) * (1 - y)) + eps;
        float fn = Sum(logits, targets, (x, y) => Sigmoid(-x) * y) + eps;
        return 1 - (tp * tn - fp * fn) / Sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn));
    }

    /// <summary>
    /// Multiclass soft Dice loss, one set per class of a softmax over C: ℓ_c = 1 − (2·TP_c + smooth) / max(Σ p_c + Σ y_c + smooth, eps),
    /// 0 for a class absent from the mask unless skip_empty = 0; the mean over the classes.
    /// </summary>
    /// <remarks>
    /// Source: Milletari et al., "V-Net", 3DV 2016; as segmentation_models_pytorch's
    /// <c>DiceLoss(mode="multiclass", from_logits=True)</c>.
    /// </remarks>
    [Loss]
    public static partial float MulticlassDice([Softmax] ReadOnlySpan<float> probs, ReadOnlySpan<float> targets,
        [Range(0, double.PositiveInfinity)] float smooth = 0f, [Range(0, double.PositiveInfinity, MinExclusive = true)] float eps = 1e-7f,
        [Range(0, 1)] float skip_empty = 1f)
    {
        float intersection = Sum(probs, targets, (p, y) => p * y);
        float cardinality = Sum(probs, targets, (p, y) => p + y);
        return skip_empty > 0 && Sum(targets) == 0 ? 0 : 1 - (2 * intersection + smooth) / Max(cardinality + smooth, eps);
    }

    /// <summary>
    /// Multiclass soft Jaccard loss, one set per class of a softmax over C: ℓ_c = 1 − (TP_c + smooth) / max(Σ p_c + Σ y_c − TP_c + smooth, eps),
    /// 0 for a class absent from the mask unless skip_empty = 0; the mean over the classes.
    /// </summary>
    /// <remarks>
    /// Source: Rahman and Wang 2016; as segmentation_models_pytorch's <c>JaccardLoss(mode="multiclass", from_logits=True)</c>.
    /// </remarks>
    [Loss]
    public static partial float MulticlassJaccard([Softmax] ReadOnlySpan<float> probs, ReadOnlySpan<float> targets,
        [Range(0, double.PositiveInfinity)] float smooth = 0f, [Range(0, double.PositiveInfinity, MinExclusive = true)] float eps = 1e-7f,
        [Range(0, 1)] float skip_empty = 1f)
    {
        float intersection = Sum(probs, targets, (p, y) => p * y);
        float union = Sum(probs, targets, (p, y) => p + y) - intersection;
        return skip_empty > 0 && Sum(targets) == 0 ? 0 : 1 - (intersection + smooth) / Max(union + smooth, eps);
    }

    /// <summary>
    /// Multiclass Tversky loss, one set per class of a softmax over C: ℓ_c = 1 − (TP_c + smooth) / max(TP_c + α·FP_c + β·FN_c + smooth, eps),
    /// 0 for a class absent from the mask unless skip_empty = 0; the mean over the classes.
    /// </summary>
    /// <remarks>
    /// Source: Salehi et al. 2017; as segmentation_models_pytorch's <c>TverskyLoss(mode="multiclass", from_logits=True)</c>
    /// at gamma = 1.
    /// </remarks>
    [Loss]
    public static partial float MulticlassTversky([Softmax] ReadOnlySpan<float> probs, ReadOnlySpan<float> targets,
        [Range(0, double.PositiveInfinity)] float alpha = 0.5f, [Range(0, double.PositiveInfinity)] float beta = 0.5f,
        [Range(0, double.PositiveInfinity)] float smooth = 0f, [Range(0, double.PositiveInfinity, MinExclusive = true)] float eps = 1e-7f,
        [Range(0, 1)] float skip_empty = 1f)
    {
        float tp = Sum(probs, targets, (p, y) => p * y);
        float fp = Sum(probs, targets, (p, y) => p * (1 - y));
        float fn = Sum(probs, targets, (p, y) => (1 - p) * y);
        return skip_empty > 0 && Sum(targets) == 0 ? 0 : 1 - (tp + smooth) / Max(tp + alpha * fp + beta * fn + smooth, eps);
    }
}
