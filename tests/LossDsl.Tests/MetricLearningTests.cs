using System;
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
/// Metric learning over a batch with pair losses (<c>LossShape.Pairs</c>): the loss takes the pair matrix and the
/// labels, and builds its positive and negative masks itself. The similarity (or distance) matrix is computed from
/// embeddings with TorchSharp ops, so the gradient reaches the embeddings through it. Each loss is compared, value and
/// ∂/∂embeddings, on every backend, with the same loss written in TorchSharp ops as pytorch-metric-learning defines it
/// (its masks, its reducers), and with float64 finite differences.
/// </summary>
public class MetricLearningTests
{
    public static TheoryData<Backend> Backends => new() { Backend.Cpu, Backend.Ilgpu, Backend.TorchOps };

    /// <summary>12 embeddings in 8 dimensions; labels 3 and 5 have no positive.</summary>
    private static (Tensor Embeddings, Tensor Labels) Batch(string name)
    {
        var g = new Generator(Reference.Seed(name));
        var e = torch.randn(new long[] { 12, 8 }, dtype: ScalarType.Float64, generator: g);
        var labels = torch.tensor(new long[] { 0, 0, 1, 1, 1, 2, 2, 3, 4, 4, 0, 5 });
        return (e, labels);
    }

    /// <summary>Two views of 6 items: item k and item k + 6 share label k (SimCLR's batch).</summary>
    private static (Tensor Embeddings, Tensor Labels) TwoViews(string name)
    {
        var g = new Generator(Reference.Seed(name));
        var e = torch.randn(new long[] { 12, 8 }, dtype: ScalarType.Float64, generator: g);
        var labels = torch.arange(6, ScalarType.Int64).repeat(2);
        return (e, labels);
    }

    private static Tensor Cosine(Tensor z)
    {
        var n = F.normalize(z, dim: 1);
        return n.matmul(n.t());
    }

    private static Tensor Euclidean(Tensor z) => torch.cdist(z, z);

    // ---- pytorch-metric-learning's definitions, in TorchSharp ops ----

    /// <summary>pml's pos_mask and neg_mask: same label but not itself; another label.</summary>
    private static (Tensor Positive, Tensor Negative) PmlMasks(Tensor labels)
    {
        var same = labels.unsqueeze(1).eq(labels.unsqueeze(0));
        var self = torch.eye(labels.shape[0], dtype: ScalarType.Bool);
        return (same.logical_and(self.logical_not()), same.logical_not());
    }

    /// <summary>pml's AvgNonZeroReducer: the mean of the losses above 0, or 0 when there is none.</summary>
    private static Tensor AvgNonZero(Tensor losses)
    {
        var kept = losses > 0;
        return kept.any().item<bool>() ? losses.masked_select(kept).mean() : (losses * 0).sum();
    }

    /// <summary>pml's masked log-sum-exp over dim 1, −∞ where a row keeps nothing.</summary>
    private static Tensor MaskedLogSumExp(Tensor x, Tensor keep) => x.masked_fill(keep.logical_not(), double.NegativeInfinity).logsumexp(1);

    private static Tensor SupConPml(Tensor mat, Tensor labels, double temperature) => AvgNonZero(SupConPmlPerRow(mat, labels, temperature));

    /// <summary>pml's SupConLoss before its reducer: one loss per row (0 for a row without a positive).</summary>
    private static Tensor SupConPmlPerRow(Tensor mat, Tensor labels, double temperature)
    {
        var (pos, neg) = PmlMasks(labels);
        var scaled = mat / temperature;
        var logProb = scaled - MaskedLogSumExp(scaled, pos.logical_or(neg)).unsqueeze(1);
        var posF = pos.to(mat.dtype);
        var meanLogProbPos = (posF * logProb.masked_fill(pos.logical_not(), 0)).sum(1) / posF.sum(1).clamp_min(1);
        return -meanLogProbPos;
    }

    /// <summary>pml's NTXentLoss: one loss per positive pair, −log(e^(s⁺/τ) / (e^(s⁺/τ) + Σ_neg e^(s⁻/τ))), MeanReducer over pairs.</summary>
    private static Tensor NTXentPml(Tensor mat, Tensor labels, double temperature)
    {
        var (pos, neg) = PmlMasks(labels);
        var scaled = mat / temperature;
        var negatives = MaskedLogSumExp(scaled, neg).unsqueeze(1);
        var perPair = torch.logaddexp(scaled, negatives) - scaled;
        return perPair.masked_select(pos).mean();
    }

    private static Tensor CirclePml(Tensor mat, Tensor labels, double m, double gamma)
    {
        var (pos, neg) = PmlMasks(labels);
        var logitP = -gamma * (1 + m - mat.detach()).relu() * (mat - (1 - m));
        var logitN = gamma * (mat.detach() + m).relu() * (mat - m);
        var losses = F.softplus(MaskedLogSumExp(logitP, pos) + MaskedLogSumExp(logitN, neg));
        var valid = pos.any(1).logical_and(neg.any(1));
        return AvgNonZero(losses.masked_fill(valid.logical_not(), 0));
    }

