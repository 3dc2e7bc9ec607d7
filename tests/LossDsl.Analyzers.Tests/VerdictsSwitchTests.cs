using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using System.Threading;
using LossDsl.Generator.Analyze;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Xunit;

namespace LossDsl.Analyzers.Tests;

/// <summary>
/// <c>-p:LossDslVerdicts=true</c> (eng/LossDslVerdicts.targets): the analyzer sees the property, as the SDK passes it
/// (<c>build_property.LossDslVerdicts</c> in the global analyzer config), and reports every loss's verdict as a warning,
/// one per loss, with its witness; compiled as csc is under TreatWarningsAsErrors with the targets' WarningsNotAsErrors,
/// none of them is an error. Without the property nothing of it reaches the build output. (A real <c>dotnet build</c>
/// of a package consumer with the switch and TreatWarningsAsErrors runs in eng/package-check/run.sh.)
/// </summary>
public class VerdictsSwitchTests
{
    private static readonly string[] Sources =
    {
        File.ReadAllText(Path.Combine(Harness.Root, "samples/LossDsl.Samples/Losses.cs")),
        Harness.Usings + "public static partial class MoreLosses { [Loss] public static partial float CrossEntropy(ReadOnlySpan<float> z, int t) => -LogSoftmax(z, t); }",
    };

    /// <summary>The IDs the targets keep out of TreatWarningsAsErrors.</summary>
    private static string[] TargetsIds()
    {
        var targets = File.ReadAllText(Path.Combine(Harness.Root, "eng/LossDslVerdicts.targets"));
        var list = Regex.Match(targets, @"<WarningsNotAsErrors>\$\(WarningsNotAsErrors\);([A-Z0-9;]+)</WarningsNotAsErrors>").Groups[1].Value;
        return list.Split(';');
    }

    [Fact]
    public void TheTargetsExemptExactlyTheVerdictsTheSwitchRaises()
        => Assert.Equal(LossAnalyzer.QuietVerdicts.OrderBy(x => x), TargetsIds().OrderBy(x => x));

    private static (ImmutableArray<Diagnostic> Diagnostics, string[] Losses) Build(bool verdicts)
    {
        var trees = Sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, Harness.ParseOptions, path: $"Losses{i}.cs")).ToArray();
        // As csc runs under TreatWarningsAsErrors (/warnaserror+) with the targets' WarningsNotAsErrors (/warnaserror-:…).
        var options = new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, generalDiagnosticOption: ReportDiagnostic.Error,
            specificDiagnosticOptions: verdicts ? TargetsIds().ToDictionary(id => id, _ => ReportDiagnostic.Warn) : null);
        var (output, _) = Harness.Generate(CSharpCompilation.Create("Verdicts", trees, Harness.References.Value, options));
        var global = new GlobalProperties(verdicts ? new Dictionary<string, string> { [LossAnalyzer.VerdictsProperty] = "true" } : new());
        var diagnostics = output.WithAnalyzers(ImmutableArray.Create<DiagnosticAnalyzer>(new LossAnalyzer()), new AnalyzerOptions(ImmutableArray<AdditionalText>.Empty, global))
            .GetAnalyzerDiagnosticsAsync().Result;
        var losses = trees.SelectMany(t => t.GetRoot().DescendantNodes()).OfType<MethodDeclarationSyntax>()
            .Where(m => m.AttributeLists.SelectMany(a => a.Attributes).Any(a => a.Name.ToString().EndsWith("Loss"))).Select(m => m.Identifier.ValueText).ToArray();
        return (diagnostics, losses);
    }

    [Fact]
    public void WithTheSwitchEveryLossHasOneVerdictWarningThatIsNotAnError()
    {
        var (diagnostics, losses) = Build(verdicts: true);
        Assert.Equal(6, losses.Length);
        var verdicts = diagnostics.Where(d => Regex.IsMatch(d.Id, "^LOSS020[0-8]$")).ToList();
        foreach (var loss in losses)
        {
            var d = Assert.Single(verdicts, d => d.GetMessage().StartsWith($"Loss '{loss}' ") || d.GetMessage().StartsWith($"With class weights, '{loss}'"));
            Assert.Equal(DiagnosticSeverity.Warning, d.Severity);
            Assert.False(d.IsWarningAsError);
        }
        Assert.DoesNotContain(diagnostics, d => d.Severity == DiagnosticSeverity.Error);
        // The witness is in the line: Poly-1's over-confident risk minimizer, cross-entropy's proper one.
        Assert.Contains(verdicts, d => d.Id == "LOSS0202" && d.GetMessage().Contains("Poly1") && d.GetMessage().Contains("the risk minimizer is"));
        Assert.Contains(verdicts, d => d.Id == "LOSS0200" && d.GetMessage().Contains("CrossEntropy"));
    }

    [Fact]
    public void WithoutTheSwitchTheVerdictsStayOutOfTheBuildOutput()
    {
        var (diagnostics, _) = Build(verdicts: false);
        Assert.Contains(diagnostics, d => d.Id == "LOSS0202");
        Assert.DoesNotContain(diagnostics, d => LossAnalyzer.QuietVerdicts.Contains(d.Id) && d.Severity >= DiagnosticSeverity.Warning);
    }

    private sealed class GlobalProperties(Dictionary<string, string> values) : AnalyzerConfigOptionsProvider
    {
        private readonly Options _global = new(values);
        private static readonly Options Empty = new(new Dictionary<string, string>());
        public override AnalyzerConfigOptions GlobalOptions => _global;
        public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => Empty;
        public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) => Empty;

        private sealed class Options(Dictionary<string, string> values) : AnalyzerConfigOptions
        {
            public override bool TryGetValue(string key, out string value) => values.TryGetValue(key, out value!);
        }
    }
}
