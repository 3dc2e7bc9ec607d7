using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using LossDsl.Generator.Analyze;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Xunit;

namespace LossDsl.Analyzers.Tests;

/// <summary>
/// The ready-made losses of <c>src/LossDsl.Losses</c>, read from their source files: the analyzer's calibration verdict
/// of each, no stability warning on any, and the catalogue page <c>docs/losses.md</c>, generated from the sources (the
/// XML docs, the hyperparameters and their <c>[Range]</c>s) and the verdicts. The page test compares the committed
/// page with the generated text; with <c>LOSSDSL_ACCEPT=1</c> it rewrites the page instead.
/// </summary>
public class LossLibraryCatalogueTests
{
    /// <summary>The library's files, in the order of the page's sections.</summary>
    public static readonly string[] Families = { "Classification", "Binary", "Regression", "Robust", "Segmentation", "Overlap", "Lovasz", "MetricLearning", "PairLosses", "Ranking", "Distillation", "Preference", "Unsupervised", "Distributional" };

    private static string LibraryDirectory => Path.Combine(Harness.Root, "src", "LossDsl.Losses");

    private static string PagePath => Path.Combine(Harness.Root, "docs", "losses.md");

    private static readonly Lazy<string[]> s_sources = new(() =>
    {
        var files = Directory.GetFiles(LibraryDirectory, "*.cs").Select(Path.GetFileNameWithoutExtension).OrderBy(f => f, StringComparer.Ordinal).ToArray();
        Assert.Equal(Families.OrderBy(f => f, StringComparer.Ordinal), files);   // a new file needs a place on the page
        return Families.Select(f => File.ReadAllText(Path.Combine(LibraryDirectory, f + ".cs"))).ToArray();
    });

    private static readonly Lazy<Dictionary<string, (CalibrationVerdict Verdict, IReadOnlyList<Diagnostic> Diagnostics)>> s_analysis = new(() =>
        Harness.Verdicts(s_sources.Value).ToDictionary(v => v.Name, v => (v.Verdict, v.Diagnostics)));

