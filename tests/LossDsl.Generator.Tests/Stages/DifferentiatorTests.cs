using System;
using System.Collections.Generic;
using System.Linq;
using LossDsl.Generator.Differentiate;
using LossDsl.Generator.IR;
using LossDsl.Generator.Model;
using Xunit;
using static LossDsl.Generator.Tests.Stages.Stage;

namespace LossDsl.Generator.Tests.Stages;

/// <summary>
/// The differentiate stage on its own: every gradient node it derives, interpreted in float64, against a central
/// difference of the loss node of the same graph. Each case exercises a rule: the elementary functions, the chain
/// through Sum, Max (argmax-weighted), Min (argmin-weighted) and LogSumExp (softmax-weighted), a row entry z[t], Select, Pow with a runtime
/// exponent, StopGradient, and a per-row scalar input.
/// </summary>
public class DifferentiatorTests
{
    public static IEnumerable<object[]> SpanLosses => new[]
    {
        new object[] { "cross-entropy", "[Loss] public static partial float F(ReadOnlySpan<float> z, int t) => -LogSoftmax(z, t);" },
        new object[] { "Poly-1", "[Loss] public static partial float F(ReadOnlySpan<float> z, int t, float eps = 2f) => -LogSoftmax(z, t) + eps * (1 - Softmax(z, t));" },
        new object[] { "focal", "[Loss] public static partial float F(ReadOnlySpan<float> z, int t, float gamma = 2f) => -Pow(1 - Softmax(z, t), gamma) * LogSoftmax(z, t);" },
        new object[] { "multiclass hinge (Max)", "[Loss] public static partial float F(ReadOnlySpan<float> z, int t) => Max(0f, 1f + Max(z, (v, j) => j == t ? -1e30f : v) - z[t]);" },
        new object[] { "hard negative (Min)", "[Loss] public static partial float F(ReadOnlySpan<float> z, int t) => LogSumExp(z) - Min(z, (v, j) => j == t ? 1e30f : v);" },
        new object[] { "nearest pair (Min over two spans)", "[Loss] public static partial float F(ReadOnlySpan<float> z, ReadOnlySpan<float> y) => Min(z, y, (a, b) => (a - b) * (a - b)) + Mean(z, v => v * v);" },
        new object[] { "variance (two passes)", "[Loss] public static partial float F(ReadOnlySpan<float> z, int t) { float m = Mean(z); return Mean(z, v => Square(v - m)) + Tanh(z[t]); }" },
        new object[] { "entropy (Select, Abs, Sqrt)", "[Loss] public static partial float F(ReadOnlySpan<float> z, int t) => Sum(z, v => v > 0 ? Sqrt(1 + v * v) : Abs(v) * Sigmoid(v)) - LogSigmoid(z[t]);" },
        new object[] { "label smoothing", "[Loss] public static partial float F(ReadOnlySpan<float> z, int t) { float lse = LogSumExp(z); return -0.9f * LogSoftmax(z, t) - 0.1f * Mean(z, v => v - lse); }" },
        new object[] { "Tversky (set)", """
            [Loss(Shape = LossShape.ChannelSet)]
            public static partial float F(ReadOnlySpan<float> x, ReadOnlySpan<float> y, float alpha = 0.3f, float beta = 0.7f)
            {
                float tp = Sum(x, y, (a, b) => Sigmoid(a) * b);
                float fp = Sum(x, y, (a, b) => Sigmoid(a) * (1 - b));
                float fn = Sum(x, y, (a, b) => (1 - Sigmoid(a)) * b);
                return 1 - tp / Max(tp + alpha * fp + beta * fn, 1e-7f);
            }
            """ },
    };

