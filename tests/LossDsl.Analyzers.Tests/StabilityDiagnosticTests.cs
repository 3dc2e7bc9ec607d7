using System.Linq;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Testing;
using Xunit;

namespace LossDsl.Analyzers.Tests;

/// <summary>LOSS0301–LOSS0305 and LOSS0401–LOSS0404, by ID, with Roslyn SDK markup.</summary>
public class StabilityDiagnosticTests
{
    [Fact]
    public Task LOSS0301_LogOfSigmoid() => AnalyzerTest.RunAsync("""
        public static partial class L
        {
            [Loss(Task = LossTask.BinaryLogit, Literal = true)]
            public static partial float {|LOSS0200:Bce|}(float x, float y) => -(y * {|LOSS0301:Log(Sigmoid(x))|} + (1 - y) * {|LOSS0301:Log(1 - Sigmoid(x))|});

            [Loss(Task = LossTask.None, Literal = true)]
            public static partial float ByHand(float x) => -{|LOSS0301:Log(1 / (1 + Exp(-x)))|};

            [Loss(Task = LossTask.None, Literal = true)]
            public static partial float ThroughALocal(float x)
            {
                float p = Sigmoid(x);
                return -{|LOSS0301:Log(p)|};
            }
        }
        """);

    /// <summary>Without <c>Literal</c> the generator's rewrite computes LogSigmoid already: LOSS0301 is an info.</summary>
    [Fact]
    public Task LOSS0301_IsInfoWhereTheRewriteResolvesIt() => AnalyzerTest.RunAsync("""
        public static partial class L
        {
            [Loss(Task = LossTask.BinaryLogit)]
            public static partial float {|LOSS0200:Bce|}(float x, float y) => -(y * {|#0:Log(Sigmoid(x))|} + (1 - y) * {|#1:Log(1 - Sigmoid(x))|});

            [Loss(Task = LossTask.None)]
            public static partial float ByHand(float x) => -{|#2:Log(1 / (1 + Exp(-x)))|};

            [Loss(Task = LossTask.None)]
            public static partial float ThroughALocal(float x)
            {
                float p = Sigmoid(x);
                return -{|#3:Log(p)|};
            }
        }
        """,
        Info("LOSS0301", 0), Info("LOSS0301", 1), Info("LOSS0301", 2), Info("LOSS0301", 3));

    private static DiagnosticResult Info(string id, int location)
        => new DiagnosticResult(id, DiagnosticSeverity.Info).WithLocation(location);

    [Fact]
    public Task LOSS0302_LogOfSoftmax() => AnalyzerTest.RunAsync("""
        public static partial class L
        {
            [Loss(Literal = true)] public static partial float {|LOSS0200:A|}(ReadOnlySpan<float> z, int t) => -{|LOSS0302:Log(Softmax(z, t))|};
            [Loss(Literal = true)] public static partial float {|LOSS0200:B|}(ReadOnlySpan<float> z, int t) => -{|LOSS0302:Log(Exp(z[t]) / Sum(z, e => Exp(e)))|};
        }
        """);

    /// <summary>The hand-written ratio is rewritten to z[t] − LogSumExp(z), so its LOSS0302 is an info; Log(Softmax(z, t)) the
    /// parser already lowers to the log-softmax, and its diagnostic stays the warning that asks for the C# body to be fixed.</summary>
    [Fact]
    public Task LOSS0302_IsInfoWhereTheRewriteResolvesIt() => AnalyzerTest.RunAsync("""
        public static partial class L
        {
            [Loss] public static partial float {|LOSS0200:B|}(ReadOnlySpan<float> z, int t) => -{|#0:Log(Exp(z[t]) / Sum(z, e => Exp(e)))|};
        }
        """,
        Info("LOSS0302", 0));

