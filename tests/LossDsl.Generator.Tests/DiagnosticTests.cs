using System;
using System.Collections.Generic;
using System.Linq;
using LossDsl.Generator.Diagnostics;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;
using Xunit;
using Xunit.Sdk;

namespace LossDsl.Generator.Tests;

/// <summary>
/// Each unsupported construct is reported with its ID at the exact span of the construct, written as markup
/// (<c>{|LOSS0101:…|}</c>). The compiler errors next to ours are pinned too: a loss whose body has errors
/// still gets its defining declaration, so that our diagnostics are the only errors.
/// </summary>
public class DiagnosticTests
{
    private static string InClass(string members) => $$"""
        namespace Tests;

        public static partial class L
        {
        {{members}}
        }
        """;

    /// <summary>name → (markup after the usings, the compiler errors expected besides ours).</summary>
    private static readonly Dictionary<string, (string Markup, string[] CompilerErrors)> s_cases = new()
    {
        // ---- Declarations (LOSS0001–0005). The signature is unusable, so no declaration is generated.
        ["MethodNotPartial"] = (InClass("""
            [Loss] public static float {|LOSS0001:F|}(float x) => x;
            """), []),
        ["MethodNotStatic"] = (InClass("""
            [Loss] public partial float {|LOSS0001:F|}(float x) => x;
            """).Replace("public static partial class", "public partial class"), []),
        ["TypeNotPartial"] = ("""
            namespace Tests;

            public static class L
            {
                [Loss] public static partial float {|LOSS0002:F|}(float x) => x;
            }
            """, ["CS0751", "CS0759"]),
        ["OuterTypeNotPartial"] = ("""
            namespace Tests;

            public class Outer
            {
                public static partial class L
                {
                    [Loss] public static partial float {|LOSS0002:F|}(float x) => x;
                }
            }
            """, ["CS0759"]),
        ["ReturnTypeNotFloat"] = (InClass("""
            [Loss] public static partial {|LOSS0003:double|} F(float x) => x;
            """), []),
        ["RefParameter"] = (InClass("""
            [Loss] public static partial float F({|LOSS0004:ref float x|}) => x;
            """), []),
        ["DoubleDataParameter"] = (InClass("""
            [Loss] public static partial float F({|LOSS0004:double x|}) => (float)x;
            """), []),
        ["DataParameterAfterHyperparameter"] = (InClass("""
            [Loss] public static partial float F(float x, float a = 1f, {|LOSS0004:float y|}) => x * a * y;
            """), ["CS1737"]),
        ["ShapeMismatch"] = (InClass("""
            [Loss(Shape = LossShape.Elementwise)]
            public static partial float {|LOSS0005:F|}(ReadOnlySpan<float> z) => Sum(z);
            """), []),
        ["SetsOnAClassRowLoss"] = (InClass("""
            [Loss(Shape = LossShape.ClassRow, Sets = LossSets.Whole)]
            public static partial float {|LOSS0005:F|}(ReadOnlySpan<float> z) => LogSumExp(z);
            """), []),
        ["DuplicateLossName"] = (InClass("""
            [Loss] public static partial float {|LOSS0006:F|}(float x) => x;
            [Loss] public static partial float {|LOSS0006:F|}(ReadOnlySpan<float> z) => Sum(z);
            """), []),
        ["ClassRowStartsWithFloat"] = (InClass("""
            [Loss] public static partial float {|LOSS0005:F|}(float w, ReadOnlySpan<float> z) => w * LogSumExp(z);
            """), []),
        ["ReservedHyperparameterName"] = (InClass("""
            [Loss] public static partial float F(float x, {|LOSS0004:float training = 1f|}) => x * training;
            """), []),
        ["RangeOnAClassIndex"] = (InClass("""
            [Loss] public static partial float F(ReadOnlySpan<float> z, {|LOSS0004:[Range(0, 1)] int t|}) => LogSumExp(z) - z[t];
            """), []),
        ["RangeOnAPairMask"] = (InClass("""
            [Loss] public static partial float F(ReadOnlySpan<float> s, {|LOSS0004:[Range(0, 1)][Positives] ReadOnlySpan<float> p|}) => Sum(s, p, (a, b) => a * b);
            """), []),
        ["EmptyRangeOnADataParameter"] = (InClass("""
            [Loss] public static partial float F({|LOSS0004:[Range(1, 0)] float x|}) => x;
            """), []),
        ["DefaultOutsideItsRange"] = (InClass("""
            [Loss] public static partial float F(float x, {|LOSS0004:[Range(0, 1)] float smoothing = 2f|}) => x * smoothing;
            """), []),
        ["EmptyRange"] = (InClass("""
            [Loss] public static partial float F(float x, {|LOSS0004:[Range(1, 0)] float smoothing = 0.5f|}) => x * smoothing;
            """), []),
        ["LossMathNotImported"] = ("""
            namespace Tests;

            public static partial class L
            {
                [Loss] public static partial float F(float x) => {|LOSS0106:Softplus|}(x);
            }
            """, ["CS0103"]),
        ["SpanElementNameClash"] = (InClass("""
            [Loss] public static partial float {|LOSS0004:F|}(ReadOnlySpan<float> z, float z_j) => Sum(z) * z_j;
            """), []),
        ["FileLocalType"] = ("""
            namespace Tests;
            file static partial class M
            {
                [Loss] public static partial float {|LOSS0002:F|}(float x) => x;
            }
            """, ["CS0759"]),
        ["IntegerDivision"] = (InClass("""
            [Loss] public static partial float F(float x) => {|LOSS0104:1 / 2|} * x * x;
            """), []),
        ["ShapeNotALossShapeValue"] = (InClass("""
            [Loss(Shape = (LossShape)7)] public static partial float {|LOSS0005:F|}(float x) => x;
            """), []),
        // The user wrote the defining declaration: no second one is generated (that would add CS0756 and CS0111).
        ["DefiningDeclarationWithoutBody"] = (InClass("""
            [Loss] public static partial float {|LOSS0105:F|}(float x);
            """), ["CS8795"]),
        ["GenericMethod"] = (InClass("""
            [Loss] public static partial float F{|LOSS0101:<T>|}(float x) => x;
            """), []),

        // ---- Bodies (LOSS0101–0105). The declaration is generated, so the user's code has no other error.
        ["WhileLoop"] = (InClass("""
            [Loss] public static partial float F(float x)
            {
                {|LOSS0101:while (x > 0) { }|}
                return x;
            }
            """), []),
        ["IfStatement"] = (InClass("""
            [Loss] public static partial float F(float x)
            {
                {|LOSS0101:if (x > 0) return x;|}
                return -x;
            }
            """), []),
        ["ModuloOperator"] = (InClass("""
            [Loss] public static partial float F(float x) => 1 + {|LOSS0101:x % 2f|};
            """), []),
        ["LambdaWithBlockBody"] = (InClass("""
            [Loss] public static partial float F(ReadOnlySpan<float> z) => Sum(z, {|LOSS0101:x => { return x * x; }|});
            """), []),
        ["DelegateLocal"] = (InClass("""
            [Loss] public static partial float F(float x)
            {
                Func<float, float> {|LOSS0103:f = v => v|};
                return x;
            }
            """), []),
        ["StatementAfterReturn"] = (InClass("""
            [Loss] public static partial float F(float x)
            {
                return x;
                {|LOSS0101:float y = x;|}
            }
            """), []),
        ["LocalWithoutInitializer"] = (InClass("""
            [Loss] public static partial float F(float x)
            {
                float {|LOSS0101:u|};
                {|LOSS0101:u = x;|}
                return u;
            }
            """), []),
        ["ExpressionStatement"] = (InClass("""
            [Loss] public static partial float F(float x)
            {
                {|LOSS0101:Console.WriteLine(x);|}
                return x;
            }
            """), []),
        ["CastToInt"] = (InClass("""
            [Loss] public static partial float F(float x) => {|LOSS0101:(int)x|};
            """), []),
        ["CallToUserHelper"] = (InClass("""
            [Loss] public static partial float F(float x) => 2 * {|LOSS0102:Helper(x)|};
            private static float Helper(float v) => v;
            """), []),
        ["CallToMathMethodOutsideTheAliases"] = (InClass("""
            [Loss] public static partial float F(float x) => {|LOSS0102:MathF.Round(x)|};
            """), []),
        ["StringLocal"] = (InClass("""
            [Loss] public static partial float F(float x)
            {
                string {|LOSS0103:s = "a"|};
                return x;
            }
            """), []),
        ["SpanLocal"] = (InClass("""
            [Loss] public static partial float F(ReadOnlySpan<float> z)
            {
                var {|LOSS0103:copy = z|};
                return Sum(z);
            }
            """), []),
        ["SpanOutsideReduction"] = (InClass("""
            [Loss] public static partial float F(ReadOnlySpan<float> z, ReadOnlySpan<float> w) => {|LOSS0104:z|} == {|LOSS0104:w|} ? 1f : 0f;
            """), []),
        ["RowIndexedByConstant"] = (InClass("""
            [Loss] public static partial float F(ReadOnlySpan<float> z) => z[{|LOSS0104:0|}];
            """), []),
        ["BlockBodyWithoutReturn"] = (InClass("""
            [Loss] public static partial float F(float x)
            {|LOSS0105:{
                float y = x;
            }|}
            """), ["CS0161"]),
        // Parsing goes on after an error, and a local whose declaration was reported is not reported again where
        // it is used.
        // A syntax error is the compiler's to report; the generator adds nothing, but keeps the declaration.
        ["SyntaxErrorInBody"] = (InClass("""
            [Loss] public static partial float F(float x) => ;
            """), ["CS1525"]),
        ["SeveralErrorsInOneBody"] = (InClass("""
            [Loss] public static partial float F(float x)
            {
                string {|LOSS0103:s = "a"|};
                {|LOSS0101:while (x > 0) { }|}
                float y = {|LOSS0101:x % 2f|} + {|LOSS0102:Helper(x)|};
                return y;
            }
            private static float Helper(float v) => v;
            """), []),
    };

