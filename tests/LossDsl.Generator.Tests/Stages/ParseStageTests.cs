using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using LossDsl.Generator.IR;
using LossDsl.Generator.Model;
using LossDsl.Generator.Parse;
using Xunit;
using static LossDsl.Generator.Tests.Stages.Stage;

namespace LossDsl.Generator.Tests.Stages;

/// <summary>
/// The parse stage on its own: each construct of a loss body lowers to the IR it should, and the IR computes the
/// formula written out here in C#. <see cref="LossParser"/> composes <see cref="SignatureParser"/> and
/// <see cref="BodyParser"/>; the tests call them directly.
/// </summary>
public class ParseStageTests
{
    private static readonly double[] Row = { 0.3, -1.2, 2.0, 0.7, -0.4 };

    /// <summary>The parse stage's entry point, called directly.</summary>
    private static LossModel Parse(string members)
    {
        var d = Declare(members);
        return LossParser.Parse(d.Syntax, d.Method, d.Attribute, d.Model, CancellationToken.None);
    }

    /// <summary><see cref="Parse"/>, asserting that the body lowered without errors.</summary>
    private static LossModel ParseOk(string members)
    {
        var m = Parse(members);
        Assert.True(m.Forward is not null, "the body did not lower: " + string.Join("; ", m.Diagnostics.Select(x => x.Id + " " + string.Join(",", x.Arguments))));
        return m;
    }

    /// <summary>
    /// Lowers a body with <see cref="BodyParser"/> against the signature <see cref="SignatureParser"/> gives: the graph,
    /// its root, and which node each expression of the body became.
    /// </summary>
    private static (Graph Graph, int Root, Dictionary<string, int> Lowered, List<DiagnosticInfo> Diagnostics) Lower(string members)
    {
        var d = Declare(members);
        var diagnostics = new List<DiagnosticInfo>();
        var signature = SignatureParser.Parse(d.Syntax, d.Method, d.Attribute, diagnostics, out _);
        Assert.NotNull(signature);
        var lowered = new Dictionary<string, int>();
        var body = new BodyParser(d.Model, d.Method, signature!, diagnostics, CancellationToken.None) { Lowered = (e, n) => lowered[e.ToString()] = n };
        int root = body.ParseBody(d.Syntax);
        return (body.Builder.ToGraph(), root, lowered, diagnostics);
    }

    private static Data Scalars(params double[] inputs) => new(Array.Empty<double[]>(), Array.Empty<double>(), inputs, Array.Empty<double>());

    private static double LogSumExp(double[] z) { double m = z.Max(); return m + Math.Log(z.Sum(v => Math.Exp(v - m))); }

    [Fact]
    public void LogSoftmaxLowersToAGatherMinusALogSumExpOverTheRow()
    {
        var m = ParseOk("[Loss] public static partial float Ce(ReadOnlySpan<float> logits, int target) => -LogSoftmax(logits, target);");
        var g = m.Forward!;

        Assert.Equal(SegmentAxis.Row, m.Signature!.Axes.Segment);
        Assert.Equal(new[] { ParameterKind.Span, ParameterKind.Target }, m.Signature.Parameters.Select(p => p.Kind));
        var lse = g.Nodes.Single(n => n.Op == Op.ReduceLogSumExp);
        Assert.Equal(Op.Elem, g[lse.A].Op);
        var at = g.Nodes.Single(n => n.Op == Op.At);
        Assert.Equal(Op.Target, g[at.A].Op);

        var data = Data.Rows(Row).With(targets: new double[] { 2 });
        Near(LogSumExp(Row) - Row[2], Value(g, m.Root, data), what: "CE");
    }

    [Fact]
    public void MeanLowersToASumOverTheLength()
    {
        var m = ParseOk("[Loss] public static partial float M(ReadOnlySpan<float> x, int t) => Mean(x, v => v * v) - x[t];");
        var g = m.Forward!;
        var div = g.Nodes.Single(n => n.Op == Op.Div);
        Assert.Equal(Op.ReduceSum, g[div.A].Op);
        Assert.Equal(Op.Length, g[div.B].Op);
        Near(Row.Average(v => v * v) - Row[1], Value(g, m.Root, Data.Rows(Row).With(targets: new double[] { 1 })), what: "mean of squares");
    }

