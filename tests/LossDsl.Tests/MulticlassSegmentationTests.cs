using System;
using System.Linq;
using LossDsl.Runtime;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LossDsl.Tests;

/// <summary>
/// Multiclass segmentation as segmentation_models_pytorch does it: a softmax across C at each pixel, per-class sets over
/// (N, H, W) or (H, W), classes absent from the target masked out, ignore_index pixels masked, plus cross-entropy on the
/// [N, C, H, W] logits. The native multiclass set losses ([Softmax]) on every backend, and the older composition of a
/// set loss with TorchSharp's softmax, against the same formulas written with TorchSharp ops only (smp's DiceLoss and
/// JaccardLoss in multiclass mode, cross_entropy, a softmax focal loss), value and gradient, and float64 finite differences.
/// </summary>
public class MulticlassSegmentationTests
{
    private const long Ignore = 255;

    private static Tensor OneHot(Tensor mask, long classes) => F.one_hot(mask.clamp(0, classes - 1), classes).permute(0, 3, 1, 2).to(ScalarType.Float64);

    /// <summary>LossDsl: Dice per class (sets with ignored pixels) and Poly-1 at ε = 0 (cross-entropy) in PyTorch's layout.</summary>
    private static Tensor Composed(Tensor logits, Tensor mask, long classes)
    {
        var ignored = mask.eq(Ignore).unsqueeze(1);
        var targets = torch.where(ignored, (double)Ignore, OneHot(mask, classes));
        var perClass = TestLosses.SoftDice(F.softmax(logits, 1), targets, smooth: 0, eps: 1e-7, reduction: nn.Reduction.None, ignore_index: Ignore);
        var present = torch.where(ignored, 0.0, OneHot(mask, classes)).sum(new long[] { 0, 2, 3 }) > 0;
        var dice = (perClass * present.to(perClass.dtype)).mean();
        return dice + LossDsl.Samples.Losses.Poly1(logits, mask, epsilon: 0, ignore_index: Ignore);
    }

    /// <summary>smp's DiceLoss(mode="multiclass", from_logits=True, ignore_index) + cross_entropy, in TorchSharp ops.</summary>
    private static Tensor Smp(Tensor logits, Tensor mask, long classes)
    {
        var valid = mask.ne(Ignore).unsqueeze(1).to(ScalarType.Float64);
        var p = F.softmax(logits, 1) * valid;
        var y = OneHot(mask, classes) * valid;
        var dims = new long[] { 0, 2, 3 };
        var dice = 2 * (p * y).sum(dims) / (p + y).sum(dims).clamp_min(1e-7);
        var loss = (1 - dice) * (y.sum(dims) > 0).to(ScalarType.Float64);
        return loss.mean() + F.cross_entropy(logits, mask, ignore_index: Ignore);
    }

    [Theory]
    [InlineData(Backend.Auto)]
    [InlineData(Backend.TorchOps)]
    public void DicePlusCrossEntropyMatchesSmp(Backend backend)
    {
        using var _ = LossBackend.Use(backend);
        var g = new Generator(31);
        const long classes = 4;
        var logits = torch.randn(new long[] { 2, classes, 5, 6 }, dtype: ScalarType.Float64, generator: g);
        var mask = torch.randint(0, 3, new long[] { 2, 5, 6 }, generator: g);   // class 3 never occurs: masked out
        mask[0, 1, 2] = torch.tensor(Ignore);
        mask[1, 4, 0] = torch.tensor(Ignore);

        var (refValue, refGrad) = Reference.Autograd(z => Smp(z, mask, classes), logits);
        var leaf = logits.clone().requires_grad_(true);
        var value = Composed(leaf, mask, classes);
        value.backward();
        Reference.Close(refValue, value.detach(), 1e-10, 1e-13, "Dice + CE");
        Reference.Close(refGrad, leaf.grad!, 1e-10, 1e-13, "∂(Dice + CE)/∂logits");
    }

    public static TheoryData<Backend> Backends => new() { Backend.Cpu, Backend.Ilgpu, Backend.TorchOps };

    private const long Classes = 4;

    /// <summary>Logits [2, 4, 5, 6] and a mask where class 3 never occurs (smp masks it out) and two pixels are ignored.</summary>
    private static (Tensor Logits, Tensor Mask) Batch(string name, ScalarType dtype = ScalarType.Float64)
    {
        var g = new Generator(Reference.Seed(name));
        var logits = (3 * torch.randn(new long[] { 2, Classes, 5, 6 }, dtype: ScalarType.Float64, generator: g)).to(dtype);
        var mask = torch.randint(0, 3, new long[] { 2, 5, 6 }, generator: g);
        mask[0, 1, 2] = torch.tensor(Ignore);
        mask[1, 4, 0] = torch.tensor(Ignore);
        return (logits, mask);
    }

