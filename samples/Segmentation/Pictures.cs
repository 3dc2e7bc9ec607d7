using System;
using System.Collections.Generic;
using System.Linq;
using ScottPlot;

namespace LossDsl.Samples.Segmentation;

/// <summary>Input | true mask | prediction for a few test images, as ScottPlot heatmaps, with a color key.</summary>
public static class Pictures
{
    /// <summary>Background, circle, square, triangle.</summary>
    static readonly Color[] ClassColors = [new(20, 20, 20), new(230, 85, 13), new(49, 163, 84), new(49, 130, 189)];

    sealed class ClassColormap : IColormap
    {
        public string Name => "classes";
        public Color GetColor(double normalized)
            => ClassColors[Math.Clamp((int)Math.Round(normalized * (ClassColors.Length - 1)), 0, ClassColors.Length - 1)];
    }

    /// <param name="images">Per example, the [size, size] input.</param>
    /// <param name="masks">Per example, the [size, size] true classes.</param>
    /// <param name="predictions">Per example, the [size, size] predicted classes.</param>
    /// <param name="iou">Per example, the mean IoU of its prediction over the classes present in its mask or prediction.</param>
    public static void Save(string path, IReadOnlyList<double[,]> images, IReadOnlyList<double[,]> masks,
        IReadOnlyList<double[,]> predictions, IReadOnlyList<double> iou, string caption)
    {
        int examples = images.Count;
        var layout = new ScottPlot.MultiplotLayouts.CustomGrid();
        var plots = new List<Plot>();
        int rows = 2 * examples + 1;   // two grid rows per example, one for the key
        for (int e = 0; e < examples; e++)
        {
            var input = Panel(images[e], new ScottPlot.Colormaps.Grayscale(), null, $"test image {e + 1}");
            var mask = Panel(masks[e], new ClassColormap(), new ScottPlot.Range(0, Shapes.Classes - 1), "true mask");
            var prediction = Panel(predictions[e], new ClassColormap(), new ScottPlot.Range(0, Shapes.Classes - 1), $"prediction (IoU {iou[e]:F2})");
            foreach (var (plot, column) in new[] { (input, 0), (mask, 1), (prediction, 2) })
            {
                layout.Set(plot, new GridCell(2 * e, column, rows, 3, rowSpan: 2));
                plots.Add(plot);
            }
        }
        var key = new Plot();
        key.HideAxesAndGrid();
        key.Legend.ManualItems.AddRange(Shapes.ClassNames.Select((name, c) => new LegendItem
        {
            LabelText = name,
            FillColor = ClassColors[c],
            OutlineColor = Colors.Gray,
        }));
        key.Legend.Orientation = Orientation.Horizontal;
        key.Legend.FontSize = 16;
        key.ShowLegend(Alignment.MiddleCenter);
        key.Title(caption, size: 13);
        layout.Set(key, new GridCell(2 * examples, 0, rows, 3, colSpan: 3));
        plots.Add(key);

        var multiplot = new Multiplot(plots[0]);
        foreach (var plot in plots.Skip(1)) multiplot.AddPlot(plot);
        multiplot.Layout = layout;
        multiplot.SavePng(path, 3 * 230, examples * 230 + 115);
        foreach (var plot in plots) plot.Dispose();
    }

    static Plot Panel(double[,] values, IColormap colormap, ScottPlot.Range? range, string title)
    {
        var plot = new Plot();
        var heatmap = plot.Add.Heatmap(values);
        heatmap.Colormap = colormap;
        if (range is { } r) heatmap.ManualRange = r;
        plot.HideAxesAndGrid();
        plot.Axes.Margins(0.03, 0.03);
        plot.Title(title, size: 14);
        return plot;
    }
}
