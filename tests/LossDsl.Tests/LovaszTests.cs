using System;
using System.Linq;
using LossDsl.Runtime;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using L = LossDsl.Losses.Lovasz;

namespace LossDsl.Tests;

/// <summary>
/// The Lovász losses (src/LossDsl.Losses/Lovasz.cs), written with SortedSum and CumSum, against: values worked by hand
/// from smp's definition; an independent TorchSharp composition of smp's algorithm (sort, gather, cumsum, the first
/// difference of the Jaccard gradient, a dot product) with autograd; and float64 central differences away from ties.
/// </summary>
public class LovaszTests
{
    private const double Ignore = 255;

    /// <summary>smp's lovasz_hinge_flat over one set's logits and {0, 1} labels (already without ignored elements): a composition.</summary>
    private static Tensor HingeFlat(Tensor logits, Tensor labels)
    {
        if (logits.numel() == 0) return logits.sum() * 0;
        var signs = 2 * labels - 1;
        var errors = 1 - logits * signs;
        var (errorsSorted, order) = errors.sort(0, descending: true, stable: true);
        var gtSorted = labels.gather(0, order);
        return torch.dot(torch.nn.functional.relu(errorsSorted), LovaszGrad(gtSorted));
    }

    /// <summary>smp's _lovasz_grad: the Jaccard loss of each prefix of the sorted ground truth, first-differenced.</summary>
    private static Tensor LovaszGrad(Tensor gtSorted)
    {
        var gts = gtSorted.sum();
        var intersection = gts - gtSorted.cumsum(0);
        var union = gts + (1 - gtSorted).cumsum(0);
        var jaccard = 1 - intersection / union;
        long p = gtSorted.shape[0];
        if (p == 1) return jaccard;
        return torch.cat(new[] { jaccard[..1], jaccard[1..] - jaccard[..(int)(p - 1)] });
    }

    /// <summary>smp's LovaszLoss(mode="binary", per_image, ignore_index) on [N, 1, H, W]: a composition.</summary>
    internal static Tensor HingeReference(Tensor logits, Tensor labels, bool perImage, double? ignore)
    {
        Tensor Flat(Tensor z, Tensor y)
        {
            z = z.reshape(-1);
            y = y.reshape(-1);
            if (ignore is double i)
            {
                var kept = y.ne(i);
                z = z.masked_select(kept);
                y = y.masked_select(kept);
            }
            return HingeFlat(z, y);
        }
        if (!perImage) return Flat(logits, labels);
        return torch.stack(Enumerable.Range(0, (int)logits.shape[0]).Select(n => Flat(logits[n], labels[n])).ToArray()).mean();
    }

    [Theory]
    [InlineData(true, 1.625)]            // image 0: errors (3, 0), no positive: 3·1; image 1: errors (0.5, −0.5), grad (½, ½): ¼
    [InlineData(false, 7.0 / 6.0)]       // errors 3, 0.5, 0, −0.5 with labels 0, 1, 0, 1: grad (⅓, ⅓, 1/12, ¼): 1 + 1/6
    public void HandWorkedValues(bool perImage, double expected)
    {
        var logits = torch.tensor(new[] { 2.0, -1.0, 0.5, 1.5 }).view(2, 1, 1, 2);
        var labels = torch.zeros_like(logits);
        labels[1] = torch.tensor(1.0);
        var loss = perImage ? L.LovaszHingePerImage(logits, labels) : L.LovaszHinge(logits, labels);
        Reference.Near(expected, loss.item<double>(), 1e-12, 1e-12, "loss");
        Reference.Near(expected, HingeReference(logits, labels, perImage, null).item<double>(), 1e-12, 1e-12, "the composition");
    }

