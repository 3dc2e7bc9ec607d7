using System;
using static LossDsl.LossMath;

namespace LossDsl.Losses;

/// <summary>
/// More overlap (set) losses: variants of the soft Dice and surrogates of set metrics. They take logits and float targets
/// <c>[N, C, *spatial]</c> and apply a sigmoid, one set per channel over the batch and pixels (smp's binary and multilabel
/// modes; generalized Dice and AnyLoss: one set over the whole batch); <c>Reduction.Mean</c> averages the channels, and
/// the tensor overloads take smp's <c>ignore_index</c>. Over a
/// set, with p = σ(x) and y the targets: TP = Σ p·y, FP = Σ p·(1 − y), FN = Σ (1 − p)·y.
/// </summary>
public static partial class Overlap
{
    /// <summary>
    /// Log-cosh Dice loss: ℓ = log cosh(D), with the soft Dice loss D = 1 − (2·TP + smooth) / max(Σ p + Σ y + smooth, eps),
    /// computed as D + softplus(−2D) − log 2.
    /// </summary>
    /// <remarks>
    /// Source: Jadon, "A survey of loss functions for semantic segmentation", CIBCB 2020 (reference code
    /// shruti-jadon/Semantic-Segmentation-Loss-Functions, <c>log_cosh_dice_loss</c>, smooth = 1).
    /// </remarks>
    [Loss(Sets = LossSets.PerChannel)]
    public static partial float LogCoshDice(ReadOnlySpan<float> logits, ReadOnlySpan<float> targets,
        [Range(0, double.PositiveInfinity)] float smooth = 1f, [Range(0, double.PositiveInfinity, MinExclusive = true)] float eps = 1e-7f)
    {
        float intersection = Sum(logits, targets, (x, y) => Sigmoid(x) * y);
        float cardinality = Sum(logits, targets, (x, y) => Sigmoid(x) + y);
        float dice = 1 - (2 * intersection + smooth) / Max(cardinality + smooth, eps);
        return dice + Softplus(-2 * dice) - Log(2f);
    }

    /// <summary>
    /// Self-adjusting Dice loss: the soft Dice with each probability p replaced by (1 − p)^α·p, which down-weights easy
    /// examples: ℓ = 1 − (2·Σ p̃·y + smooth) / (Σ p̃ + Σ y + smooth), p̃ = (1 − p)^α·p. α = 0 is the soft Dice.
    /// </summary>
    /// <remarks>
    /// Source: Li et al., "Dice Loss for Data-imbalanced NLP Tasks", ACL 2020; reference code ShannonAI/dice_loss_for_NLP
    /// (<c>DiceLoss(with_logits=True, smooth=1e-4, alpha, square_denominator=False)</c>, its binary case over one set).
    /// </remarks>
    [Loss(Sets = LossSets.PerChannel)]
    public static partial float SelfAdjustingDice(ReadOnlySpan<float> logits, ReadOnlySpan<float> targets,
        [Range(0, double.PositiveInfinity)] float alpha = 0.1f, [Range(0, double.PositiveInfinity, MinExclusive = true)] float smooth = 1e-4f)
    {
        float intersection = Sum(logits, targets, (x, y) => Pow(Sigmoid(-x), alpha) * Sigmoid(x) * y);
        float cardinality = Sum(logits, targets, (x, y) => Pow(Sigmoid(-x), alpha) * Sigmoid(x) + y);
        return 1 - (2 * intersection + smooth) / (cardinality + smooth);
    }

    /// <summary>
    /// Weighted soft Dice loss with a per-element weight map w (e.g. U-Net's border weights): every sum is weighted,
    /// ℓ = 1 − (2·Σ w·p·y + smooth) / max(Σ w·(p + y) + smooth, eps), and 0 for a channel whose target is empty (smp's
    /// convention). Per-class weights are the <c>weight</c> argument of every channel-set loss instead.
    /// </summary>
    /// <remarks>
    /// Source: the soft Dice of Milletari et al., "V-Net", 3DV 2016, with the per-pixel weight map of Ronneberger et al.,
    /// "U-Net", MICCAI 2015, as in Sudre et al., "Generalised Dice overlap as a deep learning loss function for highly
    /// unbalanced segmentations", DLMIA 2017 (a weighted sum in numerator and denominator).
    /// </remarks>
    [Loss(Sets = LossSets.PerChannel)]
    public static partial float WeightedDice(ReadOnlySpan<float> logits, ReadOnlySpan<float> targets, ReadOnlySpan<float> weights,
        [Range(0, double.PositiveInfinity)] float smooth = 0f, [Range(0, double.PositiveInfinity, MinExclusive = true)] float eps = 1e-7f)
    {
        float intersection = Sum(logits, targets, weights, (x, y, w) => w * Sigmoid(x) * y);
        float cardinality = Sum(logits, targets, weights, (x, y, w) => w * (Sigmoid(x) + y));
        return Sum(targets) > 0 ? 1 - (2 * intersection + smooth) / Max(cardinality + smooth, eps) : 0;
    }