    [Fact]
    public void AnElementwiseLossHasNoReductionAndReadsItsInputsAndHyperparameters()
    {
        var m = ParseOk("[Loss] public static partial float Bce(float x, float y, float gamma = 2f) => Pow(1 - Sigmoid(x), gamma) * y * Softplus(-x) + (1 - y) * Softplus(x);");
        var s = m.Signature!;
        Assert.Equal(SegmentAxis.Element, s.Axes.Segment);
        Assert.Equal(new[] { ParameterKind.Input, ParameterKind.Input, ParameterKind.Hyper }, s.Parameters.Select(p => p.Kind));
        Assert.Equal(2.0, s.Parameters[2].Default);
        Assert.DoesNotContain(m.Forward!.Nodes, n => n.Op.IsReduction());

        double x = 0.8, y = 0.3, gamma = 1.5, sig = 1 / (1 + Math.Exp(-x));
        double expected = Math.Pow(1 - sig, gamma) * y * Math.Log(1 + Math.Exp(-x)) + (1 - y) * Math.Log(1 + Math.Exp(x));
        var data = new Data(Array.Empty<double[]>(), Array.Empty<double>(), new[] { x, y }, new[] { gamma });
        Near(expected, Value(m.Forward!, m.Root, data), what: "focal-weighted BCE");
    }

    [Fact]
    public void ASetLossLowersEachSumOverBothSpans()
    {
        var m = ParseOk("""
            [Loss(Shape = LossShape.ChannelSet)]
            public static partial float Dice(ReadOnlySpan<float> p, ReadOnlySpan<float> y, float smooth = 1f)
            {
                float inter = Sum(p, y, (a, b) => Sigmoid(a) * b);
                float total = Sum(p, y, (a, b) => Sigmoid(a) + b);
                return 1 - (2 * inter + smooth) / (total + smooth);
            }
            """);
        Assert.Equal(SegmentAxis.Set, m.Signature!.Axes.Segment);
        Assert.Equal(2, m.Forward!.Nodes.Count(n => n.Op == Op.ReduceSum));

        var p = Random(1, 9); var y = Random(2, 9).Select(v => v > 0 ? 1.0 : 0.0).ToArray();
        double inter = 0, total = 0;
        for (int j = 0; j < p.Length; j++) { double s = 1 / (1 + Math.Exp(-p[j])); inter += s * y[j]; total += s + y[j]; }
        var data = new Data(new[] { p, y }, Array.Empty<double>(), Array.Empty<double>(), new[] { 1.0 });
        Near(1 - (2 * inter + 1) / (total + 1), Value(m.Forward!, m.Root, data), what: "Dice");
    }

    [Fact]
    public void RepeatedSubexpressionsAndLocalsShareOneNode()
    {
        var m = ParseOk("""
            [Loss] public static partial float F(ReadOnlySpan<float> z, int t)
            {
                float a = LogSumExp(z);
                return (LogSumExp(z) - z[t]) + Exp(a - z[t]) + Exp(LogSumExp(z) - z[t]);
            }
            """);
        var g = m.Forward!;
        Assert.Single(g.Nodes, n => n.Op == Op.ReduceLogSumExp);
        Assert.Single(g.Nodes, n => n.Op == Op.Exp);
        Assert.Equal(g.Count, g.Nodes.Distinct().Count());
    }

    [Fact]
    public void MaxOverASpanAndItsArgMaxLower()
    {
        var m = ParseOk("[Loss] public static partial float Hinge(ReadOnlySpan<float> z, int t) => Max(0f, 1f + Max(z, (v, j) => j == t ? -1e30f : v) - z[t]);");
        var g = m.Forward!;
        Assert.Single(g.Nodes, n => n.Op == Op.ReduceMax);
        Assert.Contains(g.Nodes, n => n.Op == Op.ElemIndex);
        double best = Row.Where((v, j) => j != 3).Max();
        Near(Math.Max(0, 1 + best - Row[3]), Value(g, m.Root, Data.Rows(Row).With(targets: new double[] { 3 })), what: "multiclass hinge");
    }

    [Fact]
    public void ConditionalsLowerToSelect()
    {
        var m = ParseOk("[Loss] public static partial float Huber(float x, float y, float delta = 1f) => Abs(x - y) < delta ? 0.5f * Square(x - y) : delta * (Abs(x - y) - 0.5f * delta);");
        var g = m.Forward!;
        Assert.Contains(g.Nodes, n => n.Op == Op.Select);
        foreach (var (x, y) in new[] { (0.2, 0.5), (3.0, -1.0) })
        {
            double r = Math.Abs(x - y), expected = r < 1 ? 0.5 * r * r : r - 0.5;
            Near(expected, Value(g, m.Root, new Data(Array.Empty<double[]>(), Array.Empty<double>(), new[] { x, y }, new[] { 1.0 })), what: $"Huber({x}, {y})");
        }
    }