    /// <summary>pml's TripletMarginLoss over BatchHardMiner's triplets: anchors with a positive and a negative.</summary>
    private static Tensor BatchHardPml(Tensor dist, Tensor labels, double margin)
    {
        var (pos, neg) = PmlMasks(labels);
        var valid = pos.any(1).logical_and(neg.any(1));
        var hardestPositive = dist.masked_fill(pos.logical_not(), double.NegativeInfinity).amax(new long[] { 1 });
        var hardestNegative = dist.masked_fill(neg.logical_not(), double.PositiveInfinity).amin(new long[] { 1 });
        var losses = (hardestPositive - hardestNegative + margin).relu();
        return AvgNonZero(losses.masked_select(valid));
    }

    // ---- Value and ∂/∂embeddings against pml, on every backend ----

    private static void AgreesWithPml(Backend backend, Tensor embeddings, Func<Tensor, Tensor> pairs,
        Func<Tensor, Tensor> ours, Func<Tensor, Tensor> pml, string what)
    {
        using var _ = LossBackend.Use(backend);
        var (refValue, refGrad) = Reference.Autograd(z => pml(pairs(z)), embeddings);
        var (value, grad) = Reference.Autograd(z => ours(pairs(z)), embeddings);
        Assert.True(refValue.item<double>() > 0, $"{what}: the reference batch should have a positive loss");
        Reference.Close(refValue, value, 1e-10, 1e-13, what);
        Reference.Close(refGrad, grad, 1e-9, 1e-12, $"∂{what}/∂embeddings");
    }

    [Theory, MemberData(nameof(Backends))]
    public void SupConMatchesPml(Backend backend)
    {
        var (e, labels) = Batch(nameof(SupConMatchesPml));
        AgreesWithPml(backend, e, Cosine, s => Losses.SupCon(s, labels, temperature: 0.1), s => SupConPml(s, labels, 0.1), "SupCon");
    }

    [Theory, MemberData(nameof(Backends))]
    public void SupConPerRowTakesItsOwnUpstreamGradient(Backend backend)
    {
        // Reduction None with a non-uniform upstream gradient (of both signs) on the pair matrix's rows.
        using var _ = LossBackend.Use(backend);
        var (e, labels) = Batch(nameof(SupConPerRowTakesItsOwnUpstreamGradient));
        var s = Cosine(e);
        var upstream = torch.linspace(-1.5, 2.0, 12, dtype: ScalarType.Float64);
        var (refValue, refGrad) = Reference.Autograd(m => SupConPmlPerRow(m, labels, 0.1), s, upstream);
        var (value, grad) = Reference.Autograd(m => Losses.SupCon(m, labels, temperature: 0.1, reduction: nn.Reduction.None), s, upstream);
        Reference.Close(refValue, value, 1e-10, 1e-13, "SupCon per row");
        Reference.Close(refGrad, grad, 1e-9, 1e-12, "∂(Σ upstream · SupCon per row)/∂pairs");
    }

    [Theory, MemberData(nameof(Backends))]
    public void NTXentWithTwoViewsMatchesPml(Backend backend)
    {
        var (e, labels) = TwoViews(nameof(NTXentWithTwoViewsMatchesPml));
        AgreesWithPml(backend, e, Cosine, s => TestLosses.NTXent(s, labels, temperature: 0.07), s => NTXentPml(s, labels, 0.07), "NT-Xent");
    }

    [Theory, MemberData(nameof(Backends))]
    public void CircleLossMatchesPml(Backend backend)
    {
        var (e, labels) = Batch(nameof(CircleLossMatchesPml));
        AgreesWithPml(backend, e, Cosine, s => TestLosses.Circle(s, labels, m: 0.4, gamma: 80), s => CirclePml(s, labels, 0.4, 80), "circle loss");
    }

    [Theory, MemberData(nameof(Backends))]
    public void BatchHardTripletMatchesPml(Backend backend)
    {
        var (e, labels) = Batch(nameof(BatchHardTripletMatchesPml));
        AgreesWithPml(backend, e, Euclidean, d => TestLosses.BatchHardTriplet(d, labels, margin: 0.2), d => BatchHardPml(d, labels, 0.2), "batch-hard triplet");
    }

    // ---- Float64 finite differences of the pair matrix's gradient ----

    /// <summary>Not circle loss: its StopGradient weights make its gradient differ from the derivative, by design.</summary>
    public static TheoryData<string> PairLosses => new() { "SupCon", "NTXent", "BatchHardTriplet" };

    private static Tensor Call(string loss, Tensor pairs, Tensor labels, nn.Reduction reduction = nn.Reduction.Mean) => loss switch
    {
        "SupCon" => Losses.SupCon(pairs, labels, reduction: reduction),
        "NTXent" => TestLosses.NTXent(pairs, labels, temperature: 0.5, reduction: reduction),
        _ => TestLosses.BatchHardTriplet(pairs, labels, margin: 1, reduction: reduction),
    };

