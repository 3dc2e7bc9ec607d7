using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using LossDsl.Generator.Analyze;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Xunit;
using Xunit.Abstractions;

namespace LossDsl.Analyzers.Tests;

/// <summary>
/// The calibration verdict of every loss in samples/, tests/LossDsl.Tests and the LOSSES.md catalogue, checked against
/// the verdicts LOSSES.md names. <see cref="PrintTable"/> prints the table of docs/calibration.md with measured times.
/// </summary>
public class VerdictTableTests(ITestOutputHelper output)
{
    private static readonly string[] Sources =
    {
        File.ReadAllText(Path.Combine(Harness.Root, "samples/LossDsl.Samples/Losses.cs")),
        File.ReadAllText(Path.Combine(Harness.Root, "tests/LossDsl.Tests/TestLosses.cs")),
        Catalogue.Source,
    };

    /// <summary>Expected verdict per loss, from LOSSES.md ("to be measured" rows record what we measured).</summary>
    public static readonly Dictionary<string, (VerdictKind Kind, string? Witness)> Expected = new()
    {
        ["Losses.Poly1"] = (VerdictKind.CalibratedNotProper, "over-confident"),
        ["Losses.Tversky"] = (VerdictKind.SetLoss, null),
        ["Losses.SupCon"] = (VerdictKind.NoVerdict, null),
        ["Losses.DiceCE"] = (VerdictKind.SetLoss, null),
        ["Losses.SigmoidFocal"] = (VerdictKind.ThresholdShifted, "at η = 0.9 the risk minimizer is q ="),
        ["TestLosses.Huber"] = (VerdictKind.NoVerdict, null),
        ["TestLosses.LabelSmoothedCE"] = (VerdictKind.CalibratedNotProper, "under-confident"),
        ["TestLosses.Distill"] = (VerdictKind.NoVerdict, null),
        ["TestLosses.WeightedAgreement"] = (VerdictKind.NoVerdict, null),
        ["TestLosses.ZLossCE"] = (VerdictKind.Proper, null),
        ["TestLosses.CrossEntropy"] = (VerdictKind.Proper, null),
        ["TestLosses.SoftmaxFocal"] = (VerdictKind.CalibratedNotProper, "under-confident"),
        ["TestLosses.Squentropy"] = (VerdictKind.CalibratedNotProper, "under-confident"),
        ["TestLosses.HardNegative"] = (VerdictKind.NoVerdict, null),   // Task = None
        ["TestLosses.SetNearest"] = (VerdictKind.NoVerdict, null),     // Task = None
        ["TestLosses.DualFocal"] = (VerdictKind.NotCalibrated, "(0.333, 0.333, 0.333)"),   // "to be measured": measured
        ["TestLosses.Intrinsics"] = (VerdictKind.NoVerdict, null),   // a regression-style body with no task
        ["TestLosses.NewIntrinsics"] = (VerdictKind.NoVerdict, null),   // issue 23's intrinsics, no task
        ["TestLosses.SetSpread"] = (VerdictKind.SetLoss, null),
        ["TestLosses.RowSpread"] = (VerdictKind.NotCalibrated, "(0.351, 0.351, 0.297)"),   // the spread term pulls toward uniform
        ["TestLosses.MarginCE"] = (VerdictKind.CalibratedNotProper, "under-confident"),   // softmax of the raw logits is flatter than of scale·z
        ["TestLosses.PairedIndexed"] = (VerdictKind.NoVerdict, null),
        ["TestLosses.Dpo"] = (VerdictKind.NoVerdict, null),
        ["TestLosses.SymmetricKL"] = (VerdictKind.NoVerdict, null),
        ["TestLosses.SoftF1"] = (VerdictKind.SetLoss, null),
        ["TestLosses.MeanPredictionEntropy"] = (VerdictKind.SetLoss, null),
        ["TestLosses.AucMSquare"] = (VerdictKind.SetLoss, null),
        ["TestLosses.PerImageDice"] = (VerdictKind.SetLoss, null),
        ["TestLosses.PerImageTop"] = (VerdictKind.SetLoss, null),
        ["TestLosses.SoftDice"] = (VerdictKind.SetLoss, null),
        ["TestLosses.PerImageJaccard"] = (VerdictKind.SetLoss, null),
        ["TestLosses.SegmentationFocal"] = (VerdictKind.SetLoss, null),
        ["TestLosses.BatchHardTriplet"] = (VerdictKind.NoVerdict, null),
        ["TestLosses.NTXent"] = (VerdictKind.NoVerdict, null),
        ["TestLosses.Circle"] = (VerdictKind.NoVerdict, null),
        ["ClassRow.CrossEntropy"] = (VerdictKind.Proper, null),
        ["ClassRow.LabelSmoothedCE"] = (VerdictKind.CalibratedNotProper, "under-confident"),
        ["ClassRow.Poly1"] = (VerdictKind.CalibratedNotProper, "over-confident"),
        ["ClassRow.PolyN"] = (VerdictKind.CalibratedNotProper, "over-confident"),
        ["ClassRow.SoftmaxFocal"] = (VerdictKind.CalibratedNotProper, "under-confident"),
        ["ClassRow.GeneralizedCE"] = (VerdictKind.CalibratedNotProper, null),
        ["ClassRow.MeanAbsoluteError"] = (VerdictKind.CalibratedNotProper, null),
        ["ClassRow.NormalizedCE"] = (VerdictKind.CalibratedNotProper, null),   // "to be measured": minimizer on the simplex boundary
        ["ClassRow.ReverseCE"] = (VerdictKind.CalibratedNotProper, null),
        ["ClassRow.Squentropy"] = (VerdictKind.CalibratedNotProper, null),
        ["ClassRow.ZLoss"] = (VerdictKind.Proper, null),
        ["ClassRow.Distill"] = (VerdictKind.NoVerdict, null),
        ["Elementwise.BceWithLogits"] = (VerdictKind.Proper, null),
        ["Elementwise.SigmoidFocal"] = (VerdictKind.CalibratedNotProper, "at η = 0.9 the risk minimizer is q = 0.694"),
        ["Elementwise.SigmoidFocalAlpha"] = (VerdictKind.ThresholdShifted, "η ≈ 0.75"),
        ["Elementwise.AsymmetricLoss"] = (VerdictKind.ThresholdShifted, "η ≈ 0.13"),
        ["Elementwise.Brier"] = (VerdictKind.Proper, null),
        ["Elementwise.ClampedLogLoss"] = (VerdictKind.Proper, null),
        ["Elementwise.Huber"] = (VerdictKind.NoVerdict, null),
        ["Elementwise.Quantile"] = (VerdictKind.NoVerdict, null),
        ["MarginLosses.Logistic"] = (VerdictKind.Calibrated, "φ′(0) = −0.5"),
        ["MarginLosses.Hinge"] = (VerdictKind.Calibrated, "φ′(0) = −1"),
        ["MarginLosses.SquaredHinge"] = (VerdictKind.Calibrated, "φ′(0) = −2"),
        ["MarginLosses.Exponential"] = (VerdictKind.Calibrated, "φ′(0) = −1"),
        ["MarginLosses.SquaredControl"] = (VerdictKind.NotCalibrated, "φ is convex and φ′(0) = 2 ≥ 0"),
        ["MarginLosses.SigmoidMargin"] = (VerdictKind.Calibrated, "not convex"),
        ["MarginLosses.IncreasingControl"] = (VerdictKind.NotCalibrated, "not convex"),
        ["SetLosses.SoftDice"] = (VerdictKind.SetLoss, null),
        ["SetLosses.FocalTversky"] = (VerdictKind.SetLoss, null),
        ["SetLosses.SoftJaccard"] = (VerdictKind.SetLoss, null),
    };

