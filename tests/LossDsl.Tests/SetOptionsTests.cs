using System;
using System.Linq;
using LossDsl.Losses;
using LossDsl.Runtime;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LossDsl.Tests;

/// <summary>
/// The options of the set losses: per-channel (per-class) weights with cross_entropy's semantics (a set's loss scaled
/// by its channel's weight, Mean dividing by the sum of the sets' weights), and smp's empty-channel convention as the
/// option <c>skip_empty</c>. Each against an independent TorchSharp composition, value and gradient, on the fused CPU
/// path, the ILGPU kernels and torch ops; and smp's published empty-target values.
/// </summary>
public class SetOptionsTests
{
    private const ScalarType F64 = ScalarType.Float64;

    public static TheoryData<Backend> Backends => new() { Backend.Cpu, Backend.Ilgpu, Backend.TorchOps };

    /// <summary>Logits [2, 3, 4, 5] and targets with channel 1 empty.</summary>
    private static (Tensor X, Tensor Y) Masks(string name)
    {
        var g = new Generator(Reference.Seed(name));
        var y = (torch.rand(new long[] { 2, 3, 4, 5 }, dtype: F64, generator: g) < 0.35).to(F64);
        y[.., 1] = 0;
        return (2 * torch.randn(new long[] { 2, 3, 4, 5 }, dtype: F64, generator: g), y);
    }

    private static readonly long[] SetDims = { 0, 2, 3 };

    /// <summary>The soft Dice loss per channel, [C], with or without smp's mask of empty channels.</summary>
    private static Tensor DicePerChannel(Tensor p, Tensor y, double smooth, bool skipEmpty)
    {
        var loss = 1 - (2 * (p * y).sum(SetDims) + smooth) / (p.sum(SetDims) + y.sum(SetDims) + smooth).clamp_min(1e-7);
        return skipEmpty ? loss * (y.sum(SetDims) > 0).to(p.dtype) : loss;
    }

