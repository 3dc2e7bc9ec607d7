using System;
using static LossDsl.LossMath;

namespace LossDsl.Losses;

/// <summary>
/// Softmax classification losses on class rows: logits <c>[N, C]</c> (or <c>[N, C, d1, …]</c>) and int64 targets
/// <c>[N]</c> (or <c>[N, d1, …]</c>), as <c>cross_entropy</c> takes them. Notation: z is a row of C logits, t the target
/// class, p = softmax(z) and p_t its target entry.
/// </summary>
public static partial class Classification
{
    /// <summary>Cross-entropy: ℓ = −log p_t = log Σ_c e^(z_c) − z_t.</summary>
    /// <remarks>Source: the multinomial log-loss; PyTorch <c>F.cross_entropy</c> / <c>nn.CrossEntropyLoss</c>.</remarks>
    [Loss]
    public static partial float CrossEntropy(ReadOnlySpan<float> logits, int target)
        => -LogSoftmax(logits, target);

    /// <summary>
    /// Label-smoothed cross-entropy: ℓ = (1 − s)·(−log p_t) + s·(1/C)·Σ_c (−log p_c), with s = label_smoothing.
    /// </summary>
    /// <remarks>
    /// Source: Szegedy et al., "Rethinking the Inception Architecture for Computer Vision", 2016; as PyTorch
    /// <c>F.cross_entropy(label_smoothing: s)</c> and timm's <c>LabelSmoothingCrossEntropy</c>.
    /// </remarks>
    [Loss]
    public static partial float LabelSmoothingCrossEntropy(ReadOnlySpan<float> logits, int target, [Range(0, 1)] float label_smoothing = 0.1f)
    {
        float lse = LogSumExp(logits);
        float nll = lse - logits[target];
        float uniform = Mean(logits, z => lse - z);
        return (1 - label_smoothing) * nll + label_smoothing * uniform;
    }

    /// <summary>Poly-1: ℓ = −log p_t + ε·(1 − p_t), with ε = epsilon.</summary>
    /// <remarks>
    /// Source: Leng et al., "PolyLoss: A Polynomial Expansion Perspective of Classification Loss Functions", ICLR 2022
    /// (ε ≥ −1 keeps the loss non-negative); the reference implementation is the paper's Poly-1 formulation (TensorFlow).
    /// </remarks>
    [Loss]
    public static partial float Poly1(ReadOnlySpan<float> logits, int target, [Range(-1, double.PositiveInfinity)] float epsilon = 1f)
        => -LogSoftmax(logits, target) + epsilon * (1 - Softmax(logits, target));

    /// <summary>
    /// Poly-N, truncated at N = 3: ℓ = −log p_t + ε₁(1 − p_t) + ε₂(1 − p_t)² + ε₃(1 − p_t)³. With ε₂ = ε₃ = 0 (the
    /// defaults) it is Poly-1.
    /// </summary>
    /// <remarks>
    /// Source: Leng et al., "PolyLoss: A Polynomial Expansion Perspective of Classification Loss Functions", ICLR 2022
    /// (Poly-N perturbs the first N polynomial coefficients of cross-entropy).
    /// </remarks>
    [Loss]
    public static partial float PolyN(ReadOnlySpan<float> logits, int target, float epsilon1 = 1f, float epsilon2 = 0f, float epsilon3 = 0f)
    {
        float q = 1 - Softmax(logits, target);
        return -LogSoftmax(logits, target) + epsilon1 * q + epsilon2 * q * q + epsilon3 * q * q * q;
    }

    /// <summary>Softmax focal loss: ℓ = −(1 − p_t)^γ · log p_t, with γ = gamma.</summary>
    /// <remarks>
    /// Source: Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017 (its multiclass form); as
    /// segmentation_models_pytorch's <c>softmax_focal_loss_with_logits</c> without its α.
    /// </remarks>
    [Loss]
    public static partial float Focal(ReadOnlySpan<float> logits, int target, [Range(0, double.PositiveInfinity)] float gamma = 2f)
    {
        float logpt = LogSoftmax(logits, target);
        return -Pow(1 - Exp(logpt), gamma) * logpt;
    }

    /// <summary>
    /// Dual focal loss: ℓ = −(1 − p_t + p_j*)^γ · log p_t, with p_j* the largest non-target probability and γ = gamma.
    /// </summary>
    /// <remarks>
    /// Source: Tao, Dong and Xu, "Dual Focal Loss for Calibration", ICML 2023 (reference code: Linwei94/DualFocalLoss).
    /// The analyzer finds it not classification-calibrated at γ = 2 (LOSS0201, suppressed here: the verdict is part of
    /// the loss's documentation in docs/losses.md).
    /// </remarks>
#pragma warning disable LOSS0201   // a measured property of the loss, documented in docs/losses.md
    [Loss]
    public static partial float DualFocal(ReadOnlySpan<float> logits, int target, [Range(0, double.PositiveInfinity)] float gamma = 2f)
    {
        float lse = LogSumExp(logits);
        float logpt = logits[target] - lse;
        float best = Max(logits, (z, j) => j == target ? float.NegativeInfinity : z);
        return -Pow(1 - Exp(logpt) + Exp(best - lse), gamma) * logpt;
    }
#pragma warning restore LOSS0201

