using System;
using System.Linq;
using LossDsl.Losses;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LossDsl.Tests;

/// <summary>
/// The truth cases of the losses added under the names of kornia, pytorch-metric-learning, SHOT and the segmentation
/// surveys (<c>Robust</c>, <c>Unsupervised</c>, <c>Overlap</c>, <c>PairLosses</c>): each against an independent TorchSharp
/// composition of the reference implementation's formula, run by <see cref="LossLibraryTests.MatchesReference"/>.
/// </summary>
public partial class LossLibraryTests
{
    /// <summary>Euclidean distances between 12 random embeddings of dimension 6 (the diagonal is 0).</summary>
    private static Tensor Distances(Generator g)
    {
        var e = Randn(g, 12, 6);
        return torch.cdist(e, e);
    }

    /// <summary>Channel sets [2, 3, 4, 5] where class 1 is absent from image 0 and class 2 from the whole batch.</summary>
    private static Tensor[] AbsentClasses(Generator g)
    {
        var y = Bernoulli(g, 0.35, 2, 3, 4, 5);
        y[0, 1] = 0;
        y[.., 2] = 0;
        return new[] { 2 * Randn(g, 2, 3, 4, 5), y };
    }

    /// <summary>
    /// MONAI's GeneralizedDiceLoss(sigmoid=True, w_type="square"), as its forward computes it: the sums over
    /// <paramref name="dims"/> (the pixels, and the batch with batch=True), w = 1/(Σy)², infinite weights set to the largest
    /// finite one of the same image (of the batch), then 1 − (2·Σ_c w·I + smooth_nr) / (Σ_c w·(Σp + Σy) + smooth_dr).
    /// </summary>
    internal static Tensor MonaiGeneralizedDice(Tensor logits, Tensor y, long[] dims, double smoothNr, double smoothDr)
    {
        var p = logits.sigmoid();
        var ground = y.sum(dims);
        var w = 1 / ground.square();
        var infinite = w.isinf();
        w = torch.where(infinite, torch.zeros_like(w), w);
        w = w + infinite.to(w.dtype) * w.amax(new long[] { -1 }, keepdim: true);
        var numerator = 2 * (w * (p * y).sum(dims)).sum(-1) + smoothNr;
        var denominator = (w * (p.sum(dims) + ground)).sum(-1) + smoothDr;
        return 1 - numerator / denominator;
    }

