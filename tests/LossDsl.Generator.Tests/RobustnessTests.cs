using System.Linq;
using Microsoft.CodeAnalysis;
using Xunit;

namespace LossDsl.Generator.Tests;

/// <summary>
/// Bad input never crashes the generator (<see cref="GeneratorHarness.Run"/> throws if it does): it becomes a
/// diagnostic, ours or the compiler's. Unusual but valid losses generate code that compiles cleanly.
/// </summary>
public class RobustnessTests
{
    private static GeneratorHarness.Result Run(string members) => GeneratorHarness.Run(GeneratorHarness.Usings + $$"""
        namespace Tests;

        public static partial class L
        {
            {{members}}
        }
        """);

    [Theory]
    [InlineData("[Loss] public static partial float F(float x) => 1f;")]                      // constant loss: zero gradient
    [InlineData("[Loss] public static partial float F(float x, float y) => y;")]               // prediction unused
    [InlineData("[Loss] public static partial float F(ReadOnlySpan<float> z) => 3f;")]
    [InlineData("[Loss] public static partial float F(ReadOnlySpan<float> z, int t) => z[t];")]
    [InlineData("[Loss] public static partial float F(ReadOnlySpan<float> z) => Max(z);")]
    [InlineData("[Loss] public static partial float F(ReadOnlySpan<float> z) => Mean(z, x => x * x) / z.Length;")]
    [InlineData("[Loss] public static partial float F(ReadOnlySpan<float> z) => Sum(z, (x, i) => x * i);")]
    [InlineData("[Loss] public static partial float F(ReadOnlySpan<float> z, int t) => Softmax(z, t) + LogSoftmax(z, t) - LogSumExp(z) * Max(z);")]
    [InlineData("[Loss] public static partial float F(float x, float y) => x > y && !(x < 0) ? Abs(x - y) : Clamp(x, -1, 1);")]
    [InlineData("[Loss] public static partial float F(float x) => Pow(2, x) + Pow(x, 3) + Sqrt(Tanh(x) + 2) + LogSigmoid(x) + Min(x, 0) + Log(Exp(x));")]
    [InlineData("[Loss] public static partial float F(float x) => (float)Math.Exp(x) + MathF.Log(x) + Square(x);")]
    [InlineData("[Loss] public static partial float F(float x) => x / 0f + Log(0f) * x;")]
    [InlineData("[Loss] public static partial float F(float x, float a = float.NaN, float b = float.PositiveInfinity, double c = 1e300) => x * a * b * (float)c;")]
    [InlineData("[Loss] public static partial float F(float x) { const float k = 2f; double d = x; return k * (float)d; }")]
    [InlineData("[Loss(Shape = LossShape.ChannelSet)] public static partial float F(ReadOnlySpan<float> a) => LogSumExp(a) - Max(a) + Mean(a);")]
    [InlineData("[Loss(Shape = LossShape.ChannelSet)] public static partial float F(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => Sum(a, b, (x, y) => x * y) / Max(Sum(a), 1f) + Max(a, x => x * x);")]
    [InlineData("public partial record struct R { [Loss] public static partial float F(float x) => x; }")]
    [InlineData("public partial interface I { [Loss] public static partial float F(float x) => x; }")]
    [InlineData("public partial class @event { [Loss] public static partial float @float(float @in, float x = 1f) => @in * x; }")]
    public void UnusualValidLossesCompileCleanly(string members)
    {
        var result = Run(members);
        Assert.Empty(result.GeneratorDiagnostics);
        Assert.Empty(result.CompilerDiagnostics.Where(d => d.Severity >= DiagnosticSeverity.Warning));
        Assert.Single(result.Run.Results.SelectMany(r => r.GeneratedSources));
    }

