using System;
using static LossDsl.LossMath;

namespace LossDsl.Losses;

/// <summary>
/// The Lovász losses: convex surrogates of the Jaccard (IoU) loss through its Lovász extension (Berman, Rannen Triki and
/// Blaschko, "The Lovász-Softmax loss: A tractable surrogate for the optimization of the intersection-over-union measure
/// in neural networks", CVPR 2018), as segmentation_models_pytorch defines them (<c>smp.losses.LovaszLoss</c>, its
/// <c>_lovasz_hinge</c> and <c>_lovasz_softmax</c>).
/// <para>
/// Over one set, sort the errors e descending; with P = Σ y the positives and, at sorted position k, the running sums
/// C1_k = Σ_{i ≤ k} y_(i) and C0_k = Σ_{i ≤ k} (1 − y_(i)), the Jaccard loss of the top k is
/// J_k = 1 − (P − C1_k) / (P + C0_k), and the loss is Σ_k f(e_(k))·(J_k − J_(k−1)) with J_0 = 0 (smp's
/// <c>_lovasz_grad</c> and its first difference; f = relu for the hinge, the identity for the softmax errors). In the DSL
/// that is a <c>SortedSum</c> whose element function reads the running sums with <c>CumSum</c>; the sum itself does not
/// depend on the order, so each element adds f(e)·(J at its rank − J just before it), with the Jaccard ratio before it
/// taken as 1 where its union is empty (the first element of a set with no positives: J_0 = 0).
/// </para>
/// The order passes no gradient (the permutation is constant, as smp's <c>torch.sort</c> indices are); the generated
/// gradient is f'(e)·ΔJ per element, permuted back. These losses run on the torch-ops backend on every device: the fused
/// kernels have no sort pass, and their backend table says so.
/// </summary>
public static partial class Lovasz
{
    /// <summary>
    /// Binary Lovász hinge over the whole batch: hinge errors e = 1 − z·(2y − 1), sorted descending, weighted by the
    /// Lovász gradient of the Jaccard loss: ℓ = Σ_k relu(e_(k))·(J_k − J_(k−1)).
    /// </summary>
    /// <remarks>
    /// Source: Berman et al., CVPR 2018 (Lovász hinge, eq. 10 with the extension of Jaccard's loss); as
    /// segmentation_models_pytorch's <c>LovaszLoss(mode="binary", per_image=False, ignore_index=…)</c>: logits and
    /// {0, 1} targets of any shape, every element in one set; <c>ignore_index</c> leaves the elements whose target equals it out
    /// of the sort and the sums, as smp's <c>_flatten_binary_scores</c> drops them.
    /// </remarks>
    [Loss(Sets = LossSets.Whole)]
    public static partial float LovaszHinge(ReadOnlySpan<float> logits, ReadOnlySpan<float> labels)
    {
        float positives = Sum(labels);
        return SortedSum(logits, labels,
            (z, y) => 1 - z * (2 * y - 1),                                   // sort by the hinge error, descending
            (z, y) => Max(0f, 1 - z * (2 * y - 1))                           // relu(e), with relu'(0) = 0 as F.relu
                * ((positives + CumSum(1 - y) - (1 - y) > 0 ? (positives - CumSum(y) + y) / (positives + CumSum(1 - y) - (1 - y)) : 1)
                   - (positives - CumSum(y)) / (positives + CumSum(1 - y))));   // J_k − J_(k−1)
    }

    /// <summary>
    /// Binary Lovász hinge per image: the loss of <see cref="LovaszHinge(ReadOnlySpan{float}, ReadOnlySpan{float})"/> over
    /// each image's pixels, one set per image (and channel, for <c>[N, 1, H, W]</c> one per image); <c>Reduction.Mean</c>
    /// averages the images.
    /// </summary>
    /// <remarks>
    /// Source: Berman et al., CVPR 2018; as segmentation_models_pytorch's <c>LovaszLoss(mode="binary", per_image=True,
    /// ignore_index=…)</c> on <c>[N, 1, H, W]</c> logits (smp's per-image loss is the mean over images of the flat loss).
    /// </remarks>
    [Loss(Sets = LossSets.PerImage)]
    public static partial float LovaszHingePerImage(ReadOnlySpan<float> logits, ReadOnlySpan<float> labels)
    {
        float positives = Sum(labels);
        return SortedSum(logits, labels,
            (z, y) => 1 - z * (2 * y - 1),
            (z, y) => Max(0f, 1 - z * (2 * y - 1))
                * ((positives + CumSum(1 - y) - (1 - y) > 0 ? (positives - CumSum(y) + y) / (positives + CumSum(1 - y) - (1 - y)) : 1)
                   - (positives - CumSum(y)) / (positives + CumSum(1 - y))));
    }
}