    /// <summary>
    /// The expected verdict per loss. Where LOSSES.md names one, it is that; the others are what the analyzer measured, with
    /// a witness substring that pins the finding.
    /// </summary>
    public static readonly Dictionary<string, (VerdictKind Kind, string? Witness)> Expected = new()
    {
        ["Classification.CrossEntropy"] = (VerdictKind.Proper, null),
        ["Classification.LabelSmoothingCrossEntropy"] = (VerdictKind.CalibratedNotProper, "under-confident"),
        ["Classification.Poly1"] = (VerdictKind.CalibratedNotProper, "over-confident"),
        ["Classification.PolyN"] = (VerdictKind.CalibratedNotProper, "over-confident"),   // = Poly-1 at its defaults
        ["Classification.Focal"] = (VerdictKind.CalibratedNotProper, "under-confident"),
        ["Classification.DualFocal"] = (VerdictKind.NotCalibrated, "(0.333, 0.333, 0.333)"),   // LOSSES.md: "to be measured"
        ["Classification.GeneralizedCrossEntropy"] = (VerdictKind.CalibratedNotProper, "over-confident"),
        ["Classification.Mae"] = (VerdictKind.CalibratedNotProper, "softmax(z*) = (1, 0, 0)"),
        ["Classification.NormalizedCrossEntropy"] = (VerdictKind.CalibratedNotProper, "over-confident"),
        ["Classification.ReverseCrossEntropy"] = (VerdictKind.CalibratedNotProper, "softmax(z*) = (1, 0, 0)"),
        ["Classification.SymmetricCrossEntropy"] = (VerdictKind.CalibratedNotProper, "over-confident"),
        ["Classification.Squentropy"] = (VerdictKind.CalibratedNotProper, "under-confident"),
        ["Classification.TaylorCrossEntropy"] = (VerdictKind.CalibratedNotProper, "over-confident"),
        ["Classification.Brier"] = (VerdictKind.Proper, null),   // a strictly proper scoring rule
        ["Classification.Ldam"] = (VerdictKind.CalibratedNotProper, "under-confident"),   // at m = 1, s = 30
        ["Classification.LogitAdjusted"] = (VerdictKind.Proper, null),   // at log π = 0, where it is cross-entropy
        ["Classification.ZLoss"] = (VerdictKind.Proper, null),
        ["Classification.ConfidencePenalty"] = (VerdictKind.CalibratedNotProper, "under-confident"),
        ["Binary.BceWithLogits"] = (VerdictKind.Proper, null),
        ["Binary.SigmoidFocal"] = (VerdictKind.ThresholdShifted, "η ≈ 0.75"),
        ["Binary.Asymmetric"] = (VerdictKind.ThresholdShifted, "η ≈ 0.15"),
        ["Binary.AucM"] = (VerdictKind.NoVerdict, null),
        ["Distributional.HLGauss"] = (VerdictKind.NoVerdict, null),   // a float target per row: regression by classification
        ["Regression.Mse"] = (VerdictKind.NoVerdict, null),
        ["Regression.L1"] = (VerdictKind.NoVerdict, null),
        ["Regression.SmoothL1"] = (VerdictKind.NoVerdict, null),
        ["Regression.Huber"] = (VerdictKind.NoVerdict, null),
        ["Regression.PseudoHuber"] = (VerdictKind.NoVerdict, null),
        ["Regression.LogCosh"] = (VerdictKind.NoVerdict, null),
        ["Regression.Quantile"] = (VerdictKind.NoVerdict, null),
        ["Regression.GaussianNll"] = (VerdictKind.NoVerdict, null),
        ["Regression.PoissonNll"] = (VerdictKind.NoVerdict, null),
        ["Segmentation.Dice"] = (VerdictKind.SetLoss, null),
        ["Segmentation.Jaccard"] = (VerdictKind.SetLoss, null),
        ["Segmentation.Tversky"] = (VerdictKind.SetLoss, null),
        ["Segmentation.FocalTversky"] = (VerdictKind.SetLoss, null),
        ["Segmentation.SmpFocalTversky"] = (VerdictKind.NoVerdict, null),
        ["Segmentation.Mcc"] = (VerdictKind.SetLoss, null),
        ["Segmentation.MulticlassDice"] = (VerdictKind.SetLoss, null),
        ["Segmentation.MulticlassJaccard"] = (VerdictKind.SetLoss, null),
        ["Segmentation.MulticlassTversky"] = (VerdictKind.SetLoss, null),
        ["Lovasz.LovaszHinge"] = (VerdictKind.SetLoss, null),
        ["Lovasz.LovaszHingePerImage"] = (VerdictKind.SetLoss, null),
        ["Lovasz.LovaszSoftmax"] = (VerdictKind.SetLoss, null),
        ["Lovasz.LovaszSoftmaxPerImage"] = (VerdictKind.SetLoss, null),
        ["Ranking.TripletMarginAllTriplets"] = (VerdictKind.NoVerdict, null),
        ["Ranking.SmoothAP"] = (VerdictKind.NoVerdict, null),
        ["MetricLearning.SupCon"] = (VerdictKind.NoVerdict, null),
        ["MetricLearning.NTXent"] = (VerdictKind.NoVerdict, null),
        ["MetricLearning.Circle"] = (VerdictKind.NoVerdict, null),
        ["MetricLearning.BatchHardTriplet"] = (VerdictKind.NoVerdict, null),
        ["MetricLearning.MultiSimilarity"] = (VerdictKind.NoVerdict, null),
        ["Distillation.KL"] = (VerdictKind.NoVerdict, null),
        ["Distillation.SymmetricKL"] = (VerdictKind.NoVerdict, null),
        ["Preference.Dpo"] = (VerdictKind.NoVerdict, null),
        ["Preference.Ipo"] = (VerdictKind.NoVerdict, null),
        ["Robust.Welsch"] = (VerdictKind.NoVerdict, null),
        ["Robust.Cauchy"] = (VerdictKind.NoVerdict, null),
        ["Robust.GemanMcClure"] = (VerdictKind.NoVerdict, null),
        ["Overlap.LogCoshDice"] = (VerdictKind.SetLoss, null),
        ["Overlap.SelfAdjustingDice"] = (VerdictKind.SetLoss, null),
        ["Overlap.WeightedDice"] = (VerdictKind.SetLoss, null),
        ["Overlap.GeneralizedDice"] = (VerdictKind.NoVerdict, null),
        ["Overlap.GeneralizedDiceBatch"] = (VerdictKind.NoVerdict, null),
        ["Overlap.AnyLossFBeta"] = (VerdictKind.NoVerdict, null),
        ["PairLosses.Contrastive"] = (VerdictKind.NoVerdict, null),
        ["PairLosses.Nca"] = (VerdictKind.NoVerdict, null),
        ["Unsupervised.Entropy"] = (VerdictKind.NoVerdict, null),
        ["Unsupervised.InformationMaximization"] = (VerdictKind.NoVerdict, null),
    };

