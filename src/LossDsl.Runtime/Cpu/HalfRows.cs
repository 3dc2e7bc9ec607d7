using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using static TorchSharp.torch;

namespace LossDsl.Runtime;

/// <summary>
/// The fused CPU kernels on float16 or bfloat16 rows and elements, read in place: each block of segments is widened
/// into a float32 scratch of at most <see cref="ScratchElements"/> elements per thread, and the float32 kernels run on
/// it. There is no float32 copy of the input: a [8193, 262144] bfloat16 call (2^31 + 2^18 elements, 4 GiB) needs 1 MiB
/// of scratch per thread, not 8 GiB. The kernels see exactly the float32 values a full conversion would give (bfloat16
/// and float16 widen exactly), in the same order, so the loss and gradient are bitwise the float32 path's.
/// </summary>
/// <remarks>
/// Rows and elements only: segment <c>s</c> of a span is the contiguous <c>[s·SegmentStride, (s + 1)·SegmentStride)</c>,
/// and of a per-row or per-element input the one value <c>s</c>. The kernels address a segment from the base pointer,
/// so each block's scratch is handed over as a base shifted back by the block's first segment.
/// </remarks>
internal static class HalfRows
{
    /// <summary>Float32 elements of scratch per thread and span (4 MiB); a longer row gets a scratch of its own length.</summary>
    private const long ScratchElements = 1L << 20;

    public static void Launch(CpuKernel[] kernels, CpuArgs args, ScalarType storage, int items, long elementsPerItem, int workers)
    {
        var shape = args.Shape;
        long stride = shape.SegmentStride;
        int segmentsPerStep = (int)Math.Clamp(ScratchElements / Math.Max(1, stride), 1, Math.Max(1, items));
        CpuLauncher.Blocks(items, elementsPerItem, workers, (begin, end) =>
        {
            var spans = new float[args.Spans.Length][];
            for (int k = 0; k < spans.Length; k++) spans[k] = GC.AllocateUninitializedArray<float>((int)(segmentsPerStep * stride), pinned: true);
            var inputs = new float[args.Inputs.Length][];
            for (int k = 0; k < inputs.Length; k++) inputs[k] = GC.AllocateUninitializedArray<float>(segmentsPerStep, pinned: true);
            var spanBases = new nint[spans.Length];
            var inputBases = new nint[inputs.Length];
            for (int s0 = begin; s0 < end; s0 += segmentsPerStep)
            {
                int n = Math.Min(segmentsPerStep, end - s0);
                for (int k = 0; k < spans.Length; k++)
                {
                    Widen(storage, args.Spans[k], s0 * stride, n * stride, spans[k]);
                    spanBases[k] = Base(spans[k], s0 * stride);
                }
                for (int k = 0; k < inputs.Length; k++)
                {
                    Widen(storage, args.Inputs[k], s0, n, inputs[k]);
                    inputBases[k] = Base(inputs[k], s0);
                }
                var block = args.WithData(spanBases, inputBases);
                foreach (var kernel in kernels) kernel(block, s0, s0 + n);
            }
            GC.KeepAlive(spans);
            GC.KeepAlive(inputs);
        });
    }

    /// <summary>The address that element <paramref name="first"/> of the tensor would have if <paramref name="scratch"/> held the tensor from 0.</summary>
    private static unsafe nint Base(float[] scratch, long first)
        => (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(scratch)) - (nint)(first * sizeof(float));

    /// <summary>Elements [start, start + count) of a float16 or bfloat16 tensor at <paramref name="source"/>, widened to float32.</summary>
    internal static unsafe void Widen(ScalarType storage, nint source, long start, long count, Span<float> destination)
    {
        var bits = new ReadOnlySpan<ushort>((ushort*)source + start, checked((int)count));
        var to = destination[..bits.Length];
        if (storage == ScalarType.BFloat16) WidenBFloat16(bits, to);
        else
        {
            var halves = MemoryMarshal.Cast<ushort, Half>(bits);
            for (int i = 0; i < halves.Length; i++) to[i] = (float)halves[i];
        }
    }

    /// <summary>bfloat16 is the top half of a float32: each value widens to its bits shifted left by 16, exactly.</summary>
    internal static void WidenBFloat16(ReadOnlySpan<ushort> bits, Span<float> destination)
    {
        var to = MemoryMarshal.Cast<float, uint>(destination);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; i + Vector256<ushort>.Count <= bits.Length; i += Vector256<ushort>.Count)
            {
                var v = Vector256.Create(bits.Slice(i, Vector256<ushort>.Count));
                var (lo, hi) = Vector256.Widen(v);
                Vector256.ShiftLeft(lo, 16).CopyTo(to.Slice(i));
                Vector256.ShiftLeft(hi, 16).CopyTo(to.Slice(i + Vector256<uint>.Count));
            }
        for (; i < bits.Length; i++) to[i] = (uint)bits[i] << 16;
    }
}
