using System;
using System.Collections.Generic;
using LossDsl.Runtime;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LossDsl.Tests;

/// <summary>
/// HL-Gauss (<c>LossDsl.Losses.Distributional.HLGauss</c>) against the paper's own construction written in TorchSharp: the
/// support as linspace(min, max, C + 1), the bin masses from <c>torch.special.erf</c>, and cross-entropy with the
/// probabilities as soft targets, differentiated by autograd; and the library's new intrinsics against libtorch's.
/// </summary>
public class DistributionalTests
{
    public static IEnumerable<object[]> Backends() => new[] { new object[] { Backend.Cpu }, new object[] { Backend.Ilgpu }, new object[] { Backend.TorchOps } };

    private static Tensor PaperHLGauss(Tensor logits, Tensor target, double min, double max, double sigma)
    {
        long bins = logits.shape[1];
        var support = torch.linspace(min, max, bins + 1, dtype: ScalarType.Float64);
        var y = target.clamp(min, max);   // the library clamps a target outside the support (its doc comment)
        var cdf = torch.special.erf((support - y.unsqueeze(-1)) / (Math.Sqrt(2) * sigma));
        var z = cdf.select(1, bins) - cdf.select(1, 0);
        var probs = (cdf.narrow(1, 1, bins) - cdf.narrow(1, 0, bins)) / z.unsqueeze(-1);
        return -(probs * F.log_softmax(logits, 1)).sum(1);
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void HLGaussMatchesThePapersConstruction(Backend backend)
    {
        using var _ = LossBackend.Use(backend);
        var g = new Generator(31);
        var logits = torch.randn(new long[] { 16, 51 }, dtype: ScalarType.Float64, generator: g) * 3;
        // Targets inside the support, at its edges and beyond it (clamped to the support; the mass is renormalized to it).
        var target = torch.tensor(new[] { -9.7, -3.2, 0.0, 0.4, 2.5, 5.01, 9.99, 10.0, -10.0, 12.0, -11.5, 7.3, -0.77, 1.0 / 3, 6.6, -6.6 });
        const double min = -10, max = 10, ratio = 0.75;
        double sigma = ratio * (max - min) / 51;
        var (refValue, refGrad) = Reference.Autograd(z => PaperHLGauss(z, target, min, max, sigma).mean(), logits);
        var leaf = logits.clone().requires_grad_(true);
        var loss = LossDsl.Losses.Distributional.HLGauss(leaf, target, min_value: min, max_value: max, sigma_ratio: ratio);
        loss.backward();
        Reference.Close(refValue, loss.detach(), 1e-9, 1e-12, "value");
        Reference.Close(refGrad, leaf.grad!, 1e-9, 1e-12, "gradient");
    }

    /// <summary>Erf, Log1P, Expm1, Cos, Sin and Atan in a loss body, value and gradient, against libtorch's ops by autograd.</summary>
    [Theory]
    [MemberData(nameof(Backends))]
    public void NewIntrinsicsMatchLibtorch(Backend backend)
    {
        using var _ = LossBackend.Use(backend);
        var x = torch.linspace(-3, 3, 97, dtype: ScalarType.Float64);
        var (refValue, refGrad) = Reference.Autograd(
            v => (torch.special.erf(v) + (v * v).log1p() + ((double)0.1f * v).expm1() + v.cos() * v.sin() + (2 * v).atan()).sum(), x);
        var leaf = x.clone().requires_grad_(true);
        var loss = TestLosses.NewIntrinsics(leaf, reduction: nn.Reduction.Sum);
        loss.backward();
        Reference.Close(refValue, loss.detach(), 1e-12, 1e-12, "value");
        Reference.Close(refGrad, leaf.grad!, 1e-12, 1e-12, "gradient");
    }
}
