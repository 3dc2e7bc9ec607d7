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
/// The fused linear form of class-row losses ({Name}Linear and {Name}LinearLoss): value and the gradients of hidden,
/// classifier and bias against the materialized path composed in TorchSharp (linear, then the loss's formula in torch
/// ops, then autograd), for every reduction, ignored rows, class weights, float32 and float64, chunks that do not divide
/// the rows (and chunks of one row), on every backend; bfloat16 and float16 heads at 1, 8 and 64 chunks; and float64
/// finite differences for the classifier's gradient.
/// </summary>
public class FusedLinearTests
{
    /// <summary>A loss's fused linear form and its per-row formula on materialized logits.</summary>
    private sealed record Case(
        string Name,
        Func<Tensor, Tensor, Tensor?, Tensor, nn.Reduction, Tensor?, long, Backend, Tensor> Fused,
        Func<Tensor, Tensor, Tensor> PerRow);

    private static Tensor LogPt(Tensor z, Tensor t) => F.log_softmax(z, 1).gather(1, t.unsqueeze(1)).squeeze(1);

    private static readonly Case[] Cases =
    {
        new("CrossEntropy", (h, w, b, t, r, cw, chunk, be) => TestLosses.CrossEntropyLinear(h, w, b, t, cw, Ignore, r, chunk, be),
            (z, t) => -LogPt(z, t)),
        new("Poly1", (h, w, b, t, r, cw, chunk, be) => Losses.Poly1Linear(h, w, b, t, epsilon: 1, reduction: r, ignore_index: Ignore, weight: cw, chunk_rows: chunk, backend: be),
            (z, t) => -LogPt(z, t) + (1 - LogPt(z, t).exp())),
        new("SoftmaxFocal", (h, w, b, t, r, cw, chunk, be) => TestLosses.SoftmaxFocalLinear(h, w, b, t, gamma: 2, reduction: r, ignore_index: Ignore, weight: cw, chunk_rows: chunk, backend: be),
            (z, t) => -(1 - LogPt(z, t).exp()).pow(2) * LogPt(z, t)),
        new("ZLossCE", (h, w, b, t, r, cw, chunk, be) => TestLosses.ZLossCELinear(h, w, b, t, lambda: 0.01, reduction: r, ignore_index: Ignore, weight: cw, chunk_rows: chunk, backend: be),
            (z, t) => { var lse = z.logsumexp(1); return lse - z.gather(1, t.unsqueeze(1)).squeeze(1) + 0.01 * lse * lse; }),
        new("MarginCE", (h, w, b, t, r, cw, chunk, be) => TestLosses.MarginCELinear(h, w, b, t, margin: 0.35, scale: 4, reduction: r, ignore_index: Ignore, weight: cw, chunk_rows: chunk, backend: be),
            (z, t) =>
            {
                var zm = z - 0.35 * F.one_hot(t, z.shape[1]).to(z.dtype);
                return (4 * zm).logsumexp(1) - 4 * zm.gather(1, t.unsqueeze(1)).squeeze(1);
            }),
    };

    private const long Ignore = -100;
    private const long N = 10, D = 6, V = 13;

    public static TheoryData<string, nn.Reduction, Backend> Matrix()
    {
        var data = new TheoryData<string, nn.Reduction, Backend>();
        foreach (var c in Cases)
            foreach (var r in new[] { nn.Reduction.Mean, nn.Reduction.Sum, nn.Reduction.None })
                foreach (var b in new[] { Backend.Cpu, Backend.Ilgpu, Backend.TorchOps })
                    data.Add(c.Name, r, b);
        return data;
    }

    private static (Tensor Hidden, Tensor Classifier, Tensor Bias, Tensor Target, Tensor ClassWeights) Problem(string name, ScalarType dtype)
    {
        var g = new Generator(Reference.Seed(name));
        var hidden = torch.randn(new[] { N, D }, dtype: ScalarType.Float64, generator: g).to(dtype);
        var classifier = torch.randn(new[] { V, D }, dtype: ScalarType.Float64, generator: g).to(dtype);
        var bias = torch.randn(new[] { V }, dtype: ScalarType.Float64, generator: g).to(dtype);
        var target = torch.randint(0, V, new[] { N }, generator: g);
        target[2] = torch.tensor(Ignore);
        target[7] = torch.tensor(Ignore);
        var weights = (torch.rand(new[] { V }, dtype: ScalarType.Float64, generator: g) + 0.5).to(dtype);
        return (hidden, classifier, bias, target, weights);
    }

