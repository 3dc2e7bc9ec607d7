using System;
using System.Linq;
using static TorchSharp.torch;

namespace LossDsl.Runtime;

/// <summary>
/// Set losses: the body is evaluated once per <b>set</b> of a <c>[N, C, *spatial]</c> prediction, whose span tensors have
/// its shape and whose float inputs hold one value per set. <see cref="Sets"/> says which axes a set runs over: per
/// channel (batch and spatial positions; C sets), per image (spatial positions; N·C sets) or the whole tensor (any shape;
/// one set). A <see cref="Multiclass"/> set loss takes logits and a class mask <c>[N, *spatial]</c>: its prediction is
/// the softmax across axis 1, its target the mask's one-hot, so each class is a channel.
/// </summary>
public sealed class SetLayout : LossLayout
{
    internal SetLayout(LossSets sets, bool multiclass, bool acrossClasses)
    {
        if (!Enum.IsDefined(sets)) throw new ArgumentOutOfRangeException(nameof(sets), sets, "Not a LossSets value.");
        if (multiclass && sets == LossSets.Whole)
            throw new ArgumentException("A multiclass set loss has one set per class or per image and class, not one over the whole tensor.", nameof(multiclass));
        if (acrossClasses && sets == LossSets.Whole)
            throw new ArgumentException("One set over the whole tensor has no classes to reduce across.", nameof(acrossClasses));
        Sets = sets;
        Multiclass = multiclass;
        AcrossClasses = acrossClasses;
    }

    /// <summary>
    /// Whether the loss reduces across its classes (<c>LossMath.SumOverClasses</c>, …): its body still runs per set, but
    /// its value is one per call (per image with <see cref="LossSets.PerImage"/>), read by every set. Reduction None then
    /// returns that value ([] or [N]), Mean and Sum reduce the images, and the sets take no weights.
    /// </summary>
    public bool AcrossClasses { get; }

    /// <summary>Which axes a set runs over.</summary>
    public LossSets Sets { get; }

    public override bool Multiclass { get; }

    public override bool IgnoresElements => true;

    public override string ToString() => "set";

    public override SegmentLayout Segments(long[] dims, int partialSlots)
    {
        var k = new KernelShape { PartialSlots = partialSlots };
        if (Sets == LossSets.Whole)
        {
            // One set: every element of the tensor, in memory order.
            long numel = Product(dims);
            k.Segments = 1;
            k.Length = numel;
            k.Inner = Math.Max(1, numel);
            return Done(k, Array.Empty<long>(), Enumerable.Repeat(1L, dims.Length).ToArray(), 1);
        }
        long batch = dims[0], channels = dims[1], inner = Product(dims.Skip(2));
        var spatialOnes = Enumerable.Repeat(1L, dims.Length - 2);
        k.Inner = Math.Max(1, inner);
        k.SegmentStride = inner;
        if (Sets == LossSets.PerImage)
        {
            // A set per (image, channel): the spatial positions, contiguous.
            k.Segments = checked((int)(batch * channels));
            k.Length = inner;
            return AcrossClasses
                ? Done(k, new[] { batch }, new[] { batch, 1L }.Concat(spatialOnes).ToArray(), batch)
                : Done(k, new[] { batch, channels }, new[] { batch, channels }.Concat(spatialOnes).ToArray(), batch * channels);
        }
        // A set per channel: batch-major blocks of the spatial positions.
        k.Segments = checked((int)channels);
        k.Length = batch * inner;
        k.OuterStride = channels * inner;
        return AcrossClasses
            ? Done(k, Array.Empty<long>(), Enumerable.Repeat(1L, dims.Length).ToArray(), 1)
            : Done(k, new[] { channels }, new[] { 1L, channels }.Concat(spatialOnes).ToArray(), channels);
    }