    public static IEnumerable<object[]> Names() => Expected.Keys.Select(k => new object[] { k });

    [Theory]
    [MemberData(nameof(Names))]
    public void VerdictAsExpected(string name)
    {
        Assert.True(s_analysis.Value.ContainsKey(name), $"{name} is not a loss of the library");
        var v = s_analysis.Value[name].Verdict;
        var (kind, witness) = Expected[name];
        Assert.Equal(kind, v.Kind);
        if (witness is not null) Assert.Contains(witness, v.Summary + " " + v.Witness);
        Assert.True(v.NodeEvaluations <= CalibrationAnalysis.DefaultBudget);
    }

    [Fact]
    public void EveryLibraryLossHasAnExpectation()
        => Assert.Empty(s_analysis.Value.Keys.Except(Expected.Keys));

    [Fact]
    public void AtLeastFortyLosses()
        => Assert.True(s_analysis.Value.Count >= 40, $"{s_analysis.Value.Count} losses");

    /// <summary>Every loss is written in its stable form: no stability warning (LOSS03xx) anywhere in the library.</summary>
    [Fact]
    public void NoStabilityWarnings()
    {
        // LOSS0306 is not a warning: it says which naive sub-expression the generator computes in a stable form.
        var found = s_analysis.Value.SelectMany(kv => kv.Value.Diagnostics.Where(d => d.Id.StartsWith("LOSS03", StringComparison.Ordinal) && d.Id != "LOSS0306")
            .Select(d => $"{kv.Key}: {d.Id} {d.GetMessage(CultureInfo.InvariantCulture)}")).ToList();
        Assert.True(found.Count == 0, string.Join("\n", found));
    }

    /// <summary>docs/losses.md is the page this test generates: it cannot go stale. LOSSDSL_ACCEPT=1 rewrites it.</summary>
    [Fact]
    public void CataloguePageIsCurrent()
    {
        string generated = Normalize(Page());
        if (Environment.GetEnvironmentVariable("LOSSDSL_ACCEPT") == "1")
        {
            File.WriteAllText(PagePath, generated, new UTF8Encoding(false));
            return;
        }
        Assert.True(File.Exists(PagePath), "docs/losses.md is missing: run the tests with LOSSDSL_ACCEPT=1");
        string committed = Normalize(File.ReadAllText(PagePath));
        if (committed == generated) return;
        var a = committed.Split('\n');
        var b = generated.Split('\n');
        int line = Enumerable.Range(0, Math.Min(a.Length, b.Length)).FirstOrDefault(k => a[k] != b[k], Math.Min(a.Length, b.Length));
        Assert.Fail($"docs/losses.md is stale (run the tests with LOSSDSL_ACCEPT=1). First difference at line {line + 1}:\n" +
            $"committed: {(line < a.Length ? a[line] : "(end)")}\ngenerated: {(line < b.Length ? b[line] : "(end)")}");
    }

    [Fact]
    public void PageHasOneRowPerLoss()
    {
        var rows = Page().Split('\n').Count(l => l.StartsWith("| `", StringComparison.Ordinal));
        Assert.Equal(s_analysis.Value.Count, rows);
    }

    private static string Normalize(string text) => text.Replace("\r\n", "\n").TrimEnd('\n') + "\n";