    private static Case[] NamedCases() => new Case[]
    {
        // kornia's robust losses (elementwise)
        new("Welsch", g => new[] { 2 * Randn(g, 4, 6), Randn(g, 4, 6) },
            t => Robust.Welsch(t[0], t[1]),
            t => (1 - (-0.5 * (t[0] - t[1]).square()).exp()).mean()),
        new("Cauchy", g => new[] { 2 * Randn(g, 4, 6), Randn(g, 4, 6) },
            t => Robust.Cauchy(t[0], t[1]),
            t => (0.5 * (t[0] - t[1]).square() + 1).log().mean()),
        new("GemanMcClure", g => new[] { 2 * Randn(g, 4, 6), Randn(g, 4, 6) },
            t => Robust.GemanMcClure(t[0], t[1]),
            t => (2 * (t[0] - t[1]).square() / ((t[0] - t[1]).square() + 4)).mean()),

        // Unsupervised
        new("Entropy", g => new[] { 2 * Randn(g, 9, 6) },
            t => Unsupervised.Entropy(t[0]),
            t => -(F.softmax(t[0], 1) * F.log_softmax(t[0], 1)).sum(1).mean()),
        new("InformationMaximization", g => new[] { 2 * Randn(g, 10, 5) },
            t => Unsupervised.InformationMaximization(t[0], epsilon: 1e-5),
            t =>
            {
                // SHOT: ent_loss = mean_i Σ_c −p log(p + ε); gent_loss = Σ_c −p̄ log(p̄ + ε); loss = ent − gent.
                var p = F.softmax(t[0], 1);
                var ent = (-p * (p + 1e-5).log()).sum(1).mean();
                var mean = p.mean(new long[] { 0 });
                return ent - (-mean * (mean + 1e-5).log()).sum();
            }),

        // Overlap (channel sets from logits)
        new("LogCoshDice", Masks,
            t => Overlap.LogCoshDice(t[0], t[1], smooth: 1.0),
            t =>
            {
                var p = t[0].sigmoid();
                var d = SetDims(p);
                var dice = 1 - (2 * (p * t[1]).sum(d) + 1.0) / (p.sum(d) + t[1].sum(d) + 1.0);
                return dice.cosh().log().mean();
            }),
        new("SelfAdjustingDice", Masks,
            t => Overlap.SelfAdjustingDice(t[0], t[1], alpha: 0.3, smooth: 1e-4),
            t =>
            {
                var p = t[0].sigmoid();
                var q = (1 - p).pow(0.3) * p;
                var d = SetDims(p);
                return (1 - (2 * (q * t[1]).sum(d) + 1e-4) / (q.sum(d) + t[1].sum(d) + 1e-4)).mean();
            }),
        new("WeightedDice", g => Masks(g).Append(Uniform(g, 0.5, 3, 2, 3, 4, 5)).ToArray(),
            t => Overlap.WeightedDice(t[0], t[1], t[2], smooth: 0.5),
            t =>
            {
                var p = t[0].sigmoid();
                var d = SetDims(p);
                var w = t[2];
                return SmpAggregate(1 - (2 * (w * p * t[1]).sum(d) + 0.5) / (w * (p + t[1])).sum(d).add(0.5).clamp_min(1e-7), t[1]);
            }),
        new("GeneralizedDice", AbsentClasses,
            t => Overlap.GeneralizedDice(t[0], t[1], smooth_nr: 1e-3, smooth_dr: 2e-3),
            t => MonaiGeneralizedDice(t[0], t[1], new long[] { 2, 3 }, 1e-3, 2e-3).mean()),
        new("GeneralizedDiceBatch", AbsentClasses,
            t => Overlap.GeneralizedDiceBatch(t[0], t[1]),
            t => MonaiGeneralizedDice(t[0], t[1], new long[] { 0, 2, 3 }, 1e-5, 1e-5)),
        new("SmpFocalTversky", Masks,
            t => Segmentation.SmpFocalTversky(t[0], t[1], alpha: 0.3, beta: 0.7, gamma: 1.5, smooth: 0.25),
            t =>
            {
                // smp's TverskyLoss: per channel 1 − the Tversky score, masked where the target is empty, then mean ** γ.
                var p = t[0].sigmoid();
                var d = SetDims(p);
                var tp = (p * t[1]).sum(d);
                var score = (tp + 0.25) / (tp + 0.3 * (p * (1 - t[1])).sum(d) + 0.7 * ((1 - p) * t[1]).sum(d) + 0.25).clamp_min(1e-7);
                return SmpAggregate(1 - score, t[1]).pow(1.5);
            }),
        new("AnyLossFBeta", g => new[] { 2 * Randn(g, 6, 5), Bernoulli(g, 0.4, 6, 5) },
            t => Overlap.AnyLossFBeta(t[0], t[1], beta: 2.0, amplifier: 8.0),
            t =>
            {
                var a = torch.sigmoid(8.0 * (t[0].sigmoid() - 0.5));
                var y = t[1];
                var tp = (y * a).sum();
                var fn = (y * (1 - a)).sum();
                var fp = ((1 - y) * a).sum();
                return 1 - 5 * tp / (5 * tp + 4 * fn + fp);
            }),

        // pytorch-metric-learning on distance matrices
        new("Contrastive", g => new[] { Distances(g), torch.tensor(PairLabels) },
            t => PairLosses.Contrastive(t[0], t[1], pos_margin: 1.0, neg_margin: 3.5),
            t =>
            {
                // ContrastiveLoss with AvgNonZeroReducer: each part averaged over its pairs with a non-zero loss.
                var (positive, negative) = PmlMasks();
                var pos = F.relu(t[0] - 1.0) * positive.to(F64);
                var neg = F.relu(3.5 - t[0]) * negative.to(F64);
                return pos.sum() / pos.gt(0).sum().to(F64) + neg.sum() / neg.gt(0).sum().to(F64);
            }),
        new("Nca", g => new[] { Distances(g).square(), torch.tensor(PairLabels) },
            t => PairLosses.Nca(t[0], t[1], softmax_scale: 0.5),
            t =>
            {
                // NCALoss: softmax over −s·d with the anchor itself left out; −log of the positives' share, over anchors with one.
                var (pos, _) = PmlMasks();
                var self = torch.eye(t[0].shape[0], dtype: ScalarType.Bool);
                var logp = F.log_softmax((-0.5 * t[0]).masked_fill(self, double.NegativeInfinity), 1);
                var share = logp.masked_fill(pos.logical_not(), double.NegativeInfinity).logsumexp(1);
                var has = pos.any(1);
                return -share.masked_select(has).mean();
            }),
    };
}
