using System.Collections.Generic;
using LossDsl.Runtime;
using LossDsl.Samples;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LossDsl.Tests;

using Losses = LossDsl.Samples.Losses;   // the sample class, not the namespace LossDsl.Losses (found first from LossDsl.Tests)

/// <summary>Edge inputs on both backends, against TorchSharp references.</summary>
public class EdgeCaseTests
{
    public static IEnumerable<object[]> Backends() => new[] { new object[] { Backend.Cpu }, new object[] { Backend.Ilgpu }, new object[] { Backend.TorchOps } };

    /// <summary>Masked logits (−∞) are common: they take no probability and no gradient, and nothing becomes NaN.</summary>
    [Theory]
    [MemberData(nameof(Backends))]
    public void MaskedLogitsAtMinusInfinity(Backend backend)
    {
        using var _ = LossBackend.Use(backend);
        var x = torch.randn(4, 37, dtype: ScalarType.Float64, generator: new Generator(5));
        x[.., ..3] = double.NegativeInfinity;
        var t = torch.tensor(new long[] { 3, 10, 36, 4 });
        var leaf = x.clone().requires_grad_(true);
        var loss = Losses.Poly1(leaf, t, reduction: nn.Reduction.Sum);
        loss.backward();
        var (refValue, refGrad) = Reference.Autograd(z =>
        {
            var logp = F.log_softmax(z, 1).gather(1, t.unsqueeze(1)).squeeze(1);
            return (-logp + (1 - logp.exp())).sum();
        }, x);
        Reference.Close(refValue, loss.detach(), 1e-9, 1e-12, "value");
        Reference.Close(refGrad, leaf.grad!, 1e-9, 1e-12, "gradient");
    }

    /// <summary>
    /// A +∞ logit makes its row's loss and gradient NaN, as libtorch's cross_entropy does, on the fused CPU path and the
    /// ILGPU kernels alike (the kernels used to give +∞ with a NaN gradient); the other rows are untouched.
    /// </summary>
    [Theory]
    [InlineData(Backend.Cpu)]
    [InlineData(Backend.Ilgpu)]
    public void PositiveInfiniteLogitMakesItsRowNaNAsTorchDoes(Backend backend)
    {
        using var _ = LossBackend.Use(backend);
        var x = torch.randn(3, 5, dtype: ScalarType.Float64, generator: new Generator(7));
        x[0, 2] = double.PositiveInfinity;   // the target's logit
        x[1, 4] = double.PositiveInfinity;   // another class's logit
        var t = torch.tensor(new long[] { 2, 0, 1 });
        var torchLoss = F.cross_entropy(x, t, reduction: nn.Reduction.None);
        Assert.True(torchLoss[0].isnan().item<bool>() && torchLoss[1].isnan().item<bool>(), "libtorch's reference behaviour");

        var leaf = x.clone().requires_grad_(true);
        var loss = TestLosses.CrossEntropy(leaf, t, reduction: nn.Reduction.None);
        loss.sum().backward();
        Assert.True(loss[0].isnan().item<bool>() && loss[1].isnan().item<bool>(), $"loss {loss.str()}");
        Assert.True(leaf.grad![0].isnan().all().item<bool>() && leaf.grad![1].isnan().all().item<bool>(), "gradient of the +∞ rows");
        Reference.Close(torchLoss[2], loss[2].detach(), 1e-12, 1e-14, "the finite row");
    }

    /// <summary>A channel set with no elements (batch 0) still has one loss per channel: here 1 − 0/eps = 1.</summary>
    [Theory]
    [MemberData(nameof(Backends))]
    public void EmptyChannelSets(Backend backend)
    {
        using var _ = LossBackend.Use(backend);
        var loss = Losses.Tversky(torch.randn(0, 3, 4, 4), torch.zeros(0, 3, 4, 4), reduction: nn.Reduction.None);
        Reference.Close(torch.ones(3), loss, 0, 0, "per-channel loss of empty sets");
    }

    /// <summary>Leaf predictions get their gradient in .grad, and repeated backward passes accumulate it.</summary>
    [Fact]
    public void LeafGradientsAccumulate()
    {
        var x = torch.randn(3, 5, dtype: ScalarType.Float64).requires_grad_(true);
        var t = torch.tensor(new long[] { 0, 1, 2 });
        Losses.Poly1(x, t).backward();
        var once = x.grad!.clone();
        Losses.Poly1(x, t).backward();
        Reference.Close(once * 2, x.grad!, 1e-12, 0, "accumulated gradient");
    }
}