    [Theory, MemberData(nameof(PairLosses))]
    public void GradientMatchesFiniteDifferences(string loss)
    {
        var (e, labels) = Batch(loss);
        var pairs = loss == "BatchHardTriplet" ? Euclidean(e) : Cosine(e);
        var (_, grad) = Reference.Autograd(p => Call(loss, p, labels), pairs);
        var (index, expected) = Reference.FiniteDifferences(p => Call(loss, p, labels), pairs, null, 24, (int)Reference.Seed(loss));
        var flat = grad.reshape(-1);
        for (int k = 0; k < index.Length; k++)
            Assert.True(Math.Abs(flat[index[k]].item<double>() - expected[k]) <= 1e-7 + 1e-6 * Math.Abs(expected[k]),
                $"{loss}: ∂/∂pairs[{index[k]}] is {flat[index[k]].item<double>():R}, finite differences give {expected[k]:R}");
    }

    [Theory, MemberData(nameof(Backends))]
    public void SecondDerivativesThroughTheNonZeroMeanMatchPml(Backend backend)
    {
        // A gradient penalty on the embeddings, ∂/∂e ‖∂SupCon/∂e‖²: backward under create_graph recomputes the gradient
        // with the torch-ops form, through the same mean over the rows with a positive loss.
        using var _ = LossBackend.Use(backend);
        var (e, labels) = Batch(nameof(SecondDerivativesThroughTheNonZeroMeanMatchPml));
        Tensor Penalty(Func<Tensor, Tensor> loss)
        {
            var x = e.detach().clone().requires_grad_(true);
            var g = torch.autograd.grad(new[] { loss(Cosine(x)) }, new[] { x }, retain_graph: true, create_graph: true)[0];
            return torch.autograd.grad(new[] { (g * g).sum() }, new[] { x })[0].detach();
        }
        var expected = Penalty(s => SupConPml(s, labels, 0.5));
        var actual = Penalty(s => Losses.SupCon(s, labels, temperature: 0.5));
        Assert.True(expected.abs().max().item<double>() > 0);
        Reference.Close(expected, actual, 1e-8, 1e-11, "∂/∂e ‖∂SupCon/∂e‖²");
    }

    // ---- The reduction and the checks ----

    [Fact]
    public void RowsWithoutAPositiveHaveLossZeroAndDropOutOfTheMean()
    {
        var (e, labels) = Batch(nameof(RowsWithoutAPositiveHaveLossZeroAndDropOutOfTheMean));
        var s = Cosine(e);
        var perRow = Losses.SupCon(s, labels, reduction: nn.Reduction.None);
        Assert.Equal(new long[] { 12 }, perRow.shape);
        Assert.Equal(0.0, perRow[7].item<double>());    // label 3: alone
        Assert.Equal(0.0, perRow[11].item<double>());   // label 5: alone
        var mean = Losses.SupCon(s, labels);
        Reference.Close(perRow.sum() / 10, mean, 1e-13, 0, "Mean over the ten rows with a positive");
        Reference.Close(perRow.sum(), Losses.SupCon(s, labels, reduction: nn.Reduction.Sum), 1e-13, 0, "Sum");
    }

    [Fact]
    public void ABatchWithoutAnyPositiveHasLossZero()
    {
        var s = Cosine(torch.randn(4, 3, dtype: ScalarType.Float64)).requires_grad_(true);
        var loss = Losses.SupCon(s, torch.arange(4L));
        Assert.Equal(0.0, loss.item<double>());
        loss.backward();
        Assert.Equal(0.0, s.grad!.abs().sum().item<double>());
    }

    [Fact]
    public void BadLabelsAndPairMatricesAreNamed()
    {
        var s = torch.randn(4, 4);
        var tooShort = Assert.Throws<ArgumentException>(() => Losses.SupCon(s, torch.arange(3L)));
        Assert.Contains("'labels' has shape [3]; expected [4]", tooShort.Message);
        var floats = Assert.Throws<ArgumentException>(() => Losses.SupCon(s, torch.zeros(4)));
        Assert.Contains("labels are integers", floats.Message);
        var notSquare = Assert.Throws<ArgumentException>(() => Losses.SupCon(torch.randn(4, 5), torch.arange(4L)));
        Assert.Contains("[N, N] pair matrix", notSquare.Message);
    }

    [Fact]
    public void TheModuleTakesThePairMatrixAndTheLabels()
    {
        var (e, labels) = Batch(nameof(TheModuleTakesThePairMatrixAndTheLabels));
        var s = Cosine(e);
        var module = new Losses.SupConLoss(temperature: 0.2);
        Reference.Close(Losses.SupCon(s, labels, temperature: 0.2), module.forward(s, labels), 0, 0, "SupConLoss module");
    }
}
