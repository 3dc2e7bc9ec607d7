using System;
using LossDsl.Losses;
using LossDsl.Runtime;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LossDsl.Tests;

/// <summary>
/// Losses that reduce across their segments (a set loss's classes: <c>SumOverClasses</c>, …; a pair loss's anchors:
/// <c>SumOverAnchors</c>, …) are one value per call, or per image with per-image sets: what each reduction returns, how an
/// upstream gradient per image reaches the logits, and what such a loss refuses. Their values and Mean gradients against
/// MONAI's, smp's and pytorch-metric-learning's compositions are in <see cref="LossLibraryTests"/>.
/// </summary>
public class AcrossSegmentsTests
{
    private static (Tensor Logits, Tensor Targets) Inputs()
    {
        var g = new Generator(23);
        var y = (torch.rand(new long[] { 3, 4, 5, 6 }, dtype: ScalarType.Float64, generator: g) < 0.3).to(ScalarType.Float64);
        y[1, 2] = 0;   // a class absent from one image: the largest weight of that image
        return (2 * torch.randn(new long[] { 3, 4, 5, 6 }, dtype: ScalarType.Float64, generator: g), y);
    }

    /// <summary>MONAI's per-image generalized Dice (batch=False), [N]: the independent composition.</summary>
    private static Tensor PerImage(Tensor logits, Tensor y) => LossLibraryTests.MonaiGeneralizedDice(logits, y, new long[] { 2, 3 }, 1e-5, 1e-5);

    [Fact]
    public void PerImageSetsGiveOneLossPerImage()
    {
        var (x, y) = Inputs();
        var none = Overlap.GeneralizedDice(x, y, reduction: nn.Reduction.None);
        Assert.Equal(new long[] { 3 }, none.shape);
        var expected = PerImage(x, y);
        Reference.Close(expected, none, 1e-12, 1e-14, "per image");
        Reference.Near(expected.mean().item<double>(), Overlap.GeneralizedDice(x, y).item<double>(), 1e-12, 1e-14, "Mean over the images");
        Reference.Near(expected.sum().item<double>(), Overlap.GeneralizedDice(x, y, reduction: nn.Reduction.Sum).item<double>(), 1e-12, 1e-14, "Sum over the images");
    }

    [Fact]
    public void AnUpstreamGradientPerImageReachesItsImagesLogits()
    {
        var (x, y) = Inputs();
        var upstream = torch.tensor(new[] { 0.5, -2.0, 3.0 }, dtype: ScalarType.Float64);
        var mine = x.detach().clone().requires_grad_(true);
        Overlap.GeneralizedDice(mine, y, reduction: nn.Reduction.None).backward(new[] { upstream });
        var theirs = x.detach().clone().requires_grad_(true);
        PerImage(theirs, y).backward(new[] { upstream });
        Reference.Close(theirs.grad!, mine.grad!, 1e-9, 1e-14, "∂(g·ℓ)/∂logits");
    }

    /// <summary>Under create_graph the gradient is the torch-ops form's, differentiable again: a gradient penalty's gradient.</summary>
    [Fact]
    public void SecondDerivativesAreExact()
    {
        var (x, y) = Inputs();
        Tensor Penalty(Func<Tensor, Tensor> loss)
        {
            var leaf = x.detach().clone().requires_grad_(true);
            var g = torch.autograd.grad(new[] { loss(leaf) }, new[] { leaf }, retain_graph: true, create_graph: true)[0];
            return torch.autograd.grad(new[] { (g * g).sum() }, new[] { leaf })[0];
        }
        Reference.Close(Penalty(z => PerImage(z, y).mean()), Penalty(z => Overlap.GeneralizedDice(z, y)), 1e-8, 1e-14, "∂‖∇ℓ‖²/∂logits");
    }

    [Fact]
    public void PerChannelSetsGiveOneValueForEveryReduction()
    {
        var (x, y) = Inputs();
        var none = Overlap.GeneralizedDiceBatch(x, y, reduction: nn.Reduction.None);
        Assert.Equal(0, none.dim());
        double value = none.item<double>();
        Assert.Equal(value, Overlap.GeneralizedDiceBatch(x, y).item<double>());
        Assert.Equal(value, Overlap.GeneralizedDiceBatch(x, y, reduction: nn.Reduction.Sum).item<double>());
    }

    [Fact]
    public void WeightsAndTheFusedBackendsAreRefusedWithAReason()
    {
        var (x, y) = Inputs();
        var e = Assert.Throws<ArgumentException>(() => Segmentation.SmpFocalTversky(x, y, weight: torch.ones(4, dtype: ScalarType.Float64)));
        Assert.Contains("reduces across its classes", e.Message);
        using (LossBackend.Use(Backend.Cpu))
            Assert.Contains("generated without", Assert.Throws<NotSupportedException>(() => Segmentation.SmpFocalTversky(x, y)).Message);
        // Auto takes the torch-ops form, on float32 too.
        var value = Segmentation.SmpFocalTversky(x.to(ScalarType.Float32), y.to(ScalarType.Float32));
        Reference.Near(Segmentation.SmpFocalTversky(x, y).item<double>(), value.item<float>(), 1e-5, 1e-6, "float32");
    }

    [Fact]
    public void APairLossAcrossItsAnchorsIsOneValueAndIsNotShardedOverThem()
    {
        var g = new Generator(5);
        var e = torch.randn(new long[] { 10, 4 }, dtype: ScalarType.Float64, generator: g);
        var d = torch.cdist(e, e);
        var labels = torch.tensor(new long[] { 0, 1, 2, 0, 1, 2, 0, 1, 2, 3 });
        var none = PairLosses.Contrastive(d, labels, reduction: nn.Reduction.None);
        Assert.Equal(0, none.dim());
        Assert.Equal(none.item<double>(), PairLosses.Contrastive(d, labels).item<double>());
        Assert.Equal(none.item<double>(), PairLosses.Contrastive(d, labels, reduction: nn.Reduction.Sum).item<double>());
        using (LossBackend.Use(Backend.Cpu))
            Assert.Contains("generated without", Assert.Throws<NotSupportedException>(() => PairLosses.Contrastive(d, labels)).Message);
        using (LossDsl.Runtime.Distributed.LossSharding.Over(LossDsl.Runtime.Distributed.SingleProcessCollective.Instance, LossDsl.Runtime.Distributed.ShardAxis.Batch))
            Assert.Contains("reduces across its anchors", Assert.Throws<NotSupportedException>(() => PairLosses.Contrastive(d, labels)).Message);
    }
}
