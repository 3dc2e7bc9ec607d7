using System;
using static LossDsl.LossMath;

namespace LossDsl.Losses;

/// <summary>
/// Metric-learning losses over one batch (pair losses): the tensor overloads take an <c>[N, N]</c> similarity (or
/// distance) matrix and <c>[N]</c> integer labels, and build the positive and negative pair masks from the labels as
/// pytorch-metric-learning does (the anchor itself is neither). The body is one anchor's row; <c>Reduction.Mean</c>
/// averages the rows whose loss is positive (pytorch-metric-learning's <c>AvgNonZeroReducer</c>). Compute the matrix
/// from normalized embeddings, e.g. <c>z.matmul(z.t())</c>, so that the gradient reaches them.
/// </summary>
public static partial class MetricLearning
{
    /// <summary>
    /// Supervised contrastive loss: ℓ_i = −(1/|P(i)|)·Σ_{p∈P(i)} [s_ip/τ − log Σ_{k≠i} e^(s_ik/τ)], 0 for an anchor
    /// without positives; τ = temperature.
    /// </summary>
    /// <remarks>
    /// Source: Khosla et al., "Supervised Contrastive Learning", NeurIPS 2020; as pytorch-metric-learning's
    /// <c>SupConLoss(temperature=0.1)</c>.
    /// </remarks>
    [Loss]
    public static partial float SupCon(ReadOnlySpan<float> similarity, [Positives] ReadOnlySpan<float> positive, [Negatives] ReadOnlySpan<float> negative,
        [Range(0, double.PositiveInfinity, MinExclusive = true)] float temperature = 0.1f)
    {
        float lse = LogSumExp(similarity, positive, negative, (s, p, n) => p + n > 0 ? s / temperature : float.NegativeInfinity);
        float count = Sum(positive);
        return count > 0 ? -Sum(similarity, positive, (s, p) => p * (s / temperature - lse)) / count : 0;
    }

    /// <summary>
    /// NT-Xent / InfoNCE: ℓ_i = (1/|P(i)|)·Σ_{p∈P(i)} −log(e^(s_ip/τ) / (e^(s_ip/τ) + Σ_{n∈N(i)} e^(s_in/τ))), each positive
    /// against the anchor's negatives; with two views per label, the one positive is the other view.
    /// </summary>
    /// <remarks>
    /// Source: Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations" (SimCLR), ICML 2020;
    /// van den Oord et al., "Representation Learning with Contrastive Predictive Coding", 2018; as pytorch-metric-learning's
    /// <c>NTXentLoss(temperature=0.07)</c>.
    /// </remarks>
    [Loss]
    public static partial float NTXent(ReadOnlySpan<float> similarity, [Positives] ReadOnlySpan<float> positive, [Negatives] ReadOnlySpan<float> negative,
        [Range(0, double.PositiveInfinity, MinExclusive = true)] float temperature = 0.07f)
    {
        float negatives = LogSumExp(similarity, negative, (s, n) => n > 0 ? s / temperature : float.NegativeInfinity);
        float count = Sum(positive);
        return count > 0 ? Sum(similarity, positive, (s, p) => p > 0 ? Softplus(negatives - s / temperature) : 0) / count : 0;
    }

    /// <summary>
    /// Circle loss: ℓ_i = softplus(log Σ_{n} e^(γ·α_n·(s_n − m)) + log Σ_{p} e^(−γ·α_p·(s_p − (1 − m)))), with the
    /// untrained weights α_p = [1 + m − s_p]₊ and α_n = [s_n + m]₊; 0 for an anchor without positives or negatives.
    /// </summary>
    /// <remarks>
    /// Source: Sun et al., "Circle Loss: A Unified Perspective of Pair Similarity Optimization", CVPR 2020; as
    /// pytorch-metric-learning's <c>CircleLoss(m=0.4, gamma=80)</c> (the weights detached), on cosine similarities.
    /// </remarks>
    [Loss]
    public static partial float Circle(ReadOnlySpan<float> similarity, [Positives] ReadOnlySpan<float> positive, [Negatives] ReadOnlySpan<float> negative,
        [Range(0, 1)] float m = 0.4f, [Range(0, double.PositiveInfinity, MinExclusive = true)] float gamma = 80f)
    {
        float positives = LogSumExp(similarity, positive, (s, p) => p > 0 ? -gamma * Max(1 + m - StopGradient(s), 0f) * (s - (1 - m)) : float.NegativeInfinity);
        float negatives = LogSumExp(similarity, negative, (s, n) => n > 0 ? gamma * Max(StopGradient(s) + m, 0f) * (s - m) : float.NegativeInfinity);
        return Sum(positive) > 0 && Sum(negative) > 0 ? Softplus(positives + negatives) : 0;
    }

    /// <summary>
    /// Batch-hard triplet loss on a distance matrix: ℓ_i = [max_{p∈P(i)} d_ip − min_{n∈N(i)} d_in + margin]₊, 0 for an
    /// anchor without positives or negatives.
    /// </summary>
    /// <remarks>
    /// Source: Hermans, Beyer and Leibe, "In Defense of the Triplet Loss for Person Re-Identification", 2017; as
    /// pytorch-metric-learning's <c>TripletMarginLoss(margin=0.05)</c> with a <c>BatchHardMiner</c>, on
    /// <c>torch.cdist</c> distances.
    /// </remarks>
    [Loss]
    public static partial float BatchHardTriplet(ReadOnlySpan<float> distance, [Positives] ReadOnlySpan<float> positive, [Negatives] ReadOnlySpan<float> negative,
        [Range(0, double.PositiveInfinity)] float margin = 0.05f)
    {
        float hardestPositive = Max(distance, positive, (d, p) => p > 0 ? d : float.NegativeInfinity);
        float hardestNegative = -Max(distance, negative, (d, n) => n > 0 ? -d : float.NegativeInfinity);
        return Sum(positive) > 0 && Sum(negative) > 0 ? Max(hardestPositive - hardestNegative + margin, 0f) : 0;
    }

    /// <summary>
    /// Multi-similarity loss: ℓ_i = (1/α)·log(1 + Σ_{p∈P(i)} e^(−α(s_ip − λ))) + (1/β)·log(1 + Σ_{n∈N(i)} e^(β(s_in − λ))),
    /// with λ = lambda (pytorch-metric-learning's <c>base</c>, a C# keyword).
    /// </summary>
    /// <remarks>
    /// Source: Wang et al., "Multi-Similarity Loss with General Pair Weighting for Deep Metric Learning", CVPR 2019; as
    /// pytorch-metric-learning's <c>MultiSimilarityLoss(alpha=2, beta=50, base=0.5)</c> without a miner.
    /// </remarks>
    [Loss]
    public static partial float MultiSimilarity(ReadOnlySpan<float> similarity, [Positives] ReadOnlySpan<float> positive, [Negatives] ReadOnlySpan<float> negative,
        [Range(0, double.PositiveInfinity, MinExclusive = true)] float alpha = 2f, [Range(0, double.PositiveInfinity, MinExclusive = true)] float beta = 50f,
        [Range(-1, 1)] float lambda = 0.5f)
    {
        float positives = LogSumExp(similarity, positive, (s, p) => p > 0 ? alpha * (lambda - s) : float.NegativeInfinity);
        float negatives = LogSumExp(similarity, negative, (s, n) => n > 0 ? beta * (s - lambda) : float.NegativeInfinity);
        return Softplus(positives) / alpha + Softplus(negatives) / beta;
    }
}