    [Theory]
    [InlineData("[Loss] public static partial float F(float x) { float s = 0; for (int i = 0; i < 3; i++) s += x; return s; }")]
    [InlineData("[Loss] public static partial float F(float x) => (float)System.Math.Sinh(x);")]
    [InlineData("[Loss] public static partial float F(ReadOnlySpan<float> z, int t) => z[t + 1];")]
    public void UnsupportedConstructsBecomeDiagnosticsNotIr(string members)
    {
        var m = Parse(members);
        Assert.Null(m.Forward);
        Assert.Contains(m.Diagnostics, d => d.Id.StartsWith("LOSS", StringComparison.Ordinal) && d.Location is not null);
    }

    [Fact]
    public void SoftmaxLowersToTheExpOfTheLogSoftmax()
    {
        var m = ParseOk("[Loss] public static partial float F(ReadOnlySpan<float> z, int t) => 1 - Softmax(z, t);");
        var g = m.Forward!;
        var exp = g.Nodes.Single(n => n.Op == Op.Exp);
        Assert.Equal(Op.Sub, g[exp.A].Op);
        Assert.Single(g.Nodes, n => n.Op == Op.ReduceLogSumExp);
        Near(1 - Math.Exp(Row[4] - LogSumExp(Row)), Value(g, m.Root, Data.Rows(Row).With(targets: new double[] { 4 })), what: "1 − softmax");
    }

    [Fact]
    public void MinOverASpanLowersToAReductionOfItsElementFunction()
    {
        var m = ParseOk("[Loss] public static partial float F(ReadOnlySpan<float> z, int t) => Min(z, v => v * v) - z[t];");
        var g = m.Forward!;
        var min = g.Nodes.Single(n => n.Op == Op.ReduceMin);
        var square = g[min.A];
        Assert.Equal(Op.Mul, square.Op);
        Assert.Equal(square.A, square.B);
        Assert.Equal(Op.Elem, g[square.A].Op);
    }

    [Fact]
    public void ClampAndSquareAreSugarOverMinMaxAndMul()
    {
        var (g, root, lowered, diagnostics) = Lower("[Loss] public static partial float F(float x, float y) => Clamp(x, -1f, 1f) + Square(y);");
        Assert.Empty(diagnostics);
        var clamp = g[lowered["Clamp(x, -1f, 1f)"]];
        Assert.Equal(Op.Min, clamp.Op);
        Assert.Contains(Op.Max, new[] { g[clamp.A].Op, g[clamp.B].Op });
        var square = g[lowered["Square(y)"]];
        Assert.Equal(Op.Mul, square.Op);
        Assert.Equal(square.A, square.B);   // one node for y, read twice
        foreach (var (x, y) in new[] { (0.4, -2.0), (3.0, 0.5), (-7.0, 1.5) })
            Near(Math.Clamp(x, -1, 1) + y * y, Value(g, root, Scalars(x, y)), what: $"clamp({x}) + {y}²");
    }

    [Fact]
    public void SystemMathAliasesConstantsCastsAndUnaryMinusLower()
    {
        var (g, root, lowered, diagnostics) = Lower("""
            private const float Scale = 0.5f;
            [Loss] public static partial float F(float x) => (float)Math.Exp(-x) * Scale + MathF.Log(1 + x * x);
            """);
        Assert.Empty(diagnostics);
        Assert.Equal(Op.Exp, g[lowered["Math.Exp(-x)"]].Op);
        Assert.Equal(Op.Neg, g[lowered["-x"]].Op);
        Assert.Equal(lowered["Math.Exp(-x)"], lowered["(float)Math.Exp(-x)"]);   // a cast to float is the value itself
        Assert.Equal(Op.Const, g[lowered["Scale"]].Op);
        Assert.Equal(Op.Log, g[lowered["MathF.Log(1 + x * x)"]].Op);
        double v = 0.7;
        Near(Math.Exp(-v) * 0.5 + Math.Log(1 + v * v), Value(g, root, Scalars(v)), what: "exp·½ + log");
    }

