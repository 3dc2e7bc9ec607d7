using System;
using System.Linq;
using LossDsl.Generator.Differentiate;
using LossDsl.Generator.Emit.Kernels;
using LossDsl.Generator.IR;
using LossDsl.Generator.Schedule;
using Xunit;
using static LossDsl.Generator.Tests.Stages.Stage;

namespace LossDsl.Generator.Tests.Stages;

/// <summary>
/// Nested reductions inside a row: <c>SumWithRow(spans…, (x…, [j,] row) =&gt; … row.Sum((x_k…) =&gt; f(x_j, x_k)))</c>
/// (IR <see cref="Op.NestedSum"/> over <see cref="Op.OuterElem"/> and the inner elements). Parse, evaluate against loops
/// written out in C#, differentiate against central differences, and the kernel backends' capability.
/// </summary>
public class NestedReductionTests
{
    private const string Triplets = """
        [Loss]
        public static partial float F(ReadOnlySpan<float> d, [Positives] ReadOnlySpan<float> p, [Negatives] ReadOnlySpan<float> n, float margin = 0.3f)
            => SumWithRow(d, p, n, (dp, a, _, row) => a * row.Sum((dn, _, b) => b * Max(0f, dp - dn + margin)));
        """;

    private const string SmoothRank = """
        [Loss]
        public static partial float F(ReadOnlySpan<float> s, [Positives] ReadOnlySpan<float> p, [Negatives] ReadOnlySpan<float> n, float tau = 0.5f)
            => SumWithRow(s, p, n, (sj, pj, _, j, row) => pj * (1 + row.Sum((sk, pk, _, k) => k != j ? pk * Sigmoid((sk - sj) / tau) : 0))
                                                             / (1 + row.Sum((sk, pk, nk, k) => k != j ? (pk + nk) * Sigmoid((sk - sj) / tau) : 0)));
        """;

    private static readonly double[] Pos = { 0, 1, 1, 0, 0, 1, 0 };
    private static readonly double[] Neg = { 0, 0, 0, 1, 1, 0, 1 };

    [Fact]
    public void AnInnerSumThatReadsTheOuterElementIsNested()
    {
        var m = ParseOk(Triplets);
        var g = m.Forward!;
        var nested = Enumerable.Range(0, g.Count).Where(i => g[i].Op == Op.NestedSum).ToList();
        Assert.Single(nested);
        Assert.Contains(GraphWalk.Reach(i => g[i], new[] { g[nested[0]].A }, _ => true), i => g[i].Op == Op.OuterElem);
        Assert.True(g.ElementScope()[nested[0]]);
        Assert.False(g.PairScope()[nested[0]]);   // a nested sum closes the pair scope

        var d = Random(3, 7, 2);
        double expected = 0;
        for (int j = 0; j < 7; j++)
            for (int k = 0; k < 7; k++)
                expected += Pos[j] * Neg[k] * Math.Max(0, d[j] - d[k] + 0.3);
        Near(expected, Value(g, m.Root, Data.Rows(d, Pos, Neg).With(hypers: new[] { 0.3 })), what: "Σ_p Σ_n relu(d_p − d_n + m)");
    }

    [Fact]
    public void AnInnerSumThatDoesNotReadTheOuterElementIsTheRowsSum()
    {
        var m = ParseOk("[Loss] public static partial float F(ReadOnlySpan<float> z, int t) => SumWithRow(z, (x, row) => x * row.Sum(y => y * y)) - z[t];");
        var g = m.Forward!;
        Assert.DoesNotContain(GraphWalk.Reach(i => g[i], new[] { m.Root }, _ => true), i => g[i].Op is Op.NestedSum or Op.OuterElem);
    }

    [Fact]
    public void TheSmoothedRankReadsBothPositions()
    {
        var m = ParseOk(SmoothRank);
        var s = Random(4, 7, 1);
        double Sig(double x) => 1 / (1 + Math.Exp(-x));
        double expected = 0;
        for (int j = 0; j < 7; j++)
        {
            double rp = 1, ra = 1;
            for (int k = 0; k < 7; k++)
                if (k != j)
                {
                    rp += Pos[k] * Sig((s[k] - s[j]) / 0.5);
                    ra += (Pos[k] + Neg[k]) * Sig((s[k] - s[j]) / 0.5);
                }
            expected += Pos[j] * rp / ra;
        }
        Near(expected, Value(m.Forward!, m.Root, Data.Rows(s, Pos, Neg).With(hypers: new[] { 0.5 })), what: "Σ_j R(j, P)/R(j, Ω)");
    }

    [Theory]
    [InlineData(Triplets, 0.3)]
    [InlineData(SmoothRank, 0.5)]
    public void TheGradientReachesBothSidesOfEachPair(string loss, double hyper)
    {
        var d = Differentiator.Run(ParseOk(loss));
        // Soft masks, so that the masks' gradients (through both sides of the pairs) are exercised too.
        var data = Data.Rows(Random(5, 7, 2), Pos.Select(v => 0.2 + 0.6 * v).ToArray(), Neg.Select(v => 0.1 + 0.7 * v).ToArray()).With(hypers: new[] { hyper });
        for (int slot = 0; slot < 3; slot++)
        {
            var symbolic = Elements(d.Graph, d.Gradients[slot], data);
            for (int j = 0; j < symbolic.Length; j++)
                Near(FiniteDifference(d.Graph, d.Loss, data, j, slot), symbolic[j], rtol: 1e-6, atol: 1e-8, what: $"∂L/∂span{slot}[{j}]");
        }
    }

    [Theory]
    [InlineData("[Loss(Sets = LossSets.Whole)] public static partial float F(ReadOnlySpan<float> z) => SumWithRow(z, (x, row) => row.Sum(y => x * y));", "row loss")]
    [InlineData("[Loss] public static partial float F(ReadOnlySpan<float> z) { float m = Max(z); return SumWithRow(z, (x, row) => row.Sum(y => x * y * m)); }", "not a reduction")]
    [InlineData("[Loss] public static partial float F(ReadOnlySpan<float> z) => SumWithRow(z, (x, row) => row.Sum(y => row.Sum(w => x * y * w)));", "one level deep")]
    [InlineData("[Loss] public static partial float F(ReadOnlySpan<float> z) { float m = Max(z); return SumWithRow(z, (x, row) => row.Sum(y => Max(x, y)) + m * x); }", "")]
    public void NestingOutsideARowOrDeeperIsAnError(string members, string why)
    {
        var m = Stage.Parse(members);
        if (why.Length == 0)
        {
            Assert.NotNull(m.Forward);   // a row reduction outside the nested body is fine
            return;
        }
        Assert.Null(m.Forward);
        Assert.Contains(m.Diagnostics, x => x.Id == "LOSS0104" && x.Arguments.Any(a => a.Contains(why, StringComparison.Ordinal)));
    }

    [Fact]
    public void TheKernelBackendsDeclineANestedReduction()
    {
        var plan = Scheduler.Run(Differentiator.Run(ParseOk(Triplets)));
        Assert.False(KernelBackends.Runs(plan));
        Assert.Contains("inner loop", KernelBackends.WhyNot(plan));
        Assert.Empty(KernelBackends.Rows(new KernelSkeleton(plan)));
    }
}
