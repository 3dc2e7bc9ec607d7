using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Threading;
using LossDsl.Generator;
using LossDsl.Generator.Analyze;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Testing;

namespace LossDsl.Analyzers.Tests;

/// <summary>Offline compilation set-up shared by the analyzer tests.</summary>
public static class Harness
{
    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest);

    public const string Usings = "using System;\nusing LossDsl;\nusing static LossDsl.LossMath;\n";

    /// <summary>The running runtime's assemblies plus LossDsl.Attributes: no NuGet download at test time.</summary>
    public static readonly Lazy<ImmutableArray<MetadataReference>> References = new(() =>
    {
        var paths = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator).ToList();
        paths.Add(typeof(LossAttribute).Assembly.Location);
        return paths.Distinct().Where(File.Exists)
            .Where(p => !Path.GetFileName(p).StartsWith("Microsoft.CodeAnalysis", StringComparison.Ordinal) && !Path.GetFileName(p).StartsWith("xunit", StringComparison.Ordinal))
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToImmutableArray();
    });

    /// <summary>Reference assemblies for Microsoft.CodeAnalysis.Testing that resolve offline (no package to download).</summary>
    public static ReferenceAssemblies Offline { get; } = new ReferenceAssemblies("net10.0");

    public static CSharpCompilation Compile(params string[] sources)
        => CSharpCompilation.Create("LossDslAnalyzerTests",
            sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, ParseOptions, path: $"Loss{i}.cs")),
            References.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));

    /// <summary>The generator's output added to the compilation, so that partial methods have their defining declarations.</summary>
    public static (Compilation Output, ImmutableArray<Diagnostic> GeneratorDiagnostics) Generate(CSharpCompilation compilation)
    {
        var driver = CSharpGeneratorDriver.Create(new[] { new LossGenerator().AsSourceGenerator() }, parseOptions: ParseOptions);
        driver.RunGeneratorsAndUpdateCompilation(compilation, out var output, out var diagnostics);
        return (output, diagnostics);
    }

    /// <summary>The LossAnalyzer's diagnostics over the sources (after generation).</summary>
    public static ImmutableArray<Diagnostic> Analyze(params string[] sources)
    {
        var (output, _) = Generate(Compile(sources));
        return output.WithAnalyzers(ImmutableArray.Create<DiagnosticAnalyzer>(new LossAnalyzer()))
            .GetAnalyzerDiagnosticsAsync().Result
            .Where(d => d.Location.SourceTree is { } t && !t.FilePath.EndsWith(".g.cs", StringComparison.Ordinal))
            .OrderBy(d => d.Location.SourceSpan.Start).ToImmutableArray();
    }

    /// <summary>As <see cref="Analyze"/>, with severities from an .editorconfig applied as csc applies them.</summary>
    public static ImmutableArray<Diagnostic> AnalyzeWithEditorConfig(string editorconfig, params string[] sources)
    {
        var set = AnalyzerConfigSet.Create(new[] { AnalyzerConfig.Parse(editorconfig, "/src/.editorconfig") });
        var trees = sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, ParseOptions, path: $"/src/Loss{i}.cs")).ToArray();
        var provider = new EditorConfigOptions(trees.ToDictionary(t => t, t => set.GetOptionsForSourcePath(t.FilePath).TreeOptions));
        var compilation = CSharpCompilation.Create("LossDslAnalyzerTests", trees, References.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary).WithSyntaxTreeOptionsProvider(provider));
        var (output, _) = Generate(compilation);
        return output.WithAnalyzers(ImmutableArray.Create<DiagnosticAnalyzer>(new LossAnalyzer()))
            .GetAnalyzerDiagnosticsAsync().Result
            .Where(d => d.Location.SourceTree is { } t && !t.FilePath.EndsWith(".g.cs", StringComparison.Ordinal))
            .ToImmutableArray();
    }

    private sealed class EditorConfigOptions(Dictionary<SyntaxTree, ImmutableDictionary<string, ReportDiagnostic>> options) : SyntaxTreeOptionsProvider
    {
        public override GeneratedKind IsGenerated(SyntaxTree tree, CancellationToken cancellationToken) => GeneratedKind.Unknown;

        public override bool TryGetDiagnosticValue(SyntaxTree tree, string diagnosticId, CancellationToken cancellationToken, out ReportDiagnostic severity)
        {
            severity = ReportDiagnostic.Default;
            return options.TryGetValue(tree, out var o) && o.TryGetValue(diagnosticId, out severity);
        }

        public override bool TryGetGlobalDiagnosticValue(string diagnosticId, CancellationToken cancellationToken, out ReportDiagnostic severity)
        {
            severity = ReportDiagnostic.Default;
            return false;
        }
    }

    /// <summary>The calibration verdict of every [Loss] method in the sources, with its time.</summary>
    public static IReadOnlyList<(string Name, CalibrationVerdict Verdict, IReadOnlyList<Diagnostic> Diagnostics)> Verdicts(params string[] sources)
    {
        var compilation = Compile(sources);
        var result = new List<(string, CalibrationVerdict, IReadOnlyList<Diagnostic>)>();
        foreach (var tree in compilation.SyntaxTrees)
        {
            var model = compilation.GetSemanticModel(tree);
            foreach (var m in tree.GetRoot().DescendantNodes().OfType<MethodDeclarationSyntax>())
            {
                if (model.GetDeclaredSymbol(m) is not IMethodSymbol symbol) continue;
                var attribute = symbol.GetAttributes().FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == "LossDsl.LossAttribute");
                if (attribute is null) continue;
                var diagnostics = LossAnalyzer.Analyze(m, symbol, attribute, model, CalibrationAnalysis.DefaultBudget, CancellationToken.None, out var verdict);
                if (verdict is not null) result.Add((symbol.ContainingType.Name + "." + symbol.Name, verdict, diagnostics));
            }
        }
        return result;
    }

    public static string Root { get; } = FindRoot(AppContext.BaseDirectory);

    private static string FindRoot(string from)
    {
        for (var dir = new DirectoryInfo(from); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "LossDsl.sln"))) return dir.FullName;
        throw new InvalidOperationException("LossDsl.sln not found above " + from);
    }
}