    /// <summary>smp's pieces in TorchSharp ops: p and y masked at ignored pixels, log p as 0 there, and the kept-pixel count.</summary>
    private static (Tensor P, Tensor Y, Tensor LogP, Tensor Kept) SmpInputs(Tensor logits, Tensor mask)
    {
        var kept = mask.ne(Ignore).unsqueeze(1).to(logits.dtype);
        return (F.softmax(logits, 1) * kept, OneHot(mask, Classes).to(logits.dtype) * kept, F.log_softmax(logits, 1) * kept, kept.sum());
    }

    /// <summary>The per-class values of Losses.DiceCE: smp's Dice loss of the class (0 if absent) + C · its pixels' share of the CE.</summary>
    private static Tensor SmpDiceCEPerClass(Tensor logits, Tensor mask)
    {
        var (p, y, logp, kept) = SmpInputs(logits, mask);
        var dims = new long[] { 0, 2, 3 };
        var dice = 2 * (p * y).sum(dims) / (p + y).sum(dims).clamp_min(1e-7);
        var diceLoss = (1 - dice) * (y.sum(dims) > 0).to(logits.dtype);
        return diceLoss + Classes * (-(y * logp)).sum(dims) / kept;
    }

    /// <summary>Value and ∂/∂logits of <paramref name="ours"/> against TorchSharp autograd on <paramref name="reference"/>, within 10⁻¹⁰.</summary>
    private static void AgreesWith(string what, Func<Tensor, Tensor> reference, Func<Tensor, Tensor> ours, Tensor logits, Tensor? upstream = null)
    {
        var (refValue, refGrad) = Reference.Autograd(reference, logits, upstream);
        var (value, grad) = Reference.Autograd(ours, logits, upstream);
        Reference.Close(refValue, value, 1e-10, 1e-13, what);
        Reference.Close(refGrad, grad, 1e-10, 1e-13, $"∂({what})/∂logits");
    }