    [Fact]
    public void TheJaccardGradientOfSortedLabels()
    {
        // Errors e = 1 − z·(2y − 1) = 1.4, 1.3 (labels 1) and 0.8, 0.9 (labels 0): sorted, the labels are (1, 1, 0, 0), whose
        // Jaccard gradient is (½, ½, 0, 0) (smp's _lovasz_grad). So ℓ = ½·1.4 + ½·1.3, and ∂ℓ/∂z_j = −(2y_j − 1)·grad at j's rank.
        var logits = torch.tensor(new[] { -0.4, -0.3, -0.2, -0.1 }, dtype: ScalarType.Float64).requires_grad_(true);
        var labels = torch.tensor(new[] { 1.0, 1.0, 0.0, 0.0 }, dtype: ScalarType.Float64);
        var loss = L.LovaszHinge(logits, labels);
        loss.backward();
        Reference.Close(torch.tensor(new[] { -0.5, -0.5, 0.0, 0.0 }, dtype: ScalarType.Float64), logits.grad!, 1e-12, 1e-12, "gradient");
        Reference.Near(0.5 * 1.4 + 0.5 * 1.3, loss.item<double>(), 1e-12, 1e-12, "loss");
    }

    [Theory]
    [InlineData(false, false, nn.Reduction.Mean)]
    [InlineData(true, false, nn.Reduction.Mean)]
    [InlineData(true, true, nn.Reduction.Mean)]
    [InlineData(false, true, nn.Reduction.Sum)]
    [InlineData(true, false, nn.Reduction.None)]
    public void HingeMatchesTheComposition(bool perImage, bool ignore, nn.Reduction reduction)
    {
        var g = new Generator(Reference.Seed($"hinge{perImage}{ignore}{reduction}"));
        var logits = torch.randn(new long[] { 3, 1, 5, 6 }, dtype: ScalarType.Float64, generator: g) * 2;
        var labels = (torch.rand(new long[] { 3, 1, 5, 6 }, dtype: ScalarType.Float64, generator: g) < 0.4).to(ScalarType.Float64);
        if (ignore) labels = torch.where(torch.rand(new long[] { 3, 1, 5, 6 }, dtype: ScalarType.Float64, generator: g) < 0.2, Ignore, labels);
        double? ii = ignore ? Ignore : null;

        Tensor Dsl(Tensor z) => perImage
            ? L.LovaszHingePerImage(z, labels, reduction: reduction, ignore_index: ii is null ? null : (long)Ignore)
            : L.LovaszHinge(z, labels, reduction: reduction, ignore_index: ii is null ? null : (long)Ignore);
        Tensor Composed(Tensor z)
        {
            if (reduction == nn.Reduction.None && perImage)
                return torch.stack(Enumerable.Range(0, 3).Select(n => HingeReference(z[n..(n + 1)], labels[n..(n + 1)], false, ii)).ToArray()).view(3, 1);
            var mean = HingeReference(z, labels, perImage, ii);
            return reduction == nn.Reduction.Sum && perImage ? mean * 3 : mean;
        }
        var upstream = reduction == nn.Reduction.None ? torch.rand(new long[] { 3, 1 }, dtype: ScalarType.Float64, generator: g) + 0.5 : null;
        var (refValue, refGrad) = Reference.Autograd(Composed, logits, upstream);
        var (value, grad) = Reference.Autograd(Dsl, logits, upstream);
        Reference.Close(refValue, value, 1e-12, 1e-12, "value");
        Reference.Close(refGrad, grad, 1e-10, 1e-12, "gradient");
        if (ignore) Assert.Equal(0.0, grad.masked_select(labels.eq(Ignore)).abs().max().item<double>());
    }

    [Fact]
    public void HingeInFloat32()
    {
        var g = new Generator(7);
        var logits = torch.randn(new long[] { 2, 1, 16, 16 }, generator: g);
        var labels = (torch.rand(new long[] { 2, 1, 16, 16 }, generator: g) < 0.3).to(ScalarType.Float32);
        var (refValue, refGrad) = Reference.Autograd(z => HingeReference(z, labels.to(ScalarType.Float64), true, null), logits.to(ScalarType.Float64));
        var (value, grad) = Reference.Autograd(z => L.LovaszHingePerImage(z, labels), logits);
        Reference.Close(refValue, value, 1e-5, 1e-6, "value");
        Reference.Close(refGrad, grad, 1e-5, 1e-7, "gradient");
    }

