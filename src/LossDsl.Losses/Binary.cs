using System;
using static LossDsl.LossMath;

namespace LossDsl.Losses;

/// <summary>
/// Sigmoid (binary and multilabel) losses: elementwise over logits x and labels y ∈ [0, 1] of the same shape, as
/// <c>binary_cross_entropy_with_logits</c> takes them. σ is the sigmoid, p = σ(x), and p_t = p if y = 1, else 1 − p.
/// </summary>
public static partial class Binary
{
    /// <summary>
    /// Binary cross-entropy with logits: ℓ = −[w₊·y·log σ(x) + (1 − y)·log σ(−x)] = w₊·y·softplus(−x) + (1 − y)·softplus(x),
    /// with w₊ = pos_weight.
    /// </summary>
    /// <remarks>
    /// Source: the binary log-loss; PyTorch <c>F.binary_cross_entropy_with_logits</c> (a scalar <c>pos_weight</c>).
    /// </remarks>
    [Loss(Task = LossTask.BinaryLogit)]
    public static partial float BceWithLogits(float logit, float target, [Range(0, double.PositiveInfinity)] float pos_weight = 1f)
        => pos_weight * target * Softplus(-logit) + (1 - target) * Softplus(logit);

    /// <summary>
    /// Sigmoid focal loss: ℓ = α_t·(1 − p_t)^γ·BCE(x, y), with α_t = α·y + (1 − α)(1 − y); a negative α turns the α
    /// weighting off.
    /// </summary>
    /// <remarks>
    /// Source: Lin et al., "Focal Loss for Dense Object Detection" (RetinaNet), ICCV 2017; as torchvision's
    /// <c>ops.sigmoid_focal_loss(alpha=0.25, gamma=2)</c>.
    /// </remarks>
    [Loss(Task = LossTask.BinaryLogit)]
    public static partial float SigmoidFocal(float logit, float target, [Range(-1, 1)] float alpha = 0.25f, [Range(0, double.PositiveInfinity)] float gamma = 2f)
    {
        float p = Sigmoid(logit);
        // BCE as (1 − y)·softplus(x) + y·softplus(−x), equal to softplus(x) − x·y for any y but without its cancellation
        // at large |x| (float32 keeps the loss and gradient of a confident right prediction to full relative precision).
        float ce = (1 - target) * Softplus(logit) + target * Softplus(-logit);
        float pt = p * target + (1 - p) * (1 - target);
        float at = alpha >= 0 ? alpha * target + (1 - alpha) * (1 - target) : 1f;
        return at * ce * Pow(1 - pt, gamma);
    }

    /// <summary>
    /// Asymmetric loss (ASL): ℓ = −[y·(1 − p)^γ₊·log p + (1 − y)·p_m^γ₋·log(1 − p_m)], with the shifted probability
    /// p_m = max(p − clip, 0), γ₊ = gamma_pos and γ₋ = gamma_neg.
    /// </summary>
    /// <remarks>
    /// Source: Ridnik et al., "Asymmetric Loss For Multi-Label Classification", ICCV 2021; reference code Alibaba-MIIL/ASL
    /// (<c>AsymmetricLoss(gamma_neg=4, gamma_pos=1, clip=0.05)</c>). log p is log σ(x) and 1 − p_m = min(σ(−x) + clip, 1),
    /// computed without the reference's eps clamp.
    /// </remarks>
    [Loss(Task = LossTask.BinaryLogit)]
    public static partial float Asymmetric(float logit, float target,
        [Range(0, double.PositiveInfinity)] float gamma_neg = 4f, [Range(0, double.PositiveInfinity)] float gamma_pos = 1f, [Range(0, 1)] float clip = 0.05f)
    {
        float shifted = Max(Sigmoid(logit) - clip, 0f);
        float positive = target * Pow(Sigmoid(-logit), gamma_pos) * LogSigmoid(logit);
        float negative = (1 - target) * Pow(shifted, gamma_neg) * (clip > 0 ? Log(Min(Sigmoid(-logit) + clip, 1f)) : LogSigmoid(-logit));
        return -(positive + negative);
    }

    /// <summary>
    /// AUC-M square loss over the whole batch, on h = σ(x) and the positive ratio p = imratio:
    /// ℓ = (1 − p)·mean(y·(h − a)²) + p·mean((1 − y)·(h − b)²) + 2α·(p(1 − p)·m + mean(p·h·(1 − y) − (1 − p)·h·y)) − p(1 − p)·α²,
    /// with m = margin. a, b and α are trained scalars (tensors with one value), α by gradient ascent.
    /// </summary>
    /// <remarks>
    /// Source: Yuan et al., "Large-scale Robust Deep AUC Maximization: A New Surrogate Loss and Empirical Studies on
    /// Medical Image Classification", ICCV 2021; as LibAUC's <c>AUCMLoss(margin=1.0, imratio)</c> (optimized with PESG).
    /// A ranking surrogate (of the AUC), so it has no calibration task.
    /// </remarks>
    [Loss(Sets = LossSets.Whole, Task = LossTask.None)]
    public static partial float AucM(ReadOnlySpan<float> logits, ReadOnlySpan<float> labels, float a, float b, float alpha,
        [Range(0, 1, MinExclusive = true, MaxExclusive = true)] float imratio = 0.1f, [Range(0, double.PositiveInfinity)] float margin = 1f)
    {
        float p = imratio;
        float positive = Mean(logits, labels, (z, y) => y * Square(Sigmoid(z) - a));
        float negative = Mean(logits, labels, (z, y) => (1 - y) * Square(Sigmoid(z) - b));
        float gap = Mean(logits, labels, (z, y) => p * Sigmoid(z) * (1 - y) - (1 - p) * Sigmoid(z) * y);
        return (1 - p) * positive + p * negative + 2 * alpha * (p * (1 - p) * margin + gap) - p * (1 - p) * alpha * alpha;
    }
}
