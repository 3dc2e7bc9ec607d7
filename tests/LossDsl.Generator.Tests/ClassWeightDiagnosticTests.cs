using System.Collections.Immutable;
using System.Linq;
using LossDsl.Generator.Analyze;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Xunit;

namespace LossDsl.Generator.Tests;

/// <summary>
/// LOSS0209 at calls that pass class weights to a class-row loss. It needs the generated overloads to bind, so it runs
/// here, where generated code compiles against TorchSharp and the runtime.
/// </summary>
public class ClassWeightDiagnosticTests
{
    private const string Source = GeneratorHarness.Usings + """
        using TorchSharp;
        using static TorchSharp.torch;

        public static partial class L
        {
            [Loss] public static partial float CE(ReadOnlySpan<float> z, int t) => -LogSoftmax(z, t);

            [Loss] public static partial float Smoothed(ReadOnlySpan<float> z, int t, float smoothing = 0.1f)
            {
                float lse = LogSumExp(z);
                return (1 - smoothing) * -LogSoftmax(z, t) + smoothing * Mean(z, x => lse - x);
            }

            // Dual focal loss is not classification-calibrated (LOSS0201 on its declaration): no LOSS0209 at its calls.
            [Loss] public static partial float Spread(ReadOnlySpan<float> z, int t, float gamma = 2f)
            {
                float lse = LogSumExp(z);
                float logpt = z[t] - lse;
                float best = Max(z, (x, j) => j == t ? float.NegativeInfinity : x);
                return -Pow(1 - Exp(logpt) + Exp(best - lse), gamma) * logpt;
            }

            public static Tensor Train(Tensor logits, Tensor target, Tensor w)
            {
                var a = CE(logits, target, weight: w);                       // LOSS0209
                var b = CE(logits, target);                                  // no weights
                var c = CE(logits, target, weight: null);                    // no weights
                var d = new SmoothedLoss(weight: w).forward(logits, target); // LOSS0209, on the module
                var e = Spread(logits, target, weight: w);                   // not calibrated: no LOSS0209
                return a + b + c + d + e;
            }
        }
        """;

    private static ImmutableArray<Diagnostic> Diagnostics()
    {
        var result = GeneratorHarness.Run(Source);
        Assert.Empty(result.Errors);
        return result.Output.WithAnalyzers(ImmutableArray.Create<DiagnosticAnalyzer>(new LossAnalyzer()))
            .GetAnalyzerDiagnosticsAsync().Result.Where(d => d.Id == "LOSS0209").OrderBy(d => d.Location.SourceSpan.Start).ToImmutableArray();
    }

    [Fact]
    public void CallsThatPassClassWeightsToACalibratedLossGetTheThresholdInfo()
    {
        var found = Diagnostics();
        Assert.Equal(new[] { "weight: w", "weight: w" }, found.Select(d => d.Location.SourceTree!.GetText().ToString(d.Location.SourceSpan)));
        Assert.All(found, d => Assert.Equal(DiagnosticSeverity.Info, d.Severity));
        var message = found[0].GetMessage();
        Assert.Contains("'CE'", message);
        Assert.Contains("η = (0.3, 0.45, 0.25)", message);
        Assert.Contains("predicts class 0, not the most likely class 1", message);
        // Cross-entropy is proper, so its weighted minimizer is w·η normalized: (0.6, 0.45, 0.25) / 1.3.
        Assert.Contains("softmax(z*) = (0.462, 0.346, 0.192)", message);
        Assert.Contains("'Smoothed'", found[1].GetMessage());
    }
}