    /// <summary>Generalized cross-entropy (GCE): ℓ = (1 − p_t^q) / q, with q ∈ (0, 1]; q → 0 is CE, q = 1 is MAE.</summary>
    /// <remarks>
    /// Source: Zhang and Sabuncu, "Generalized Cross Entropy Loss for Training Deep Neural Networks with Noisy Labels",
    /// NeurIPS 2018 (q = 0.7 in their experiments). p_t^q is computed as e^(q·log p_t).
    /// </remarks>
    [Loss]
    public static partial float GeneralizedCrossEntropy(ReadOnlySpan<float> logits, int target, [Range(0, 1, MinExclusive = true)] float q = 0.7f)
        => (1 - Exp(q * LogSoftmax(logits, target))) / q;

    /// <summary>Mean absolute error on softmax probabilities: ℓ = 1 − p_t (GCE at q = 1; ½·Σ_c |p_c − y_c|).</summary>
    /// <remarks>
    /// Source: Ghosh, Kumar and Sastry, "Robust Loss Functions under Label Noise for Deep Neural Networks", AAAI 2017;
    /// the APL code (Ma et al. 2020, HanxunH/Active-Passive-Losses, <c>MeanAbsoluteError</c>) scales it by 2.
    /// </remarks>
    [Loss]
    public static partial float Mae(ReadOnlySpan<float> logits, int target)
        => 1 - Softmax(logits, target);

    /// <summary>Normalized cross-entropy (NCE): ℓ = log p_t / Σ_c log p_c.</summary>
    /// <remarks>
    /// Source: Ma et al., "Normalized Loss Functions for Deep Learning with Noisy Labels", ICML 2020 (the APL paper);
    /// reference code HanxunH/Active-Passive-Losses, <c>NormalizedCrossEntropy</c> (without its scale).
    /// </remarks>
    [Loss]
    public static partial float NormalizedCrossEntropy(ReadOnlySpan<float> logits, int target)
    {
        float lse = LogSumExp(logits);
        return (logits[target] - lse) / Sum(logits, z => z - lse);
    }

    /// <summary>
    /// Reverse cross-entropy (RCE): ℓ = −Σ_c p_c log q_c with q the one-hot target and log 0 clipped to A = a, which is
    /// ℓ = −A·(1 − p_t).
    /// </summary>
    /// <remarks>
    /// Source: Wang et al., "Symmetric Cross Entropy for Robust Learning with Noisy Labels", ICCV 2019 (A = −4); also
    /// the APL paper's RCE.
    /// </remarks>
    [Loss]
    public static partial float ReverseCrossEntropy(ReadOnlySpan<float> logits, int target, [Range(double.NegativeInfinity, 0, MaxExclusive = true)] float a = -4f)
        => -a * (1 - Softmax(logits, target));

    /// <summary>Symmetric cross-entropy (SCE): ℓ = α·(−log p_t) + β·(−A·(1 − p_t)), CE plus reverse CE.</summary>
    /// <remarks>
    /// Source: Wang et al., "Symmetric Cross Entropy for Robust Learning with Noisy Labels", ICCV 2019; reference code
    /// YisenWang/symmetric_cross_entropy_for_noisy_labels (<c>SCELoss(alpha, beta)</c>, α = 0.1, β = 1 on CIFAR-10, A = −4).
    /// </remarks>
    [Loss]
    public static partial float SymmetricCrossEntropy(ReadOnlySpan<float> logits, int target,
        [Range(0, double.PositiveInfinity)] float alpha = 0.1f, [Range(0, double.PositiveInfinity)] float beta = 1f,
        [Range(double.NegativeInfinity, 0, MaxExclusive = true)] float a = -4f)
        => -alpha * LogSoftmax(logits, target) - beta * a * (1 - Softmax(logits, target));

    /// <summary>Squentropy: ℓ = −log p_t + (1/(C − 1))·Σ_{c≠t} p_c².</summary>
    /// <remarks>
    /// Source: Hui, Belkin and Wright, "Cut your Losses with Squentropy", ICML 2023 (the average square loss over the
    /// incorrect classes, on softmax probabilities).
    /// </remarks>
    [Loss]
    public static partial float Squentropy(ReadOnlySpan<float> logits, int target)
    {
        float lse = LogSumExp(logits);
        float others = Sum(logits, (z, j) => j == target ? 0f : Exp(2 * (z - lse)));
        return lse - logits[target] + others / (logits.Length - 1);
    }