    /// <summary>
    /// The cases whose method no generated file can declare: its type (or an outer type) is not partial, or is
    /// file-local. Every other case gets a defining declaration, as declared or as LossDsl derives it.
    /// </summary>
    private static readonly HashSet<string> s_undeclarable = new() { "TypeNotPartial", "OuterTypeNotPartial", "FileLocalType" };

    public static TheoryData<string> Cases => new(s_cases.Keys);

    [Theory]
    [MemberData(nameof(Cases))]
    public void ReportsTheConstructAtItsSpan(string name)
    {
        var (markup, compilerErrors) = s_cases[name];
        // LossMathNotImported is the file without 'using static LossDsl.LossMath;'.
        string usings = name == "LossMathNotImported" ? GeneratorHarness.Usings.Replace("using static LossDsl.LossMath;\n", "") : GeneratorHarness.Usings;
        var (source, expected) = Markup.Parse(usings + markup);

        var result = GeneratorHarness.Run(source); // throws if the generator throws

        var actual = result.GeneratorDiagnostics
            .Select(d => new Markup.Expected(d.Id, d.Location.SourceSpan))
            .OrderBy(d => d.Span.Start).ThenBy(d => d.Id, StringComparer.Ordinal)
            .ToArray();
        if (!expected.SequenceEqual(actual))
            throw new XunitException($"Diagnostics differ.\nExpected:\n{Describe(source, expected)}\nActual:\n{Describe(source, actual)}\n" +
                                     string.Join("\n", result.GeneratorDiagnostics.Select(d => "  " + d)));

        foreach (var d in result.GeneratorDiagnostics)
        {
            Assert.Equal("Loss0.cs", d.Location.SourceTree?.FilePath ?? d.Location.GetLineSpan().Path);
            Assert.Equal(DiagnosticSeverity.Error, d.Severity);
            Assert.StartsWith("https://", d.Descriptor.HelpLinkUri);
            Assert.False(string.IsNullOrWhiteSpace(d.GetMessage()));
        }

        // A loss with errors still gets its defining declaration: no CS0759 (no defining declaration) and no CS8795
        // (no implementation) on top of ours, and no compiler error beyond those pinned per case.
        var errors = result.Errors.Select(d => d.Id).Distinct().OrderBy(id => id, StringComparer.Ordinal).ToArray();
        Assert.Equal(compilerErrors.OrderBy(id => id, StringComparer.Ordinal), errors);
        if (!s_undeclarable.Contains(name)) Assert.DoesNotContain("CS0759", errors);
        if (name != "DefiningDeclarationWithoutBody") Assert.DoesNotContain("CS8795", errors);
    }