    private const string Header = """
# Ready-made losses

`LossDsl.Losses` (project `src/LossDsl.Losses`, package `LossDsl.Losses`) ships the losses below, each written in the
LossDsl language: the generator derives every gradient and emits the fused kernels, the torch-ops form, the tensor
overloads and a module for each. They are grouped in static classes by family, in the namespace `LossDsl.Losses`:

```csharp
using LossDsl.Losses;

var loss = Classification.Focal(logits, target, gamma: 2.0);                 // logits [N, C], target [N] int64
var criterion = new Segmentation.DiceLoss(smooth: 1.0);                        // a torch.nn.Module
var contrastive = MetricLearning.SupCon(z.matmul(z.t()), labels, temperature: 0.1);
```

Pass the hyperparameters by name: the overloads take the loss's parameter names, which follow PyTorch, TorchSharp or the
source library where an equivalent exists (`label_smoothing`, `delta`, `pos_weight`, `temperature`, `margin`, …). Each
hyperparameter declares its valid range with `[Range]`, listed below. The shapes are those of [dsl.md](dsl.md#shapes):
class rows `[N, C]` with int64 targets `[N]`, elementwise tensors of one shape, channel sets `[N, C, *spatial]`,
multiclass sets (logits `[N, C, *spatial]` and an int64 mask `[N, *spatial]`), and pair rows (an `[N, N]` similarity
or distance matrix and `[N]` labels).

The verdict column is the calibration analyzer's, at the hyperparameters' defaults ([calibration.md](calibration.md)):
*proper* means the risk minimizer's probabilities are the true ones; *classification-calibrated, not proper* that its
argmax is right but its confidences are distorted (over- or under-confident); a *threshold-shifted* loss decides at
another threshold than ½; set losses (Dice and its relatives) are not calibrated per element; regression, metric
learning, distillation and preference losses have no calibration verdict.

Each loss is tested, value and gradient, against an independent TorchSharp composition of its definition, on the fused
CPU, ILGPU and torch-ops backends (`tests/LossDsl.Tests/LossLibraryTests.cs`); the segmentation losses also reproduce
segmentation_models_pytorch's published test values, and the sigmoid focal loss torchvision's focal-loss properties.

The Lovász losses sort their errors (`SortedSum` with `CumSum`), the ranking losses nest a reduction inside a row
(`SumWithRow`), generalized Dice and smp's focal Tversky reduce across their classes (`SumOverClasses`,
`MeanOverClasses`, `MaxOverClasses`: one value per call or per image) and the contrastive loss across its anchors
(`SumOverAnchors`, a mean over pairs): they run on the torch-ops backend, whose nested
sums go per block of outer elements; the fused kernels decline them. Not in the library, because the DSL cannot express
it: CTC (a dynamic program over alignments). The coverage table at the end of this page counts the whole catalogue. Poly-N stops at N = 3 and Taylor cross-entropy at
order 4 (the DSL has no loops, and higher orders exhaust the calibration analysis's budget).

This page is generated from the sources and the analyzer by `tests/LossDsl.Analyzers.Tests/LossLibraryCatalogueTests.cs`;
do not edit it by hand (run the analyzer tests with `LOSSDSL_ACCEPT=1` to regenerate it).
""";