    [Fact]
    public void ComparisonsAndLogicalOperatorsLowerToTheirOps()
    {
        var (g, root, lowered, diagnostics) = Lower("[Loss] public static partial float F(float x, float y) => x > 0 && !(y <= x) || x == y ? x : y;");
        Assert.Empty(diagnostics);
        Assert.Equal(Op.Or, g[lowered["x > 0 && !(y <= x) || x == y"]].Op);
        Assert.Equal(Op.And, g[lowered["x > 0 && !(y <= x)"]].Op);
        Assert.Equal(Op.Not, g[lowered["!(y <= x)"]].Op);
        Assert.Equal(Op.Le, g[lowered["y <= x"]].Op);
        Assert.Equal(Op.Eq, g[lowered["x == y"]].Op);
        Assert.Equal(Op.Select, g[root].Op);
        foreach (var (x, y) in new[] { (1.0, 2.0), (1.0, 0.5), (-1.0, -1.0), (-1.0, 3.0) })
            Near(x > 0 && !(y <= x) || x == y ? x : y, Value(g, root, Scalars(x, y)), what: $"select({x}, {y})");
    }

    [Fact]
    public void LengthAndTheElementIndexLower()
    {
        var m = ParseOk("[Loss] public static partial float F(ReadOnlySpan<float> z, int t) => Sum(z, (v, j) => j * v) / z.Length - z[t];");
        var g = m.Forward!;
        Assert.Contains(g.Nodes, n => n.Op == Op.ElemIndex);
        Assert.Contains(g.Nodes, n => n.Op == Op.Length);
        Near(Row.Select((v, j) => j * v).Sum() / Row.Length - Row[1], Value(g, m.Root, Data.Rows(Row).With(targets: new double[] { 1 })), what: "index-weighted mean");
    }

    [Fact]
    public void AMulticlassLossReadsTheLogSoftmaxSpanAndTheClassCount()
    {
        var m = ParseOk("[Loss] public static partial float F([Softmax] ReadOnlySpan<float> p, ReadOnlySpan<float> y) => -Sum(p, y, (a, b) => b * Log(a)) / Classes;");
        var g = m.Forward!;
        var s = m.Signature!;
        Assert.True(s.Axes.PixelClasses);
        Assert.Equal(2, s.LogSoftmaxSlot);
        // Log of a probability is the log-softmax span (exact at any logit), not Log of the probability span.
        Assert.Contains(g.Nodes, n => n.Op == Op.Elem && n.Slot == s.LogSoftmaxSlot);
        Assert.DoesNotContain(g.Nodes, n => n.Op == Op.Log);
        Assert.Contains(g.Nodes, n => n.Op == Op.Classes);
        Assert.Equal("log_p", s.SpanName(s.LogSoftmaxSlot));
    }

    [Fact]
    public void PairMasksAreSpansOfTheirOwn()
    {
        var m = ParseOk("[Loss] public static partial float F(ReadOnlySpan<float> s, [Positives] ReadOnlySpan<float> pos, [Negatives] ReadOnlySpan<float> neg) => LogSumExp(s, neg, (a, n) => n > 0 ? a : -1e30f) - Sum(s, pos, (a, p) => a * p);");
        var sig = m.Signature!;
        Assert.Equal(new[] { PairMask.None, PairMask.Positives, PairMask.Negatives }, sig.Parameters.Select(p => p.Mask));
        Assert.Equal(new[] { 0, 1, 2 }, sig.Parameters.Select(p => p.Slot));
        var g = m.Forward!;
        double[] s = { 0.9, 0.1, -0.3, 0.5 }, pos = { 0, 1, 0, 1 }, neg = { 0, 0, 1, 0 };
        double expected = Math.Log(Math.Exp(-0.3) + 3 * Math.Exp(-1e30)) - (0.1 + 0.5);
        Near(expected, Value(g, m.Root, Data.Rows(s, pos, neg)), what: "pair row");
    }

    [Theory]
    [InlineData("[Loss] public static partial float F(float x) => x * (1 / 2);", "integer division")]
    [InlineData("[Loss] public static partial float F(ReadOnlySpan<float> z, int t) => z[0];", "is not an int class-index parameter")]
    [InlineData("[Loss] public static partial float F(ReadOnlySpan<float> z, int t) => z[t] * Classes;", "'Classes' is the class (channel) count of a set loss per channel or per image")]
    public void MisusedConstructsAreReportedWithWhy(string members, string why)
    {
        var (_, _, _, diagnostics) = Lower(members);
        Assert.Contains(diagnostics, d => d.Id == "LOSS0104" && d.Arguments.Any(a => a.Contains(why, StringComparison.Ordinal)));
    }
}
