using System;
using System.Linq;

namespace LossDsl.Runtime;

/// <summary>
/// How a loss's shape declaration lays out a prediction of given dimensions into segments (rows, sets or elements):
/// the kernels' <see cref="KernelShape"/>, the shape of the loss per segment (reduction None), the shape the gradient
/// broadcasts a per-segment value over, and the count Mean divides by. The one place that maps shapes onto axes; it
/// checks nothing (the call does) and needs no tensor, so that a launcher can lay out raw device memory too.
/// </summary>
public sealed record SegmentLayout(KernelShape Shape, long[] PerSegment, long[] GradientBroadcast, long Count)
{
    public static SegmentLayout Of(LossDefinition def, long[] dims)
    {
        var k = new KernelShape { Chunks = 1, PartialSlots = def.PartialSlots };
        long numel = dims.Aggregate(1L, (a, b) => a * b);
        switch (def.Shape)
        {
            case LossShape.Elementwise:
                k.Segments = checked((int)numel);
                k.Length = k.Inner = k.SegmentStride = 1;
                return Done(k, dims, dims, numel);
            case LossShape.ClassRow:
            case LossShape.Pairs:
                // A row per sample: its C classes (or N pair partners), contiguous.
                k.Segments = checked((int)dims[0]);
                k.Length = k.Inner = k.SegmentStride = dims[1];
                return Done(k, new[] { dims[0] }, new[] { dims[0], 1L }, dims[0]);
        }
        if (def.Sets == LossSets.Whole)
        {
            // One set: every element of the tensor, in memory order.
            k.Segments = 1;
            k.Length = numel;
            k.Inner = Math.Max(1, numel);
            return Done(k, Array.Empty<long>(), Enumerable.Repeat(1L, dims.Length).ToArray(), 1);
        }
        long batch = dims[0], channels = dims[1], inner = dims.Skip(2).Aggregate(1L, (a, b) => a * b);
        var spatialOnes = Enumerable.Repeat(1L, dims.Length - 2);
        k.Inner = Math.Max(1, inner);
        k.SegmentStride = inner;
        if (def.Sets == LossSets.PerImage)
        {
            // A set per (image, channel): the spatial positions, contiguous.
            k.Segments = checked((int)(batch * channels));
            k.Length = inner;
            return Done(k, new[] { batch, channels }, new[] { batch, channels }.Concat(spatialOnes).ToArray(), batch * channels);
        }
        // A set per channel: batch-major blocks of the spatial positions.
        k.Segments = checked((int)channels);
        k.Length = batch * inner;
        k.OuterStride = channels * inner;
        return Done(k, new[] { channels }, new[] { 1L, channels }.Concat(spatialOnes).ToArray(), channels);
    }

    private static SegmentLayout Done(KernelShape k, long[] perSegment, long[] broadcast, long count)
    {
        // Each launcher splits sets into chunks for its own hardware; one chunk until it does.
        k.ChunkLength = k.Length;
        return new SegmentLayout(k, perSegment, broadcast, count);
    }
}
