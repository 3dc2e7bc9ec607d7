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
/// Gradient truth, on both backends (the fast CPU path and the ILGPU kernels on ILGPU's CPU accelerator): every generated loss, through its TorchSharp autograd wrapper and <c>backward()</c>, agrees in
/// value and gradient with (a) the same formula composed from TorchSharp ops and differentiated by TorchSharp
/// autograd, and (b) float64 central finite differences of the generated forward.
/// <para>
/// Tolerances. float64 runs: value and gradient within rtol 1e-7 of autograd (both compute in double; the gap
/// is rounding in a different association order). float32 runs: the ILGPU kernels compute in double and round
/// once on store; the CPU path computes element math in float (with double accumulators), so rtol 2e-5 plus
/// 2e-6 × max|expected| of the float64 autograd reference covers both.
/// Finite differences (float64 only, step 1e-6): rtol 1e-5 plus 1e-7 × max|gradient|.
/// Mean, any dtype: the gradient's least-squares scale against the reference is 1 within 0.25/N + 1e-6 (N segments), so a
/// count off by one fails at every size (per element, float32's rtol would pass it once N ≳ 50,000).
/// </para>
/// </summary>
public class GradientTruthTests
{
    /// <summary>A loss under test: how to make its inputs, call the generated wrapper, and compose the reference.</summary>
    /// <param name="Ties">Whether its inputs tie at a kink (the minimum of a Min): there the gradient is the first
    /// element's by definition, while central differences measure the mean of the one-sided derivatives, so only the
    /// autograd reference (which sends it to the same element) applies.</param>
    public sealed record Case(
        string Name,
        Func<ScalarType, Generator, bool, Tensor[]> Inputs,
        Func<Tensor[], nn.Reduction, Tensor> Generated,
        Func<Tensor[], Tensor> Reference,
        bool Ties = false)
    {
        public override string ToString() => Name;
    }

    private static Tensor Randn(Generator g, ScalarType dt, bool extreme, params long[] shape)
    {
        var x = torch.randn(shape, dtype: ScalarType.Float64, generator: g);
        if (extreme) x = x.sign() * 50 + x;   // logits near ±50: saturated sigmoids and softmaxes
        return x.to(dt);
    }

    private static Tensor Bernoulli(Generator g, ScalarType dt, double p, params long[] shape)
        => (torch.rand(shape, dtype: ScalarType.Float64, generator: g) < p).to(dt);

    private static Tensor Classes(Generator g, long n, long c) => torch.randint(0, c, new[] { n }, generator: g);

    private static Tensor TverskyReference(Tensor x, Tensor y, double alpha, double beta, double smooth, double eps = 1e-7)
    {
        var p = torch.sigmoid(x);
        long[] dims = new long[] { 0 }.Concat(Enumerable.Range(2, (int)x.dim() - 2).Select(i => (long)i)).ToArray();
        var tp = (p * y).sum(dims);
        var fp = (p * (1 - y)).sum(dims);
        var fn = ((1 - p) * y).sum(dims);
        return 1 - (tp + smooth) / (tp + alpha * fp + beta * fn + smooth).clamp_min(eps);
    }

    private static Tensor FocalReference(Tensor x, Tensor y, double alpha, double gamma)
    {
        // torchvision.ops.sigmoid_focal_loss, reduction none.
        var p = torch.sigmoid(x);
        var ce = F.binary_cross_entropy_with_logits(x, y, reduction: nn.Reduction.None);
        var pt = p * y + (1 - p) * (1 - y);
        var loss = ce * (1 - pt).pow(gamma);
        return alpha >= 0 ? (alpha * y + (1 - alpha) * (1 - y)) * loss : loss;
    }

    private static Tensor Poly1Reference(Tensor x, Tensor t, double epsilon)
    {
        var logp = F.log_softmax(x, 1).gather(1, t.unsqueeze(1)).squeeze(1);
        return -logp + epsilon * (1 - logp.exp());
    }

