using System.Threading;
using System.Threading.Tasks;
using Xunit;

namespace LossDsl.Analyzers.Tests;

/// <summary>LOSS0200–LOSS0208, by ID, with Roslyn SDK markup.</summary>
public class CalibrationDiagnosticTests
{
    [Fact]
    public Task LOSS0208_FormsWithoutAVerdictSaySoUnlessTheTaskIsDeclared() => AnalyzerTest.RunAsync("""
        public static partial class L
        {
            [Loss]
            public static partial float {|LOSS0208:Contrastive|}(ReadOnlySpan<float> similarity, [Positives] ReadOnlySpan<float> positive, [Negatives] ReadOnlySpan<float> negative)
                => Sum(similarity, positive, negative, (s, p, n) => p * (1 - s) + n * Square(s));

            [Loss] public static partial float {|LOSS0208:Squared|}(float prediction, float target) => Square(prediction - target);
            [Loss(Task = LossTask.Regression)] public static partial float Declared(float prediction, float target) => Square(prediction - target);
            [Loss(Task = LossTask.None)] public static partial float OptedOut(float prediction, float target) => Square(prediction - target);
        }
        """);

    [Fact]
    public Task LOSS0210_FlatGradientOnBadlyWrongPredictions() => AnalyzerTest.RunAsync("""
        public static partial class L
        {
            // MAE over softmax probabilities: calibrated, but its gradient −p_t(1 − p_t) vanishes where p_t → 0.
            [Loss] public static partial float {|LOSS0202:{|LOSS0210:Mae|}|}(ReadOnlySpan<float> logits, int target) => 1 - Softmax(logits, target);

            // The sigmoid loss 1 − σ(v) on a margin: calibrated, flat for v ≪ 0.
            [Loss] public static partial float {|LOSS0200:{|LOSS0210:SigmoidMargin|}|}(float margin) => 1 - Sigmoid(margin);

            // Focal loss keeps a gradient of about −1 on the examples it gets most wrong: no LOSS0210.
            [Loss] public static partial float {|LOSS0202:Focal|}(ReadOnlySpan<float> logits, int target, float gamma = 2f)
            {
                float logp = LogSoftmax(logits, target);
                return -Pow(1 - Exp(logp), gamma) * logp;
            }
        }
        """);

    [Fact]
    public Task LOSS0200_ProperLossGetsAHiddenVerdict() => AnalyzerTest.RunAsync("""
        public static partial class L
        {
            [Loss] public static partial float {|LOSS0200:CrossEntropy|}(ReadOnlySpan<float> logits, int target) => -LogSoftmax(logits, target);
            [Loss(Task = LossTask.BinaryLogit)] public static partial float {|LOSS0200:Bce|}(float logit, float label) => Softplus(logit) - label * logit;
            [Loss] public static partial float {|LOSS0200:Logistic|}(float margin) => Softplus(-margin);
        }
        """);

    [Fact]
    public Task LOSS0201_ConvexMarginLossWithNonNegativeSlopeAtZero() => AnalyzerTest.RunAsync("""
        public static partial class L
        {
            [Loss] public static partial float {|LOSS0201:Control|}(float margin) => Square(1 + margin);
            [Loss] public static partial float {|LOSS0201:Increasing|}(float margin) => Sigmoid(margin);
        }
        """);

    [Fact]
    public Task LOSS0202_CalibratedButNotProper() => AnalyzerTest.RunAsync("""
        public static partial class L
        {
            [Loss]
            public static partial float {|LOSS0202:Poly1|}(ReadOnlySpan<float> logits, int target, float epsilon = 1f)
                => -LogSoftmax(logits, target) + epsilon * (1 - Softmax(logits, target));

            [Loss(Task = LossTask.BinaryLogit)]
            public static partial float {|LOSS0202:Focal|}(float logit, float target, float gamma = 2f)
            {
                float p = Sigmoid(logit);
                float pt = p * target + (1 - p) * (1 - target);
                return (Softplus(logit) - logit * target) * Pow(1 - pt, gamma);
            }
        }
        """);