    /// <summary>
    /// Taylor cross-entropy: ℓ = Σ_{k=1..n} (1 − p_t)^k / k, the order-n Taylor series of −log p_t around p_t = 1, with
    /// n = order (the terms with k ≤ order, up to 4).
    /// </summary>
    /// <remarks>
    /// Source: Feng et al., "Can Cross Entropy Loss Be Robust to Label Noise?", IJCAI 2020 (order 1 is MAE; the series
    /// tends to CE as the order grows).
    /// </remarks>
    [Loss]
    public static partial float TaylorCrossEntropy(ReadOnlySpan<float> logits, int target, [Range(1, 4)] float order = 2f)
    {
        float q = 1 - Softmax(logits, target);
        float c2 = order >= 2 ? 1f / 2 : 0f;
        float c3 = order >= 3 ? 1f / 3 : 0f;
        float c4 = order >= 4 ? 1f / 4 : 0f;
        return q * (1 + q * (c2 + q * (c3 + q * c4)));   // Horner's form
    }

    /// <summary>Multiclass Brier score on softmax probabilities: ℓ = Σ_c (p_c − [c = t])².</summary>
    /// <remarks>
    /// Source: Brier, "Verification of Forecasts Expressed in Terms of Probability", Monthly Weather Review 1950; a
    /// strictly proper scoring rule (Gneiting and Raftery 2007).
    /// </remarks>
    [Loss]
    public static partial float Brier(ReadOnlySpan<float> logits, int target)
    {
        float lse = LogSumExp(logits);
        return Sum(logits, (z, j) => Square(Exp(z - lse) - (j == target ? 1f : 0f)));
    }

    /// <summary>
    /// LDAM: ℓ = −log softmax(s·(z − m·e_t))_t, cross-entropy on the logits scaled by s after subtracting the row's
    /// margin m from the target logit. m is a per-row input: m = m_list[t], with m_list_j ∝ n_j^(−1/4) for class counts
    /// n_j, scaled so that its largest entry is max_m (0.5 in the paper).
    /// </summary>
    /// <remarks>
    /// Source: Cao et al., "Learning Imbalanced Datasets with Label-Distribution-Aware Margin Loss", NeurIPS 2019;
    /// reference code kaidic/LDAM-DRW (<c>LDAMLoss(cls_num_list, max_m=0.5, s=30)</c>). Pass
    /// <c>margin: mList.index_select(0, target)</c>. The calibration verdict is the analyzer's at m = 1 (it sets extra
    /// data inputs to 1).
    /// </remarks>
    [Loss(Task = LossTask.Multiclass)]
    public static partial float Ldam(ReadOnlySpan<float> logits, int target, float margin, [Range(0, double.PositiveInfinity, MinExclusive = true)] float s = 30f)
        => LogSumExp(logits, (z, j) => s * (j == target ? z - margin : z)) - s * (logits[target] - margin);

    /// <summary>
    /// Logit-adjusted cross-entropy: ℓ = −log softmax(z + τ·log π)_t, with log π the log class priors (a row per sample:
    /// pass <c>logPrior.expand_as(logits)</c>) and τ = tau.
    /// </summary>
    /// <remarks>
    /// Source: Menon et al., "Long-tail Learning via Logit Adjustment", ICLR 2021; reference code
    /// google-research/google-research/logit_adjustment (τ = 1). The calibration verdict is taken at log π = 0 (uniform
    /// priors), where the loss is cross-entropy; with priors it targets the balanced error instead.
    /// </remarks>
    [Loss(Task = LossTask.Multiclass)]
    public static partial float LogitAdjusted(ReadOnlySpan<float> logits, ReadOnlySpan<float> log_prior, int target, [Range(0, double.PositiveInfinity)] float tau = 1f)
        => LogSumExp(logits, log_prior, (z, l) => z + tau * l) - (logits[target] + tau * log_prior[target]);

    /// <summary>Cross-entropy with the z-loss regularizer: ℓ = −log p_t + λ·(log Σ_c e^(z_c))², with λ = z_loss.</summary>
    /// <remarks>
    /// Source: Chowdhery et al., "PaLM: Scaling Language Modeling with Pathways", 2022 (λ = 1e-4); as t5x's
    /// <c>cross_entropy_with_logits(z_loss)</c> and Liger's <c>lse_square_scale</c>. Not the seeds' "Z-loss" (a loss
    /// over standardized logits).
    /// </remarks>
    [Loss]
    public static partial float ZLoss(ReadOnlySpan<float> logits, int target, [Range(0, double.PositiveInfinity)] float z_loss = 1e-4f)
    {
        float lse = LogSumExp(logits);
        return lse - logits[target] + z_loss * lse * lse;
    }

    /// <summary>
    /// Confidence penalty: ℓ = −log p_t − β·H(p), with the entropy H(p) = −Σ_c p_c log p_c and β = beta.
    /// </summary>
    /// <remarks>
    /// Source: Pereyra et al., "Regularizing Neural Networks by Penalizing Confident Output Distributions", ICLR 2017
    /// workshop.
    /// </remarks>
    [Loss]
    public static partial float ConfidencePenalty(ReadOnlySpan<float> logits, int target, [Range(0, double.PositiveInfinity)] float beta = 0.1f)
    {
        float lse = LogSumExp(logits);
        float entropy = -Sum(logits, z => Exp(z - lse) * (z - lse));
        return lse - logits[target] - beta * entropy;
    }
}
