using System;
using System.Collections.Concurrent;
using ILGPU;
using ILGPU.Runtime;

namespace LossDsl.Runtime;

/// <summary>
/// A multiclass set loss's per-pixel statistics on the accelerator, a kernel of its own launched before the loss's kernels
/// on the same stream (issue 23, item 8): for each pixel of logits [N, C, S] (n, s), log Σ_c e^(z_c) as max + log Σ e^(z − max)
/// (<c>PixelSoftmax.LogSumExp</c>'s arithmetic, with <see cref="LossKernelMath"/>'s exp and log) and its class from the mask
/// as a value of the compute type (−1 where the mask holds ignore_index). The host computes the same for the fused CPU
/// path; on the ILGPU path the statistics never leave the device, so a CUDA call needs no host round trip.
/// </summary>
internal static class PixelStatistics
{
    private static readonly ConcurrentDictionary<(Accelerator, Type), Delegate> s_loaded = new();

    /// <summary>Float compute: logits of any stored kind (float32, bfloat16, float16).</summary>
    private static void Float<TIn>(Index1D p, ArrayView<TIn> z, ArrayView<long> mask, ArrayView<float> classes, ArrayView<float> lse,
        long count, long pixels, long ignore) where TIn : unmanaged, IKernelReal
    {
        long n = p / pixels, s = p - n * pixels, first = n * count * pixels + s;
        float max = float.NegativeInfinity, sum = 0f;
        for (long c = 0; c < count; c++) max = LossKernelMath.Max(max, z[first + c * pixels].Value);
        for (long c = 0; c < count; c++) sum += LossKernelMath.Exp(z[first + c * pixels].Value - max);
        lse[p] = max + LossKernelMath.Log(sum);
        long label = mask[p];
        classes[p] = label == ignore ? -1f : label;
    }

    /// <summary>Double compute.</summary>
    private static void Double(Index1D p, ArrayView<double> z, ArrayView<long> mask, ArrayView<double> classes, ArrayView<double> lse,
        long count, long pixels, long ignore)
    {
        long n = p / pixels, s = p - n * pixels, first = n * count * pixels + s;
        double max = double.NegativeInfinity, sum = 0.0;
        for (long c = 0; c < count; c++) max = LossKernelMath.Max(max, z[first + c * pixels]);
        for (long c = 0; c < count; c++) sum += LossKernelMath.Exp(z[first + c * pixels] - max);
        lse[p] = max + LossKernelMath.Log(sum);
        long label = mask[p];
        classes[p] = label == ignore ? -1.0 : label;
    }

    /// <summary>Queues the statistics of every pixel on <paramref name="stream"/>: <paramref name="classes"/> and <paramref name="lse"/> get [N·S] values.</summary>
    public static void Launch<TIn, T>(Accelerator acc, AcceleratorStream stream, ArrayView<TIn> z, ArrayView<long> mask, ArrayView<T> classes, ArrayView<T> lse,
        long count, long pixels, long ignore) where TIn : unmanaged where T : unmanaged
    {
        long total = lse.Length;
        if (total == 0) return;
        if (typeof(T) == typeof(double))
        {
            var kernel = (Action<AcceleratorStream, Index1D, ArrayView<double>, ArrayView<long>, ArrayView<double>, ArrayView<double>, long, long, long>)s_loaded.GetOrAdd((acc, typeof(double)),
                _ => acc.LoadAutoGroupedKernel<Index1D, ArrayView<double>, ArrayView<long>, ArrayView<double>, ArrayView<double>, long, long, long>(Double));
            kernel(stream, checked((int)total), z.Cast<double>(), mask, classes.Cast<double>(), lse.Cast<double>(), count, pixels, ignore);
            return;
        }
        // TIn is a stored float kind here (IKernelReal), which this method's signature cannot say: bound by reflection, once.
        var launch = (Action<AcceleratorStream, Index1D, ArrayView<TIn>, ArrayView<long>, ArrayView<float>, ArrayView<float>, long, long, long>)s_loaded.GetOrAdd((acc, typeof(TIn)),
            _ => (Delegate)typeof(PixelStatistics).GetMethod(nameof(LoadFloat), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
                .MakeGenericMethod(typeof(TIn)).Invoke(null, new object[] { acc })!);
        launch(stream, checked((int)total), z, mask, classes.Cast<float>(), lse.Cast<float>(), count, pixels, ignore);
    }

    private static Action<AcceleratorStream, Index1D, ArrayView<TIn>, ArrayView<long>, ArrayView<float>, ArrayView<float>, long, long, long> LoadFloat<TIn>(Accelerator acc)
        where TIn : unmanaged, IKernelReal
        => acc.LoadAutoGroupedKernel<Index1D, ArrayView<TIn>, ArrayView<long>, ArrayView<float>, ArrayView<float>, long, long, long>(Float);
}
