using System;
using static TorchSharp.torch;

namespace LossDsl.Runtime;

/// <summary>
/// Elementwise losses: every data tensor has the prediction's shape, any shape, and the body is evaluated once per
/// element; a segment is an element, so the loss with reduction None has the prediction's shape.
/// </summary>
public sealed class ElementLayout : LossLayout
{
    internal ElementLayout() { }

    public override bool PerElement => true;

    public override string ToString() => "elementwise";

    public override SegmentLayout Segments(long[] dims, int partialSlots)
    {
        long numel = Product(dims);
        var k = new KernelShape { PartialSlots = partialSlots, Segments = checked((int)numel), Length = 1, Inner = 1, SegmentStride = 1 };
        return Done(k, dims, dims, numel);
    }

    public override TorchAxes TorchAxes(long[] dims) => new(dims, dims, Array.Empty<long>());

    public override void Validate(LossDefinition def, Tensor[] tensors)
    {
        var x = tensors[0];
        for (int i = 1; i < tensors.Length; i++) RequireShape(def, tensors, i, x.shape, $"same shape as '{def.TensorNames[0]}'");
        if (x.numel() > int.MaxValue)
            throw new ArgumentException($"{def.Name}: '{def.TensorNames[0]}' has {x.numel()} elements; at most {int.MaxValue} are supported.", def.TensorNames[0]);
    }

    /// <summary>Per element, as PyTorch's elementwise losses take it: broadcastable to the prediction; Mean still divides by the element count.</summary>
    internal override (Tensor PerSegment, double? Count) Weigh(LossDefinition def, Tensor[] tensors, Tensor weight, ScalarType dtype, long ignoreIndex, long targetClasses)
    {
        var x = tensors[0];
        if (!BroadcastsTo(weight.shape, x.shape))
            throw new ArgumentException($"{def.Name}: 'weight' has shape {Dims(weight.shape)}, which does not broadcast to '{def.TensorNames[0]}' {Dims(x.shape)}.", "weight");
        return (weight.to(dtype).expand(x.shape).reshape(-1), null);
    }

    private static bool BroadcastsTo(long[] from, long[] to)
    {
        if (from.Length > to.Length) return false;
        for (int d = 1; d <= from.Length; d++)
            if (from[^d] != 1 && from[^d] != to[^d]) return false;
        return true;
    }
}