    private static Tensor Materialized(Case c, Tensor h, Tensor w, Tensor b, Tensor t, nn.Reduction r, Tensor? classWeights)
    {
        var logits = F.linear(h, w, b);
        var kept = t.ne(Ignore);
        var safe = t.masked_fill(kept.logical_not(), 0);
        var rowWeight = (classWeights is null ? torch.ones_like(h.select(1, 0)) : classWeights.gather(0, safe)) * kept.to(h.dtype);
        var perRow = c.PerRow(logits, safe) * rowWeight;
        return r switch { nn.Reduction.None => perRow, nn.Reduction.Sum => perRow.sum(), _ => perRow.sum() / rowWeight.sum() };
    }

    private static (Tensor Value, Tensor[] Grads) Run(Func<Tensor, Tensor, Tensor, Tensor> f, Tensor h, Tensor w, Tensor b, Tensor? upstream)
    {
        var leaves = new[] { h, w, b }.Select(x => x.detach().clone().requires_grad_(true)).ToArray();
        var value = f(leaves[0], leaves[1], leaves[2]);
        if (upstream is null) value.backward();
        else value.backward(new[] { upstream });
        return (value.detach(), leaves.Select(l => l.grad!.detach().clone()).ToArray());
    }

    [Theory]
    [MemberData(nameof(Matrix))]
    public void MatchesTheMaterializedPath(string name, nn.Reduction reduction, Backend backend)
    {
        var c = Cases.Single(k => k.Name == name);
        foreach (var (dtype, rtol) in new[] { (ScalarType.Float64, 1e-9), (ScalarType.Float32, 2e-4) })
            foreach (var (chunk, weighted) in new[] { (4L, false), (1L, true), (0L, true) })
            {
                var (h, w, b, t, cw) = Problem(name, dtype);
                var classWeights = weighted ? cw : null;
                var upstream = reduction == nn.Reduction.None ? torch.rand(new[] { N }, dtype: dtype) + 0.5 : null;
                var expected = Run((x, y, z) => Materialized(c, x.to(ScalarType.Float64), y.to(ScalarType.Float64), z.to(ScalarType.Float64), t, reduction, classWeights?.to(ScalarType.Float64)),
                    h, w, b, upstream?.to(ScalarType.Float64));
                var actual = Run((x, y, z) => c.Fused(x, y, z, t, reduction, classWeights, chunk, backend), h, w, b, upstream);
                string what = $"{name} {dtype} chunk {chunk}{(weighted ? " weighted" : "")}";
                Reference.Close(expected.Value, actual.Value, rtol, rtol, what + " value");
                string[] names = { "hidden", "classifier", "bias" };
                for (int k = 0; k < 3; k++)
                    Reference.Close(expected.Grads[k], actual.Grads[k], rtol, rtol * expected.Grads[k].abs().max().to(ScalarType.Float64).item<double>(), $"{what}: ∂/∂{names[k]}");
            }
    }

    public static TheoryData<nn.Reduction, Backend> TwoHeadMatrix()
    {
        var data = new TheoryData<nn.Reduction, Backend>();
        foreach (var r in new[] { nn.Reduction.Mean, nn.Reduction.Sum, nn.Reduction.None })
            foreach (var b in new[] { Backend.Auto, Backend.TorchOps })
                data.Add(r, b);
        return data;
    }

    private static Tensor Reduce(Tensor perRow, nn.Reduction r) => r switch { nn.Reduction.None => perRow, nn.Reduction.Sum => perRow.sum(), _ => perRow.mean() };

    [Theory]
    [MemberData(nameof(TwoHeadMatrix))]
    public void DistillationFromATeachersHeadMatchesTheMaterializedPath(nn.Reduction reduction, Backend backend)
    {
        // The student's head is trained; the teacher's (another hidden size) is frozen, so Auto runs each chunk on the fused CPU kernel.
        var (h, w, b, _, _) = Problem(nameof(DistillationFromATeachersHeadMatchesTheMaterializedPath), ScalarType.Float64);
        var g = new Generator(5);
        var th = torch.randn(new[] { N, 4L }, dtype: ScalarType.Float64, generator: g);
        var tw = torch.randn(new[] { V, 4L }, dtype: ScalarType.Float64, generator: g);
        var tb = torch.randn(new[] { V }, dtype: ScalarType.Float64, generator: g);
        Tensor PerRow(Tensor s, Tensor t)
        {
            var logq = F.log_softmax(t / 2.0, 1);
            return 4.0 * (logq.exp() * (logq - F.log_softmax(s / 2.0, 1))).sum(new long[] { 1 });
        }
        var upstream = reduction == nn.Reduction.None ? torch.rand(new[] { N }, dtype: ScalarType.Float64) + 0.5 : null;
        var expected = Run((x, y, z) => Reduce(PerRow(F.linear(x, y, z), F.linear(th, tw, tb)), reduction), h, w, b, upstream);
        var actual = Run((x, y, z) => TestLosses.DistillLinear(x, y, z, th, tw, tb, temperature: 2, reduction: reduction, chunk_rows: 3, backend: backend), h, w, b, upstream);
        Reference.Close(expected.Value, actual.Value, 1e-9, 1e-12, "distillation value");
        for (int k = 0; k < 3; k++) Reference.Close(expected.Grads[k], actual.Grads[k], 1e-9, 1e-12, $"distillation gradient {k}");
    }

