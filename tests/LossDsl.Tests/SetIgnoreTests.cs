using System;
using System.Linq;
using LossDsl.Runtime;
using LossDsl.Samples;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LossDsl.Tests;

using Losses = LossDsl.Samples.Losses;   // the sample class, not the namespace LossDsl.Losses (found first from LossDsl.Tests)

/// <summary>
/// smp's ignore_index for set losses: an element whose target holds the value is left out of its set and gets no
/// gradient. For Tversky (sums of p·y, p·(1 − y), (1 − p)·y) that is smp's masking of both prediction and target, so the
/// reference multiplies both by the mask. The fused set kernels do not skip elements, so such calls run on torch ops.
/// </summary>
public class SetIgnoreTests
{
    private static Tensor TverskyReference(Tensor x, Tensor y, Tensor valid, double alpha, double beta, double smooth)
    {
        var m = valid.to(x.dtype);
        var p = torch.sigmoid(x) * m;
        var t = y * m;
        var dims = new long[] { 0 }.Concat(Enumerable.Range(2, (int)x.dim() - 2).Select(i => (long)i)).ToArray();
        var tp = (p * t).sum(dims);
        var fp = (p * (1 - t)).sum(dims);
        var fn = ((1 - p) * t).sum(dims);
        return 1 - (tp + smooth) / (tp + alpha * fp + beta * fn + smooth).clamp_min(1e-7);
    }

    [Theory]
    [InlineData(Backend.Auto, nn.Reduction.Mean)]
    [InlineData(Backend.TorchOps, nn.Reduction.None)]
    [InlineData(Backend.TorchOps, nn.Reduction.Sum)]
    public void IgnoredElementsLeaveTheirSet(Backend backend, nn.Reduction reduction)
    {
        using var _ = LossBackend.Use(backend);
        var g = new Generator(21);
        var x = torch.randn(new long[] { 2, 3, 4, 5 }, dtype: ScalarType.Float64, generator: g);
        var y = (torch.rand(new long[] { 2, 3, 4, 5 }, dtype: ScalarType.Float64, generator: g) < 0.4).to(ScalarType.Float64);
        var ignored = torch.rand(new long[] { 2, 3, 4, 5 }, dtype: ScalarType.Float64, generator: g) < 0.2;
        y = torch.where(ignored, torch.tensor(255.0, dtype: ScalarType.Float64), y);

        var upstream = reduction == nn.Reduction.None ? torch.rand(3, dtype: ScalarType.Float64, generator: g) + 0.5 : null;
        Tensor Reduce(Tensor t) => reduction switch { nn.Reduction.None => t, nn.Reduction.Sum => t.sum(), _ => t.mean() };
        var (refValue, refGrad) = Reference.Autograd(z => Reduce(TverskyReference(z, torch.where(ignored, 0.0, y), ignored.logical_not(), 0.3, 0.7, 1.0)), x, upstream);

        var leaf = x.clone().requires_grad_(true);
        var value = Losses.Tversky(leaf, y, alpha: 0.3, beta: 0.7, smooth: 1.0, reduction: reduction, ignore_index: 255);
        if (upstream is null) value.backward();
        else value.backward(new[] { upstream });
        Reference.Close(refValue, value.detach(), 1e-10, 1e-13, "value");
        Reference.Close(refGrad, leaf.grad!, 1e-10, 1e-13, "gradient");
        Assert.True(leaf.grad!.masked_select(ignored).abs().max().item<double>() == 0, "ignored elements get no gradient");
    }

    [Fact]
    public void AForcedFusedBackendSaysItCannotSkipElements()
    {
        var y = torch.zeros(1, 2, 3, dtype: ScalarType.Float64);
        y[0, 0, 0] = torch.tensor(255.0, dtype: ScalarType.Float64);
        var e = Assert.Throws<NotSupportedException>(() => Losses.Tversky(torch.randn(1, 2, 3, dtype: ScalarType.Float64), y, ignore_index: 255, backend: Backend.Cpu));
        Assert.Contains("do not skip ignored elements", e.Message);
    }

    [Fact]
    public void WithoutIgnoredElementsTheFusedPathStillRuns()
    {
        using var _ = LossBackend.Use(Backend.Cpu);
        var x = torch.randn(2, 3, 4, dtype: ScalarType.Float64);
        var y = (torch.rand(2, 3, 4, dtype: ScalarType.Float64) < 0.5).to(ScalarType.Float64);
        Assert.Equal(Losses.Tversky(x, y).item<double>(), Losses.Tversky(x, y, ignore_index: 255).item<double>());
    }
}
