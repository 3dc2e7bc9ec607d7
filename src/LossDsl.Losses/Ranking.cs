using System;
using LossDsl.Runtime;
using TorchSharp;
using static LossDsl.LossMath;
using static TorchSharp.torch;

namespace LossDsl.Losses;

/// <summary>
/// Ranking and all-triplet metric losses, written with a reduction nested inside a row's element function: for each
/// element j of an anchor's row, a sum over the row's elements k (<c>SumWithRow(d, …, (x_j, …, row) =&gt; … row.Sum((x_k, …) =&gt; f(x_j, x_k)))</c>).
/// The tensor overloads take an <c>[N, N]</c> distance or similarity matrix and <c>[N]</c> labels, as the pair losses of
/// <see cref="MetricLearning"/> do. The torch-ops form evaluates a nested sum per block of outer elements, so that it
/// never makes an <c>[N, N, N]</c> tensor (docs/performance.md); the fused kernels have no inner loop and decline them.
/// </summary>
public static partial class Ranking
{
    /// <summary>
    /// All-triplets margin loss of one anchor i: ℓ_i = Σ_{p∈P(i)} Σ_{n∈N(i)} relu(d_ip − d_in + margin) (relu'(0) = 0, as F.relu), the sum of its triplets.
    /// losses over every (positive, negative) pair, on a distance matrix d. <c>Reduction.Sum</c> is the sum over every
    /// triplet of the batch; <see cref="TripletMarginLoss"/> is pytorch-metric-learning's mean over the triplets with a
    /// positive loss.
    /// </summary>
    /// <remarks>
    /// Source: Schroff et al., "FaceNet", CVPR 2015 (the triplet loss); Weinberger and Saul, JMLR 2009 (the margin); as
    /// pytorch-metric-learning's <c>TripletMarginLoss(margin=0.05)</c> with its default all-triplets mining
    /// (<c>get_all_triplets_indices</c>: positive = same label and not the anchor, negative = another label) and no swap.
    /// </remarks>
    [Loss]
    public static partial float TripletMarginAllTriplets(ReadOnlySpan<float> distance, [Positives] ReadOnlySpan<float> positive, [Negatives] ReadOnlySpan<float> negative,
        float margin = 0.05f)
        => SumWithRow(distance, positive, negative, (dp, p, _, row) => p * row.Sum((dn, _, n) => n * Max(0f, dp - dn + margin)));

    /// <summary>
    /// pytorch-metric-learning's <c>TripletMarginLoss</c> with its default reducer, <c>AvgNonZeroReducer</c>: the sum of the
    /// triplet losses relu(d_ap − d_an + margin) over all triplets (<see cref="TripletMarginAllTriplets"/>, Reduction.Sum)
    /// divided by the number of triplets whose loss is positive, strictly (<c>ThresholdReducer(low=0)</c>); 0 when there is
    /// none. The count passes no gradient; it is counted per block of anchors, without an [N, N, N] tensor.
    /// </summary>
    /// <param name="distance">[N, N] distances, e.g. <c>torch.cdist(z, z)</c> of L2-normalized embeddings (PML's default <c>LpDistance</c>).</param>
    /// <param name="labels">[N] integer labels.</param>
    /// <param name="margin">The margin (PML's default 0.05).</param>
    public static Tensor TripletMarginLoss(Tensor distance, Tensor labels, double margin = 0.05)
    {
        var sum = TripletMarginAllTriplets(distance, labels, margin: margin, reduction: nn.Reduction.Sum);
        long active = ActiveTriplets(distance, labels, margin);
        return active > 0 ? TorchScalars.Div(sum, active) : TorchScalars.Mul(sum, 0);
    }

    /// <summary>The number of triplets (a, p, n) with d_ap − d_an + margin &gt; 0, counted per block of anchors.</summary>
    private static long ActiveTriplets(Tensor distance, Tensor labels, double margin)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var d = distance.detach();
        long n = d.shape[0], block = Math.Max(1, (1L << 22) / Math.Max(1, n * n)), count = 0;
        var same = labels.view(-1, 1).eq(labels.view(1, -1));
        var positive = same.logical_and(eye(n, dtype: ScalarType.Bool, device: d.device).logical_not());
        var negative = same.logical_not();
        for (long a = 0; a < n; a += block)
        {
            long b = Math.Min(block, n - a);
            var gap = TorchScalars.Add(d.narrow(0, a, b).unsqueeze(2) - d.narrow(0, a, b).unsqueeze(1), margin);   // [b, p, n]: d_ap − d_an + m
            var kept = positive.narrow(0, a, b).unsqueeze(2).logical_and(negative.narrow(0, a, b).unsqueeze(1));
            count += TorchScalars.With(0L, gap.gt).logical_and(kept).sum().item<long>();
        }
        return count;
    }

    /// <summary>
    /// Smooth-AP of one query i over a similarity row s: with the sigmoid-smoothed ranks
    /// R(j, S) = 1 + Σ_{k∈S, k≠j} σ((s_k − s_j)/τ), AP_i = (1/|P(i)|)·Σ_{j∈P(i)} R(j, P(i)) / R(j, Ω(i)), and ℓ_i = 1 − AP_i, with
    /// P(i) the positives and Ω(i) every other item of the batch; 0 for a query without positives. τ = temperature.
    /// </summary>
    /// <remarks>
    /// Source: Brown, Xie, Kalogeiton and Zisserman, "Smooth-AP: Smoothing the Path Towards Large-Scale Image Retrieval",
    /// ECCV 2020 (eq. 10 and 11, τ = 0.01): each query of the batch against the rest of the batch.
    /// <c>Reduction.Mean</c> averages the queries whose loss is positive (the pair losses' <c>AvgNonZeroReducer</c>); every
    /// query with a positive has 1 − AP &gt; 0 unless its smoothed ranks round to exact, so this is the paper's mean over
    /// the queries with positives.
    /// </remarks>
    [Loss]
    public static partial float SmoothAP(ReadOnlySpan<float> similarity, [Positives] ReadOnlySpan<float> positive, [Negatives] ReadOnlySpan<float> negative,
        [Range(0, double.PositiveInfinity, MinExclusive = true)] float temperature = 0.01f)
    {
        float count = Sum(positive);
        return count > 0
            ? 1 - SumWithRow(similarity, positive, negative, (sj, pj, _, j, row) => pj
                * (1 + row.Sum((sk, pk, _, k) => k != j ? pk * Sigmoid((sk - sj) / temperature) : 0))             // R(j, P)
                / Max(1 + row.Sum((sk, pk, nk, k) => k != j ? (pk + nk) * Sigmoid((sk - sj) / temperature) : 0), 1f))   // R(j, Ω) ≥ 1: masks are 0 or 1
                / count
            : 0;
    }
}