    [Fact]
    public Task LOSS0203_SetLoss() => AnalyzerTest.RunAsync("""
        public static partial class L
        {
            [Loss(Shape = LossShape.ChannelSet)]
            public static partial float {|LOSS0203:Dice|}(ReadOnlySpan<float> p, ReadOnlySpan<float> y, float smooth = 1f)
            {
                float tp = Sum(p, y, (a, b) => a * b);
                return 1 - (2 * tp + smooth) / (Sum(p) + Sum(y) + smooth);
            }
        }
        """);

    [Fact]
    public Task LOSS0204_RequiredPropertyFails() => AnalyzerTest.RunAsync("""
        public static partial class L
        {
            [Loss(Require = Calibration.Proper)]
            public static partial float {|LOSS0204:Poly1|}(ReadOnlySpan<float> logits, int target, float epsilon = 1f)
                => -LogSoftmax(logits, target) + epsilon * (1 - Softmax(logits, target));

            [Loss(Require = Calibration.ClassificationCalibrated)]
            public static partial float {|LOSS0204:Control|}(float margin) => Square(1 + margin);

            [Loss(Require = Calibration.Proper)]
            public static partial float {|LOSS0200:CrossEntropy|}(ReadOnlySpan<float> logits, int target) => -LogSoftmax(logits, target);
        }
        """);

    [Fact]
    public async Task LOSS0205_BudgetCapIsReported()
    {
        var test = new AnalyzerTest("""
            public static partial class L
            {
                [Loss] public static partial float {|LOSS0205:CrossEntropy|}(ReadOnlySpan<float> logits, int target) => -LogSoftmax(logits, target);
            }
            """);
        test.TestState.AnalyzerConfigFiles.Add(("/.editorconfig", "root = true\n\n[*]\nlossdsl.calibration_budget = 100\n"));
        await test.RunAsync(CancellationToken.None);
    }

    [Fact]
    public Task LOSS0206_RequirementWithoutATask() => AnalyzerTest.RunAsync("""
        public static partial class L
        {
            [Loss(Require = Calibration.Proper)]
            public static partial float {|LOSS0206:Squared|}(float prediction, float target) => Square(prediction - target);
        }
        """);

    [Fact]
    public Task LOSS0207_ClassWeightingMovesTheThreshold() => AnalyzerTest.RunAsync("""
        public static partial class L
        {
            [Loss(Task = LossTask.BinaryLogit)]
            public static partial float {|LOSS0207:WeightedBce|}(float logit, float target, float alpha = 0.25f)
                => (alpha * target + (1 - alpha) * (1 - target)) * (Softplus(logit) - logit * target);
        }
        """);

    /// <summary>
    /// .editorconfig severities reach LossDsl's diagnostics as they reach any analyzer's: the compiler reads
    /// <c>dotnet_diagnostic.ID.severity</c> into the syntax tree options (csc does this with AnalyzerConfigSet).
    /// </summary>
    [Fact]
    public void SeverityIsConfigurableInEditorConfig()
    {
        const string editorconfig = "root = true\n\n[*.cs]\ndotnet_diagnostic.LOSS0204.severity = error\ndotnet_diagnostic.LOSS0201.severity = none\n";
        var source = Harness.Usings + """
            public static partial class L
            {
                [Loss(Require = Calibration.Proper)]
                public static partial float Poly1(ReadOnlySpan<float> logits, int target, float epsilon = 1f)
                    => -LogSoftmax(logits, target) + epsilon * (1 - Softmax(logits, target));

                [Loss] public static partial float Control(float margin) => Square(1 + margin);
            }
            """;
        var diagnostics = Harness.AnalyzeWithEditorConfig(editorconfig, source);
        var d = Assert.Single(diagnostics, x => x.Id == "LOSS0204");
        Assert.Equal(Microsoft.CodeAnalysis.DiagnosticSeverity.Error, d.Severity);
        Assert.DoesNotContain(diagnostics, x => x.Id == "LOSS0201");
    }
}