    public static IEnumerable<object[]> Names() => Expected.Keys.Select(k => new object[] { k });

    private static readonly Lazy<Dictionary<string, CalibrationVerdict>> s_verdicts = new(() =>
        Sources.SelectMany(s => Harness.Verdicts(s)).ToDictionary(v => v.Name, v => v.Verdict));

    [Theory]
    [MemberData(nameof(Names))]
    public void VerdictMatchesLossesMd(string name)
    {
        var v = s_verdicts.Value[name];
        var (kind, witness) = Expected[name];
        Assert.Equal(kind, v.Kind);
        if (witness is not null) Assert.Contains(witness, v.Summary + " " + v.Witness);
        Assert.True(v.NodeEvaluations <= CalibrationAnalysis.DefaultBudget);
    }

    [Fact]
    public void EveryAnalysedLossHasAnExpectation()
        => Assert.Empty(s_verdicts.Value.Keys.Except(Expected.Keys));

    [Theory]
    [InlineData("0f", VerdictKind.Proper)]
    [InlineData("1f", VerdictKind.CalibratedNotProper)]
    [InlineData("-1f", VerdictKind.CalibratedNotProper)]
    public void Poly1DependsOnEpsilonAtItsDefault(string epsilon, VerdictKind expected)
    {
        var v = Assert.Single(Harness.Verdicts(Harness.Usings + $$"""
            public static partial class P
            {
                [Loss] public static partial float Poly1(ReadOnlySpan<float> z, int t, float epsilon = {{epsilon}})
                    => -LogSoftmax(z, t) + epsilon * (1 - Softmax(z, t));
            }
            """)).Verdict;
        Assert.Equal(expected, v.Kind);
    }

