using System.Linq;
using LossDsl.Runtime;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LossDsl.Tests;

/// <summary>
/// Multiclass segmentation as segmentation_models_pytorch does it, composed from LossDsl losses: a softmax across C at
/// each pixel (TorchSharp's), per-class Dice sets over (N, H, W) on the probabilities, classes absent from the target
/// masked out, ignore_index pixels left out of the sets, plus cross-entropy on the [N, C, H, W] logits. Compared with the
/// same formula written with TorchSharp ops only (smp's DiceLoss in multiclass mode + cross_entropy), value and gradient.
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
        var perClass = TestLosses.SoftDice(F.softmax(logits, 1), targets, smooth: 0, eps: 1e-7, reduction: nn.Reduction.None, ignoreIndex: Ignore);
        var present = torch.where(ignored, 0.0, OneHot(mask, classes)).sum(new long[] { 0, 2, 3 }) > 0;
        var dice = (perClass * present.to(perClass.dtype)).mean();
        return dice + LossDsl.Samples.Losses.Poly1(logits, mask, epsilon: 0, ignoreIndex: Ignore);
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
}