    /// <summary>
    /// Per channel: elements [N, C, S] (S the flattened spatial axes), one value per set [1, C, 1], reductions over dims 0
    /// and 2. Per image: elements [N, C, S], sets [N, C, 1], reductions over dim 2. Whole: elements [1, 1, numel], the set
    /// [1, 1, 1], reductions over dim 2.
    /// </summary>
    public override TorchAxes TorchAxes(long[] dims)
    {
        if (Sets == LossSets.Whole) return new(new[] { 1L, 1L, Product(dims) }, new[] { 1L, 1L, 1L }, new[] { 2L });
        long n = dims[0], c = dims[1], s = Product(dims.Skip(2));
        return Sets == LossSets.PerImage
            ? new(new[] { n, c, s }, new[] { n, c, 1L }, new[] { 2L })
            : new(new[] { n, c, s }, new[] { 1L, c, 1L }, new[] { 0L, 2L });
    }

    public override void Validate(LossDefinition def, Tensor[] tensors)
    {
        var x = tensors[0];
        string first = def.TensorNames[0];
        for (int i = 1; i < tensors.Length; i++)
            if (def.Roles[i] == TensorRole.ClassMask) RequireShape(def, tensors, i, x.shape.Take(1).Concat(x.shape.Skip(2)).ToArray(), $"a class per pixel: '{first}' without its class axis 1");
            else if (def.Roles[i] == TensorRole.Span) RequireShape(def, tensors, i, x.shape, $"same shape as '{first}'");
        if (Sets != LossSets.Whole && (x.dim() < 2 || x.shape[1] == 0))
            throw new ArgumentException($"{def.Name}: '{first}' has shape {Dims(x.shape)}; expected [N, C, *spatial] with C ≥ 1.", first);
        var perSet = Segments(x.shape, def.PartialSlots).PerSegment;
        for (int i = 1; i < tensors.Length; i++)
            if (def.Roles[i] == TensorRole.Input) RequireShape(def, tensors, i, perSet, "one value per set, the shape of the loss with reduction None");
    }

    /// <summary>
    /// Per channel (per class of a multiclass loss), as <c>cross_entropy</c>'s class weights: <c>[C]</c>; a set of channel
    /// c weighs weight[c] (per image too: each image's set of that channel), and Mean divides by the total weight of the
    /// sets. One set over the whole tensor has no channel to weigh.
    /// </summary>
    internal override (Tensor PerSegment, double? Count) Weigh(LossDefinition def, Tensor[] tensors, Tensor weight, ScalarType dtype, long ignoreIndex, long targetClasses)
    {
        if (Sets == LossSets.Whole)
            throw new ArgumentException($"{def.Name}: 'weight' weighs the sets of a loss per channel or per image; this loss has one set over the whole tensor.", "weight");
        if (AcrossClasses)
            throw new ArgumentException($"{def.Name}: 'weight' weighs the sets of a loss per channel or per image; this loss reduces across its classes into one value"
                + (Sets == LossSets.PerImage ? " per image" : "") + ", so weigh the classes inside its body.", "weight");
        var x = tensors[0];
        long channels = x.shape[1];
        if (weight.dim() != 1 || weight.shape[0] != channels)
            throw new ArgumentException($"{def.Name}: 'weight' has shape {Dims(weight.shape)}; expected [{channels}], one weight per {(Multiclass ? "class" : "channel")}.", "weight");
        var w = weight.to(dtype);
        var perSet = Sets == LossSets.PerImage ? w.unsqueeze(0).expand(x.shape[0], channels).reshape(-1) : w.clone();
        return (perSet, perSet.sum(ScalarType.Float64).item<double>());
    }

    /// <summary>
    /// Multiclass sets: a set's length (the pixels it keeps) from the pixels each image keeps. Per image, the first image's,
    /// and whether the images differ (then a set has no one length); per channel, every image's.
    /// </summary>
    internal (double Count, bool Uneven) Kept(long[] keptPerImage)
        => Sets == LossSets.PerImage
            ? (keptPerImage.Length > 0 ? keptPerImage[0] : 0, keptPerImage.Distinct().Count() > 1)
            : (keptPerImage.Sum(), false);
}
