using System;
using LossDsl.Runtime;
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
/// taken as 1 where its union is empty (the first element of a set with no positives: J_0 = 0). The union at a rank,
/// P + C0_k, is at least 1 for targets in [0, 1] (P ≥ y_k and C0_k ≥ 1 − y_k); the body says so with Max(…, 1), which
/// changes nothing there and lets the stability analysis prove the division safe.
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
                   - (positives - CumSum(y)) / Max(positives + CumSum(1 - y), 1f)));   // J_k − J_(k−1)
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
                   - (positives - CumSum(y)) / Max(positives + CumSum(1 - y), 1f)));
    }

    /// <summary>
    /// Lovász-Softmax, over the whole batch, every class: per class c, the errors e = |y − p_c| of the softmax
    /// probabilities against the one-hot of the class mask, sorted descending and weighted by the Lovász gradient of
    /// that class's Jaccard loss: ℓ_c = Σ_k e_(k)·(J_k − J_(k−1)). <c>Reduction.Mean</c> averages the classes.
    /// </summary>
    /// <remarks>
    /// Source: Berman et al., CVPR 2018 (Lovász-Softmax, Algorithm 1 and eq. 12); as segmentation_models_pytorch's
    /// <c>_lovasz_softmax(probas, labels, classes="all", per_image=False, ignore=…)</c> on <c>softmax(logits, 1)</c>:
    /// logits <c>[N, C, *spatial]</c> and an int64 class mask <c>[N, *spatial]</c>; an ignored pixel reads p = 0 and y = 0,
    /// an error of 0 that adds nothing and gets no gradient, as smp's dropping it does. smp's <c>LovaszLoss(mode="multiclass")</c>
    /// averages only the classes present in the mask (<c>classes="present"</c>): that is <see cref="LovaszSoftmaxPresent"/>.
    /// </remarks>
    [Loss]
    public static partial float LovaszSoftmax([Softmax] ReadOnlySpan<float> probs, ReadOnlySpan<float> targets)
    {
        float positives = Sum(targets);
        return SortedSum(probs, targets,
            (p, y) => Abs(y - p),                                            // sort by the class's error, descending
            (p, y) => Abs(y - p)
                * ((positives + CumSum(1 - y) - (1 - y) > 0 ? (positives - CumSum(y) + y) / (positives + CumSum(1 - y) - (1 - y)) : 1)
                   - (positives - CumSum(y)) / Max(positives + CumSum(1 - y), 1f)));   // J_k − J_(k−1)
    }

    /// <summary>
    /// Lovász-Softmax per image: the loss of <see cref="LovaszSoftmax(ReadOnlySpan{float}, ReadOnlySpan{float})"/> over
    /// each image's pixels, one set per image and class; <c>Reduction.Mean</c> averages them (the mean over images of the
    /// mean over classes).
    /// </summary>
    /// <remarks>
    /// Source: Berman et al., CVPR 2018; as segmentation_models_pytorch's <c>_lovasz_softmax(…, classes="all",
    /// per_image=True)</c>. With <c>ignore_index</c>, images that keep different numbers of pixels run on torch ops, as every
    /// per-image multiclass loss does.
    /// </remarks>
    [Loss(Sets = LossSets.PerImage)]
    public static partial float LovaszSoftmaxPerImage([Softmax] ReadOnlySpan<float> probs, ReadOnlySpan<float> targets)
    {
        float positives = Sum(targets);
        return SortedSum(probs, targets,
            (p, y) => Abs(y - p),
            (p, y) => Abs(y - p)
                * ((positives + CumSum(1 - y) - (1 - y) > 0 ? (positives - CumSum(y) + y) / (positives + CumSum(1 - y) - (1 - y)) : 1)
                   - (positives - CumSum(y)) / Max(positives + CumSum(1 - y), 1f)));
    }

    /// <summary>
    /// smp's default Lovász-Softmax, <c>classes="present"</c>: the mean of the per-class losses over the classes that
    /// occur in the mask (among the pixels that are not ignored), 0 when none does; per image, that mean per image, then
    /// the mean over the images. It composes the generated per-class losses (<c>reduction: None</c>) with TorchSharp ops,
    /// so autograd differentiates it: a mean over the present classes is a reduction across sets, which the DSL does not
    /// write yet.
    /// </summary>
    /// <remarks>As segmentation_models_pytorch's <c>LovaszLoss(mode="multiclass", per_image=…, ignore_index=…)</c>.</remarks>
    /// <param name="logits">[N, C, *spatial] float.</param>
    /// <param name="mask">[N, *spatial] int64 class indices.</param>
    /// <param name="per_image">smp's <c>per_image</c>.</param>
    /// <param name="ignore_index">Mask value of pixels to leave out; null: none.</param>
    public static TorchSharp.torch.Tensor LovaszSoftmaxPresent(TorchSharp.torch.Tensor logits, TorchSharp.torch.Tensor mask, bool per_image = false, long? ignore_index = null)
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        long classes = logits.shape[1];
        var perClass = per_image
            ? LovaszSoftmaxPerImage(logits, mask, reduction: TorchSharp.torch.nn.Reduction.None, ignore_index: ignore_index)                 // [N, C]
            : LovaszSoftmax(logits, mask, reduction: TorchSharp.torch.nn.Reduction.None, ignore_index: ignore_index).unsqueeze(0);        // [1, C]
        var flat = mask.reshape(mask.shape[0], -1);                                                                                           // [N, S]
        var kept = ignore_index is long ignored ? TorchScalars.With(ignored, flat.ne) : TorchSharp.torch.ones_like(flat, TorchSharp.torch.ScalarType.Bool);
        var onehot = TorchSharp.torch.nn.functional.one_hot(TorchScalars.MaskedFill(flat, kept.logical_not(), 0), classes).logical_and(kept.unsqueeze(-1));   // [N, S, C]
        var present = (per_image ? onehot.any(1) : onehot.any(1).any(0, keepdim: true)).to(perClass.dtype);                                // like perClass
        var count = present.sum(1);
        var mean = (perClass * present).sum(1) / TorchScalars.With(1L, count.clamp_min);                                                                         // 0 where no class is present
        return mean.mean().MoveToOuterDisposeScope();
    }
}
