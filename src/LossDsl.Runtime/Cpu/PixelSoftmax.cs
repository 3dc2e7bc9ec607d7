using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Threading.Tasks;

namespace LossDsl.Runtime;

/// <summary>
/// The per-pixel steps of a multiclass set loss on host memory, around the generated set kernels. Logits are
/// <c>[N, C, S]</c> (S the flattened spatial axes), so the C logits of a pixel are S apart and a vector holds
/// neighbouring pixels of one class: every loop below runs over the classes of a block of pixels, which stays in L1.
/// <list type="bullet">
/// <item><see cref="LogSumExp{T}"/>, before the kernels: ℓse = log Σ_c e^(z_c) per pixel;</item>
/// <item><see cref="Jacobian{T}"/>, in backward: the logits' gradient ∂L/∂z_c = a_c − p_c·Σ_k a_k from the kernels'
/// a = p·∂L/∂p + ∂L/∂log p, with p_c = e^(z_c − ℓse); 0 at ignored pixels (class &lt; 0).</item>
/// </list>
/// Element math runs in T, as in the generated kernels.
/// </summary>
internal static unsafe class PixelSoftmax
{
    /// <summary>Pixels one parallel work item covers at least.</summary>
    private const long PixelsPerItem = 4096;

    public static void LogSumExp<T>(T* z, T* lse, long images, long classes, long pixels) where T : unmanaged, IFloatingPointIeee754<T>
        => ForBlocks<T>(images, pixels, (n, from, to) =>
        {
            T* image = z + n * classes * pixels;
            long p = from;
            for (; p <= to - Vector512<T>.Count; p += Vector512<T>.Count)
                Vector512.Store(BlockLogSumExp(image + p, classes, pixels), lse + n * pixels + p);
            for (; p < to; p++) lse[n * pixels + p] = T.CreateTruncating(ScalarLogSumExp(image + p, classes, pixels));
        });

    /// <summary>∂L/∂z into <paramref name="dz"/> (which may be <paramref name="a"/> itself).</summary>
    public static void Jacobian<T>(T* z, T* a, T* lse, T* cls, T* dz, long images, long classes, long pixels) where T : unmanaged, IFloatingPointIeee754<T>
        => ForBlocks<T>(images, pixels, (n, from, to) =>
        {
            long first = n * classes * pixels;
            long p = from;
            for (; p <= to - Vector512<T>.Count; p += Vector512<T>.Count)
            {
                long o = first + p;
                var total = Vector512<T>.Zero;
                for (long c = 0; c < classes; c++) total += Vector512.Load(a + o + c * pixels);
                var kept = Vector512.GreaterThanOrEqual(Vector512.Load(cls + n * pixels + p), Vector512<T>.Zero);
                var shift = Vector512.Load(lse + n * pixels + p);
                for (long c = 0; c < classes; c++)
                {
                    long at = o + c * pixels;
                    var g = Vector512.Load(a + at) - Exp(Vector512.Load(z + at) - shift) * total;
                    Vector512.Store(Vector512.ConditionalSelect(kept, g, Vector512<T>.Zero), dz + at);
                }
            }
            for (; p < to; p++)
            {
                long o = first + p;
                double total = 0;
                for (long c = 0; c < classes; c++) total += double.CreateTruncating(a[o + c * pixels]);
                bool kept = double.CreateTruncating(cls[n * pixels + p]) >= 0;
                double shift = double.CreateTruncating(lse[n * pixels + p]);
                for (long c = 0; c < classes; c++)
                {
                    long at = o + c * pixels;
                    dz[at] = kept ? T.CreateTruncating(double.CreateTruncating(a[at]) - Math.Exp(double.CreateTruncating(z[at]) - shift) * total) : default;
                }
            }
        });

    private static Vector512<T> BlockLogSumExp<T>(T* first, long classes, long pixels) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var max = Vector512.Load(first);
        for (long c = 1; c < classes; c++) max = Vector512.Max(max, Vector512.Load(first + c * pixels));
        var sum = Vector512<T>.Zero;
        for (long c = 0; c < classes; c++) sum += Exp(Vector512.Load(first + c * pixels) - max);
        return max + Log(sum);
    }

    private static double ScalarLogSumExp<T>(T* first, long classes, long pixels) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double max = double.NegativeInfinity;
        for (long c = 0; c < classes; c++) max = Math.Max(max, double.CreateTruncating(first[c * pixels]));
        double sum = 0;
        for (long c = 0; c < classes; c++) sum += Math.Exp(double.CreateTruncating(first[c * pixels]) - max);
        return max + Math.Log(sum);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> Exp<T>(Vector512<T> x) where T : unmanaged, IFloatingPointIeee754<T>
        => typeof(T) == typeof(float) ? LossVectorMath.Exp(x.AsSingle()).As<float, T>() : LossVectorMath.Exp(x.AsDouble()).As<double, T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> Log<T>(Vector512<T> x) where T : unmanaged, IFloatingPointIeee754<T>
        => typeof(T) == typeof(float) ? LossVectorMath.Log(x.AsSingle()).As<float, T>() : LossVectorMath.Log(x.AsDouble()).As<double, T>();

    /// <summary>Runs <paramref name="block"/>(image, first pixel, end pixel) over the batch in parallel, in vector-aligned blocks.</summary>
    private static void ForBlocks<T>(long images, long pixels, Action<long, long, long> block) where T : unmanaged, IFloatingPointIeee754<T>
    {
        long width = Math.Max(PixelsPerItem / Vector512<T>.Count, 1) * Vector512<T>.Count;
        long perImage = Math.Max(1, (pixels + width - 1) / width);
        long items = images * perImage;
        if (items <= 1)
        {
            for (long n = 0; n < images; n++) block(n, 0, pixels);
            return;
        }
        Parallel.For(0L, items, item =>
        {
            long n = item / perImage, b = item % perImage;
            block(n, b * width, Math.Min(pixels, (b + 1) * width));
        });
    }
}
