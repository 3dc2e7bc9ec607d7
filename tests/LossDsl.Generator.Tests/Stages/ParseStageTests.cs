using System;
using System.Linq;
using LossDsl.Generator.IR;
using LossDsl.Generator.Model;
using Xunit;
using static LossDsl.Generator.Tests.Stages.Stage;

namespace LossDsl.Generator.Tests.Stages;

/// <summary>
/// The parse stage on its own: each construct of a loss body lowers to the IR it should, and the IR computes the
/// formula written out here in C#.
/// </summary>
public class ParseStageTests
{
    private static readonly double[] Row = { 0.3, -1.2, 2.0, 0.7, -0.4 };

    private static double LogSumExp(double[] z) { double m = z.Max(); return m + Math.Log(z.Sum(v => Math.Exp(v - m))); }

    [Fact]
    public void LogSoftmaxLowersToAGatherMinusALogSumExpOverTheRow()
    {
        var m = ParseOk("[Loss] public static partial float Ce(ReadOnlySpan<float> logits, int target) => -LogSoftmax(logits, target);");
        var g = m.Forward!;

        Assert.Equal(Model.LossShape.ClassRow, m.Signature!.Shape);
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
        Assert.Equal(Model.LossShape.Elementwise, s.Shape);
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
        Assert.Equal(Model.LossShape.ChannelSet, m.Signature!.Shape);
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
        var m = Stage.Parse(members);
        Assert.Null(m.Forward);
        Assert.Contains(m.Diagnostics, d => d.Id.StartsWith("LOSS", StringComparison.Ordinal) && d.Location is not null);
    }
}