    [Theory]
    [MemberData(nameof(TwoHeadMatrix))]
    public void BothHeadsOfASymmetricKLGetTheirGradients(nn.Reduction reduction, Backend backend)
    {
        var (h, w, b, _, _) = Problem(nameof(BothHeadsOfASymmetricKLGetTheirGradients), ScalarType.Float64);
        var g = new Generator(6);
        var other = new[] { torch.randn(new[] { N, 5L }, dtype: ScalarType.Float64, generator: g), torch.randn(new[] { V, 5L }, dtype: ScalarType.Float64, generator: g) }
            .Select(t => t.requires_grad_(true)).ToArray();
        Tensor PerRow(Tensor za, Tensor zb)
        {
            var la = F.log_softmax(za, 1);
            var lb = F.log_softmax(zb, 1);
            return ((la.exp() - lb.exp()) * (la - lb)).sum(new long[] { 1 });
        }
        var upstream = reduction == nn.Reduction.None ? torch.rand(new[] { N }, dtype: ScalarType.Float64) + 0.5 : null;
        Tensor[] OtherGrads(Func<Tensor, Tensor, Tensor, Tensor> f)
        {
            foreach (var t in other) t.grad?.zero_();
            Run(f, h, w, b, upstream);
            return other.Select(t => t.grad!.clone()).ToArray();
        }
        Func<Tensor, Tensor, Tensor, Tensor> materialized = (x, y, z) => Reduce(PerRow(F.linear(x, y, z), F.linear(other[0], other[1])), reduction);
        Func<Tensor, Tensor, Tensor, Tensor> fused = (x, y, z) => TestLosses.SymmetricKLLinear(x, y, z, other[0], other[1], null, reduction: reduction, chunk_rows: 4, backend: backend);
        var expected = Run(materialized, h, w, b, upstream);
        var actual = Run(fused, h, w, b, upstream);
        Reference.Close(expected.Value, actual.Value, 1e-9, 1e-12, "symmetric KL value");
        for (int k = 0; k < 3; k++) Reference.Close(expected.Grads[k], actual.Grads[k], 1e-9, 1e-12, $"symmetric KL gradient {k}");
        var (e, a) = (OtherGrads(materialized), OtherGrads(fused));
        for (int k = 0; k < 2; k++) Reference.Close(e[k], a[k], 1e-9, 1e-12, $"symmetric KL, second head's gradient {k}");
    }

    public static TheoryData<ScalarType, Backend> HalfMatrix()
    {
        var data = new TheoryData<ScalarType, Backend>();
        foreach (var dtype in new[] { ScalarType.BFloat16, ScalarType.Float16 })
            foreach (var b in new[] { Backend.Cpu, Backend.Ilgpu, Backend.TorchOps })
                data.Add(dtype, b);
        return data;
    }

    /// <summary>
    /// bfloat16 and float16 heads: the loss comes back in float32 and the gradients in the heads' dtype, computed and
    /// summed over the chunks in float32. Against the materialized path in float64 on the same (half) values, the
    /// error of each gradient is its one final rounding (the unit roundoff u of the element, as in HalfPrecisionTests), at 1, 8 and 64 chunks alike: a classifier
    /// or bias gradient summed over the chunks in half precision would gain a rounding per chunk.
    /// </summary>
    [Theory]
    [MemberData(nameof(HalfMatrix))]
    public void HalfHeadsAccumulateInFloat32AndTheErrorDoesNotGrowWithTheChunks(ScalarType dtype, Backend backend)
    {
        const long rows = 64, dim = 16, classes = 50;
        var g = new Generator(Reference.Seed(nameof(HalfHeadsAccumulateInFloat32AndTheErrorDoesNotGrowWithTheChunks)));
        var h = torch.randn(new[] { rows, dim }, dtype: ScalarType.Float64, generator: g).to(dtype);
        var w = (torch.randn(new[] { classes, dim }, dtype: ScalarType.Float64, generator: g) * 0.5).to(dtype);
        var b = torch.randn(new[] { classes }, dtype: ScalarType.Float64, generator: g).to(dtype);
        var t = torch.randint(0, classes, new[] { rows }, generator: g);
        var poly1 = Cases.Single(c => c.Name == "Poly1");
        var expected = Run((x, y, z) => Materialized(poly1, x, y, z, t, nn.Reduction.Mean, null),
            h.to(ScalarType.Float64), w.to(ScalarType.Float64), b.to(ScalarType.Float64), null);
        double u = HalfPrecisionTests.UnitRoundoff(dtype);
        string[] names = { "hidden", "classifier", "bias" };
        foreach (long chunks in new[] { 1L, 8L, 64L })
        {
            var actual = Run((x, y, z) => Losses.Poly1Linear(x, y, z, t, epsilon: 1, chunk_rows: rows / chunks, backend: backend), h, w, b, null);
            Assert.Equal(ScalarType.Float32, actual.Value.dtype);
            Reference.Close(expected.Value, actual.Value, 1e-5, 0, $"{dtype} {chunks} chunks: value");
            for (int k = 0; k < 3; k++)
            {
                Assert.Equal(dtype, actual.Grads[k].dtype);
                // One rounding to the half dtype (u of the element) on top of float32 arithmetic.
                double scale = expected.Grads[k].abs().max().item<double>();
                Reference.Close(expected.Grads[k], actual.Grads[k], u + 2e-5, 1e-5 * scale, $"{dtype} {chunks} chunks: ∂/∂{names[k]}");
            }
        }
    }

