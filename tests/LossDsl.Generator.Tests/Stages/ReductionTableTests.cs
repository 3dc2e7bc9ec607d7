using System;
using System.Collections.Generic;
using System.Linq;
using LossDsl.Generator.Analyze;
using LossDsl.Generator.IR;
using Xunit;
using static LossDsl.Generator.Tests.Stages.Stage;

namespace LossDsl.Generator.Tests.Stages;

/// <summary>
/// Each row of the reduction table on its own: its value against a naive computation (random and edge inputs: ties,
/// ±∞, NaN, no element), its derivative weight (built into a graph and interpreted) against float64 central
/// differences of its value, its interval rule against sampled values, its identity, and the stages that read it
/// (the interpreter, the interval analysis).
/// </summary>
public class ReductionTableTests
{
    public static IEnumerable<object[]> Rows => Reductions.All.Select(r => new object[] { r.Name });

    private static Reduction Row(string name) => Reductions.Named(name)!;

    /// <summary>The reduction written out the obvious way, independently of the table.</summary>
    private static (double Value, int Arg) Naive(string name, double[] v)
    {
        switch (name)
        {
            case "Sum":
                {
                    double s = 0;
                    foreach (double x in v) s += x;
                    return (s, -1);
                }
            case "LogSumExp":
                {
                    if (v.Any(double.IsNaN)) return (double.NaN, -1);
                    if (v.Any(double.IsPositiveInfinity)) return (double.PositiveInfinity, -1);
                    var finite = v.Where(double.IsFinite).ToArray();
                    if (finite.Length == 0) return (double.NegativeInfinity, -1);
                    // Inputs of the random cases are small, so e^x neither overflows nor underflows.
                    return (Math.Log(finite.Sum(Math.Exp)), -1);
                }
            case "Max":
            case "Min":
                {
                    if (v.Length == 0) return (double.NaN, -1);
                    int nan = Array.FindIndex(v, double.IsNaN);
                    if (nan >= 0) return (double.NaN, nan);
                    double extreme = name == "Max" ? v.Max() : v.Min();
                    return (extreme, Array.IndexOf(v, extreme));
                }
            default: throw new ArgumentException($"No naive form for {name}.");
        }
    }

    /// <summary>Random element vectors (some with ties on a coarse grid) and the edge cases.</summary>
    private static IEnumerable<double[]> Inputs()
    {
        var rng = new Random(21);
        for (int k = 0; k < 40; k++)
        {
            int n = 1 + rng.Next(9);
            bool grid = k % 2 == 1;   // values on a grid of 0.5: ties, at the extreme too
            yield return Enumerable.Range(0, n).Select(_ => grid ? Math.Round(rng.NextDouble() * 6 - 3) / 2 : rng.NextDouble() * 10 - 5).ToArray();
        }
        double inf = double.PositiveInfinity, nan = double.NaN;
        yield return Array.Empty<double>();
        yield return new[] { 2.0 };
        yield return new[] { 1.5, 1.5, 1.5 };
        yield return new[] { 0.0, -0.0 };
        yield return new[] { 1.0, inf, -2.0 };
        yield return new[] { 1.0, -inf, -2.0 };
        yield return new[] { -inf, -inf };
        yield return new[] { inf, inf, 3.0 };
        yield return new[] { -inf, inf };
        yield return new[] { 1.0, nan, 4.0, -3.0 };
        yield return new[] { nan, 1.0 };
        yield return new[] { -3.0, 4.0, nan };
        yield return new[] { nan, nan };
    }

    private static bool Same(double a, double b) => a.Equals(b) || Math.Abs(a - b) <= 1e-12 * Math.Max(1, Math.Abs(a));

    [Theory, MemberData(nameof(Rows))]
    public void EvaluateMatchesANaiveComputation(string name)
    {
        var row = Row(name);
        foreach (var v in Inputs())
        {
            var (value, arg) = row.Evaluate(v);
            var (expected, expectedArg) = Naive(name, v);
            Assert.True(Same(expected, value), $"{name}[{string.Join(", ", v)}] = {value:R}, expected {expected:R}");
            Assert.Equal(expectedArg, arg);
        }
    }

