using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using LossDsl.Generator.Analyze;
using LossDsl.Generator.Differentiate;
using LossDsl.Generator.Model;
using LossDsl.Generator.Rewrite;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Xunit;
using Xunit.Abstractions;
using static LossDsl.Generator.Tests.Stages.Stage;

namespace LossDsl.Generator.Tests.Stages;

/// <summary>
/// The whole loss, value and gradient, before and after the rewrite stage: bits of error in float32 (each operation
/// rounded to float32, <see cref="PrecisionEvaluator"/>) against the double-double value of the rewritten graph, at
/// Herbie-sampled inputs (logits of magnitude 2^-30..2^6 of either sign, labels and masks 0 or 1, class indices uniform,
/// hyperparameters at their defaults; rows of 5). The table docs/accuracy.md quotes is this test's output:
/// <code>dotnet test tests/LossDsl.Generator.Tests --filter FullyQualifiedName~RewriteAccuracyTests --logger "console;verbosity=detailed"</code>
/// It asserts what the stage promises: the rewritten loss is nowhere worse than the literal one by more than rounding
/// noise, for the value and the gradient, and the paper forms of BCE and focal gain.
/// </summary>
public class RewriteAccuracyTests
{
    private readonly ITestOutputHelper _out;

    public RewriteAccuracyTests(ITestOutputHelper output) => _out = output;

    /// <summary>The naive forms papers write.</summary>
    public static readonly (string Name, string Members)[] PaperForms =
    {
        ("BCE, −[y log σ(x) + (1−y) log(1−σ(x))]",
            "[Loss] public static partial float F(float x, float y) => -(y * Log(Sigmoid(x)) + (1 - y) * Log(1 - Sigmoid(x)));"),
        ("sigmoid focal (Lin et al.), γ = 2, α = 0.25",
            "[Loss] public static partial float F(float x, float y, float alpha = 0.25f, float gamma = 2f) { float p = Sigmoid(x); return -(alpha * y * Pow(1 - p, gamma) * Log(p) + (1 - alpha) * (1 - y) * Pow(p, gamma) * Log(1 - p)); }"),
        ("sigmoid focal, γ = 0.5",
            "[Loss] public static partial float F(float x, float y, float gamma = 0.5f) { float p = Sigmoid(x); return -(y * Pow(1 - p, gamma) * Log(p) + (1 - y) * Pow(p, gamma) * Log(1 - p)); }"),
        ("softmax CE, −log(e^z_t / Σ e^z)",
            "[Loss] public static partial float F(ReadOnlySpan<float> z, int t) => -Log(Exp(z[t]) / Sum(z, v => Exp(v)));"),
        ("Poly-1 (Leng et al.), −log p_t + ε(1 − p_t)",
            "[Loss] public static partial float F(ReadOnlySpan<float> z, int t, float eps = 1f) { float p = Exp(z[t]) / Sum(z, v => Exp(v)); return -Log(p) + eps * (1 - p); }"),
        ("soft Dice (Milletari et al.), σ probabilities",
            "[Loss(Shape = LossShape.ChannelSet)] public static partial float F(ReadOnlySpan<float> x, ReadOnlySpan<float> y) => 1 - (2 * Sum(x, y, (a, b) => Sigmoid(a) * b) + 1) / (Sum(x, a => Sigmoid(a)) + Sum(y) + 1);"),
    };

    /// <summary>Every [Loss] method of src/LossDsl.Losses, as members for <see cref="Stage.Parse"/>.</summary>
    public static IEnumerable<(string Name, string Members)> LibraryLosses()
    {
        foreach (var file in Directory.GetFiles(Path.Combine(Paths.Root, "src", "LossDsl.Losses"), "*.cs").OrderBy(f => f, StringComparer.Ordinal))
        {
            var root = CSharpSyntaxTree.ParseText(File.ReadAllText(file)).GetRoot();
            foreach (var m in root.DescendantNodes().OfType<MethodDeclarationSyntax>())
                if (m.AttributeLists.SelectMany(a => a.Attributes).Any(a => a.Name.ToString() == "Loss"))
                    yield return (Path.GetFileNameWithoutExtension(file) + "." + m.Identifier.ValueText, m.ToFullString());
        }
    }

    public sealed record Bits(double Average, double Max);

    public sealed record Row(string Name, Bits ValueBefore, Bits ValueAfter, Bits GradientBefore, Bits GradientAfter, int Rewrites);

    private const int Samples = 400, RowLength = 5;

