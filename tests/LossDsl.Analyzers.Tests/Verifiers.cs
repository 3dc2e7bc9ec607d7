using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using LossDsl.CodeFixes;
using LossDsl.Generator;
using LossDsl.Generator.Analyze;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Testing;
using Microsoft.CodeAnalysis.Testing;

namespace LossDsl.Analyzers.Tests;

/// <summary>
/// Roslyn SDK analyzer test for <see cref="LossAnalyzer"/>, with the LossDsl generator running (it supplies the defining
/// declarations of the partial loss methods) and offline references: the running runtime plus LossDsl.Attributes.
/// </summary>
public sealed class AnalyzerTest : CSharpAnalyzerTest<LossAnalyzer, DefaultVerifier>
{
    public AnalyzerTest(string source)
    {
        TestCode = Harness.Usings + source;
        Configure(TestState, this);
    }

    internal static void Configure(SolutionState state, AnalyzerTest<DefaultVerifier> test)
    {
        test.ReferenceAssemblies = Harness.Offline;
        state.AdditionalReferences.AddRange(Harness.References.Value);
        test.TestBehaviors |= TestBehaviors.SkipGeneratedSourcesCheck;
        // The generated kernels need ILGPU and TorchSharp, which these tests do not reference; only the analyzer's
        // diagnostics are verified here (the generator's own tests compile its output).
        test.CompilerDiagnostics = CompilerDiagnostics.None;
        // LOSS0306 (an info per stability rewrite the generator applies) has tests of its own (RewriteDiagnosticTests);
        // elsewhere it would only repeat, at every naive sub-expression, what the test is not about.
        test.DisabledDiagnostics.Add("LOSS0306");
    }

    protected override IEnumerable<Type> GetSourceGenerators() => new[] { typeof(LossGenerator) };

    protected override ParseOptions CreateParseOptions() => Harness.ParseOptions;

    public static Task RunAsync(string source, params DiagnosticResult[] expected)
    {
        var test = new AnalyzerTest(source);
        test.ExpectedDiagnostics.AddRange(expected);
        return test.RunAsync(CancellationToken.None);
    }
}

/// <summary>Roslyn SDK code-fix test for <see cref="StableIntrinsicCodeFixProvider"/>.</summary>
public sealed class CodeFixTest : CSharpCodeFixTest<LossAnalyzer, StableIntrinsicCodeFixProvider, DefaultVerifier>
{
    public CodeFixTest(string source, string fixedSource)
    {
        TestCode = source;
        FixedCode = fixedSource;
        AnalyzerTest.Configure(TestState, this);
        FixedState.AdditionalReferences.AddRange(Harness.References.Value);
    }

    protected override IEnumerable<Type> GetSourceGenerators() => new[] { typeof(LossGenerator) };

    protected override ParseOptions CreateParseOptions() => Harness.ParseOptions;
}
