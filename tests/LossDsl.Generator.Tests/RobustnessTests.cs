using System.Collections.Generic;
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

    /// <summary>
    /// Many files of one partial class whose [Loss] methods collide: the same name declared in two files at the same line
    /// and column (the hint name of both defining declarations was once the same: CS8785), names that differ only in
    /// case (hint names are compared ignoring case), overloads, and bodies with errors. Seeded, so a failure replays.
    /// Every duplicate gets LOSS0006; the generator never throws, every hint name is unique, and no error is in
    /// generated code (the compiler's remaining errors are about the user's duplicate declarations).
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void CollidingNamesPositionsAndPartialDeclarationsNeverCrashTheGenerator(int seed)
    {
        var random = new System.Random(seed);
        string[] names = { "Mse", "MSE", "mse" }, types = { "BadLosses", "BADLOSSES" };
        string[] parameters = { "float x, float y", "float x, float y, float s = 1f", "ReadOnlySpan<float> z, int t" };
        string Body(string ps) => ps.StartsWith("ReadOnlySpan", System.StringComparison.Ordinal) ? "-LogSoftmax(z, t)" : "(x - y) * (x - y)";
        var declared = new List<(string Type, string Name, string Parameters, bool Broken)>();
        var sources = new List<string>();
        for (int f = 0; f < 24; f++)
        {
            // One declaration per file, always at the same line and column; now and then a second one.
            var members = new List<string>();
            for (int k = 0; k < (random.Next(4) == 0 ? 2 : 1); k++)
            {
                var d = (Type: types[random.Next(types.Length)], Name: names[random.Next(names.Length)], Parameters: parameters[random.Next(parameters.Length)], Broken: random.Next(5) == 0);
                if (members.Count > 0) d.Type = declared[^1].Type;
                declared.Add(d);
                members.Add($"[Loss] public static partial float {d.Name}({d.Parameters}) => {(d.Broken ? "Undefined(1f)" : Body(d.Parameters))};");
            }
            sources.Add(GeneratorHarness.Usings + $"namespace Tests;\npublic static partial class {declared[^1].Type}\n{{\n    {string.Join(" ", members)}\n}}\n");
        }

        var result = GeneratorHarness.Run(sources.ToArray());   // throws if the generator threw

        var hints = result.Run.Results.SelectMany(r => r.GeneratedSources).Select(s => s.HintName).ToList();
        Assert.Equal(hints.Count, hints.Distinct(System.StringComparer.OrdinalIgnoreCase).Count());
        Assert.DoesNotContain(result.GeneratorDiagnostics.Concat(result.CompilerDiagnostics), d => d.Id == "CS8785");
        Assert.DoesNotContain(result.Errors, d => !d.Location.IsInSource || !d.Location.SourceTree!.FilePath.StartsWith("Loss", System.StringComparison.Ordinal));
        Assert.DoesNotContain(result.Errors, d => d.Id is "CS0756" or "CS0759");
        foreach (var group in declared.GroupBy(d => (d.Type, d.Name)))
        {
            int reported = result.GeneratorDiagnostics.Count(d => d.Id == "LOSS0006" && d.GetMessage().Contains($"'{group.Key.Type}'") && d.GetMessage().Contains($"named '{group.Key.Name}'"));
            if (group.Count() > 1) Assert.Equal(group.Count(), reported);
            else
            {
                Assert.Equal(0, reported);
                // A loss declared once gets its full generated file (or, with a body error, its declaration only).
                Assert.Contains(hints, h => h.StartsWith($"Tests.{group.Key.Type}.{group.Key.Name}.", System.StringComparison.Ordinal));
            }
        }
    }

    /// <summary>
    /// The generated kernels read tensors from the slots of the kernel ABI (KernelAbi: Span0..3, Input0..3, Target0..3).
    /// A loss that needs one more gets LOSS0004 on the parameter that does not fit, never a C# error in generated code
    /// (three int targets once gave CS1061 'Target2', before the ABI grew to four); a loss at every limit compiles cleanly.
    /// </summary>
    [Theory]
    [InlineData("ReadOnlySpan<float> l, int a, int b, int c, int d, int e",
        "-LogSoftmax(l, a) - LogSoftmax(l, b) - LogSoftmax(l, c) - LogSoftmax(l, d) - LogSoftmax(l, e)", "e", "Target0..3")]
    [InlineData("ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, ReadOnlySpan<float> d, ReadOnlySpan<float> e, int t",
        "-LogSoftmax(a, t) - LogSoftmax(b, t) - LogSoftmax(c, t) - LogSoftmax(d, t) - LogSoftmax(e, t)", "e", "Span0..3")]
    [InlineData("float x, float a, float b, float c, float d", "x * a * b * c * d", "d", "Input0..3")]
    [InlineData("ReadOnlySpan<float> z, int t, float a, float b, float c, float d, float e", "-LogSoftmax(z, t) * a * b * c * d * e", "e", "Input0..3")]
    public void LossesBeyondTheKernelSlotsGetADiagnostic(string parameters, string body, string parameter, string slots)
    {
        var result = Run($"[Loss] public static partial float F({parameters}) => {body};");
        var d = Assert.Single(result.GeneratorDiagnostics, d => d.Id == "LOSS0004");
        Assert.Contains($"'{parameter}'", d.GetMessage());
        Assert.Contains(slots, d.GetMessage());
        Assert.Empty(result.Errors);
    }

    [Theory]
    [InlineData("ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, ReadOnlySpan<float> d, int t, int u, float w, float x, float y, float z",
        "-LogSoftmax(a, t) - LogSoftmax(b, u) - LogSoftmax(c, t) * w * x - LogSoftmax(d, u) * y * z")]
    [InlineData("float x, float a, float b, float c", "x * a * b * c")]
    [InlineData("ReadOnlySpan<float> l, int a, int b, int c, int d", "-LogSoftmax(l, a) - LogSoftmax(l, b) - LogSoftmax(l, c) - LogSoftmax(l, d)")]
    public void LossesAtTheKernelSlotLimitsCompileCleanly(string parameters, string body)
    {
        var result = Run($"[Loss] public static partial float F({parameters}) => {body};");
        Assert.Empty(result.GeneratorDiagnostics.Where(d => d.Severity == DiagnosticSeverity.Error));
        Assert.Empty(result.Errors);
    }

    /// <summary>
    /// A chain of locals that share subexpressions is a DAG whose tree form is exponential (2⁴⁰ leaves here); the generated
    /// code and its comments must grow with the DAG, not the tree. A bound on the output's size, not a timing: an
    /// exponential printer would not finish (the watchdog fails it after 5 minutes, a hang guard far above the few seconds it
    /// takes), and a slow machine must not fail a linear one.
    /// </summary>
    [Fact]
    public void DeepSharedExpressionsGenerateLinearly()
    {
        static int GeneratedLength(int depth)
        {
            var locals = string.Join(" ", Enumerable.Range(1, depth).Select(i => $"float a{i} = a{i - 1} * a{i - 1} + 1f;"));
            var result = Run($"[Loss] public static partial float F(float x) {{ float a0 = x; {locals} return a{depth}; }}");
            Assert.Empty(result.GeneratorDiagnostics);
            Assert.Empty(result.Errors);
            return result.Source("F.g.cs").Length;
        }
        var run = System.Threading.Tasks.Task.Run(() => (GeneratedLength(20), GeneratedLength(40)));
        Assert.True(run.Wait(System.TimeSpan.FromMinutes(5)), "generation did not finish in 5 minutes");
        var (at20, at40) = run.Result;
        Assert.True(at40 < 3 * at20, $"20 locals: {at20} characters, 40 locals: {at40}");
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
