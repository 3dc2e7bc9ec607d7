using System.Threading;
using System.Threading.Tasks;
using Xunit;

namespace LossDsl.Analyzers.Tests;

/// <summary>The LOSS0301/LOSS0302 code fix: rewrite to LogSigmoid / LogSoftmax.</summary>
public class CodeFixTests
{
    // The losses are Literal: there LOSS0301/0302 stay warnings (without it the generator's rewrite resolves them and they
    // are infos, which the fix still offers to make the C# reference body stable too; StabilityDiagnosticTests covers both).
    private static Task Verify(string source, string fixedSource)
        => new CodeFixTest(Harness.Usings + source, Harness.Usings + fixedSource).RunAsync(CancellationToken.None);

    [Fact]
    public Task LogSigmoid_Direct() => Verify("""
        public static partial class L
        {
            [Loss(Task = LossTask.None, Literal = true)]
            public static partial float A(float x) => -{|LOSS0301:Log(Sigmoid(x))|};
        }
        """, """
        public static partial class L
        {
            [Loss(Task = LossTask.None, Literal = true)]
            public static partial float A(float x) => -LogSigmoid(x);
        }
        """);

    [Fact]
    public Task LogSigmoid_Complement_BinaryCrossEntropy() => Verify("""
        public static partial class L
        {
            [Loss(Task = LossTask.BinaryLogit, Literal = true)]
            public static partial float {|LOSS0200:Bce|}(float x, float y) => -(y * {|LOSS0301:Log(Sigmoid(x))|} + (1 - y) * {|LOSS0301:Log(1 - Sigmoid(x))|});
        }
        """, """
        public static partial class L
        {
            [Loss(Task = LossTask.BinaryLogit, Literal = true)]
            public static partial float {|LOSS0200:Bce|}(float x, float y) => -(y * LogSigmoid(x) + (1 - y) * LogSigmoid(-x));
        }
        """);

    [Fact]
    public Task LogSigmoid_ByHandAndThroughALocal() => Verify("""
        public static partial class L
        {
            [Loss(Task = LossTask.None, Literal = true)]
            public static partial float A(float x, float w) => -{|LOSS0301:Log(1 / (1 + Exp(-(w * x))))|};

            [Loss(Task = LossTask.None, Literal = true)]
            public static partial float B(float x, float w)
            {
                float p = Sigmoid(w * x);
                return -{|LOSS0301:Log(p)|};
            }
        }
        """, """
        public static partial class L
        {
            [Loss(Task = LossTask.None, Literal = true)]
            public static partial float A(float x, float w) => -LogSigmoid(w * x);

            [Loss(Task = LossTask.None, Literal = true)]
            public static partial float B(float x, float w)
            {
                float p = Sigmoid(w * x);
                return -LogSigmoid(w * x);
            }
        }
        """);

    [Fact]
    public Task LogSoftmax_FromSoftmaxAndByHand() => Verify("""
        public static partial class L
        {
            [Loss(Literal = true)] public static partial float {|LOSS0200:A|}(ReadOnlySpan<float> z, int t) => -{|LOSS0302:Log(Softmax(z, t))|};
            [Loss(Literal = true)] public static partial float {|LOSS0200:B|}(ReadOnlySpan<float> z, int t) => -{|LOSS0302:Log(Exp(z[t]) / Sum(z, e => Exp(e)))|};
        }
        """, """
        public static partial class L
        {
            [Loss(Literal = true)] public static partial float {|LOSS0200:A|}(ReadOnlySpan<float> z, int t) => -LogSoftmax(z, t);
            [Loss(Literal = true)] public static partial float {|LOSS0200:B|}(ReadOnlySpan<float> z, int t) => -LogSoftmax(z, t);
        }
        """);

    [Fact]
    public Task QualifiesTheIntrinsicWithoutUsingStatic()
        => new CodeFixTest("""
            using System;
            using LossDsl;

            public static partial class L
            {
                [Loss(Task = LossTask.None, Literal = true)]
                public static partial float A(float x) => -{|LOSS0301:MathF.Log(LossMath.Sigmoid(x))|};
            }
            """, """
            using System;
            using LossDsl;

            public static partial class L
            {
                [Loss(Task = LossTask.None, Literal = true)]
                public static partial float A(float x) => -LossMath.LogSigmoid(x);
            }
            """).RunAsync(CancellationToken.None);
}
