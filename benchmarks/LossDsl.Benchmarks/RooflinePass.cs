using System;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using System.Runtime.InteropServices;
using System.Threading.Tasks;
using TorchSharp;
using static TorchSharp.torch;

namespace LossDsl.Benchmarks;

/// <summary>
/// The memory roofline of a loss step: one read of every float input and one write of a prediction-sized
/// output, nothing else. One input: <c>TensorPrimitives.Multiply(x, 1, out)</c>; two inputs:
/// <c>TensorPrimitives.Add(x, y, out)</c> (vectorized, non-temporal stores for large spans). The elements are
/// split into the same number of blocks as LossDsl's CPU launcher uses (8 per core) and run with
/// <c>Parallel.For</c> on the thread pool, like the generated kernels. The output is a tensor allocated once,
/// so this is the pure bandwidth figure; a loss step must also allocate its gradient tensor.
/// </summary>
internal sealed class RooflinePass : IDisposable
{
    private readonly Tensor _x;
    private readonly Tensor? _y;
    private readonly Tensor _out;
    private readonly int _blocks;

    public RooflinePass(Tensor x, Tensor? y, Tensor? output = null)
    {
        _x = x;
        _y = y;
        _out = output ?? torch.empty_like(x);
        long n = x.numel();
        _blocks = (int)Math.Clamp(n / (16 * 1024), 1, 8L * Environment.ProcessorCount);
    }

    /// <summary>Bytes moved: the float inputs read once, the output written once.</summary>
    public long Bytes => (_y is null ? 2 : 3) * _x.numel() * sizeof(float);

    public Tensor Output => _out;

    public void Run() => Run(_x, _y, _out, _blocks);

    /// <summary>The pass into a new <c>empty_like</c> tensor (freed by the caller's dispose scope).</summary>
    public void RunFresh() => Run(_x, _y, torch.empty_like(_x), _blocks);

    /// <summary>The same pass into a caller-supplied output (e.g. a freshly allocated one).</summary>
    public static void Run(Tensor x, Tensor? y, Tensor output, int blocks)
    {
        unsafe
        {
            float* px = Ptr(x), py = y is null ? null : Ptr(y), po = Ptr(output);
            long n = x.numel();
            var (ax, ay, ao) = ((nint)px, (nint)py, (nint)po);
            if (blocks <= 1) { Block(ax, ay, ao, 0, n); return; }
            Parallel.For(0, blocks, b =>
            {
                long begin = n * b / blocks, end = n * (b + 1) / blocks;
                Block(ax, ay, ao, begin, end);
            });
        }
    }

    private static unsafe void Block(nint x, nint y, nint o, long begin, long end)
    {
        int len = checked((int)(end - begin));
        var src = new ReadOnlySpan<float>((float*)x + begin, len);
        var dst = new Span<float>((float*)o + begin, len);
        if (y == 0) TensorPrimitives.Multiply(src, 1f, dst);
        else TensorPrimitives.Add(src, new ReadOnlySpan<float>((float*)y + begin, len), dst);
    }

    private static unsafe float* Ptr(Tensor t)
    {
        if (t.dtype != ScalarType.Float32 || !t.is_contiguous()) throw new ArgumentException("roofline: float32 contiguous tensors only");
        return (float*)Unsafe(t);
    }

    private static unsafe void* Unsafe(Tensor t) => System.Runtime.CompilerServices.Unsafe.AsPointer(ref MemoryMarshal.GetReference(t.bytes));

    public void Dispose() => _out.Dispose();
}