    /// <summary>
    /// Generalized Dice loss per image: ℓ_n = 1 − (2·Σ_c w_c·Σ_i p_ic·y_ic + smooth_nr) / (Σ_c w_c·Σ_i (p_ic + y_ic) + smooth_dr)
    /// over the pixels i of image n, with the class weights w_c = 1/(Σ_i y_ic)² of that image, and a class absent from it
    /// weighted as the image's largest finite weight (0 when every class is absent). <c>Reduction.Mean</c> averages the
    /// images; <c>GeneralizedDiceBatch</c> takes the sums over the whole batch.
    /// </summary>
    /// <remarks>
    /// Source: Sudre et al., "Generalised Dice overlap as a deep learning loss function for highly unbalanced
    /// segmentations", DLMIA 2017 (w_c = 1/(Σ y)²); as MONAI's <c>GeneralizedDiceLoss(sigmoid=True, w_type="square",
    /// batch=False)</c>, with its smooth_nr = smooth_dr = 1e-5 and its replacement of infinite weights by the largest finite
    /// one. The weights are a reduction across the classes of each image.
    /// </remarks>
    [Loss(Sets = LossSets.PerImage, Task = LossTask.None)]
    public static partial float GeneralizedDice(ReadOnlySpan<float> logits, [Range(0, 1)] ReadOnlySpan<float> targets,
        [Range(0, double.PositiveInfinity)] float smooth_nr = 1e-5f, [Range(0, double.PositiveInfinity, MinExclusive = true)] float smooth_dr = 1e-5f)
    {
        float volume = Sum(targets);
        float weight = volume > 0 ? 1 / volume / volume : 0;
        float w = volume > 0 ? weight : MaxOverClasses(weight);   // an absent class: the largest finite weight
        float intersection = Sum(logits, targets, (x, y) => Sigmoid(x) * y);
        float cardinality = Sum(logits, targets, (x, y) => Sigmoid(x) + y);
        // The denominator is ≥ smooth_dr (weights and sums are ≥ 0); the Max states it for the interval analysis, which
        // cannot see the weight's guard.
        return 1 - (2 * SumOverClasses(w * intersection) + smooth_nr) / Max(SumOverClasses(w * cardinality) + smooth_dr, smooth_dr);
    }

    /// <summary>
    /// Generalized Dice loss over the whole batch: <c>GeneralizedDice</c> with every sum over the batch and the
    /// pixels, one value per call: ℓ = 1 − (2·Σ_c w_c·Σ_{n,i} p·y + smooth_nr) / (Σ_c w_c·Σ_{n,i} (p + y) + smooth_dr),
    /// w_c = 1/(Σ_{n,i} y_c)².
    /// </summary>
    /// <remarks>
    /// Source: Sudre et al., DLMIA 2017; as MONAI's <c>GeneralizedDiceLoss(sigmoid=True, w_type="square", batch=True)</c>.
    /// </remarks>
    [Loss(Sets = LossSets.PerChannel, Task = LossTask.None)]
    public static partial float GeneralizedDiceBatch(ReadOnlySpan<float> logits, [Range(0, 1)] ReadOnlySpan<float> targets,
        [Range(0, double.PositiveInfinity)] float smooth_nr = 1e-5f, [Range(0, double.PositiveInfinity, MinExclusive = true)] float smooth_dr = 1e-5f)
    {
        float volume = Sum(targets);
        float weight = volume > 0 ? 1 / volume / volume : 0;
        float w = volume > 0 ? weight : MaxOverClasses(weight);
        float intersection = Sum(logits, targets, (x, y) => Sigmoid(x) * y);
        float cardinality = Sum(logits, targets, (x, y) => Sigmoid(x) + y);
        return 1 - (2 * SumOverClasses(w * intersection) + smooth_nr) / Max(SumOverClasses(w * cardinality) + smooth_dr, smooth_dr);
    }

    /// <summary>
    /// AnyLoss F-β: ℓ = 1 − (1 + β²)·TP / ((1 + β²)·TP + β²·FN + FP), on the amplified probabilities
    /// A(p) = 1 / (1 + e^(−L·(p − ½))) in place of p, with L = amplifier; one set over the whole batch.
    /// </summary>
    /// <remarks>
    /// Source: Han, Moniz and Chawla, "AnyLoss: Transforming Classification Metrics into Loss Functions", KDD 2024
    /// (L = 73, their recommended amplifier), on p = σ(logit); the denominator stops at eps, as smp's set losses do.
    /// </remarks>
    [Loss(Sets = LossSets.Whole, Task = LossTask.None)]
    public static partial float AnyLossFBeta(ReadOnlySpan<float> logits, ReadOnlySpan<float> targets,
        [Range(0, double.PositiveInfinity, MinExclusive = true)] float beta = 1f, [Range(0, double.PositiveInfinity, MinExclusive = true)] float amplifier = 73f,
        [Range(0, double.PositiveInfinity, MinExclusive = true)] float eps = 1e-7f)
    {
        float tp = Sum(logits, targets, (x, y) => y * Sigmoid(amplifier * (Sigmoid(x) - 0.5f)));
        float fn = Sum(logits, targets, (x, y) => y * Sigmoid(-amplifier * (Sigmoid(x) - 0.5f)));
        float fp = Sum(logits, targets, (x, y) => (1 - y) * Sigmoid(amplifier * (Sigmoid(x) - 0.5f)));
        float b2 = beta * beta;
        return 1 - (1 + b2) * tp / Max((1 + b2) * tp + b2 * fn + fp, eps);
    }
}