    /// <summary>Every diagnostic the parser reports (declarations LOSS0001–0099, bodies LOSS0100–0199) has a case.</summary>
    [Fact]
    public void CaseCoverage()
    {
        var ids = s_cases.Values.SelectMany(c => Markup.Parse(c.Markup).Expected).Select(e => e.Id).ToHashSet();
        var parserIds = DiagnosticDescriptors.All.Select(d => d.Id).Where(id => string.CompareOrdinal(id, "LOSS0200") < 0);
        Assert.Equal(parserIds.OrderBy(x => x), ids.OrderBy(x => x));
    }

    [Fact]
    public void MarkupParserStripsMarkersAndRecordsSpans()
    {
        var (source, expected) = Markup.Parse("a {|X1:b {|Y2:c|}|} d");
        Assert.Equal("a b c d", source);
        Assert.Equal(new[] { new Markup.Expected("X1", new TextSpan(2, 3)), new Markup.Expected("Y2", new TextSpan(4, 1)) }, expected);
        Assert.Throws<FormatException>(() => Markup.Parse("{|X1:open"));
        Assert.Throws<FormatException>(() => Markup.Parse("close|}"));
    }

    [Theory]
    [InlineData("if (x > 0) return x;", "An 'if' statement is not supported in a loss body")]
    [InlineData("Console.WriteLine(x);", "An 'expression' statement is not supported in a loss body")]
    [InlineData("for (;;) { }", "A 'for' statement is not supported in a loss body")]
    [InlineData("using (null as IDisposable) { }", "A 'using' statement is not supported in a loss body")]
    public void UnsupportedStatementMessagesReadWell(string statement, string message)
    {
        var result = GeneratorHarness.Run(GeneratorHarness.Usings + InClass($$"""
            [Loss] public static partial float F(float x)
            {
                {{statement}}
                return -x;
            }
            """));
        var d = Assert.Single(result.GeneratorDiagnostics);
        Assert.StartsWith(message, d.GetMessage());
    }

    private static string Describe(string source, IEnumerable<Markup.Expected> diagnostics)
        => string.Concat(diagnostics.Select(d => $"  {d.Id} {d.Span}: \"{source.Substring(d.Span.Start, Math.Min(d.Span.Length, source.Length - d.Span.Start))}\"\n"));
}
