using System;
using System.Collections.Generic;
using System.Linq;
using LossDsl.Generator.Analyze;
using LossDsl.Generator.IR;
using Xunit;
using static LossDsl.Generator.Tests.Stages.Stage;

namespace LossDsl.Generator.Tests.Stages;

/// <summary>
/// The interval analysis on its own. Soundness: on random programs, every value the interpreter computes at a
/// sampled input lies in the interval the analysis gave its node. Precision: the facts the stability analyzers rely
/// on (a sigmoid is in (0, 1), a log-probability is ≤ 0, a mean of sigmoids stays in (0, 1)).
/// </summary>
public class IntervalTests
{
    /// <summary>A random expression DAG over one input, from the op table's rows and the arithmetic ops.</summary>
    private static (Graph Graph, int Count) RandomProgram(Random rng)
    {
        var b = new GraphBuilder();
        var nodes = new List<int> { b.Leaf(Op.Input, 0), b.Const(0.5), b.Const(-2) };
        var unary = OpTable.AllUnary.Where(f => f.Op != Op.StopGradient).ToArray();
        for (int k = 0; k < 8; k++)
        {
            int a = nodes[rng.Next(nodes.Count)], c = nodes[rng.Next(nodes.Count)];
            nodes.Add(rng.Next(6) switch
            {
                0 or 1 => b.Unary(unary[rng.Next(unary.Length)].Op, a),
                2 => b.Add(a, c),
                3 => b.Mul(a, c),
                4 => b.Div(a, c),
                _ => b.Binary(OpTable.AllBinary[rng.Next(OpTable.AllBinary.Count)].Op, a, c),
            });
        }
        var g = b.ToGraph();
        return (g, g.Count);
    }

    /// <summary>
    /// In the closure of the interval, or within 1e-12 (relative) of an end. The analysis is over the reals: its ends are
    /// rounded to nearest, not outward, so an end computed by another sequence of operations can differ from the
    /// interpreter's value in the last bits; and a value can round onto an open end (σ(40) = 1 in double), the
    /// floating-point saturation that the stability checks (LOSS0301, LOSS0302) report instead.
    /// </summary>
    private static bool WithinRounding(Interval r, double v)
        => (v >= r.Lo && v <= r.Hi) || (v < r.Lo && r.Lo - v <= 1e-12 * Math.Abs(v)) || (v > r.Hi && v - r.Hi <= 1e-12 * Math.Abs(v));

    [Fact]
    public void EverySampledValueLiesInItsNodesInterval()
    {
        var rng = new Random(2026);
        int checkedValues = 0;
        for (int program = 0; program < 400; program++)
        {
            var (g, count) = RandomProgram(rng);
            double lo = 20 * rng.NextDouble() - 10, hi = lo + 10 * rng.NextDouble();
            var ranges = IntervalAnalysis.Run(g, new LeafDomains { Inputs = new[] { new Interval(lo, hi) } });
            for (int s = 0; s <= 20; s++)
            {
                double x = Math.Clamp(lo + (hi - lo) * s / 20, lo, hi);
                var data = new Data(Array.Empty<double[]>(), Array.Empty<double>(), new[] { x }, Array.Empty<double>());
                for (int node = 0; node < count; node++)
                {
                    double v = Value(g, node, data);
                    if (!double.IsFinite(v)) continue;
                    Assert.True(WithinRounding(ranges[node], v), $"program {program}, node {node} ({g[node].Op}) = {v:R} at x = {x:R} is outside {ranges[node]}");
                    checkedValues++;
                }
            }
        }
        Assert.True(checkedValues > 20_000, $"only {checkedValues} finite values checked");
    }

    private static Interval RangeOfLoss(string members, params Interval[] spans)
    {
        var m = ParseOk(members);
        var hypers = m.Signature!.Parameters.Where(p => p.Kind == Model.ParameterKind.Hyper).Select(p => p.Default).ToArray();
        return IntervalAnalysis.Run(m.Forward!, new LeafDomains { Spans = spans, Hypers = hypers, Inputs = new[] { Interval.Real, Interval.Unit } })[m.Root];
    }

    [Fact]
    public void ASigmoidIsStrictlyBetweenZeroAndOneSoItsLogNeverReachesMinusInfinity()
    {
        var r = RangeOfLoss("[Loss] public static partial float F(float x, float y) => Log(Sigmoid(x));");
        Assert.False(r.ReachesAtOrBelow(double.NegativeInfinity));
        Assert.True(r.Hi <= 0);
    }

    [Fact]
    public void ALogProbabilityIsAtMostZero()
    {
        var r = RangeOfLoss("[Loss] public static partial float F(ReadOnlySpan<float> z, int t) => LogSoftmax(z, t);", Interval.Real);
        Assert.Equal(0, r.Hi);
    }

    [Fact]
    public void AMeanOfSigmoidsStaysInsideTheOpenUnitInterval()
    {
        var r = RangeOfLoss("[Loss] public static partial float F(ReadOnlySpan<float> z, int t) => Log(1 - Mean(z, v => Sigmoid(v)));", Interval.Real);
        Assert.True(double.IsNegativeInfinity(r.Lo) && r.LoOpen, $"{r}: log(1 − mean σ) is finite, so −∞ must be an open end");
    }

    [Fact]
    public void AHingeIsNonNegative()
    {
        var r = RangeOfLoss("[Loss] public static partial float F(float x, float y) => Max(0f, 1f - x * (2 * y - 1));");
        Assert.Equal(0, r.Lo);
        Assert.False(r.LoOpen);
    }
}