    private static (Tensor Value, Tensor Grad) Run(Backend backend, Tensor x, Func<Tensor, Tensor> f)
    {
        using (LossBackend.Use(backend)) return Reference.Autograd(f, x);
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void ChannelWeightsScaleEachSetAndMeanDividesByTheirSum(Backend backend)
    {
        var (x, y) = Masks("weighted dice");
        var w = torch.tensor(new[] { 0.5, 2.0, 3.0 }, dtype: F64);
        var (refValue, refGrad) = Reference.Autograd(l => (w * DicePerChannel(l.sigmoid(), y, 1.0, skipEmpty: true)).sum() / w.sum(), x);
        var (value, grad) = Run(backend, x, l => Segmentation.Dice(l, y, weight: w, smooth: 1.0));
        Reference.Near(refValue.item<double>(), value.item<double>(), 1e-10, 1e-12, "value");
        Reference.Close(refGrad, grad, 1e-8, 1e-12, "gradient");
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void ChannelWeightsWithReductionNoneAndSum(Backend backend)
    {
        var (x, y) = Masks("weighted jaccard");
        var w = torch.tensor(new[] { 1.5, 0.25, 4.0 }, dtype: F64);
        var p = x.sigmoid();
        var tp = (p * y).sum(SetDims);
        var perChannel = (1 - tp / (p.sum(SetDims) + y.sum(SetDims) - tp).clamp_min(1e-7)) * (y.sum(SetDims) > 0).to(F64);
        using (LossBackend.Use(backend))
        {
            Reference.Close(w * perChannel, Segmentation.Jaccard(x, y, weight: w, reduction: nn.Reduction.None), 1e-10, 1e-12, "None");
            Reference.Near((w * perChannel).sum().item<double>(), Segmentation.Jaccard(x, y, weight: w, reduction: nn.Reduction.Sum).item<double>(), 1e-10, 1e-12, "Sum");
        }
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void ClassWeightsOfAMulticlassSetLoss(Backend backend)
    {
        var g = new Generator(Reference.Seed("weighted multiclass dice"));
        var x = 2 * torch.randn(new long[] { 2, 4, 3, 5 }, dtype: F64, generator: g);
        var mask = torch.randint(0, 3, new long[] { 2, 3, 5 }, generator: g);   // class 3 absent
        var w = torch.tensor(new[] { 1.0, 0.5, 2.0, 3.0 }, dtype: F64);
        var y = F.one_hot(mask, 4).movedim(new long[] { -1 }, new long[] { 1 }).to(F64);
        var (refValue, refGrad) = Reference.Autograd(l => (w * DicePerChannel(F.softmax(l, 1), y, 0.5, skipEmpty: true)).sum() / w.sum(), x);
        var (value, grad) = Run(backend, x, l => Segmentation.MulticlassDice(l, mask, weight: w, smooth: 0.5));
        Reference.Near(refValue.item<double>(), value.item<double>(), 1e-10, 1e-12, "value");
        Reference.Close(refGrad, grad, 1e-8, 1e-12, "gradient");
    }

    [Fact]
    public void AWeightOfAnotherShapeIsRejectedByName()
    {
        var (x, y) = Masks("bad weight");
        var e = Assert.Throws<ArgumentException>(() => Segmentation.Dice(x, y, weight: torch.ones(4, dtype: F64)));
        Assert.Equal("weight", e.ParamName);
        Assert.Contains("expected [3]", e.Message);
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void WithoutSkipEmptyAnEmptyChannelAddsItsFormula(Backend backend)
    {
        var (x, y) = Masks("dice keeps empty channels");
        var (refValue, refGrad) = Reference.Autograd(l => DicePerChannel(l.sigmoid(), y, 1.0, skipEmpty: false).mean(), x);
        var (value, grad) = Run(backend, x, l => Segmentation.Dice(l, y, smooth: 1.0, skip_empty: 0));
        Reference.Near(refValue.item<double>(), value.item<double>(), 1e-10, 1e-12, "value");
        Reference.Close(refGrad, grad, 1e-8, 1e-12, "gradient");
        // The empty channel 1 is where the two conventions differ: it adds 0 with skip_empty, its formula without.
        var with = Segmentation.Dice(x, y, smooth: 1.0, reduction: nn.Reduction.None);
        var without = Segmentation.Dice(x, y, smooth: 1.0, skip_empty: 0, reduction: nn.Reduction.None);
        Assert.Equal(0.0, with[1].item<double>());
        Assert.True(without[1].item<double>() > 0.1);
        var full = torch.tensor(new long[] { 0, 2 });
        Reference.Close(with.index_select(0, full), without.index_select(0, full), 1e-14, 1e-15, "non-empty channels");
    }

    // smp's tests/test_losses.py, empty targets (y_pred as probabilities 1/0 through logits ±100, eps = 1e-5):
    // test_dice_loss_binary and test_binary_jaccard_loss, "it zeros loss if there is no y_true": a prediction of ones
    // on an empty target loses 0; test_multiclass_jaccard_loss's absent class adds 0 to the class mean.
    [Theory]
    [InlineData("Dice")]
    [InlineData("Jaccard")]
    [InlineData("Tversky")]
    public void SmpEmptyTargetValues(string loss)
    {
        var ones = torch.full(new long[] { 1, 1, 1, 3 }, 100.0, dtype: F64);
        var zeros = torch.full(new long[] { 1, 1, 1, 3 }, -100.0, dtype: F64);
        var empty = torch.zeros(new long[] { 1, 1, 1, 3 }, dtype: F64);
        Tensor Loss(Tensor x, double skip) => loss switch
        {
            "Dice" => Segmentation.Dice(x, empty, eps: 1e-5, skip_empty: skip),
            "Jaccard" => Segmentation.Jaccard(x, empty, eps: 1e-5, skip_empty: skip),
            _ => Segmentation.Tversky(x, empty, eps: 1e-5, skip_empty: skip),
        };
        Reference.Near(0.0, Loss(ones, 1).item<double>(), 0, 1e-5, "ones on an empty target, smp's convention");
        Reference.Near(0.0, Loss(zeros, 1).item<double>(), 0, 1e-5, "zeros on an empty target, smp's convention");
        // Without the mask the formula holds: the score is 0/max(Σp, eps), so the loss is 1 for either prediction.
        Reference.Near(1.0, Loss(ones, 0).item<double>(), 0, 1e-5, "ones on an empty target, no mask");
        Reference.Near(1.0, Loss(zeros, 0).item<double>(), 0, 1e-5, "zeros on an empty target, no mask");
    }

    /// <summary>A multilabel case in the form of smp's test_multilabel_jaccard_loss ([1, 2, 4]) with an empty second channel: 0 with smp's mask (channel 1 adds 0), 0.5 without.</summary>
    [Fact]
    public void SmpMultilabelEmptyChannel()
    {
        var x = torch.tensor(new[] { 1.0, 1, 0, 0, 0, 0, 0, 0 }.Select(p => p > 0 ? 100.0 : -100.0).ToArray(), dtype: F64).reshape(1, 2, 4);
        var y = torch.tensor(new[] { 1.0, 1, 0, 0, 0, 0, 0, 0 }, dtype: F64).reshape(1, 2, 4);
        Reference.Near(0.0, Segmentation.Jaccard(x, y, eps: 1e-5).item<double>(), 0, 1e-5, "smp: channel 1 is empty and masked");
        Reference.Near(0.5, Segmentation.Jaccard(x, y, eps: 1e-5, skip_empty: 0).item<double>(), 0, 1e-5, "no mask: channel 1 loses 1");
    }
}