    [Fact]
    public Task LOSS0303_LogOfAQuantityThatReachesZero() => AnalyzerTest.RunAsync("""
        public static partial class L
        {
            [Loss(Task = LossTask.BinaryProbability)]
            public static partial float {|LOSS0200:LogLoss|}(float q, float y) => -(y * {|LOSS0303:Log(q)|} + (1 - y) * {|LOSS0303:Log(1 - q)|});

            [Loss(Task = LossTask.BinaryProbability)]
            public static partial float {|LOSS0200:Clamped|}(float q, float y, float eps = 1e-7f)
                => -(y * Log({|LOSS0402:Max(q, eps)|}) + (1 - y) * Log({|LOSS0402:Max(1 - q, eps)|}));
        }
        """);

    [Fact]
    public Task LOSS0304_DivisionByAQuantityThatReachesZero() => AnalyzerTest.RunAsync("""
        public static partial class L
        {
            [Loss(Shape = LossShape.ChannelSet)]
            public static partial float {|LOSS0203:Tversky|}(ReadOnlySpan<float> p, ReadOnlySpan<float> y, float alpha = 0.5f, float beta = 0.5f, float smooth = 0f)
            {
                float tp = Sum(p, y, (pi, yi) => pi * yi);
                float fp = Sum(p, y, (pi, yi) => pi * (1 - yi));
                float fn = Sum(p, y, (pi, yi) => (1 - pi) * yi);
                return 1 - (tp + smooth) / {|LOSS0304:(tp + alpha * fp + beta * fn + smooth)|};
            }

            [Loss(Shape = LossShape.ChannelSet)]
            public static partial float {|LOSS0203:Smoothed|}(ReadOnlySpan<float> p, ReadOnlySpan<float> y, float alpha = 0.5f, float beta = 0.5f, float smooth = 1f)
            {
                float tp = Sum(p, y, (pi, yi) => pi * yi);
                float fp = Sum(p, y, (pi, yi) => pi * (1 - yi));
                float fn = Sum(p, y, (pi, yi) => (1 - pi) * yi);
                return 1 - (tp + smooth) / (tp + alpha * fp + beta * fn + smooth);
            }
        }
        """);

    [Fact]
    public Task LOSS0303_LOSS0304_GuardsAndMeansAreSeen() => AnalyzerTest.RunAsync("""
        public static partial class L
        {
            // The branch that divides runs only where count > 0; the other branch would divide by 0.
            [Loss(Shape = LossShape.ChannelSet, Sets = LossSets.Whole)]
            public static partial float {|LOSS0203:Guarded|}(ReadOnlySpan<float> s, ReadOnlySpan<float> m)
            {
                float count = Sum(m);
                return count > 0 ? Sum(s, m, (x, k) => k * x) / count : Sum(s) / {|LOSS0304:count|};
            }

            // A guard on another quantity, or one that does not exclude 0, protects nothing (the two divisions are one node).
            [Loss(Shape = LossShape.ChannelSet, Sets = LossSets.Whole)]
            public static partial float {|LOSS0203:Unguarded|}(ReadOnlySpan<float> s, ReadOnlySpan<float> m)
            {
                float count = Sum(m);
                float other = Sum(s);
                return {|LOSS0404:other > 0 ? Sum(s) / {|LOSS0304:count|} : (count >= 0 ? Sum(s) / count : 0)|};
            }

            // !(count <= 0) and 0 < count guard a log as well.
            [Loss(Shape = LossShape.ChannelSet, Sets = LossSets.Whole)]
            public static partial float {|LOSS0203:GuardedLog|}(ReadOnlySpan<float> m)
            {
                float count = Sum(m);
                return {|LOSS0404:!(count <= 0) && 0 < count ? Log(count) : 0|};
            }

            // A mean of sigmoids lies in (0, 1): Log(1 − m) cannot reach 0.
            [Loss(Sets = LossSets.Whole)]
            public static partial float {|LOSS0203:MeanEntropy|}(ReadOnlySpan<float> z)
            {
                float m = Mean(z, x => Sigmoid(x));
                return m * Log(m) + (1 - m) * Log(1 - m);
            }
        }
        """);