    [Fact]
    public void ClassifierGradientMatchesFiniteDifferences()
    {
        var (h, w, b, t, _) = Problem(nameof(ClassifierGradientMatchesFiniteDifferences), ScalarType.Float64);
        var leaf = w.clone().requires_grad_(true);
        Losses.Poly1Linear(h, leaf, b, t, chunk_rows: 3).backward();
        var (index, fd) = Reference.FiniteDifferences(x => Losses.Poly1Linear(h, x, b, t, chunk_rows: 3), w, null, 12, 5);
        var flat = leaf.grad!.view(-1);
        for (int k = 0; k < index.Length; k++)
            Assert.True(Math.Abs(flat[index[k]].item<double>() - fd[k]) <= 1e-8 + 1e-6 * Math.Abs(fd[k]),
                $"∂/∂classifier[{index[k]}] is {flat[index[k]].item<double>():R}, finite differences give {fd[k]:R}");
    }

    [Fact]
    public void OnlyTheTensorsThatRequireGradGetGradients()
    {
        var (h, w, b, t, _) = Problem(nameof(OnlyTheTensorsThatRequireGradGetGradients), ScalarType.Float32);
        var head = w.clone().requires_grad_(true);
        TestLosses.CrossEntropyLinear(h, head, null, t).backward();
        Assert.NotNull(head.grad);
        Assert.Null(h.grad);
        // An evaluation pass under no_grad computes the loss only.
        using (torch.no_grad())
            Assert.False(TestLosses.CrossEntropyLinear(h, head, null, t).requires_grad);
    }

    [Fact]
    public void TheModuleUsesTheLinearHeadsParameters()
    {
        var (h, _, _, t, _) = Problem(nameof(TheModuleUsesTheLinearHeadsParameters), ScalarType.Float32);
        var head = nn.Linear(D, V);
        var criterion = new Losses.Poly1LinearLoss(head, epsilon: 1);
        var fused = criterion.forward(h, t);
        fused.backward();
        var fusedGrad = head.weight!.grad!.clone();
        head.zero_grad();
        var materialized = Losses.Poly1(head.forward(h), t, epsilon: 1);
        materialized.backward();
        Reference.Close(materialized.detach(), fused.detach(), 1e-5, 1e-6, "module value");
        Reference.Close(head.weight!.grad!, fusedGrad, 1e-4, 1e-6, "module ∂/∂weight");
        Assert.Contains(criterion.parameters(), p => ReferenceEquals(p, head.weight));
    }

    [Fact]
    public void BadShapesAreRejectedByName()
    {
        var (h, w, b, t, _) = Problem(nameof(BadShapesAreRejectedByName), ScalarType.Float32);
        Assert.Contains("'classifier'", Assert.Throws<ArgumentException>(() => TestLosses.CrossEntropyLinear(h, w.t(), b, t)).Message);
        Assert.Contains("'bias'", Assert.Throws<ArgumentException>(() => TestLosses.CrossEntropyLinear(h, w, b[..5], t)).Message);
        Assert.Contains("'target'", Assert.Throws<ArgumentException>(() => TestLosses.CrossEntropyLinear(h, w, b, t[..4])).Message);
        Assert.Contains("'chunkRows'", Assert.Throws<ArgumentOutOfRangeException>(() => TestLosses.CrossEntropyLinear(h, w, b, t, chunk_rows: -1)).Message);
    }
}