    /// <summary>
    /// A [Softmax] set loss with no target span takes the logits alone (information maximization on images, per-image
    /// entropies of p over the pixels): per class and pixel, against the formula in TorchSharp ops, on every backend.
    /// </summary>
    [Theory]
    [MemberData(nameof(Backends))]
    public void ASoftmaxSetLossWithoutAMaskTakesTheLogitsAlone(Backend backend)
    {
        var (logits, _) = Batch(nameof(ASoftmaxSetLossWithoutAMaskTakesTheLogitsAlone));
        var upstream = torch.linspace(-1, 2, Classes, dtype: ScalarType.Float64);
        AgreesWith("information maximization per class", z =>
        {
            // ℓ_c = C·(p̄_c·log(p̄_c + ε) − mean_{n,s} p·log(p + ε)), p̄_c the mean over the batch and pixels.
            var p = F.softmax(z, 1);
            var dims = new long[] { 0, 2, 3 };
            var mean = p.mean(dims);
            return Classes * (mean * (mean + 1e-5).log() - (p * (p + 1e-5).log()).mean(dims));
        }, z => LossDsl.Losses.Unsupervised.InformationMaximization(z, reduction: nn.Reduction.None, backend: backend), logits, upstream);
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void NativeDicePlusCrossEntropyMatchesSmp(Backend backend)
    {
        var (logits, mask) = Batch(nameof(NativeDicePlusCrossEntropyMatchesSmp));
        AgreesWith("Dice + CE", z => Smp(z, mask, Classes), z => LossDsl.Samples.Losses.DiceCE(z, mask, ignore_index: Ignore, backend: backend), logits);
    }

    /// <summary>
    /// Float32 on every backend, against smp's composition in float64: on the ILGPU path the per-pixel statistics come from
    /// a kernel of their own (PixelStatistics), on the CPU path from the host, so each is checked against the reference on
    /// its own. Small batch, so that a count off by one would show too.
    /// </summary>
    [Theory]
    [MemberData(nameof(Backends))]
    public void DicePlusCrossEntropyInFloat32MatchesSmp(Backend backend)
    {
        var (logits, mask) = Batch(nameof(DicePlusCrossEntropyInFloat32MatchesSmp));
        var (refValue, refGrad) = Reference.Autograd(z => SmpDiceCEPerClass(z, mask), logits, torch.tensor(new[] { 0.5, -1.25, 2.0, 0.75 }));
        var (value, grad) = Reference.Autograd(z => LossDsl.Samples.Losses.DiceCE(z, mask, reduction: nn.Reduction.None, ignore_index: Ignore, backend: backend),
            logits.to(ScalarType.Float32), torch.tensor(new[] { 0.5f, -1.25f, 2.0f, 0.75f }));
        Reference.Close(refValue, value.to(ScalarType.Float64), 2e-6, 1e-6, "per-class Dice + CE, float32");
        Reference.Close(refGrad, grad.to(ScalarType.Float64), 2e-5, 1e-6, "∂(per-class Dice + CE)/∂logits, float32");
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void PerClassLossesTakeTheirOwnUpstreamGradient(Backend backend)
    {
        // Reduction None: each class's upstream weight scales its a before the softmax Jacobian mixes the classes.
        var (logits, mask) = Batch(nameof(PerClassLossesTakeTheirOwnUpstreamGradient));
        var upstream = torch.tensor(new[] { 0.5, -1.25, 2.0, 0.75 });
        AgreesWith("per-class Dice + CE", z => SmpDiceCEPerClass(z, mask),
            z => LossDsl.Samples.Losses.DiceCE(z, mask, reduction: nn.Reduction.None, ignore_index: Ignore, backend: backend), logits, upstream);
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void PerImageJaccardMatchesSmp(Backend backend)
    {
        var (logits, mask) = Batch(nameof(PerImageJaccardMatchesSmp));
        Tensor Smp(Tensor z)
        {
            var (p, y, _, _) = SmpInputs(z, mask);
            var dims = new long[] { 2, 3 };
            var intersection = (p * y).sum(dims);
            var union = (p + y).sum(dims) - intersection;
            return ((1 - intersection / union.clamp_min(1e-7)) * (y.sum(dims) > 0).to(z.dtype)).mean();
        }
        AgreesWith("per-image Jaccard", Smp, z => TestLosses.PerImageJaccard(z, mask, ignore_index: Ignore, backend: backend), logits);
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void SoftmaxFocalReadsProbabilityAndLogProbability(Backend backend)
    {
        var (logits, mask) = Batch(nameof(SoftmaxFocalReadsProbabilityAndLogProbability));
        Tensor Focal(Tensor z)
        {
            var (p, y, logp, kept) = SmpInputs(z, mask);
            return (-(y * (1 - p).pow(2) * logp)).sum() / kept;
        }
        AgreesWith("softmax focal", Focal, z => TestLosses.SegmentationFocal(z, mask, ignore_index: Ignore, backend: backend), logits);
    }

    [Theory]
    [InlineData("DiceCE")]
    [InlineData("PerImageJaccard")]
    [InlineData("SegmentationFocal")]
    public void GradientsMatchFiniteDifferences(string loss)
    {
        var (logits, mask) = Batch(loss);
        Func<Tensor, Tensor> f = loss switch
        {
            "DiceCE" => z => LossDsl.Samples.Losses.DiceCE(z, mask, ignore_index: Ignore),
            "PerImageJaccard" => z => TestLosses.PerImageJaccard(z, mask, ignore_index: Ignore),
            _ => z => TestLosses.SegmentationFocal(z, mask, ignore_index: Ignore),
        };
        var (_, grad) = Reference.Autograd(f, logits);
        var flat = grad.reshape(-1);
        var (index, derivative) = Reference.FiniteDifferences(f, logits, null, 16, (int)Reference.Seed(loss));
        for (int k = 0; k < index.Length; k++)
            Assert.True(Math.Abs(flat[index[k]].item<double>() - derivative[k]) <= 1e-7 + 1e-6 * Math.Abs(derivative[k]),
                $"{loss}: ∂/∂logits[{index[k]}] is {flat[index[k]].item<double>():R}, finite differences give {derivative[k]:R}");
    }

    [Fact]
    public void Float32IsCloseToTheFloat64Reference()
    {
        var (logits, mask) = Batch(nameof(Float32IsCloseToTheFloat64Reference));
        var (refValue, refGrad) = Reference.Autograd(z => Smp(z, mask, Classes), logits);
        var (value, grad) = Reference.Autograd(z => LossDsl.Samples.Losses.DiceCE(z, mask, ignore_index: Ignore, backend: Backend.Cpu), logits.to(ScalarType.Float32));
        Reference.Close(refValue, value, 1e-5, 1e-6, "float32 Dice + CE");
        Reference.Close(refGrad, grad, 1e-4, 1e-6, "float32 ∂(Dice + CE)/∂logits");
    }

    [Theory]
    [InlineData(ScalarType.Float16)]
    [InlineData(ScalarType.BFloat16)]
    public void HalfPrecisionComputesInFloat32AndRoundsTheGradientOnce(ScalarType dtype)
    {
        var (logits, mask) = Batch(nameof(HalfPrecisionComputesInFloat32AndRoundsTheGradientOnce));
        var half = logits.to(dtype);
        var (refValue, refGrad) = Reference.Autograd(z => Smp(z, mask, Classes), half.to(ScalarType.Float64));
        var (value, grad) = Reference.Autograd(z => LossDsl.Samples.Losses.DiceCE(z, mask, ignore_index: Ignore), half);
        Assert.Equal(ScalarType.Float32, value.dtype);
        Assert.Equal(dtype, grad.dtype);
        double u = dtype == ScalarType.Float16 ? Math.Pow(2, -11) : Math.Pow(2, -8);
        Reference.Close(refValue, value, 1e-5, 1e-6, "half-precision Dice + CE");
        Reference.Close(refGrad, grad, u, 1e-3 * refGrad.abs().max().item<double>(), "half-precision ∂(Dice + CE)/∂logits");
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void GradientPenaltyIsExact(Backend backend)
    {
        // backward(create_graph) recomputes a with the torch-ops form and applies the Jacobian with differentiable ops.
        var (logits, mask) = Batch(nameof(GradientPenaltyIsExact));
        Tensor Penalty(Tensor z, Func<Tensor, Tensor> loss)
        {
            var g = torch.autograd.grad(new[] { loss(z) }, new[] { z }, create_graph: true, retain_graph: true)[0];
            return g.pow(2).sum();
        }
        var (refValue, refGrad) = Reference.Autograd(z => Penalty(z, x => Smp(x, mask, Classes)), logits);
        var (value, grad) = Reference.Autograd(z => Penalty(z, x => LossDsl.Samples.Losses.DiceCE(x, mask, ignore_index: Ignore, backend: backend)), logits);
        Reference.Close(refValue, value, 1e-9, 1e-12, "‖∂(Dice + CE)/∂z‖²");
        Reference.Close(refGrad, grad, 1e-8, 1e-11, "∂‖∂(Dice + CE)/∂z‖²/∂z");
    }

    [Fact]
    public void OnAnotherDeviceTheMaskIsCheckedAndCountedWithTensorOps()
    {
        // A pretended CUDA device: the call goes to torch ops, and the mask is checked and counted without the host loop.
        var (logits, mask) = Batch(nameof(OnAnotherDeviceTheMaskIsCheckedAndCountedWithTensorOps));
        using (LossBackend.PretendDevice(DeviceType.CUDA))
        {
            AgreesWith("Dice + CE on torch ops", z => Smp(z, mask, Classes), z => LossDsl.Samples.Losses.DiceCE(z, mask, ignore_index: Ignore), logits);
            var bad = mask.clone();
            bad[1, 3, 3] = torch.tensor(9L);
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => LossDsl.Samples.Losses.DiceCE(logits, bad, ignore_index: Ignore));
            Assert.Contains("= 9 is not a class index in [0, 4)", e.Message);
        }
    }

    [Fact]
    public void ModuleMatchesTheFunction()
    {
        var (logits, mask) = Batch(nameof(ModuleMatchesTheFunction));
        var module = new LossDsl.Samples.Losses.DiceCELoss(ignore_index: Ignore);
        Reference.Close(LossDsl.Samples.Losses.DiceCE(logits, mask, ignore_index: Ignore), module.forward(logits, mask), 0, 0, "module");
    }

    [Fact]
    public void BadMasksAreRejectedByName()
    {
        var (logits, mask) = Batch(nameof(BadMasksAreRejectedByName));
        var shape = Assert.Throws<ArgumentException>(() => LossDsl.Samples.Losses.DiceCE(logits, mask[0]));
        Assert.Contains("'targets'", shape.Message);
        Assert.Contains("without its class axis 1", shape.Message);
        var dtype = Assert.Throws<ArgumentException>(() => LossDsl.Samples.Losses.DiceCE(logits, mask.to(ScalarType.Float32)));
        Assert.Contains("class indices are int64", dtype.Message);
        var range = Assert.Throws<ArgumentOutOfRangeException>(() => LossDsl.Samples.Losses.DiceCE(logits, mask.clamp(0, 3).index_put_(torch.tensor(7L), torch.tensor(0L), torch.tensor(0L), torch.tensor(0L))));
        Assert.Contains("not a class index in [0, 4)", range.Message);
        // 255 without ignoreIndex is a bad class too.
        Assert.Throws<ArgumentOutOfRangeException>(() => LossDsl.Samples.Losses.DiceCE(logits, mask));
    }

    [Fact]
    public void EveryPixelIgnoredGivesZeroGradient()
    {
        var (logits, _) = Batch(nameof(EveryPixelIgnoredGivesZeroGradient));
        var mask = torch.full(new long[] { 2, 5, 6 }, Ignore);
        var (value, grad) = Reference.Autograd(z => TestLosses.PerImageJaccard(z, mask, ignore_index: Ignore, backend: Backend.Cpu), logits);
        Assert.Equal(0.0, value.item<double>());
        Assert.Equal(0.0, grad.abs().max().item<double>());
    }
}
