using System;
using System.Collections.Generic;
using System.Linq;
using LossDsl.Runtime;
using LossDsl.Samples;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LossDsl.Tests;

using Losses = LossDsl.Samples.Losses;   // the sample class, not the namespace LossDsl.Losses (found first from LossDsl.Tests)

/// <summary>
/// PyTorch's weights, against PyTorch's own losses: Poly-1 at ε = 0 is cross-entropy, so with class weights it must
/// match <c>cross_entropy(weight:)</c> (Mean divides by Σ weight[target] over the rows not ignored); sigmoid focal at
/// γ = 0 without α is BCE with logits, so with per-element weights it must match
/// <c>binary_cross_entropy_with_logits(weight:)</c>. Every backend, every reduction, float64 (rtol 1e-10).
/// </summary>
public class WeightTests
{
    public static IEnumerable<object[]> Cases()
        => from backend in new[] { Backend.Cpu, Backend.Ilgpu, Backend.TorchOps }
           from reduction in new[] { nn.Reduction.Mean, nn.Reduction.Sum, nn.Reduction.None }
           select new object[] { backend, reduction };

    private static void Compare(Func<Tensor, Tensor> ours, Func<Tensor, Tensor> theirs, Tensor x, nn.Reduction reduction, string what)
    {
        var upstream = reduction == nn.Reduction.None ? torch.rand(theirs(x).shape, dtype: ScalarType.Float64) + 0.5 : null;
        var (refValue, refGrad) = Reference.Autograd(theirs, x, upstream);
        var leaf = x.clone().requires_grad_(true);
        var value = ours(leaf);
        if (upstream is null) value.backward();
        else value.backward(new[] { upstream });
        Reference.Close(refValue, value.detach(), 1e-10, 1e-13, $"{what} value");
        Reference.Close(refGrad, leaf.grad!, 1e-10, 1e-13, $"{what} gradient");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ClassWeightsMatchCrossEntropy(Backend backend, nn.Reduction reduction)
    {
        using var _ = LossBackend.Use(backend);
        var g = new Generator(11);
        var w = torch.rand(5, dtype: ScalarType.Float64, generator: g) + 0.2;

        var x = torch.randn(new long[] { 9, 5 }, dtype: ScalarType.Float64, generator: g);
        var t = torch.randint(0, 5, new long[] { 9 }, generator: g);
        t[4] = torch.tensor(-100L);
        Compare(z => Losses.Poly1(z, t, epsilon: 0, reduction: reduction, weight: w),
                z => F.cross_entropy(z, t, weight: w, ignore_index: -100, reduction: reduction), x, reduction, "[N, C]");

        // PyTorch's layout, class axis 1 with trailing dims.
        var x4 = torch.randn(new long[] { 2, 5, 3, 2 }, dtype: ScalarType.Float64, generator: g);
        var t4 = torch.randint(0, 5, new long[] { 2, 3, 2 }, generator: g);
        t4[1, 2, 0] = torch.tensor(-100L);
        Compare(z => Losses.Poly1(z, t4, epsilon: 0, reduction: reduction, weight: w),
                z => F.cross_entropy(z, t4, weight: w, ignore_index: -100, reduction: reduction), x4, reduction, "[N, C, d1, d2]");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ElementWeightsMatchBinaryCrossEntropyWithLogits(Backend backend, nn.Reduction reduction)
    {
        using var _ = LossBackend.Use(backend);
        var g = new Generator(12);
        var x = torch.randn(new long[] { 6, 7 }, dtype: ScalarType.Float64, generator: g);
        var y = (torch.rand(new long[] { 6, 7 }, dtype: ScalarType.Float64, generator: g) < 0.4).to(ScalarType.Float64);
        foreach (var w in new[] { torch.rand(new long[] { 6, 7 }, dtype: ScalarType.Float64, generator: g), torch.rand(new long[] { 7 }, dtype: ScalarType.Float64, generator: g) })
            Compare(z => Losses.SigmoidFocal(z, y, alpha: -1, gamma: 0, reduction: reduction, weight: w),
                    z => F.binary_cross_entropy_with_logits(z, y, weight: w, reduction: reduction), x, reduction, $"weight {string.Join("x", w.shape)}");
    }

    [Fact]
    public void AClassWeightOfTheWrongLengthNamesTheWeight()
    {
        var e = Assert.Throws<ArgumentException>(() => Losses.Poly1(torch.randn(4, 3), torch.zeros(4, dtype: ScalarType.Int64), weight: torch.ones(4)));
        Assert.Equal("weight", e.ParamName);
        Assert.Contains("expected [3], one weight per class", e.Message);
    }

    [Fact]
    public void TheModuleTakesWeights()
    {
        var x = torch.randn(8, 4, dtype: ScalarType.Float64);
        var t = torch.randint(0, 4, new long[] { 8 });
        var w = torch.tensor(new[] { 1.0, 2.0, 0.5, 3.0 });
        using var criterion = new Losses.Poly1Loss(epsilon: 0, weight: w);
        Reference.Near(F.cross_entropy(x, t, weight: w).item<double>(), criterion.call(x, t).item<double>(), 1e-12, 1e-14, "weighted Poly1 (ε = 0) against cross_entropy");
    }
}
