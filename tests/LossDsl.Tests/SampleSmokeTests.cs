using System;
using System.IO;
using System.Linq;
using Xunit;

namespace LossDsl.Tests;

/// <summary>
/// The samples CalibrationStudy and Segmentation, run in process at their --quick sizes (a few seconds each): they train,
/// measure, and write their report and pictures. Their numbers at these sizes mean nothing; that they run does.
/// </summary>
public class SampleSmokeTests
{
    [Fact]
    public void CalibrationStudyRunsAndReadsTheAnalyzersVerdicts()
    {
        string dir = Path.Combine(Path.GetTempPath(), "lossdsl-calibration-study-" + Guid.NewGuid().ToString("N"));
        try
        {
            var log = new StringWriter();
            var results = LossDsl.Samples.CalibrationStudy.Study.Run(LossDsl.Samples.CalibrationStudy.Study.Settings.Quick, dir, log);

            Assert.Equal(5, results.Count);
            Assert.All(results, r =>
            {
                Assert.InRange(r.Accuracy, 0, 1);
                Assert.InRange(r.Ece, 0, 1);
                Assert.True(double.IsFinite(r.Nll) && r.Nll > 0, $"{r.Loss.Method}: NLL {r.Nll}");
                Assert.Equal(r.Reliability.Count.Sum(), LossDsl.Samples.CalibrationStudy.Study.Settings.Quick.Test);
            });

            // The verdicts come from the compiler's log of the sample's own build, copied next to this assembly.
            string Verdict(string method) => Assert.Single(results.Single(r => r.Loss.Method == method).Verdicts).Short;
            Assert.StartsWith("LOSS0200 (info): proper", Verdict("CrossEntropy"));
            Assert.Matches(@"^LOSS0202 \(info\): .*\(under-confident\)$", Verdict("LabelSmoothing"));
            Assert.Matches(@"^LOSS0202 \(info\): .*\(under-confident\)$", Verdict("Focal"));
            Assert.Matches(@"^LOSS0202 \(info\): .*\(over-confident\)$", Verdict("Poly1"));
            Assert.StartsWith("LOSS0201 (warning, suppressed in source): not classification-calibrated", Verdict("DualFocal"));

            string report = File.ReadAllText(Path.Combine(dir, "results.md"));
            Assert.Contains("| loss | test accuracy | ECE (15 bins) |", report);
            foreach (var name in new[] { "reliability.png", "reliability-CrossEntropy.png", "reliability-DualFocal.png" })
                Assert.True(new FileInfo(Path.Combine(dir, name)).Length > 1000, name);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void SegmentationTrainsAndSavesPredictions()
    {
        string dir = Path.Combine(Path.GetTempPath(), "lossdsl-segmentation-" + Guid.NewGuid().ToString("N"));
        try
        {
            var epochs = LossDsl.Samples.Segmentation.SegmentationSample.Run(LossDsl.Samples.Segmentation.SegmentationSample.Settings.Quick, dir, new StringWriter());

            Assert.Equal(LossDsl.Samples.Segmentation.SegmentationSample.Settings.Quick.Epochs, epochs.Count);
            Assert.All(epochs, e =>
            {
                Assert.True(double.IsFinite(e.TrainLoss), $"epoch {e.Epoch}: loss {e.TrainLoss}");
                Assert.Equal(LossDsl.Samples.Segmentation.Shapes.Classes, e.Iou.Length);
                Assert.All(e.Iou, iou => Assert.InRange(iou, 0, 1));
            });
            Assert.True(epochs[^1].TrainLoss < epochs[0].TrainLoss, $"loss {epochs[0].TrainLoss} then {epochs[^1].TrainLoss}");
            Assert.True(new FileInfo(Path.Combine(dir, "predictions.png")).Length > 1000);
            Assert.Contains("| epoch | train loss |", File.ReadAllText(Path.Combine(dir, "results.md")));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }
}