    private static Tensor SquentropyReference(Tensor x, Tensor t)
    {
        var p = F.softmax(x, 1);
        var others = (p * p).sum(new long[] { 1 }) - (p * p).gather(1, t.unsqueeze(1)).squeeze(1);
        return -F.log_softmax(x, 1).gather(1, t.unsqueeze(1)).squeeze(1) + others / (x.shape[1] - 1);
    }

    private static Tensor DualFocalReference(Tensor x, Tensor t, double gamma)
    {
        var logp = F.log_softmax(x, 1);
        var logpt = logp.gather(1, t.unsqueeze(1)).squeeze(1);
        var masked = logp.scatter(1, t.unsqueeze(1), torch.full(new long[] { x.shape[0], 1 }, double.NegativeInfinity, dtype: logp.dtype));
        return -(1 - logpt.exp() + masked.max(1).values.exp()).pow(gamma) * logpt;
    }

    private static Tensor IntrinsicsReference(Tensor x, Tensor y, double beta)
    {
        var a = (x * x + 1).sqrt();
        var b = x.tanh() * y.clamp_max(0.5) + torch.maximum(x, y);
        var c = torch.pow(2.0, x.clamp(-3.0, 3.0)) + (x.abs() + 1).pow(y);
        var cond = (x > 0).logical_and(y > 0.5).logical_or((x > -1).logical_not());
        var d = torch.where(cond, F.logsigmoid(x), -F.softplus(x) * beta);
        return a + b + c + d;
    }

    /// <summary>A channel set's elements as rows [C, N·S], positions numbered batch first, then spatial.</summary>
    private static Tensor Sets(Tensor t) => t.transpose(0, 1).reshape(t.shape[1], -1);

    private static Tensor SetSpreadReference(Tensor x, Tensor y, double tau)
    {
        var p = Sets(x);
        var q = Sets(y);
        var first = torch.zeros_like(p);
        first[.., 0] = 1;
        var top = (0.5 * p + first).amax(new long[] { 1 });
        var lse = (p / tau).logsumexp(1);
        return lse - top * q.mean(new long[] { 1 }) + (p * p + q + 1).sqrt().sum(new long[] { 1 }) / p.shape[1];
    }

    private static Tensor RowSpreadReference(Tensor z, Tensor t, double margin)
    {
        var lse = z.logsumexp(1);
        var top = z.amax(new long[] { 1 }, keepdim: true);
        var zt = z.gather(1, t.unsqueeze(1)).squeeze(1);
        return lse - zt + margin * (top.squeeze(1) - zt) + (z - top).square().mean(new long[] { 1 }) / z.shape[1];
    }

    /// <summary>Values on a grid of integers: ties everywhere, at the minimum too.</summary>
    private static Tensor Grid(Generator g, ScalarType dt, bool extreme, params long[] shape)
    {
        var x = torch.randint(-2, 3, shape, dtype: ScalarType.Float64, generator: g);
        if (extreme) x = x.sign() * 50 + x;
        return x.to(dt);
    }

    /// <summary>
    /// The minimum along <paramref name="dim"/> with the gradient to the first minimal element, as LossDsl's Min sends it:
    /// gathered at <c>argmin</c> (which returns the first minimal index), where <c>amin</c> would split it between ties.
    /// </summary>
    private static Tensor FirstMin(Tensor x, long dim) => x.gather(dim, x.argmin(dim, keepdim: true)).squeeze(dim);

    private static Tensor HardNegativeReference(Tensor z, Tensor t)
    {
        var masked = z.scatter(1, t.unsqueeze(1), torch.full(new long[] { z.shape[0], 1 }, double.PositiveInfinity, dtype: z.dtype));
        return z.logsumexp(1) - FirstMin(masked, 1);
    }