    /// <summary>Prints the verdict table of docs/calibration.md, with the warm analysis time per loss (median of 5).</summary>
    [Fact]
    public void PrintTable()
    {
        var sb = new StringBuilder();
        // "per edit": the syntax-node phase an IDE runs on each keystroke; "build": the whole analysis, calibration included.
        sb.AppendLine("| loss | task | verdict | witness | node evaluations | per edit (ms) | build (ms) |");
        sb.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var src in Sources)
        {
            var compilation = Harness.Compile(src);
            var tree = compilation.SyntaxTrees.Single();
            var model = compilation.GetSemanticModel(tree);
            foreach (var m in tree.GetRoot().DescendantNodes().OfType<MethodDeclarationSyntax>())
            {
                if (model.GetDeclaredSymbol(m) is not IMethodSymbol symbol) continue;
                var attribute = symbol.GetAttributes().FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == "LossDsl.LossAttribute");
                if (attribute is null) continue;
                CalibrationVerdict? v = null;
                var times = new List<double>();
                var editTimes = new List<double>();
                for (int i = 0; i < 6; i++)
                {
                    var watch = Stopwatch.StartNew();
                    LossAnalyzer.Analyze(m, symbol, attribute, model, CalibrationAnalysis.DefaultBudget, CancellationToken.None, out v);
                    if (i > 0) times.Add(watch.Elapsed.TotalMilliseconds);
                    watch.Restart();
                    LossAnalyzer.AnalyzeOnEdit(m, symbol, attribute, model, CancellationToken.None);
                    if (i > 0) editTimes.Add(watch.Elapsed.TotalMilliseconds);
                }
                times.Sort();
                editTimes.Sort();
                sb.AppendLine($"| {symbol.ContainingType.Name}.{symbol.Name} | {v!.Task} | {v.Summary} | {v.Witness.Replace("|", "\\|")} | {v.NodeEvaluations:N0} | {editTimes[editTimes.Count / 2]:0.0} | {times[times.Count / 2]:0.0} |");
            }
        }
        output.WriteLine(sb.ToString());
        File.WriteAllText(Path.Combine(Path.GetTempPath(), "lossdsl-verdicts.md"), sb.ToString());
    }
}
