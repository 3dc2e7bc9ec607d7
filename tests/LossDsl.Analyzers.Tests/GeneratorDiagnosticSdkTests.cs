using System.Threading;
using System.Threading.Tasks;
using LossDsl.Generator;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Testing;
using Microsoft.CodeAnalysis.Testing;
using Xunit;

namespace LossDsl.Analyzers.Tests;

/// <summary>
/// The generator's own diagnostics (declarations LOSS0001–0006, bodies LOSS0101–0105) through the Roslyn SDK's
/// source-generator test, with its <c>{|ID:…|}</c> markup: each at its exact span. (tests/LossDsl.Generator.Tests
/// covers the same IDs and many more cases, also pinning the compiler's own follow-on errors.) LOSS0900 is the
/// generator's internal-error guard and has no input that triggers it.
/// </summary>
public class GeneratorDiagnosticSdkTests
{
    private sealed class Test : CSharpSourceGeneratorTest<LossGenerator, DefaultVerifier>
    {
        public Test(string source)
        {
            TestCode = Harness.Usings + source;
            ReferenceAssemblies = Harness.Offline;
            TestState.AdditionalReferences.AddRange(Harness.References.Value);
            TestBehaviors |= TestBehaviors.SkipGeneratedSourcesCheck;
            // Generated kernels reference ILGPU and TorchSharp, which this project does not: verify the generator's
            // diagnostics only.
            CompilerDiagnostics = CompilerDiagnostics.None;
        }

        protected override ParseOptions CreateParseOptions() => Harness.ParseOptions;
    }

    private static Task Verify(string members) => new Test($$"""
        public static partial class L
        {
            {{members}}
        }
        """).RunAsync(CancellationToken.None);

    [Fact] public Task MissingPartial() => Verify("[Loss] public static float {|LOSS0001:F|}(float x) => x;");

    [Fact] public Task TypeNotPartial() => new Test("""
        public static class M { [Loss] public static partial float {|LOSS0002:F|}(float x) => x; }
        """).RunAsync(CancellationToken.None);

    [Fact] public Task ReturnTypeNotFloat() => Verify("[Loss] public static partial {|LOSS0003:double|} F(float x) => x;");

    [Fact] public Task RefParameter() => Verify("[Loss] public static partial float F({|LOSS0004:ref float x|}) => x;");

    [Fact] public Task ShapeMismatch() => Verify("[Loss(Shape = LossShape.Elementwise)] public static partial float {|LOSS0005:F|}(ReadOnlySpan<float> z) => Sum(z);");

    [Fact] public Task DuplicateName() => Verify("""
        [Loss] public static partial float {|LOSS0006:F|}(float x) => x;
        [Loss] public static partial float {|LOSS0006:F|}(ReadOnlySpan<float> z) => Sum(z);
        """);

    [Fact] public Task WhileLoop() => Verify("""
        [Loss] public static partial float F(float x)
        {
            {|LOSS0101:while (x > 0) { }|}
            return x;
        }
        """);

    [Fact] public Task UnknownMethod() => Verify("""
        static float Helper(float v) => v;
        [Loss] public static partial float F(float x) => {|LOSS0102:Helper(x)|};
        """);

    [Fact] public Task StringLocal() => Verify("""
        [Loss] public static partial float F(float x)
        {
            string {|LOSS0103:s = "a"|};
            return x;
        }
        """);

    [Fact] public Task RowIndexedByAConstant() => Verify("""
        [Loss] public static partial float F(ReadOnlySpan<float> z) => z[{|LOSS0104:0|}];
        """);

    [Fact] public Task NoReturn() => Verify("""
        [Loss] public static partial float F(float x)
        {|LOSS0105:{
            float y = x;
        }|}
        """);
}