    [Theory]
    [InlineData("[Loss] public static partial float F(float x) => ")]
    [InlineData("[Loss] public static partial float F(float x) { return x }")]
    [InlineData("[Loss] public static partial float F(float x")]
    [InlineData("[Loss] public static partial float F(Foo x) => 1f;")]
    [InlineData("[Loss] public static partial float F(float x) => Undefined(x);")]
    [InlineData("[Loss] public static partial float F(float x) => y;")]
    [InlineData("[Loss] public static partial float F() => 1f;")]
    [InlineData("[Loss] public static partial float F(float x = 1f) => x;")]
    [InlineData("[Loss] public static partial float F(int t, ReadOnlySpan<float> z) => z[t];")]
    [InlineData("[Loss] public static partial float F(params float[] x) => 1f;")]
    [InlineData("[Loss] public static partial float F(ReadOnlySpan<float> z) => Sum(z, x => x - Max(z));")]
    [InlineData("[Loss] public static partial float F(ReadOnlySpan<float> z) => Sum(z, (x, y, w) => x);")]
    [InlineData("[Loss] public static partial float F(ReadOnlySpan<float> z, int t) => Sum(z, x => z[t]);")]
    [InlineData("[Loss] public static partial float F(ReadOnlySpan<float> z, float t) => Softmax(z, (int)t);")]
    [InlineData("[Loss] public static partial float F(ReadOnlySpan<float> z) => z[1, 2];")]
    [InlineData("[Loss] public static partial float F(float x) => Pow(y: x, x: 2);")]
    [InlineData("[Loss] public static partial float F(float x) { float a = x; float a = 2; return a; }")]
    [InlineData("[Loss] public static partial float F(float x) { return x; return x; }")]
    [InlineData("[Loss] public static partial float F(float x) { }")]
    [InlineData("[Loss] public static partial float F(float x) => F(x);")]
    [InlineData("[Loss] public static partial float F<T>(float x) where T : struct => x;")]
    [InlineData("[Loss] [Loss] public static partial float F(float x) => x;")]
    [InlineData("[Loss(Shape = (LossShape)(-1))] public static partial float F(float x) => x;")]
    [InlineData("[Loss] static partial float F(float x) => x;")] // CS8796: a non-void partial method needs an accessibility
    [InlineData("[Loss] public static partial void F(float x) { }")]
    [InlineData("[Loss] public float P => 1f;")]
    [InlineData("[Loss] public L() { }")]
    [InlineData("public partial class Inner<T> { [Loss] public static partial float F(float x) => x; }")]
    public void BadInputBecomesADiagnostic(string members)
    {
        var result = Run(members);
        Assert.True(result.GeneratorDiagnostics.Any() || result.Errors.Any(), "Neither the generator nor the compiler reported the problem.");
    }

    /// <summary>Two [Loss] methods with one name would generate colliding files and types: LOSS0006 instead.</summary>
    [Theory]
    [InlineData("[Loss] public static partial float F(float x) => x; [Loss] public static partial float F(ReadOnlySpan<float> x) => Sum(x);")]
    [InlineData("[Loss] public static partial float F(float x) => x; [Loss] public static partial float F(float x) => x;")]
    public void LossesWithTheSameNameDoNotCrashTheGenerator(string members)
    {
        var result = Run(members);
        Assert.Contains(result.GeneratorDiagnostics, d => d.Id == "LOSS0006");
    }

    /// <summary>A chain of locals that share subexpressions is a DAG whose tree form is exponential; printing it must not be.</summary>
    [Fact]
    public void DeepSharedExpressionsGenerateQuickly()
    {
        var locals = string.Join(" ", Enumerable.Range(1, 40).Select(i => $"float a{i} = a{i - 1} * a{i - 1} + 1f;"));
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var result = Run($"[Loss] public static partial float F(float x) {{ float a0 = x; {locals} return a40; }}");
        Assert.Empty(result.GeneratorDiagnostics);
        Assert.Empty(result.Errors);
        Assert.True(watch.Elapsed < System.TimeSpan.FromSeconds(30), $"took {watch.Elapsed}");
    }

    /// <summary>Kernel classes of A.B.C.F and A.B_C.F live in one namespace and must not collide.</summary>
    [Fact]
    public void LossesWhoseFlattenedNamesMatchDoNotCollide()
    {
        var result = GeneratorHarness.Run(
            GeneratorHarness.Usings + "namespace A.B { public static partial class C { [Loss] public static partial float F(float x) => x; } }",
            GeneratorHarness.Usings + "namespace A { public static partial class B_C { [Loss] public static partial float F(float x) => x; } }");
        Assert.Empty(result.GeneratorDiagnostics);
        Assert.Empty(result.Errors);
    }
}
