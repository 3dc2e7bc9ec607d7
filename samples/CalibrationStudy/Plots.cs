using System.Collections.Generic;
using System.Linq;
using System.Text.RegularExpressions;
using ScottPlot;

namespace LossDsl.Samples.CalibrationStudy;

/// <summary>Reliability diagrams with ScottPlot: per confidence bin, the accuracy, against the diagonal of perfect calibration.</summary>
public static class Plots
{
    static readonly Color AccuracyColor = new(120, 170, 215), GapColor = new(214, 39, 40);

    public static void SaveReliability(LossResult result, string path)
    {
        using var plot = Reliability(result);
        plot.SavePng(path, 560, 560);
    }

    /// <summary>The five diagrams and, in the sixth cell, their reliability curves on one set of axes.</summary>
    public static void SaveReliabilityGrid(IReadOnlyList<LossResult> results, string path)
    {
        var plots = results.Select(Reliability).ToList();
        plots.Add(Curves(results));
        var multiplot = new Multiplot(plots[0]);
        foreach (var plot in plots.Skip(1)) multiplot.AddPlot(plot);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Grid(2, 3);
        multiplot.SavePng(path, 1650, 1100);
        foreach (var plot in plots) plot.Dispose();
    }

    static Plot Reliability(LossResult result)
    {
        var plot = new Plot();
        var bins = result.Reliability;
        double width = 1.0 / bins.Count.Length;
        var accuracy = new List<Bar>();
        var gap = new List<Bar>();
        for (int b = 0; b < bins.Count.Length; b++)
        {
            if (bins.Count[b] == 0) continue;
            double center = (b + 0.5) * width;
            accuracy.Add(new Bar { Position = center, Value = bins.Accuracy[b], Size = width, FillColor = AccuracyColor, LineColor = Colors.Black, LineWidth = 0.5f });
            // The gap, hatched so that it reads the same above the accuracy bar (over-confident) and over it (under-confident).
            gap.Add(new Bar
            {
                Position = center, ValueBase = bins.Accuracy[b], Value = bins.Confidence[b], Size = width,
                FillColor = GapColor.WithAlpha(0.25), FillHatch = new ScottPlot.Hatches.Striped(), FillHatchColor = GapColor,
                LineColor = GapColor, LineWidth = 1f,
            });
        }
        plot.Add.Bars(accuracy).LegendText = "accuracy in the bin";
        plot.Add.Bars(gap).LegendText = "gap to the bin's mean confidence";
        var diagonal = plot.Add.Line(0, 0, 1, 1);
        diagonal.LinePattern = LinePattern.Dashed;
        diagonal.LineColor = Colors.Black;
        diagonal.LineWidth = 1.5f;
        diagonal.LegendText = "perfect calibration";

        Decorate(plot);
        string verdict = result.Verdicts.Count == 0 ? "no verdict in the compiler's log"
            : $"{result.Verdicts[0].Id}, {Regex.Replace(result.Verdicts[0].Summary, @"classification-calibrated but not proper \((\w+-confident)\)", "calibrated, not proper, $1")}";
        plot.Title($"{result.Loss.Label}\nECE {result.Ece:F3}, mean confidence − accuracy {result.MeanConfidence - result.Accuracy:+0.000;−0.000;0.000}\nanalyzer: {verdict}", size: 13);
        plot.ShowLegend(Alignment.UpperLeft);
        return plot;
    }

    static Plot Curves(IReadOnlyList<LossResult> results)
    {
        var plot = new Plot();
        var diagonal = plot.Add.Line(0, 0, 1, 1);
        diagonal.LinePattern = LinePattern.Dashed;
        diagonal.LineColor = Colors.Black;
        diagonal.LegendText = "perfect calibration";
        var palette = new ScottPlot.Palettes.Category10();
        for (int i = 0; i < results.Count; i++)
        {
            var bins = results[i].Reliability;
            var used = Enumerable.Range(0, bins.Count.Length).Where(b => bins.Count[b] > 0).ToArray();
            var line = plot.Add.ScatterLine(used.Select(b => bins.Confidence[b]).ToArray(), used.Select(b => bins.Accuracy[b]).ToArray(), palette.GetColor(i));
            line.LineWidth = 2;
            line.MarkerSize = 5;
            line.LegendText = $"{results[i].Loss.Label} (ECE {results[i].Ece:F3})";
        }
        Decorate(plot);
        plot.Title("all five\naccuracy against the mean confidence\nper bin", size: 13);
        plot.ShowLegend(Alignment.LowerRight);
        return plot;
    }

    static void Decorate(Plot plot)
    {
        plot.Axes.SetLimits(0, 1, 0, 1);
        plot.XLabel("confidence (max softmax probability)", size: 14);
        plot.YLabel("accuracy", size: 14);
    }
}