    [Fact]
    public void HingeAgreesWithFloat64FiniteDifferences()
    {
        var g = new Generator(11);
        // Continuous logits: ties among the errors (where the loss is not differentiable) have probability 0.
        var logits = torch.randn(new long[] { 2, 1, 4, 5 }, dtype: ScalarType.Float64, generator: g);
        var labels = (torch.rand(new long[] { 2, 1, 4, 5 }, dtype: ScalarType.Float64, generator: g) < 0.5).to(ScalarType.Float64);
        var (_, grad) = Reference.Autograd(z => L.LovaszHingePerImage(z, labels), logits);
        var (index, fd) = Reference.FiniteDifferences(z => L.LovaszHingePerImage(z, labels, reduction: nn.Reduction.None), logits, torch.full(new long[] { 2, 1 }, 0.5, ScalarType.Float64), 12, 3);
        var flat = grad.reshape(-1);
        for (int k = 0; k < index.Length; k++) Reference.Near(fd[k], flat[index[k]].item<double>(), 1e-6, 1e-8, $"∂/∂logits[{index[k]}]");
    }

    [Fact]
    public void SoftLabelsGetTheirGradientThroughTheRunningSums()
    {
        // The labels enter the running sums (CumSum(y), CumSum(1 − y)): their gradient is each running sum's adjoint
        // summed over the elements ranked at or after, permuted back; autograd on the composition finds it through gather and cumsum.
        var g = new Generator(12);
        var logits = torch.randn(new long[] { 1, 1, 4, 6 }, dtype: ScalarType.Float64, generator: g);
        var labels = torch.rand(new long[] { 1, 1, 4, 6 }, dtype: ScalarType.Float64, generator: g);
        var (refValue, refGrad) = Reference.Autograd(y => HingeReference(logits, y, false, null), labels);
        var (value, grad) = Reference.Autograd(y => L.LovaszHinge(logits, y), labels);
        Reference.Close(refValue, value, 1e-12, 1e-12, "value");
        Reference.Close(refGrad, grad, 1e-10, 1e-12, "∂/∂labels");
    }

    [Fact]
    public void TheBodyRunsAsPlainCSharp()
    {
        var g = new Generator(13);
        var logits = torch.randn(new long[] { 40 }, generator: g);
        var labels = (torch.rand(new long[] { 40 }, generator: g) < 0.5).to(ScalarType.Float32);
        float scalar = L.LovaszHinge(logits.data<float>().ToArray(), labels.data<float>().ToArray());
        Reference.Near(HingeReference(logits.to(ScalarType.Float64), labels.to(ScalarType.Float64), false, null).item<double>(), scalar, 1e-5, 1e-6, "C# body");
    }

    [Fact]
    public void TheFusedBackendsSayTheyCannotSortAndAutoRoutesToTorchOps()
    {
        var logits = torch.randn(1, 1, 3, 3);
        var labels = (torch.rand(1, 1, 3, 3) < 0.5).to(ScalarType.Float32);
        foreach (var fused in new[] { Backend.Cpu, Backend.Ilgpu })
        {
            var e = Assert.Throws<NotSupportedException>(() => L.LovaszHinge(logits, labels, backend: fused));
            Assert.Contains("generated without", e.Message);
        }
        var auto = L.LovaszHinge(logits, labels, backend: Backend.Auto);
        Reference.Close(L.LovaszHinge(logits, labels, backend: Backend.TorchOps), auto, 0, 0, "Auto = TorchOps");
    }

    // ---- Lovász-Softmax ----

    /// <summary>smp's _lovasz_softmax_flat over probabilities [P, C] and labels [P] (ignored pixels already dropped): a composition.</summary>
    private static Tensor SoftmaxFlat(Tensor probas, Tensor labels, bool present)
    {
        if (probas.numel() == 0) return probas.sum() * 0;
        var losses = new System.Collections.Generic.List<Tensor>();
        for (long c = 0; c < probas.shape[1]; c++)
        {
            var fg = labels.eq(c).to(probas.dtype);
            if (present && fg.sum().item<double>() == 0) continue;
            var errors = (fg - probas[.., c]).abs();
            var (errorsSorted, order) = errors.sort(0, descending: true, stable: true);
            losses.Add(torch.dot(errorsSorted, LovaszGrad(fg.gather(0, order))));
        }
        return losses.Count == 0 ? probas.sum() * 0 : torch.stack(losses.ToArray()).mean();
    }

