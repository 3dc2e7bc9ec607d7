using System;
using LossDsl.Runtime;
using TorchSharp;
using Xunit;
using static LossDsl.LossMath;
using static TorchSharp.torch;

namespace LossDsl.Tests;

/// <summary>Losses with a Min over a span, for the kernels' selecting accumulator with the reduction table's Min row.</summary>
public static partial class MinKernelLosses
{
    /// <summary>A class-row loss whose Min skips the target (an indexed lambda): a fused row kernel with two passes' worth of reductions.</summary>
    [Loss]
    public static partial float RowMinMargin(ReadOnlySpan<float> z, int target, float margin = 0.3f)
    {
        float lse = LogSumExp(z);
        float low = Min(z, (v, j) => j == target ? float.PositiveInfinity : v);
        return lse - z[target] + margin * (z[target] - low);
    }

    /// <summary>A set loss with a Min over each channel: chunked kernels that write and combine (min, argmin) partials.</summary>
    [Loss(Shape = LossShape.ChannelSet)]
    public static partial float SetMinSpread(ReadOnlySpan<float> p, ReadOnlySpan<float> y)
        => Sum(p, y, (a, b) => Square(a - b)) / p.Length + 0.5f * Min(p, a => Square(a) - a);
}

/// <summary>
/// Min over a span in the generated kernels, through the reduction table (the selecting accumulator with Min's compare,
/// identity and merges: <c>LossVectorMath.MergeArgMin</c>, <c>GroupReduce.Min</c>): the fused CPU path and the ILGPU
/// kernels (ILGPU's CPU accelerator) against TorchSharp autograd of the same formula in float64.
/// </summary>
public class MinReductionKernelTests
{
    public static TheoryData<Backend, ScalarType> Backends => new()
    {
        { Backend.Cpu, ScalarType.Float32 }, { Backend.Cpu, ScalarType.Float64 },
        { Backend.Ilgpu, ScalarType.Float32 }, { Backend.Ilgpu, ScalarType.Float64 },
    };

    /// <summary>Loss and gradient of the generated loss on <paramref name="backend"/>, with Sum over the segments.</summary>
    private static (Tensor Value, Tensor Grad) Generated(Backend backend, Func<Tensor, Tensor> loss, Tensor x)
    {
        using var _ = LossBackend.Use(backend);
        var leaf = x.detach().clone().requires_grad_(true);
        var value = loss(leaf);
        value.backward();
        return (value.detach(), leaf.grad!);
    }

    private static void Matches(Func<Tensor, Tensor> reference, (Tensor Value, Tensor Grad) generated, Tensor x, ScalarType dtype, string what)
    {
        var (refValue, refGrad) = Reference.Autograd(reference, x.to(ScalarType.Float64));
        double rtol = dtype == ScalarType.Float64 ? 1e-9 : 2e-5, atol = dtype == ScalarType.Float64 ? 1e-12 : 1e-5;
        Reference.Close(refValue, generated.Value, rtol, atol, what + " value");
        Reference.Close(refGrad, generated.Grad, rtol, atol, what + " gradient");
        // The argmin's element carries the Min's gradient: the comparison is not vacuous.
        Assert.True(refGrad.abs().sum().item<double>() > 0, "the reference gradient is not zero");
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void RowMinMatchesTorchAutograd(Backend backend, ScalarType dtype)
    {
        var g = new Generator(21);
        // 300 classes: several vectors and a tail on the CPU path, several warps per row on ILGPU.
        var x = torch.randn(9, 300, generator: g).to(dtype);
        var t = torch.randint(0, 300, new long[] { 9 }, generator: g);
        var generated = Generated(backend, z => MinKernelLosses.RowMinMargin(z, t, margin: 0.3, reduction: nn.Reduction.Sum), x);
        Matches(z =>
        {
            var zt = z.gather(1, t.unsqueeze(1)).squeeze(1);
            var low = z.masked_fill(nn.functional.one_hot(t, 300).to(ScalarType.Bool), double.PositiveInfinity).min(1).values;
            return (z.logsumexp(1) - zt + 0.3 * (zt - low)).sum();
        }, generated, x, dtype, $"RowMinMargin on {backend} {dtype}");
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void SetMinMatchesTorchAutograd(Backend backend, ScalarType dtype)
    {
        var g = new Generator(22);
        // 32,768 elements per channel set: several (set, chunk) items on both paths, so partials are combined.
        var x = torch.randn(8, 2, 64, 64, generator: g).to(dtype);
        var y = torch.rand(8, 2, 64, 64, generator: g).to(dtype);
        var generated = Generated(backend, p => MinKernelLosses.SetMinSpread(p, y, reduction: nn.Reduction.Sum), x);
        Matches(p =>
        {
            var perChannel = p.transpose(0, 1).reshape(2, -1);
            var target = y.to(ScalarType.Float64).transpose(0, 1).reshape(2, -1);
            long n = perChannel.shape[1];
            var low = (perChannel.square() - perChannel).min(1).values;
            return ((perChannel - target).square().sum(1) / n + 0.5 * low).sum();
        }, generated, x, dtype, $"SetMinSpread on {backend} {dtype}");
    }
}
