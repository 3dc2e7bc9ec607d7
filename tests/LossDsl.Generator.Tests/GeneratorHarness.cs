using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using LossDsl.Generator;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;

namespace LossDsl.Generator.Tests;

/// <summary>Runs the real LossDsl generator (and its suppressor) over source text, in process.</summary>
public static class GeneratorHarness
{
    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest);

    private static readonly Lazy<ImmutableArray<MetadataReference>> s_references = new(() =>
    {
        var paths = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator).ToList();
        paths.Add(typeof(LossAttribute).Assembly.Location);
        paths.Add(typeof(LossDsl.Runtime.LossAutograd).Assembly.Location);
        paths.Add(typeof(TorchSharp.torch).Assembly.Location);
        paths.Add(typeof(ILGPU.Context).Assembly.Location);
        paths.Add(typeof(ILGPU.Algorithms.XMath).Assembly.Location);
        return paths.Distinct().Where(File.Exists).Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToImmutableArray();
    });

    public const string Usings = "using System;\nusing LossDsl;\nusing static LossDsl.LossMath;\n";

    public static CSharpCompilation Compile(params string[] sources)
        => CSharpCompilation.Create("LossDslTestAssembly",
            sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, ParseOptions, path: $"Loss{i}.cs")),
            s_references.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable, allowUnsafe: true));

    public static GeneratorDriver Driver() => CSharpGeneratorDriver.Create(
        new[] { new LossGenerator().AsSourceGenerator() },
        parseOptions: ParseOptions,
        driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    public sealed record Result(GeneratorDriverRunResult Run, Compilation Output, ImmutableArray<Diagnostic> GeneratorDiagnostics, ImmutableArray<Diagnostic> CompilerDiagnostics)
    {
        public IEnumerable<Diagnostic> Errors => CompilerDiagnostics.Where(d => d.Severity == DiagnosticSeverity.Error);

        public string Source(string hintEnd) => Run.Results.SelectMany(r => r.GeneratedSources).Single(s => s.HintName.EndsWith(hintEnd, StringComparison.Ordinal)).SourceText.ToString();
    }

    public static Result Run(params string[] sources)
    {
        var compilation = Compile(sources);
        var driver = Driver().RunGeneratorsAndUpdateCompilation(compilation, out var output, out var generatorDiagnostics);
        var run = driver.GetRunResult();
        foreach (var r in run.Results)
            if (r.Exception is not null) throw new InvalidOperationException("The generator threw.", r.Exception);
        var withSuppressor = output.WithAnalyzers(ImmutableArray.Create<DiagnosticAnalyzer>(new Parse.DefaultValueSuppressor()));
        var compilerDiagnostics = withSuppressor.GetAllDiagnosticsAsync().Result.Where(d => !d.IsSuppressed).ToImmutableArray();
        return new Result(run, output, generatorDiagnostics, compilerDiagnostics);
    }
}