    /// <summary>The accuracy of one loss before and after, or null when the evaluator cannot run it (multiclass sets).</summary>
    public static Row? Measure(string name, string members)
    {
        LossModel m;
        try { m = Stage.Parse(members); } catch (InvalidOperationException) { return null; }
        if (m.Forward is null || m.Signature!.Multiclass) return null;
        var literal = Differentiator.Run(m);
        var rewritten = Rewriter.Apply(Differentiator.Run(Rewriter.Apply(m)));
        int rewrites = Rewriter.Run(m.Forward, new[] { m.Root }).Applied.Count;
        var s = m.Signature;
        var sampler = new HerbieSampler(7);
        var before = new PrecisionEvaluator(literal.Graph) { Precision = Precision.Single };
        var after = new PrecisionEvaluator(rewritten.Graph) { Precision = Precision.Single };
        var truth = new PrecisionEvaluator(rewritten.Graph) { Precision = Precision.DoubleDouble };
        var vb = new List<double>(); var va = new List<double>(); var gb = new List<double>(); var ga = new List<double>();
        int spans = s.Parameters.Count(p => p.Kind == ParameterKind.Span);
        int inputs = s.Parameters.Count(p => p.Kind == ParameterKind.Input);
        int targets = s.Parameters.Count(p => p.Kind == ParameterKind.Target);
        var hypers = s.Parameters.Where(p => p.Kind == ParameterKind.Hyper).OrderBy(p => p.Slot).Select(p => p.Default).ToArray();
        for (int k = 0; k < Samples; k++)
        {
            double Logit() => (float)sampler.Next(-30, 6);
            double Label() => sampler.NextDouble() < 0.5 ? 0 : 1;
            var spanValues = Enumerable.Range(0, spans).Select(slot => Enumerable.Range(0, RowLength).Select(_ => slot == 0 ? Logit() : Label()).ToArray()).ToArray();
            var inputValues = Enumerable.Range(0, inputs).Select(slot => slot == 0 && spans == 0 ? Logit() : Label()).ToArray();
            var targetValues = Enumerable.Range(0, targets).Select(_ => (double)(int)(sampler.NextDouble() * RowLength)).ToArray();
            foreach (var e in new[] { before, after, truth })
            {
                e.Spans = spanValues; e.Inputs = inputValues; e.Targets = targetValues; e.Hypers = hypers;
                e.Reset();
            }
            var t = truth.Value(rewritten.Loss);
            if (t.IsFinite)
            {
                vb.Add(PrecisionEvaluator.BitsOfError(before.Value(literal.Loss).ToDouble(), t, Precision.Single));
                va.Add(PrecisionEvaluator.BitsOfError(after.Value(rewritten.Loss).ToDouble(), t, Precision.Single));
            }
            for (int j = 0; j < (s.Axes.IsElementwise ? 1 : RowLength); j++)
            {
                var tg = truth.Value(rewritten.Gradient, j);
                if (!tg.IsFinite) continue;
                gb.Add(PrecisionEvaluator.BitsOfError(before.Value(literal.Gradient, j).ToDouble(), tg, Precision.Single));
                ga.Add(PrecisionEvaluator.BitsOfError(after.Value(rewritten.Gradient, j).ToDouble(), tg, Precision.Single));
            }
        }
        if (vb.Count == 0) return null;
        static Bits Of(List<double> b) => b.Count == 0 ? new Bits(double.NaN, double.NaN) : new Bits(b.Average(), b.Max());
        return new Row(name, Of(vb), Of(va), Of(gb), Of(ga), rewrites);
    }

    private static string F(Bits b) => double.IsNaN(b.Average) ? "—" : $"{b.Average.ToString("0.0", CultureInfo.InvariantCulture)} / {b.Max.ToString("0.0", CultureInfo.InvariantCulture)}";

    private void Print(IEnumerable<Row> rows)
    {
        _out.WriteLine("| loss | rewrites | value before (avg / max bits) | value after | gradient before | gradient after |");
        _out.WriteLine("|---|---:|---:|---:|---:|---:|");
        foreach (var r in rows)
            _out.WriteLine($"| {r.Name} | {r.Rewrites} | {F(r.ValueBefore)} | {F(r.ValueAfter)} | {F(r.GradientBefore)} | {F(r.GradientAfter)} |");
    }

    [Fact]
    public void PaperFormsGainAndLoseNothing()
    {
        var rows = PaperForms.Select(p => Measure(p.Name, p.Members)).Where(r => r is not null).Select(r => r!).ToList();
        Print(rows);
        Assert.Equal(PaperForms.Length, rows.Count);
        foreach (var r in rows)
        {
            Assert.True(r.ValueAfter.Max <= r.ValueBefore.Max + Rewriter.NoiseBits, $"{r.Name}: value worst {r.ValueBefore.Max} → {r.ValueAfter.Max}");
            Assert.True(r.GradientAfter.Max <= r.GradientBefore.Max + Rewriter.NoiseBits, $"{r.Name}: gradient worst {r.GradientBefore.Max} → {r.GradientAfter.Max}");
        }
        foreach (var r in rows.Take(3))
            Assert.True(r.ValueAfter.Average < r.ValueBefore.Average && r.ValueAfter.Max < r.ValueBefore.Max && r.GradientAfter.Average < r.GradientBefore.Average,
                $"{r.Name} gains nothing");
    }

    [Fact]
    public void LibraryLossesLoseNothing()
    {
        var rows = LibraryLosses().Select(p => Measure(p.Name, p.Members)).Where(r => r is not null).Select(r => r!).ToList();
        Print(rows);
        Assert.NotEmpty(rows);
        foreach (var r in rows)
        {
            Assert.True(r.ValueAfter.Max <= r.ValueBefore.Max + Rewriter.NoiseBits, $"{r.Name}: value worst {r.ValueBefore.Max} → {r.ValueAfter.Max}");
            Assert.True(double.IsNaN(r.GradientBefore.Max) || r.GradientAfter.Max <= r.GradientBefore.Max + Rewriter.NoiseBits,
                $"{r.Name}: gradient worst {r.GradientBefore.Max} → {r.GradientAfter.Max}");
        }
    }
}