    [Fact]
    public Task LOSS0303_LOSS0304_WithoutAWitnessAreInfos() => AnalyzerTest.RunAsync("""
        public static partial class L
        {
            // With the margin inside the softmax, p_t = e^(s(z_t − m) − lse) looks unbounded to interval arithmetic, so
            // 1 − p_t·(1 − e^(−s·m)) seems to reach 0; it is ≥ e^(−s·m), and no input reaches 0.
            [Loss] public static partial float {|LOSS0202:MarginLog|}(ReadOnlySpan<float> z, int t, float s = 4f, float m = 0.35f)
            {
                float lse = LogSumExp(z, (x, j) => s * (j == t ? x - m : x));
                float pt = Exp(s * (z[t] - m) - lse);
                return lse - s * (z[t] - m) - {|#0:Log(1 - pt * (1 - Exp(-s * m)))|};
            }

            // Normalized CE: the divisor Σ_c (lse − z_c) is positive for every row of two or more classes.
            [Loss] public static partial float {|LOSS0202:{|LOSS0210:NormalizedCE|}|}(ReadOnlySpan<float> z, int t)
            {
                float lse = LogSumExp(z);
                return (lse - z[t]) / {|#1:Sum(z, x => lse - x)|};
            }
        }
        """,
        new DiagnosticResult("LOSS0303", DiagnosticSeverity.Info).WithLocation(0),
        new DiagnosticResult("LOSS0304", DiagnosticSeverity.Info).WithLocation(1));

    /// <summary>
    /// A LOSS0303/0304 states that the quantity reaches 0 only with a witness input, which it names; without one (margin
    /// CE's log, normalized CE's divisor, the same forms under a <c>count &gt; 0 ?</c> guard on another quantity) its
    /// text says what could not be proved and claims nothing about the values.
    /// </summary>
    [Fact]
    public void LOSS0303_LOSS0304_SayThatZeroIsReachedOnlyWithAWitness()
    {
        var diagnostics = Harness.Analyze(Harness.Usings + """
            public static partial class L
            {
                [Loss] public static partial float MarginLog(ReadOnlySpan<float> z, int t, float s = 4f, float m = 0.35f)
                {
                    float lse = LogSumExp(z, (x, j) => s * (j == t ? x - m : x));
                    float pt = Exp(s * (z[t] - m) - lse);
                    return lse - s * (z[t] - m) - Log(1 - pt * (1 - Exp(-s * m)));
                }

                [Loss] public static partial float NormalizedCE(ReadOnlySpan<float> z, int t)
                {
                    float lse = LogSumExp(z);
                    float count = Sum(z, x => lse - x);
                    return z[t] > 0 ? (lse - z[t]) / count : 0;
                }

                [Loss(Task = LossTask.BinaryProbability)]
                public static partial float LogLoss(float q, float y) => -(y * Log(q) + (1 - y) * Log(1 - q));

                [Loss(Task = LossTask.BinaryProbability)]
                public static partial float Odds(float q, float y) => y * (1 - q) / q;
            }
            """).Where(d => d.Id is "LOSS0303" or "LOSS0304").ToList();

        var unwitnessed = diagnostics.Where(d => d.Severity == DiagnosticSeverity.Info).ToList();
        Assert.Equal(new[] { "LOSS0303", "LOSS0304" }, unwitnessed.Select(d => d.Id));
        foreach (var d in unwitnessed)
        {
            string text = d.GetMessage(System.Globalization.CultureInfo.InvariantCulture);
            Assert.Contains("not proved to stay away from 0", text);
            Assert.Contains("no input of the domain where it reaches 0 was found", text);
            Assert.DoesNotContain("can reach", text);
            Assert.DoesNotContain("in its domain (", text);
            Assert.DoesNotContain("e.g. at", text);
        }

        var witnessed = diagnostics.Where(d => d.Severity == DiagnosticSeverity.Warning).ToList();
        Assert.Equal(new[] { "LOSS0303", "LOSS0303", "LOSS0304" }, witnessed.Select(d => d.Id));
        foreach (var d in witnessed)
        {
            string text = d.GetMessage(System.Globalization.CultureInfo.InvariantCulture);
            Assert.Matches("it reaches (0|0 or below) in its domain", text);
            Assert.Contains("e.g. at ", text);
            Assert.DoesNotContain("not proved", text);
        }
        Assert.Contains("q = 0", witnessed[0].GetMessage());
        Assert.Contains("q = 0", witnessed[2].GetMessage());
    }