    private static Tensor SetNearestReference(Tensor x, Tensor y)
    {
        var p = Sets(x);
        var q = Sets(y);
        return FirstMin((p - q).square(), 1) + (p * p).mean(new long[] { 1 });
    }

    private static Tensor OneHot(Tensor z, Tensor t) => F.one_hot(t, z.shape[1]).to(z.dtype);

    private static Tensor MarginCEReference(Tensor z, Tensor t, double margin, double scale)
    {
        var zm = z - margin * OneHot(z, t);
        return (scale * zm).logsumexp(1) - scale * zm.gather(1, t.unsqueeze(1)).squeeze(1);
    }

    private static Tensor PairedIndexedReference(Tensor z, Tensor q, Tensor t, double boost)
    {
        var oh = OneHot(z, t);
        var lse = (z + q * oh).logsumexp(1);
        var best = torch.where(oh > 0, double.NegativeInfinity, z * q).amax(new long[] { 1 });
        // The body's literal is 0.1f, whose value is (double)0.1f, not 0.1.
        return lse - ((1 + (boost - 1) * oh) * q * z).mean(new long[] { 1 }) + (double)0.1f * best;
    }

    public static readonly Case[] Cases =
    {
        new("Poly1",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 16, 7), Classes(g, 16, 7) },
            (t, r) => Losses.Poly1(t[0], t[1], epsilon: 1.0, reduction: r),
            t => Poly1Reference(t[0], t[1], 1.0)),
        new("Poly1(epsilon=-0.5)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 9, 4), Classes(g, 9, 4) },
            (t, r) => Losses.Poly1(t[0], t[1], epsilon: -0.5, reduction: r),
            t => Poly1Reference(t[0], t[1], -0.5)),
        new("Tversky",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 2, 3, 4, 5), Bernoulli(g, dt, 0.3, 2, 3, 4, 5) },
            (t, r) => Losses.Tversky(t[0], t[1], reduction: r),
            t => TverskyReference(t[0], t[1], 0.5, 0.5, 0.0)),
        new("Tversky(alpha=0.3,beta=0.7,smooth=1)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 3, 2, 7), Bernoulli(g, dt, 0.5, 3, 2, 7) },
            (t, r) => Losses.Tversky(t[0], t[1], alpha: 0.3, beta: 0.7, smooth: 1.0, reduction: r),
            t => TverskyReference(t[0], t[1], 0.3, 0.7, 1.0)),
        new("Tversky(all-zero targets)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 2, 3, 4, 4), torch.zeros(new long[] { 2, 3, 4, 4 }, dtype: dt) },
            (t, r) => Losses.Tversky(t[0], t[1], smooth: 1.0, reduction: r),
            t => TverskyReference(t[0], t[1], 0.5, 0.5, 1.0)),
        new("Tversky(large set, chunked)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 2, 2, 96, 96), Bernoulli(g, dt, 0.2, 2, 2, 96, 96) },
            (t, r) => Losses.Tversky(t[0], t[1], alpha: 0.7, beta: 0.3, reduction: r),
            t => TverskyReference(t[0], t[1], 0.7, 0.3, 0.0)),
        new("SigmoidFocal",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 5, 6), Bernoulli(g, dt, 0.4, 5, 6) },
            (t, r) => Losses.SigmoidFocal(t[0], t[1], reduction: r),
            t => FocalReference(t[0], t[1], 0.25, 2.0)),
        new("SigmoidFocal(alpha=-1,gamma=1.5)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 11), Bernoulli(g, dt, 0.5, 11) },
            (t, r) => Losses.SigmoidFocal(t[0], t[1], alpha: -1, gamma: 1.5, reduction: r),
            t => FocalReference(t[0], t[1], -1, 1.5)),
        new("SigmoidFocal(gamma=0, runtime exponent 0)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 3, 4), Bernoulli(g, dt, 0.5, 3, 4) },
            (t, r) => Losses.SigmoidFocal(t[0], t[1], alpha: 0.25, gamma: 0, reduction: r),
            t => FocalReference(t[0], t[1], 0.25, 0.0)),
        // Wide enough for the vectorized CPU sweeps (16 float lanes) with scalar tails, and for several CPU
        // work items and chunks: the small cases above only exercise the scalar tails.
        new("Poly1(wide rows)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 6, 67), Classes(g, 6, 67) },
            (t, r) => Losses.Poly1(t[0], t[1], epsilon: 1.0, reduction: r),
            t => Poly1Reference(t[0], t[1], 1.0)),
        // 40 rows of 30,000 classes: the torch-ops backend reduces them in two blocks of rows.
        new("Poly1(rows reduced in blocks)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 40, 30000), Classes(g, 40, 30000) },
            (t, r) => Losses.Poly1(t[0], t[1], epsilon: 1.0, reduction: r),
            t => Poly1Reference(t[0], t[1], 1.0)),
        new("Tversky(several chunks per set)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 2, 2, 160, 161), Bernoulli(g, dt, 0.3, 2, 2, 160, 161) },
            (t, r) => Losses.Tversky(t[0], t[1], alpha: 0.3, beta: 0.7, smooth: 1.0, reduction: r),
            t => TverskyReference(t[0], t[1], 0.3, 0.7, 1.0)),
        new("SigmoidFocal(several blocks)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 7, 10001), Bernoulli(g, dt, 0.4, 7, 10001) },
            (t, r) => Losses.SigmoidFocal(t[0], t[1], reduction: r),
            t => FocalReference(t[0], t[1], 0.25, 2.0)),
        new("Huber (test-defined)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 4, 5), Randn(g, dt, false, 4, 5) },
            (t, r) => TestLosses.Huber(t[0], t[1], delta: 1.0, reduction: r),
            t => { var d = t[0] - t[1]; return torch.where(d.abs() <= 1.0, 0.5 * d * d, 1.0 * (d.abs() - 0.5)); }),
        new("LabelSmoothedCE (test-defined)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 8, 6), Classes(g, 8, 6) },
            (t, r) => TestLosses.LabelSmoothedCE(t[0], t[1], smoothing: 0.1, reduction: r),
            t =>
            {
                var logp = F.log_softmax(t[0], 1);
                var nll = -logp.gather(1, t[1].unsqueeze(1)).squeeze(1);
                return 0.9 * nll + 0.1 * -logp.mean(new long[] { 1 });
            }),
        new("Distill (test-defined)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 6, 5), Randn(g, dt, false, 6, 5) },
            (t, r) => TestLosses.Distill(t[0], t[1], temperature: 2.0, reduction: r),
            t =>
            {
                var logq = F.log_softmax(t[1] / 2.0, 1);
                var logp = F.log_softmax(t[0] / 2.0, 1);
                return 4.0 * (logq.exp() * (logq - logp)).sum(new long[] { 1 });
            }),
        new("ZLossCE (test-defined)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 7, 5), Classes(g, 7, 5) },
            (t, r) => TestLosses.ZLossCE(t[0], t[1], lambda: 0.01, reduction: r),
            t =>
            {
                var lse = t[0].logsumexp(1);
                return lse - t[0].gather(1, t[1].unsqueeze(1)).squeeze(1) + 0.01 * lse * lse;
            }),
        new("Squentropy (test-defined)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 7, 5), Classes(g, 7, 5) },
            (t, r) => TestLosses.Squentropy(t[0], t[1], reduction: r),
            t => SquentropyReference(t[0], t[1])),
        new("Squentropy(wide rows)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 5, 45), Classes(g, 5, 45) },
            (t, r) => TestLosses.Squentropy(t[0], t[1], reduction: r),
            t => SquentropyReference(t[0], t[1])),
        new("DualFocal(wide rows)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 5, 45), Classes(g, 5, 45) },
            (t, r) => TestLosses.DualFocal(t[0], t[1], gamma: 2.0, reduction: r),
            t => DualFocalReference(t[0], t[1], 2.0)),
        new("WeightedAgreement (test-defined, a float between two spans)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 4, 19), Randn(g, dt, false, 4), Randn(g, dt, false, 4, 19) },
            (t, r) => TestLosses.WeightedAgreement(t[0], t[1], t[2], reduction: r),
            t => t[1] * (t[0] * t[2]).sum(new long[] { 1 })),
        new("Intrinsics (test-defined, every elementwise intrinsic)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 6, 7), Randn(g, dt, false, 6, 7) },
            (t, r) => TestLosses.Intrinsics(t[0], t[1], beta: 0.5, reduction: r),
            t => IntrinsicsReference(t[0], t[1], 0.5)),
        new("SetSpread (test-defined, Max with argmax over a set)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 3, 4, 5, 2), Bernoulli(g, dt, 0.4, 3, 4, 5, 2) },
            (t, r) => TestLosses.SetSpread(t[0], t[1], tau: 2.0, reduction: r),
            t => SetSpreadReference(t[0], t[1], 2.0)),
        new("RowSpread (test-defined, Max over the row)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 7, 9), Classes(g, 7, 9) },
            (t, r) => TestLosses.RowSpread(t[0], t[1], margin: 0.3, reduction: r),
            t => RowSpreadReference(t[0], t[1], 0.3)),
        // PyTorch's class-row layout: class axis 1 with trailing dims, targets without it.
        new("LabelSmoothedCE [N, C, d1, d2] against cross_entropy(label_smoothing)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 3, 5, 4, 2), torch.randint(0, 5, new long[] { 3, 4, 2 }, generator: g) },
            (t, r) => TestLosses.LabelSmoothedCE(t[0], t[1], smoothing: 0.1, reduction: r),
            t => F.cross_entropy(t[0], t[1], reduction: nn.Reduction.None, label_smoothing: 0.1)),
        new("Distill [N, C, d] (two spans with class axis 1)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 4, 6, 3), Randn(g, dt, false, 4, 6, 3) },
            (t, r) => TestLosses.Distill(t[0], t[1], temperature: 2.0, reduction: r),
            t =>
            {
                var logq = F.log_softmax(t[1] / 2.0, 1);
                var logp = F.log_softmax(t[0] / 2.0, 1);
                return 4.0 * (logq.exp() * (logq - logp)).sum(new long[] { 1 });
            }),
        new("Dpo (test-defined, four float inputs)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 12), Randn(g, dt, ext, 12), Randn(g, dt, false, 12), Randn(g, dt, false, 12) },
            (t, r) => TestLosses.Dpo(t[0], t[1], t[2], t[3], beta: 0.1, reduction: r),
            t => -F.logsigmoid(0.1 * ((t[0] - t[2]) - (t[1] - t[3])))),
        new("SymmetricKL (test-defined, two rows)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 5, 6), Randn(g, dt, false, 5, 6) },
            (t, r) => TestLosses.SymmetricKL(t[0], t[1], reduction: r),
            t =>
            {
                var la = F.log_softmax(t[0], 1);
                var lb = F.log_softmax(t[1], 1);
                return ((la.exp() - lb.exp()) * (la - lb)).sum(new long[] { 1 });
            }),
        new("SoftF1 (test-defined, one set over the whole batch)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 6, 7), Bernoulli(g, dt, 0.4, 6, 7) },
            (t, r) => TestLosses.SoftF1(t[0], t[1], reduction: r),
            t =>
            {
                var p = t[0].sigmoid();
                var tp = (p * t[1]).sum();
                var fp = (p * (1 - t[1])).sum();
                var fn = ((1 - p) * t[1]).sum();
                return 1 - 2 * tp / (2 * tp + fp + fn + (double)1e-6f);
            }),
        new("AucMSquare (test-defined, whole batch, trained scalars a, b, α)",
            (dt, g, ext) => new[]
            {
                Randn(g, dt, ext, 6, 7), Bernoulli(g, dt, 0.3, 6, 7),
                torch.tensor(0.7, dtype: dt), torch.tensor(0.2, dtype: dt), torch.tensor(0.4, dtype: dt),
            },
            (t, r) => TestLosses.AucMSquare(t[0], t[1], t[2], t[3], t[4], reduction: r),
            t =>
            {
                const double p = 0.1;
                var h = t[0].sigmoid();
                var y = t[1];
                var positive = (y * (h - t[2]).square()).mean();
                var negative = ((1 - y) * (h - t[3]).square()).mean();
                var gap = (p * h * (1 - y) - (1 - p) * h * y).mean();
                return (1 - p) * positive + p * negative + 2 * t[4] * (p * (1 - p) * 1.0 + gap) - p * (1 - p) * t[4].square();
            }),
        new("MeanPredictionEntropy (test-defined, batch-mean regularizer)",
            (dt, g, ext) => new[] { Randn(g, dt, false, 5, 3, 2) },
            (t, r) => TestLosses.MeanPredictionEntropy(t[0], reduction: r),
            t =>
            {
                var m = t[0].sigmoid().mean();
                return m * m.log() + (1 - m) * (1 - m).log();
            }),
        new("PerImageDice (test-defined, a set per image and channel)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 3, 2, 4, 5), Bernoulli(g, dt, 0.3, 3, 2, 4, 5) },
            (t, r) => TestLosses.PerImageDice(t[0], t[1], smooth: 1.0, reduction: r),
            t =>
            {
                var p = t[0].sigmoid();
                var dims = new long[] { 2, 3 };
                return 1 - (2 * (p * t[1]).sum(dims) + 1.0) / (p.sum(dims) + t[1].sum(dims) + 1.0);
            }),
        new("PerImageTop (test-defined, per-image argmax)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 2, 3, 4, 3) },
            (t, r) => TestLosses.PerImageTop(t[0], reduction: r),
            t =>
            {
                var p = t[0].reshape(2, 3, 12);
                var j = torch.arange(12, dtype: p.dtype).view(1, 1, 12);
                return p.logsumexp(2) - (p - (double)0.01f * j).amax(new long[] { 2 });
            }),
        new("MarginCE (test-defined, indexed LogSumExp)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 8, 6), Classes(g, 8, 6) },
            (t, r) => TestLosses.MarginCE(t[0], t[1], margin: 0.35, scale: 4.0, reduction: r),
            t => MarginCEReference(t[0], t[1], 0.35, 4.0)),
        new("PairedIndexed (test-defined, indexed two-span LogSumExp, Max, Mean)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 6, 7), Randn(g, dt, false, 6, 7), Classes(g, 6, 7) },
            (t, r) => TestLosses.PairedIndexed(t[0], t[1], t[2], boost: 2.0, reduction: r),
            t => PairedIndexedReference(t[0], t[1], t[2], 2.0)),
        new("DualFocal (test-defined)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 7, 5), Classes(g, 7, 5) },
            (t, r) => TestLosses.DualFocal(t[0], t[1], gamma: 2.0, reduction: r),
            t => DualFocalReference(t[0], t[1], 2.0)),
        new("HardNegative (test-defined, Min with an indexed body)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 9, 7), Classes(g, 9, 7) },
            (t, r) => TestLosses.HardNegative(t[0], t[1], reduction: r),
            t => HardNegativeReference(t[0], t[1])),
        new("HardNegative(wide rows)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 5, 45), Classes(g, 5, 45) },
            (t, r) => TestLosses.HardNegative(t[0], t[1], reduction: r),
            t => HardNegativeReference(t[0], t[1])),
        new("HardNegative(ties: the first minimal element gets the gradient)",
            (dt, g, ext) => new[] { Grid(g, dt, ext, 9, 45), Classes(g, 9, 45) },
            (t, r) => TestLosses.HardNegative(t[0], t[1], reduction: r),
            t => HardNegativeReference(t[0], t[1]),
            Ties: true),
        new("SetNearest (test-defined, Min over two spans of a set)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 3, 4, 5, 2), Randn(g, dt, false, 3, 4, 5, 2) },
            (t, r) => TestLosses.SetNearest(t[0], t[1], reduction: r),
            t => SetNearestReference(t[0], t[1])),
        new("SetNearest(several chunks per set)",
            (dt, g, ext) => new[] { Randn(g, dt, ext, 2, 2, 160, 161), Randn(g, dt, false, 2, 2, 160, 161) },
            (t, r) => TestLosses.SetNearest(t[0], t[1], reduction: r),
            t => SetNearestReference(t[0], t[1])),
        new("SetNearest(ties: the first minimal position gets the gradient)",
            (dt, g, ext) => new[] { Grid(g, dt, ext, 3, 4, 5, 2), Grid(g, dt, false, 3, 4, 5, 2) },
            (t, r) => TestLosses.SetNearest(t[0], t[1], reduction: r),
            t => SetNearestReference(t[0], t[1]),
            Ties: true),
    };

    public static IEnumerable<object[]> Matrix()
    {
        foreach (var c in Cases)
            foreach (var dt in new[] { ScalarType.Float32, ScalarType.Float64 })
                foreach (var reduction in new[] { nn.Reduction.None, nn.Reduction.Mean, nn.Reduction.Sum })
                    foreach (var extreme in new[] { false, true })
                        foreach (var backend in new[] { Backend.Cpu, Backend.Ilgpu, Backend.TorchOps })
                            yield return new object[] { c.Name, dt, reduction, extreme, backend };
    }

    private static Case Find(string name) => Cases.Single(c => c.Name == name);

    private static Tensor Reduce(Tensor perSegment, nn.Reduction r) => r switch
    {
        nn.Reduction.None => perSegment,
        nn.Reduction.Sum => perSegment.sum(),
        _ => perSegment.mean(),
    };

    [Theory]
    [MemberData(nameof(Matrix))]
    public void MatchesTorchAutograd(string name, ScalarType dtype, nn.Reduction reduction, bool extreme, Backend backend)
    {
        using var _ = LossBackend.Use(backend);
        var c = Find(name);
        var g = new Generator(seed: Reference.Seed(name) + (ulong)reduction * 7 + (extreme ? 1UL : 0UL));
        var inputs = c.Inputs(dtype, g, extreme);

        // Reference: the composed formula in float64, differentiated by TorchSharp autograd.
        var ref64 = inputs.Select(t => t.is_floating_point() ? t.to(ScalarType.Float64) : t).ToArray();
        var upstream = reduction == nn.Reduction.None
            ? torch.rand(c.Reference(ref64).shape, dtype: ScalarType.Float64, generator: g) * 2 - 0.5
            : null;
        var (refValue, refGrad) = Reference.Autograd(x => Reduce(c.Reference(new[] { x }.Concat(ref64.Skip(1)).ToArray()), reduction), ref64[0], upstream);

        // Generated: the LossDsl wrapper, backward() through the saved fused gradient.
        var x = inputs[0].detach().clone().requires_grad_(true);
        var value = c.Generated(new[] { x }.Concat(inputs.Skip(1)).ToArray(), reduction);
        Assert.Equal(dtype, value.dtype);
        if (upstream is null) value.backward();
        else value.backward(new[] { upstream.to(dtype) });

        double rtol = dtype == ScalarType.Float64 ? 1e-7 : 2e-5;
        double scale = dtype == ScalarType.Float64 ? 1e-12 : 2e-6;
        Reference.Close(refValue, value.detach(), rtol, scale * MaxAbs(refValue) + 1e-300, $"{name} value");
        // At logits of ±50 the reference's float64 autograd computes σ′ = σ(1 − σ) with 1 − σ(50) rounded to 0, where the
        // true σ′ is e^−50 ≈ 2e-22; the generated gradient, rewritten to σ(x)·σ(−x) (issue 25), keeps it. The reference is
        // then off by up to e^−50 per unit of upstream gradient, which the tolerance allows.
        double saturated = extreme ? 1e-21 : 0;
        Reference.Close(refGrad, x.grad!, rtol, scale * MaxAbs(refGrad) + saturated + 1e-300, $"{name} gradient");
        Assert.False(value.detach().isnan().any().item<bool>(), "no NaN in the loss");
        Assert.False(x.grad!.isnan().any().item<bool>(), "no NaN in the gradient");
        if (reduction == nn.Reduction.Mean) MeanCountHolds(refGrad, x.grad!, c.Reference(ref64).numel(), name);
    }

    /// <summary>
    /// Mean's count, checked at any size and dtype: a count off by one scales every gradient element by N/(N ± 1), which
    /// a per-element float32 tolerance misses once N is large (70,007 elements: 1.4e-5 under rtol 2e-5). The least-squares
    /// scale ⟨g, ref⟩/⟨ref, ref⟩ averages the elements' rounding out, so it must be 1 within a quarter of 1/N.
    /// </summary>
    private static void MeanCountHolds(Tensor expected, Tensor actual, long count, string name)
    {
        var e = expected.to(ScalarType.Float64);
        double norm = e.square().sum().item<double>();
        if (norm == 0) return;
        double scale = (actual.to(ScalarType.Float64) * e).sum().item<double>() / norm;
        Assert.True(Math.Abs(scale - 1) <= 0.25 / count + 1e-6,
            $"{name}: the gradient is {scale:R} × the reference's as a whole; Mean over {count} segments allows {0.25 / count + 1e-6:G3}.");
    }

    public static IEnumerable<object[]> FiniteDifferenceMatrix()
        => from c in Cases
           where !c.Ties
           from extreme in new[] { false, true }
           from backend in new[] { Backend.Cpu, Backend.Ilgpu, Backend.TorchOps }
           select new object[] { c.Name, extreme, backend };

    [Theory]
    [MemberData(nameof(FiniteDifferenceMatrix))]
    public void MatchesFloat64FiniteDifferences(string name, bool extreme, Backend backend)
    {
        using var _ = LossBackend.Use(backend);
        var c = Find(name);
        var g = new Generator(seed: 1234 + Reference.Seed(name));
        var inputs = c.Inputs(ScalarType.Float64, g, extreme);
        Tensor PerSegment(Tensor x) => c.Generated(new[] { x }.Concat(inputs.Skip(1)).ToArray(), nn.Reduction.None);

        // J(x) = Σ w ⊙ loss(x), with a random upstream w: covers reduction none with a non-uniform upstream gradient.
        var w = torch.rand(PerSegment(inputs[0]).shape, dtype: ScalarType.Float64, generator: g) + 0.5;
        var x = inputs[0].detach().clone().requires_grad_(true);
        PerSegment(x).backward(new[] { w });
        var grad = x.grad!.view(-1);

        var (index, fd) = Reference.FiniteDifferences(PerSegment, inputs[0], w, coordinates: 12, seed: 7);
        double tol = 1e-7 * MaxAbs(x.grad!) + 1e-9;
        for (int k = 0; k < index.Length; k++)
        {
            double analytic = grad[index[k]].item<double>();
            Assert.True(Math.Abs(analytic - fd[k]) <= tol + 1e-5 * Math.Abs(fd[k]),
                $"{name}: ∂J/∂x[{index[k]}] = {analytic:R} by backward(), {fd[k]:R} by central differences.");
        }
    }

    private static double MaxAbs(Tensor t) => t.abs().max().to(ScalarType.Float64).item<double>();
}
