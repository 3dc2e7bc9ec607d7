using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Threading.Tasks;
using TorchSharp;
using static TorchSharp.torch;

namespace LossDsl.Runtime;

/// <summary>
/// The float64 sum of a contiguous CPU loss vector (float32 or float64), read in place: vectorized, widened to
/// double, in fixed blocks of <see cref="Block"/> elements summed on the thread pool and combined in block order,
/// so the result does not depend on scheduling or the number of cores. It replaces
/// <c>loss.to(Float64).sum()</c> / <c>loss.sum(Float64)</c>, which both materialize a float64 copy of the loss
/// (32 MiB for an elementwise loss over 4M elements, first-touch page faults included).
/// </summary>
internal static class LossSum
{
    private const int Block = 1 << 16;

    public static double Sum(Tensor loss)
    {
        long n = loss.numel();
        if (n == 0) return 0;
        if (!loss.is_contiguous() || loss.device_type != DeviceType.CPU || loss.dtype is not (ScalarType.Float32 or ScalarType.Float64))
            return loss.sum(ScalarType.Float64).item<double>();
        nint p = TensorMemory.Pointer(loss);
        bool f32 = loss.dtype == ScalarType.Float32;
        long blocks = (n + Block - 1) / Block;
        if (blocks == 1) return f32 ? SumF32(p, 0, n) : SumF64(p, 0, n);
        var partial = new double[blocks];
        Parallel.For(0, blocks, b =>
        {
            long begin = b * Block, end = Math.Min(n, begin + Block);
            partial[b] = f32 ? SumF32(p, begin, end) : SumF64(p, begin, end);
        });
        double total = 0;
        foreach (double s in partial) total += s;
        return total;
    }

    private static unsafe double SumF32(nint p, long begin, long end)
    {
        ref float x = ref Unsafe.AsRef<float>((float*)p + begin);
        long n = end - begin, k = 0;
        var lo = Vector512<double>.Zero;
        var hi = Vector512<double>.Zero;
        for (; k <= n - Vector512<float>.Count; k += Vector512<float>.Count)
        {
            var v = Vector512.LoadUnsafe(ref x, (nuint)k);
            lo += Vector512.WidenLower(v);
            hi += Vector512.WidenUpper(v);
        }
        double s = Vector512.Sum(lo + hi);
        for (; k < n; k++) s += Unsafe.Add(ref x, (nint)k);
        return s;
    }

    private static unsafe double SumF64(nint p, long begin, long end)
    {
        ref double x = ref Unsafe.AsRef<double>((double*)p + begin);
        long n = end - begin, k = 0;
        var acc = Vector512<double>.Zero;
        for (; k <= n - Vector512<double>.Count; k += Vector512<double>.Count)
            acc += Vector512.LoadUnsafe(ref x, (nuint)k);
        double s = Vector512.Sum(acc);
        for (; k < n; k++) s += Unsafe.Add(ref x, (nint)k);
        return s;
    }

}
