using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Testing;
using Xunit;

namespace LossDsl.Analyzers.Tests;

/// <summary>LOSS0306: an info at each sub-expression the generator's rewrite stage computes in a stable form; none under Literal.</summary>
public class RewriteDiagnosticTests
{
    private static Task Run(string source, params DiagnosticResult[] expected)
    {
        var test = new AnalyzerTest(source);
        test.DisabledDiagnostics.Remove("LOSS0306");
        test.ExpectedDiagnostics.AddRange(expected);
        return test.RunAsync(CancellationToken.None);
    }

    private static DiagnosticResult Rewrite(int location) => new DiagnosticResult("LOSS0306", DiagnosticSeverity.Info).WithLocation(location);

    [Fact]
    public Task EachRewriteIsAnInfoAtItsSubExpression() => Run("""
        public static partial class L
        {
            [Loss(Task = LossTask.None)] public static partial float A(float x) => {|#0:Log(1 + x * x)|};
            [Loss(Task = LossTask.None)] public static partial float B(float x) => {|#1:Exp(x) - 1|} + x;
        }
        """, Rewrite(0), Rewrite(1));

    [Fact]
    public Task TheMessageNamesTheRuleAndTheBits() => Run("""
        public static partial class L
        {
            [Loss(Task = LossTask.None)] public static partial float A(float x) => {|#0:Log(1 + x * x)|};
        }
        """, Rewrite(0).WithMessage("'Log(1 + x * x)' is computed as log(1 + u) → log1p(u) (1 + u rounds away the bits of a small u): "
            + "float32 error 16.1 → 0.0 bits on average, 29.7 → 0.0 at worst, over sampled inputs"));

    [Fact]
    public Task LiteralHasNone() => Run("""
        public static partial class L
        {
            [Loss(Task = LossTask.None, Literal = true)] public static partial float A(float x) => Log(1 + x * x);
        }
        """);
}
