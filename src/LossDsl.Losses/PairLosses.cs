using System;
using static LossDsl.LossMath;

namespace LossDsl.Losses;

/// <summary>
/// Metric-learning losses as pytorch-metric-learning defines them, on a distance matrix <c>[N, N]</c> (e.g.
/// <c>torch.cdist</c> of the embeddings), its values declared ≥ 0 (a negative or NaN distance throws), and the batch's
/// labels, from which the pair masks are built (the diagonal excluded). The contrastive loss averages per pair, not per
/// anchor row: its per-anchor sums are reduced across the anchors (<c>SumOverAnchors</c>). NCA is per anchor row.
/// </summary>
public static partial class PairLosses
{
    /// <summary>
    /// Contrastive loss with a per-pair mean: ℓ = Σ_{(a,p)} [d_ap − m₊]₊ / #{(a,p): d_ap > m₊} + Σ_{(a,n)} [m₋ − d_an]₊ / #{(a,n): d_an &lt; m₋},
    /// each mean over the pairs whose loss is non-zero (0 when there are none), with m₊ = pos_margin and m₋ = neg_margin.
    /// </summary>
    /// <remarks>
    /// Source: Hadsell, Chopra and LeCun, "Dimensionality Reduction by Learning an Invariant Mapping", CVPR 2006; as
    /// pytorch-metric-learning's <c>ContrastiveLoss(pos_margin=0, neg_margin=1)</c> with its <c>AvgNonZeroReducer</c> over
    /// pairs, on Euclidean distances.
    /// </remarks>
    [Loss(Task = LossTask.None)]
    public static partial float Contrastive([Range(0, double.PositiveInfinity)] ReadOnlySpan<float> distance,
        [Positives] ReadOnlySpan<float> positive, [Negatives] ReadOnlySpan<float> negative,
        [Range(0, double.PositiveInfinity)] float pos_margin = 0f, [Range(0, double.PositiveInfinity)] float neg_margin = 1f)
    {
        // Per anchor row, then across the anchors: means over the batch's pairs, not over its anchors.
        float pos = SumOverAnchors(Sum(distance, positive, (d, p) => p * Max(d - pos_margin, 0f)));
        float posPairs = SumOverAnchors(Sum(distance, positive, (d, p) => p > 0 && d > pos_margin ? 1 : 0));
        float neg = SumOverAnchors(Sum(distance, negative, (d, n) => n * Max(neg_margin - d, 0f)));
        float negPairs = SumOverAnchors(Sum(distance, negative, (d, n) => n > 0 && d < neg_margin ? 1 : 0));
        return (posPairs > 0 ? pos / posPairs : 0) + (negPairs > 0 ? neg / negPairs : 0);
    }

    /// <summary>
    /// Neighbourhood components analysis: ℓ_i = −log Σ_{p∈P(i)} softmax_{k≠i}(−s·d_ik)_p = log Σ_{k≠i} e^(−s·d_ik) − log Σ_{p∈P(i)} e^(−s·d_ip),
    /// on squared distances d and s = softmax_scale; 0 for an anchor without positives.
    /// </summary>
    /// <remarks>
    /// Source: Goldberger et al., "Neighbourhood Components Analysis", NeurIPS 2004; as pytorch-metric-learning's
    /// <c>NCALoss(softmax_scale=1)</c> on its default squared Euclidean distances (<c>LpDistance(power=2)</c>).
    /// </remarks>
    [Loss]
    public static partial float Nca([Range(0, double.PositiveInfinity)] ReadOnlySpan<float> distance, [Positives] ReadOnlySpan<float> positive,
        [Negatives] ReadOnlySpan<float> negative, [Range(0, double.PositiveInfinity, MinExclusive = true)] float softmax_scale = 1f)
    {
        float all = LogSumExp(distance, positive, negative, (d, p, n) => p + n > 0 ? -softmax_scale * d : float.NegativeInfinity);
        float positives = LogSumExp(distance, positive, (d, p) => p > 0 ? -softmax_scale * d : float.NegativeInfinity);
        return Sum(positive) > 0 ? all - positives : 0;
    }
}