    /// <summary>The page: a header, then one table per family, one row per loss, in source order.</summary>
    public static string Page()
    {
        var sb = new StringBuilder(Header);
        var compilation = Harness.Compile(s_sources.Value);
        for (int f = 0; f < Families.Length; f++)
        {
            var tree = compilation.SyntaxTrees.ElementAt(f);
            var model = compilation.GetSemanticModel(tree);
            var type = tree.GetRoot().DescendantNodes().OfType<ClassDeclarationSyntax>().Single();
            var typeSymbol = model.GetDeclaredSymbol(type)!;
            sb.AppendLine();
            sb.AppendLine($"## {Families[f]}");
            sb.AppendLine();
            sb.AppendLine(Text(XElement.Parse(typeSymbol.GetDocumentationCommentXml()!).Element("summary")));
            sb.AppendLine();
            sb.AppendLine("| loss | shape (inputs) | formula | hyperparameters | calibration verdict | source |");
            sb.AppendLine("|---|---|---|---|---|---|");
            foreach (var m in type.Members.OfType<MethodDeclarationSyntax>())
            {
                var symbol = (IMethodSymbol)model.GetDeclaredSymbol(m)!;
                var attribute = symbol.GetAttributes().FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == "LossDsl.LossAttribute");
                if (attribute is null) continue;
                var doc = XElement.Parse(symbol.GetDocumentationCommentXml()!);
                var (verdict, _) = s_analysis.Value[$"{Families[f]}.{symbol.Name}"];
                string verdictText = verdict.Kind == VerdictKind.NoVerdict ? "—" : verdict.Summary + (verdict.Witness.Length > 0 ? ": " + verdict.Witness : "");
                sb.AppendLine("| " + string.Join(" | ",
                    $"`{Families[f]}.{symbol.Name}`",
                    Shape(symbol, attribute),
                    Text(doc.Element("summary")),
                    Hyperparameters(symbol),
                    verdictText,
                    Text(doc.Element("remarks"))).Replace("\n", " ") + " |");
            }
        }
        sb.Append(CoverageTable.Text);
        return sb.ToString();
    }

    private static bool Has(IParameterSymbol p, string attribute) => p.GetAttributes().Any(a => a.AttributeClass?.Name == attribute);

    private static string Shape(IMethodSymbol m, AttributeData attribute)
    {
        var data = m.Parameters.Where(p => !p.HasExplicitDefaultValue).ToList();
        string Named(string key) => attribute.NamedArguments.FirstOrDefault(a => a.Key == key).Value.Value?.ToString() ?? "";
        string sets = Named("Sets") == ((int)LossSets.PerImage).ToString(CultureInfo.InvariantCulture) ? ", per image"
            : Named("Sets") == ((int)LossSets.Whole).ToString(CultureInfo.InvariantCulture) ? ", whole batch" : "";
        string shape =
            data.Any(p => Has(p, "PositivesAttribute") || Has(p, "NegativesAttribute")) ? "pair rows"
            : data.Any(p => Has(p, "SoftmaxAttribute")) ? "multiclass set" + sets
            : Named("Shape") == ((int)LossShape.ChannelSet).ToString(CultureInfo.InvariantCulture) || Named("Sets") != "" ? "channel set" + (sets == "" ? ", per channel" : sets)
            : data.Any(p => p.Type.ToDisplayString().StartsWith("System.ReadOnlySpan", StringComparison.Ordinal)) ? "class row"
            : "elementwise";
        var inputs = data.Where(p => !Has(p, "PositivesAttribute") && !Has(p, "NegativesAttribute")).Select(p => p.Name).ToList();
        if (shape == "pair rows") inputs.Add("labels");
        return $"{shape} ({string.Join(", ", inputs)})";
    }

    private static string Hyperparameters(IMethodSymbol m)
    {
        var parts = m.Parameters.Where(p => p.HasExplicitDefaultValue).Select(p =>
        {
            string text = $"`{p.Name}` = {Number(Convert.ToDouble(p.ExplicitDefaultValue, CultureInfo.InvariantCulture))}";
            var range = p.GetAttributes().FirstOrDefault(a => a.AttributeClass?.Name == "RangeAttribute");
            if (range is null) return text;
            double min = (double)range.ConstructorArguments[0].Value!, max = (double)range.ConstructorArguments[1].Value!;
            bool minOpen = range.NamedArguments.Any(a => a.Key == "MinExclusive" && (bool)a.Value.Value!) || double.IsInfinity(min);
            bool maxOpen = range.NamedArguments.Any(a => a.Key == "MaxExclusive" && (bool)a.Value.Value!) || double.IsInfinity(max);
            return text + $" ∈ {(minOpen ? "(" : "[")}{Number(min)}, {Number(max)}{(maxOpen ? ")" : "]")}";
        }).ToList();
        return parts.Count == 0 ? "—" : string.Join("; ", parts);
    }

    private static string Number(double x)
    {
        if (double.IsPositiveInfinity(x)) return "∞";
        if (double.IsNegativeInfinity(x)) return "−∞";
        string s = ((float)x).ToString(CultureInfo.InvariantCulture);   // the declared float's shortest form: 0.1, not 0.10000000149
        s = Regex.Replace(s, @"E([+-])0*(\d+)", m => "e" + (m.Groups[1].Value == "-" ? "−" : "") + m.Groups[2].Value);
        return s.StartsWith('-') ? "−" + s.Substring(1) : s;
    }

    /// <summary>An XML doc element as Markdown: &lt;c&gt; as code, references by name, whitespace collapsed, pipes escaped.</summary>
    private static string Text(XElement? element)
    {
        if (element is null) return "";
        var sb = new StringBuilder();
        void Walk(XNode node)
        {
            switch (node)
            {
                case XText t: sb.Append(t.Value); break;
                case XElement e when e.Name == "c": sb.Append('`').Append(e.Value).Append('`'); break;
                case XElement e when e.Name == "paramref" || e.Name == "typeparamref": sb.Append('`').Append((string?)e.Attribute("name")).Append('`'); break;
                case XElement e when e.Name == "see": sb.Append('`').Append(((string?)e.Attribute("cref") ?? "").Split(':', '.').Last()).Append('`'); break;
                case XElement e:
                    sb.Append(' ');
                    foreach (var child in e.Nodes()) Walk(child);
                    sb.Append(' ');
                    break;
            }
        }
        foreach (var n in element.Nodes()) Walk(n);
        return Regex.Replace(sb.ToString(), @"\s+", " ").Trim().Replace("|", "\\|");
    }
}
