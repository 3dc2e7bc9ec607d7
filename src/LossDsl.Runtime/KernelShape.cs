using System.Runtime.InteropServices;

namespace LossDsl.Runtime;

/// <summary>
/// How a generated kernel finds its data: segments (rows, sets or elements), the element <c>j</c> of a segment
/// in a span tensor, chunking, and the reduction's gradient scale. Passed by value to every launch.
/// </summary>
/// <remarks>
/// Element <c>j</c> of segment <c>s</c> sits at <c>(j / Inner) * OuterStride + s * SegmentStride + j % Inner</c>
/// of each span tensor:
/// rows of an [N, C] tensor have Inner = C, SegmentStride = C; the channel-c set of an [N, C, HW] tensor has
/// Inner = HW, OuterStride = C·HW, SegmentStride = HW.
/// </remarks>
[StructLayout(LayoutKind.Sequential)]
public struct KernelShape
{
    /// <summary>Number of rows, sets or (elementwise) elements.</summary>
    public int Segments;

    /// <summary>Elements per row or set.</summary>
    public long Length;

    public long Inner;
    public long OuterStride;
    public long SegmentStride;

    /// <summary>Threads per segment in chunked kernels (1 for fused kernels).</summary>
    public int Chunks;

    /// <summary>Elements per chunk.</summary>
    public long ChunkLength;

    /// <summary>Doubles of partial results per (segment, chunk).</summary>
    public int PartialSlots;

    /// <summary>Class index of rows to ignore.</summary>
    public long IgnoreIndex;

    /// <summary>Factor applied to every gradient element: 1/count for Mean, 1 otherwise.</summary>
    public double GradScale;

    /// <summary>Multiclass sets: the number of classes C (the logits' axis 1).</summary>
    public long Classes;

    /// <summary>Multiclass sets: the pixels of the batch, N·∏spatial (the length of each per-pixel array).</summary>
    public long Pixels;

    /// <summary>Multiclass sets: the elements of a set that are not ignored, which <c>Length</c> reads.</summary>
    public double Count;

    /// <summary>
    /// ILGPU elementwise kernels: 1 when the call needs only the sum of the losses (Sum or Mean, no weights), which each
    /// group then writes as one partial sum instead of a loss per element.
    /// </summary>
    public int SumLoss;

    /// <summary>Offset of element <paramref name="j"/> of segment <paramref name="s"/> within one span.</summary>
    public readonly long Offset(int s, long j) => (j / Inner) * OuterStride + s * SegmentStride + j % Inner;
}