    [Theory, MemberData(nameof(SpanLosses))]
    public void EveryDataGradientMatchesCentralDifferences(string name, string members)
    {
        var d = Differentiator.Run(ParseOk(members));
        var s = d.Signature;
        int spans = s.Parameters.Count(p => p.Kind == ParameterKind.Span);
        var data = new Data(
            Enumerable.Range(0, spans).Select(k => k == 0 ? Random(11, 7, 3) : Random(12 + k, 7).Select(v => (v + 2) / 4).ToArray()).ToArray(),
            new double[] { 4 },
            Array.Empty<double>(),
            s.Parameters.Where(p => p.Kind == ParameterKind.Hyper).Select(p => p.Default).ToArray());

        var parameters = s.Parameters.ToList();
        foreach (var p in parameters.Where(p => p.Kind == ParameterKind.Span))
        {
            int node = d.Gradients[parameters.IndexOf(p)];
            Assert.True(node >= 0, $"{name}: no gradient for {p.Name}");
            var symbolic = Elements(d.Graph, node, data);
            for (int j = 0; j < symbolic.Length; j++)
                Near(FiniteDifference(d.Graph, d.Loss, data, j, p.Slot), symbolic[j], rtol: 1e-6, atol: 1e-8, what: $"{name}: ∂L/∂{p.Name}[{j}]");
        }
        foreach (var p in parameters.Where(p => p.Kind == ParameterKind.Target))
            Assert.Equal(-1, d.Gradients[parameters.IndexOf(p)]);   // a class index has no gradient
    }

    [Fact]
    public void ElementwiseGradientsAreOuterNodesForEveryInput()
    {
        var d = Differentiator.Run(ParseOk("[Loss] public static partial float F(float x, float y, float w, float gamma = 1.5f) => w * (Pow(1 - Sigmoid(x), gamma) * y * -LogSigmoid(x) + (1 - y) * Softplus(x));"));
        var data = new Data(Array.Empty<double[]>(), Array.Empty<double>(), new[] { 0.7, 0.35, 1.3 }, new[] { 1.5 });
        foreach (var x in new[] { -6.0, -0.4, 0.7, 5.0 })
        {
            data.Inputs[0] = x;
            for (int slot = 0; slot < 3; slot++)
                Near(FiniteDifferenceInput(d.Graph, d.Loss, data, slot), Value(d.Graph, d.Gradients[slot], data), rtol: 1e-6, atol: 1e-9, what: $"∂L/∂input{slot} at x = {x}");
        }
    }

    [Fact]
    public void TheGradientOfARuntimeExponentIsZeroAtZeroNotNaN()
    {
        // (1 − p)^γ at γ = 0 and p → 1: the rule must not produce 0 · a^(−1) = NaN.
        var d = Differentiator.Run(ParseOk("[Loss] public static partial float F(float x, float gamma = 0f) => Pow(1 - Sigmoid(x), gamma) * Softplus(-x);"));
        var data = new Data(Array.Empty<double[]>(), Array.Empty<double>(), new[] { 40.0 }, new[] { 0.0 });
        double g = Value(d.Graph, d.Gradient, data);
        Assert.True(double.IsFinite(g), $"gradient {g}");
        Near(FiniteDifferenceInput(d.Graph, d.Loss, data, 0, h: 1e-3), g, rtol: 1e-3, atol: 1e-15, what: "γ = 0");
    }

    [Fact]
    public void NoGradientFlowsThroughStopGradient()
    {
        // The gradient of F + sg(G) is the gradient of F: checked against central differences of F alone.
        var plain = Differentiator.Run(ParseOk("[Loss] public static partial float F(ReadOnlySpan<float> z, int t) => -LogSoftmax(z, t);"));
        var stopped = Differentiator.Run(ParseOk("[Loss] public static partial float F(ReadOnlySpan<float> z, int t) => -LogSoftmax(z, t) + StopGradient(Softplus(z[t]) * Sum(z, v => v * v));"));
        var data = Data.Rows(Random(5, 6, 3)).With(targets: new double[] { 1 });
        var symbolic = Elements(stopped.Graph, stopped.Gradient, data);
        for (int j = 0; j < symbolic.Length; j++)
            Near(FiniteDifference(plain.Graph, plain.Loss, data, j), symbolic[j], rtol: 1e-6, atol: 1e-8, what: $"∂L/∂z[{j}]");
    }

    [Fact]
    public void AdjointsNameEachReductionTheLossUses()
    {
        var d = Differentiator.Run(ParseOk("[Loss] public static partial float F(ReadOnlySpan<float> z, int t) => LogSumExp(z) - z[t] + 0.1f * Max(z);"));
        var reductions = Enumerable.Range(0, d.Graph.Count).Where(i => d.Graph[i].Op.IsReduction()).ToHashSet();
        Assert.Equal(2, reductions.Count);
        Assert.Subset(d.Adjoints.Select(a => a.Variable).ToHashSet(), reductions);
    }
}