    [Theory, MemberData(nameof(Rows))]
    public void ASelectingRowChoosesByItsComparisonAndAnOtherRowChoosesNothing(string name)
    {
        var row = Row(name);
        Assert.Equal(row.Accumulator == Accumulator.Selecting, row.Selects);
        Assert.Equal(row.Selects, row.Compare is Op.Gt or Op.Lt);
        foreach (var v in Inputs().Where(v => v.Length > 0 && !v.Any(double.IsNaN)))
        {
            var (value, arg) = row.Evaluate(v);
            if (!row.Selects) { Assert.Equal(-1, arg); continue; }
            Assert.Equal(v[arg], value);
            // No element beats the chosen one, and no earlier one equals it (the first on ties).
            Assert.DoesNotContain(v, x => row.Compare == Op.Gt ? x > value : x < value);
            Assert.DoesNotContain(v.Take(arg), x => x == value);
        }
    }

    [Theory, MemberData(nameof(Rows))]
    public void TheIdentityIsNeutral(string name)
    {
        var row = Row(name);
        foreach (var v in Inputs().Where(v => v.Length > 0))
        {
            var (value, arg) = row.Evaluate(v);
            var (withIdentity, argWithIdentity) = row.Evaluate(new[] { row.Identity }.Concat(v).ToArray());
            Assert.True(Same(value, withIdentity), $"{name}([identity, {string.Join(", ", v)}]) = {withIdentity:R}, without the identity {value:R}");
            // The identity never wins against an element: the choice moves by the one position added in front.
            if (row.Selects && !v.Contains(row.Identity)) Assert.Equal(arg + 1, argWithIdentity);
        }
    }

    [Fact]
    public void SlotsAreThePartialsLayoutTheRuntimeReads()
    {
        // One double for a sum; (extreme, position) for a selecting reduction; (max, Σ e^(x − max)) for a log-sum-exp.
        var expected = new Dictionary<string, int> { ["Sum"] = 1, ["Max"] = 2, ["Min"] = 2, ["LogSumExp"] = 2 };
        Assert.Equal(expected.Keys.OrderBy(k => k), Reductions.All.Select(r => r.Name).OrderBy(k => k));
        foreach (var row in Reductions.All) Assert.Equal(expected[row.Name], row.Slots);
    }

    [Fact]
    public void LookUpsFindEachRowByOpAndName()
    {
        foreach (var row in Reductions.All)
        {
            Assert.Same(row, Reductions.Of(row.Op));
            Assert.Same(row, Reductions.Named(row.Name));
            Assert.True(row.Op.IsReduction());
        }
        Assert.Null(Reductions.Of(Op.Add));
        Assert.Null(Reductions.Named("Mean"));   // a Sum divided by the length, not a row of its own
    }

    /// <summary>R(x) over span 0 with the identity body, the weight node w_R, and the Arg node of a selecting one.</summary>
    private static (Graph Graph, int Reduction, int Weight, int Arg) Build(Reduction row)
    {
        var b = new GraphBuilder();
        int r = b.Reduce(row.Op, b.Leaf(Op.Elem, 0));
        int w = row.Weight(b, r);
        int arg = row.Selects ? b.Arg(r) : -1;
        return (b.ToGraph(), r, w, arg);
    }

    [Theory, MemberData(nameof(Rows))]
    public void TheInterpreterEvaluatesTheRow(string name)
    {
        var row = Row(name);
        var (g, r, _, argNode) = Build(row);
        foreach (var v in Inputs().Where(v => v.Length > 0))
        {
            var data = Data.Rows(v);
            var (expected, expectedArg) = row.Evaluate(v);
            double value = Value(g, r, data);
            Assert.True(expected.Equals(value), $"{name}: the interpreter gives {value:R}, the row {expected:R}");
            if (argNode >= 0) Assert.Equal((double)expectedArg, Value(g, argNode, data));
        }
    }

    [Theory, MemberData(nameof(Rows))]
    public void TheWeightIsTheDerivativeOfTheValue(string name)
    {
        var row = Row(name);
        var (g, r, w, _) = Build(row);
        for (int seed = 0; seed < 12; seed++)
        {
            // Distinct random values: no ties, so a selecting reduction is differentiable there.
            var data = Data.Rows(Random(100 + seed, 2 + seed % 7, 4));
            var weights = Elements(g, w, data);
            for (int j = 0; j < weights.Length; j++)
                Near(FiniteDifference(g, r, data, j), weights[j], rtol: 1e-6, atol: 1e-8, what: $"{name}: ∂R/∂f[{j}] (seed {seed})");
        }
    }