    [Fact]
    public Task LOSS0305_InfiniteDerivative() => AnalyzerTest.RunAsync("""
        public static partial class L
        {
            [Loss(Task = LossTask.Regression)]
            public static partial float Rmse(float prediction, float target) => {|LOSS0305:Sqrt(Square(prediction - target))|};

            [Loss(Task = LossTask.Regression)]
            public static partial float RootAbs(float prediction, float target) => {|LOSS0305:Pow({|LOSS0401:Abs(prediction - target)|}, 0.5f)|};

            [Loss(Task = LossTask.Regression)]
            public static partial float Charbonnier(float prediction, float target, float eps = 1e-3f) => Sqrt(Square(prediction - target) + eps * eps);
        }
        """);

    [Fact]
    public Task LOSS0401_Abs() => AnalyzerTest.RunAsync("""
        public static partial class L
        {
            [Loss(Task = LossTask.Regression)]
            public static partial float L1(float prediction, float target) => {|LOSS0401:Abs(prediction - target)|};

            [Loss(Task = LossTask.Regression)]
            public static partial float OnlyHyper(float prediction, float target, float shift = -1f) => Square(prediction - target) * Abs(shift);
        }
        """);

    [Fact]
    public Task LOSS0402_MaxMinClamp() => AnalyzerTest.RunAsync("""
        public static partial class L
        {
            [Loss] public static partial float {|LOSS0200:Hinge|}(float margin) => {|LOSS0402:Max(0, 1 - margin)|};

            [Loss(Task = LossTask.Regression)]
            public static partial float Clipped(float prediction, float target) => Square({|LOSS0402:Clamp(prediction, -1, 1)|} - target);

            [Loss(Task = LossTask.Regression)]
            public static partial float NoTie(float prediction, float target) => Square(prediction - target) + Max(Exp(prediction), -1);
        }
        """);

    [Fact]
    public Task LOSS0403_MaxReduction() => AnalyzerTest.RunAsync("""
        public static partial class L
        {
            [Loss(Task = LossTask.None)]
            public static partial float MaxMargin(ReadOnlySpan<float> logits, int target) => {|LOSS0403:Max(logits)|} - logits[target];
        }
        """);

    [Fact]
    public Task LOSS0403_MinReduction() => AnalyzerTest.RunAsync("""
        public static partial class L
        {
            [Loss(Task = LossTask.None)]
            public static partial float HardNegative(ReadOnlySpan<float> logits, int target)
                => LogSumExp(logits) - {|LOSS0403:Min(logits, (z, j) => j == target ? float.PositiveInfinity : z)|};
        }
        """);

    [Fact]
    public Task LOSS0404_Branch() => AnalyzerTest.RunAsync("""
        public static partial class L
        {
            [Loss]
            public static partial float {|LOSS0208:Huber|}(float prediction, float target, float delta = 1f)
            {
                float r = prediction - target;
                return {|LOSS0404:{|LOSS0401:Abs(r)|} <= delta ? 0.5f * r * r : delta * (Abs(r) - 0.5f * delta)|};
            }

            [Loss(Task = LossTask.BinaryLogit)]
            public static partial float {|LOSS0200:OnHyperOnly|}(float logit, float target, float alpha = -1f)
                => (alpha >= 0 ? alpha : 1f) * (Softplus(logit) - logit * target);
        }
        """);
}
