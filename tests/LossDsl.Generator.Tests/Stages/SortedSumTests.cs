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
/// Sort within a row or set: <c>SortedSum(spans…, key, f)</c> with <c>CumSum(v)</c>, the running sum of v over the
/// elements ranked at or before the current one by key, descending (IR <see cref="Op.CumSum"/>). Parse, evaluate,
/// differentiate (through the permutation: suffix sums of the running sums' adjoints) and the kernel backends' capability.
/// Values are checked against the Lovász formula written out in C# with an explicit sort, gradients against central
/// differences.
/// </summary>
public class SortedSumTests
{
    private const string Lovasz = """
        [Loss(Sets = LossSets.Whole)]
        public static partial float F(ReadOnlySpan<float> z, ReadOnlySpan<float> y)
        {
            float positives = Sum(y);
            return SortedSum(z, y, (a, b) => 1 - a * (2 * b - 1),
                (a, b) => Max(0f, 1 - a * (2 * b - 1))
                    * ((positives + CumSum(1 - b) - (1 - b) > 0 ? (positives - CumSum(b) + b) / (positives + CumSum(1 - b) - (1 - b)) : 1)
                       - (positives - CumSum(b)) / (positives + CumSum(1 - b))));
        }
        """;

    /// <summary>The Lovász hinge of Berman et al. with an explicit sort: Σ_k relu(e_(k))·(J_k − J_(k−1)).</summary>
    private static double LovaszHinge(double[] z, double[] y)
    {
        var e = z.Select((v, i) => 1 - v * (2 * y[i] - 1)).ToArray();
        var order = Enumerable.Range(0, z.Length).OrderByDescending(i => e[i]).ToArray();
        double p = y.Sum(), c1 = 0, c0 = 0, before = 0, loss = 0;
        foreach (int i in order)
        {
            c1 += y[i];
            c0 += 1 - y[i];
            double j = 1 - (p - c1) / (p + c0);
            loss += Math.Max(0, e[i]) * (j - before);
            before = j;
        }
        return loss;
    }

    [Fact]
    public void CumSumIsARunningSumOverTheKeysOrder()
    {
        var m = ParseOk(Lovasz);
        var g = m.Forward!;
        var running = Enumerable.Range(0, g.Count).Where(i => g[i].Op == Op.CumSum).ToList();
        Assert.Equal(2, running.Count);                                       // CumSum(b) and CumSum(1 − b), shared by hash-consing
        Assert.Single(running.Select(i => g[i].B).Distinct());                // both over the one key
        Assert.All(running, i => Assert.True(g.ElementScope()[i]));
        var z = Random(3, 9);
        var y = new double[] { 1, 0, 0, 1, 1, 0, 1, 0, 0 };
        Near(LovaszHinge(z, y), Value(g, m.Root, Data.Rows(z, y)), what: "Lovász hinge");
        Near(LovaszHinge(z, new double[9]), Value(g, m.Root, Data.Rows(z, new double[9])), what: "no positives (J_0 = 0)");
    }

    [Fact]
    public void TheGradientFlowsBackThroughThePermutation()
    {
        var d = Differentiator.Run(ParseOk(Lovasz));
        var data = Data.Rows(Random(5, 8, 3), new double[] { 0.2, 0.9, 0.4, 0.7, 0.1, 0.5, 0.8, 0.3 });   // soft labels: they get a gradient too
        for (int slot = 0; slot < 2; slot++)
        {
            var symbolic = Elements(d.Graph, d.Gradients[slot], data);
            for (int j = 0; j < symbolic.Length; j++)
                Near(FiniteDifference(d.Graph, d.Loss, data, j, slot), symbolic[j], rtol: 1e-6, atol: 1e-8, what: $"∂L/∂span{slot}[{j}]");
        }
    }

    [Fact]
    public void ARunningSumOfThePredictionPassesItsSuffixSumBack()
    {
        // The prediction inside the running sums: ∂/∂z_m gets Σ over the elements ranked at or after m of the running sums' adjoints.
        var d = Differentiator.Run(ParseOk("""
            [Loss] public static partial float F(ReadOnlySpan<float> z, ReadOnlySpan<float> w)
                => SortedSum(z, w, (a, b) => b, (a, b) => Sigmoid(a) * CumSum(a * a * b) + Square(CumSum(Exp(a))) * b);
            """));
        var data = Data.Rows(Random(7, 6, 2), Random(8, 6, 1).Select(v => v + 2).ToArray());
        var symbolic = Elements(d.Graph, d.Gradient, data);
        for (int j = 0; j < symbolic.Length; j++)
            Near(FiniteDifference(d.Graph, d.Loss, data, j), symbolic[j], rtol: 1e-6, atol: 1e-8, what: $"∂L/∂z[{j}]");
    }

    [Theory]
    [InlineData("=> Sum(z, a => CumSum(a));", "running sum inside the element function of a SortedSum")]
    [InlineData("{ float s = Sum(z); return SortedSum(z, a => a, a => CumSum(a * s)); }", "not a reduction")]
    [InlineData("=> SortedSum(z, a => a, a => CumSum(CumSum(a)));", "another CumSum")]
    public void ACumSumOutsideASortOrOverARowValueIsAnError(string body, string why)
    {
        var m = Stage.Parse("[Loss] public static partial float F(ReadOnlySpan<float> z) " + body);
        Assert.Null(m.Forward);
        Assert.Contains(m.Diagnostics, x => x.Id == "LOSS0104" && x.Arguments.Any(a => a.Contains(why, StringComparison.Ordinal)));
    }

    [Fact]
    public void TheKernelBackendsDeclineALossThatSorts()
    {
        var sorted = new KernelSkeleton(Scheduler.Run(Differentiator.Run(ParseOk(Lovasz))));
        Assert.False(KernelBackends.Runs(sorted.Plan));
        Assert.Empty(KernelBackends.Rows(sorted));
        Assert.Contains("sort", KernelBackends.WhyNot(sorted.Plan));
        var plain = Scheduler.Run(Differentiator.Run(ParseOk("[Loss] public static partial float F(ReadOnlySpan<float> z, int t) => -LogSoftmax(z, t);")));
        Assert.True(KernelBackends.Runs(plain));
        Assert.NotEmpty(KernelBackends.Rows(new KernelSkeleton(plain)));
    }
}