    public static IEnumerable<object[]> RangeCases =>
        from name in Reductions.All.Select(r => r.Name)
        from body in new[] { "[-2, 3]", "(0, 1)", "[0.5, 4)", "(-5, -1]", "[1.5, 1.5]", "[0, 0]" }
        from minLength in new[] { 1.0, 2.0, 3.0 }
        select new object[] { name, body, minLength };

    private static Interval ParseInterval(string text)
    {
        var parts = text.Trim('[', '(', ']', ')').Split(',').Select(p => double.Parse(p, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        return new Interval(parts[0], parts[1], text[0] == '(', text[^1] == ')');
    }

    [Theory, MemberData(nameof(RangeCases))]
    public void TheRangeHoldsEveryValueOfElementsInTheBodysInterval(string name, string body, double minLength)
    {
        var row = Row(name);
        var a = ParseInterval(body);
        var range = row.Range(a, minLength);
        var rng = new Random(body.Length * 31 + (int)minLength);
        double Sample(int k)
        {
            // The ends where they are attained, and interior points.
            if (k % 5 == 0 && !a.LoOpen) return a.Lo;
            if (k % 5 == 1 && !a.HiOpen) return a.Hi;
            double x = a.Lo + (a.Hi - a.Lo) * rng.NextDouble();
            return a.Contains(x) ? x : (a.Lo + a.Hi) / 2;
        }
        for (int k = 0; k < 400; k++)
        {
            int n = (int)minLength + rng.Next(6);
            var v = Enumerable.Range(k, n).Select(Sample).ToArray();
            double value = row.Evaluate(v).Value;
            Assert.True(range.Contains(value), $"{name} over {n} elements in {body} is {value:R}, outside its range {range}");
        }
    }

    [Theory, MemberData(nameof(Rows))]
    public void TheIntervalAnalysisAppliesTheRowsRule(string name)
    {
        var row = Row(name);
        var b = new GraphBuilder();
        int body = b.Unary(Op.Sigmoid, b.Leaf(Op.Elem, 0));
        int r = b.Reduce(row.Op, body);
        var domains = new LeafDomains { Spans = new[] { Interval.Real }, MinLength = 2 };
        var ranges = IntervalAnalysis.Run(b.ToGraph(), domains);
        var expected = row.Range(ranges[body], 2);
        Assert.Equal((expected.Lo, expected.Hi, expected.LoOpen, expected.HiOpen), (ranges[r].Lo, ranges[r].Hi, ranges[r].LoOpen, ranges[r].HiOpen));
    }

    /// <summary>
    /// The sharded form's combine rules come from the table: a loss that computes each reduction gets, in its definition,
    /// additive partials for Σ, the extreme for max and min, and the two-step rule for log-Σ-exp; nothing for a reduction
    /// it does not compute.
    /// </summary>
    [Fact]
    public void EachReductionALossComputesGetsItsCombineRuleFromTheTable()
    {
        var all = Differentiate.Differentiator.Run(ParseOk("[Loss] public static partial float F(ReadOnlySpan<float> z, int t) => Sum(z, v => v * v) - Min(z) + Max(z) + LogSumExp(z) - z[t];"));
        Assert.Equal(new[] { ("Sum", Model.ShardCombine.Additive), ("Max", Model.ShardCombine.SelectMax), ("LogSumExp", Model.ShardCombine.LogSumExp), ("Min", Model.ShardCombine.SelectMin) },
            Emit.LossSourceEmitter.ShardCombines(all).ToArray());
        var ce = Differentiate.Differentiator.Run(ParseOk("[Loss] public static partial float F(ReadOnlySpan<float> z, int t) => -LogSoftmax(z, t);"));
        Assert.Equal(new[] { ("LogSumExp", Model.ShardCombine.LogSumExp) }, Emit.LossSourceEmitter.ShardCombines(ce).ToArray());
        foreach (var row in Reductions.All) Assert.True(System.Enum.IsDefined(typeof(Model.ShardCombine), Emit.LossSourceEmitter.CombineOf(row)), row.Name);
    }
}