    /// <summary>smp's _lovasz_softmax(softmax(logits, 1), mask, classes, per_image, ignore): a composition.</summary>
    internal static Tensor SoftmaxReference(Tensor logits, Tensor mask, bool present, bool perImage, long? ignore)
    {
        Tensor Flat(Tensor z, Tensor m)
        {
            long c = z.shape[1];
            var probas = torch.nn.functional.softmax(z, 1).movedim(new long[] { 1 }, new long[] { -1 }).reshape(-1, c);
            var labels = m.reshape(-1);
            if (ignore is long i)
            {
                var kept = labels.ne(i);
                probas = probas[kept];
                labels = labels[kept];
            }
            return SoftmaxFlat(probas, labels, present);
        }
        if (!perImage) return Flat(logits, mask);
        return torch.stack(Enumerable.Range(0, (int)logits.shape[0]).Select(n => Flat(logits[n..(n + 1)], mask[n..(n + 1)])).ToArray()).mean();
    }

    [Theory]
    [InlineData(false, false, false)]
    [InlineData(false, true, false)]
    [InlineData(true, false, false)]
    [InlineData(true, true, false)]
    [InlineData(false, false, true)]
    [InlineData(true, true, true)]
    public void SoftmaxMatchesTheComposition(bool present, bool perImage, bool ignore)
    {
        var g = new Generator(Reference.Seed($"softmax{present}{perImage}{ignore}"));
        var logits = torch.randn(new long[] { 3, 4, 5, 6 }, dtype: ScalarType.Float64, generator: g) * 2;
        var mask = torch.randint(0, 3, new long[] { 3, 5, 6 }, generator: g);   // class 3 absent: "present" and "all" differ
        mask[2] = torch.where(mask[2].eq(1), 2L, mask[2]);                       // class 1 absent from image 2: per image too
        long? ii = null;
        if (ignore)
        {
            mask = torch.where(torch.rand(new long[] { 3, 5, 6 }, generator: g) < 0.15, 255L, mask);
            ii = 255;
        }
        Tensor Dsl(Tensor z) => present
            ? L.LovaszSoftmaxPresent(z, mask, per_image: perImage, ignore_index: ii)
            : perImage ? L.LovaszSoftmaxPerImage(z, mask, ignore_index: ii) : L.LovaszSoftmax(z, mask, ignore_index: ii);
        var (refValue, refGrad) = Reference.Autograd(z => SoftmaxReference(z, mask, present, perImage, ii), logits);
        var (value, grad) = Reference.Autograd(Dsl, logits);
        Reference.Close(refValue, value, 1e-12, 1e-12, "value");
        Reference.Close(refGrad, grad, 1e-10, 1e-12, "gradient");
    }

    [Fact]
    public void SoftmaxAgreesWithFloat64FiniteDifferences()
    {
        var g = new Generator(17);
        var logits = torch.randn(new long[] { 2, 3, 3, 4 }, dtype: ScalarType.Float64, generator: g);
        var mask = torch.randint(0, 3, new long[] { 2, 3, 4 }, generator: g);
        var (_, grad) = Reference.Autograd(z => L.LovaszSoftmaxPerImage(z, mask, reduction: nn.Reduction.Sum), logits);
        var (index, fd) = Reference.FiniteDifferences(z => L.LovaszSoftmaxPerImage(z, mask, reduction: nn.Reduction.None), logits, null, 12, 5);
        var flat = grad.reshape(-1);
        for (int k = 0; k < index.Length; k++) Reference.Near(fd[k], flat[index[k]].item<double>(), 1e-6, 1e-8, $"∂/∂logits[{index[k]}]");
    }

    [Fact]
    public void ATargetOfEitherShapeGivesTheSameLoss()
    {
        // smp's own test (tests/test_losses.py, test_binary_lovasz) checks that a binary target given as [N, 1, H, W] or
        // [N, H, W] gives the same loss; here: the set layout takes the flattened view of either.
        var g = new Generator(19);
        var logits = torch.randn(new long[] { 2, 1, 4, 4 }, dtype: ScalarType.Float64, generator: g);
        var labels = (torch.rand(new long[] { 2, 1, 4, 4 }, dtype: ScalarType.Float64, generator: g) < 0.5).to(ScalarType.Float64);
        Reference.Close(L.LovaszHinge(logits, labels), L.LovaszHinge(logits.view(2, 4, 4), labels.view(2, 4, 4)), 0, 1e-15, "target shapes");
    }
}
