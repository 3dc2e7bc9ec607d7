using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;
using Reduction = TorchSharp.torch.nn.Reduction;

namespace LossDsl.Samples.Segmentation;

/// <summary>One epoch's numbers: the mean training loss and the test IoU per class.</summary>
public sealed record EpochResult(int Epoch, double TrainLoss, double[] Iou, double Seconds)
{
    public double MeanIou => Iou.Average();
}

/// <summary>
/// The segmentation sample: a small U-Net on synthetic shapes, trained with the DiceCE loss of Losses.cs (a multiclass
/// <c>[Softmax]</c> set loss: logits [N, 4, H, W] and an int64 mask [N, H, W]). Reports the test IoU per class after
/// each epoch and saves input | true mask | prediction for a few test images.
/// </summary>
public static class SegmentationSample
{
    /// <summary>The data and training sizes; <c>--quick</c> shrinks them for the smoke test.</summary>
    public sealed record Settings(int Train, int Test, int Size, int Epochs, int Channels)
    {
        public static readonly Settings Full = new(Train: 2048, Test: 256, Size: 32, Epochs: 4, Channels: 16);
        public static readonly Settings Quick = new(Train: 64, Test: 32, Size: 32, Epochs: 2, Channels: 4);
    }

    const int BatchSize = 32, Seed = 31, Examples = 4;
    const double LearningRate = 3e-3;

    /// <summary>Entry point: <c>[outdir] [--quick]</c>. Returns the process exit code.</summary>
    public static int CommandLine(string[] args)
    {
        bool quick = args.Contains("--quick");
        var positional = args.Where(a => !a.StartsWith("--", StringComparison.Ordinal)).ToArray();
        if (args.Any(a => a.StartsWith("--", StringComparison.Ordinal) && a != "--quick") || positional.Length > 1)
        {
            Console.Error.WriteLine("usage: Segmentation [outdir] [--quick]");
            return 2;
        }
        string outDir = Path.GetFullPath(positional.Length == 1 ? positional[0] : DefaultOutputDirectory());
        Directory.CreateDirectory(outDir);
        var epochs = Run(quick ? Settings.Quick : Settings.Full, outDir, Console.Out);
        return epochs.All(e => double.IsFinite(e.TrainLoss)) ? 0 : 1;
    }

    /// <summary>Trains, measures each epoch, writes results.md and predictions.png to outDir; returns the epochs' numbers.</summary>
    public static IReadOnlyList<EpochResult> Run(Settings settings, string outDir, TextWriter log)
    {
        // One thread: on a loaded 2-core machine two libtorch threads spin-wait on each other (an epoch took 5 s, then
        // 55 s, under other builds), and the results do not depend on the core count.
        int threads = torch.get_num_threads();
        torch.set_num_threads(1);
        try
        {
            return RunOnOneThread(settings, outDir, log);
        }
        finally
        {
            torch.set_num_threads(threads);
        }
    }

    static IReadOnlyList<EpochResult> RunOnOneThread(Settings settings, string outDir, TextWriter log)
    {
        var clock = Stopwatch.StartNew();
        Directory.CreateDirectory(outDir);
        torch.manual_seed(Seed);
        var rng = new Random(Seed);
        int size = settings.Size;

        var (trainImages, trainMasks) = Shapes.Make(settings.Train, size, rng);
        var (testImages, testMasks) = Shapes.Make(settings.Test, size, rng);
        using var trainX = torch.tensor(trainImages, [settings.Train, 1, size, size]);
        using var trainY = torch.tensor(trainMasks, [settings.Train, size, size]);
        using var testX = torch.tensor(testImages, [settings.Test, 1, size, size]);
        using var testY = torch.tensor(testMasks, [settings.Test, size, size]);

        var model = new UNet(settings.Channels, Shapes.Classes);
        var optimizer = optim.Adam(model.parameters(), lr: LearningRate);
        int steps = settings.Epochs * ((settings.Train + BatchSize - 1) / BatchSize);
        var schedule = optim.lr_scheduler.CosineAnnealingLR(optimizer, steps);   // the learning rate decays to 0 over the run
        long parameters = model.parameters().Sum(p => p.numel());
        log.WriteLine($"data: {settings.Train} train / {settings.Test} test images of {size}×{size}, 1–3 shapes each "
            + "(circle, square, triangle; random size, position, rotation and brightness; Gaussian noise)");
        log.WriteLine($"model: U-Net, {settings.Channels}-{2 * settings.Channels}-{4 * settings.Channels} channels, {parameters:N0} parameters; "
            + $"Adam lr {LearningRate} with cosine decay, batch {BatchSize}; loss DiceCE (multiclass Dice + cross-entropy, declared in Losses.cs)");
        log.WriteLine();
        string header = "| epoch | train loss | " + string.Join(" | ", Shapes.ClassNames.Select(c => $"IoU {c}")) + " | mean IoU | time |";
        string rule = "|---:|---:|" + string.Concat(Enumerable.Repeat("---:|", Shapes.Classes)) + "---:|---:|";
        log.WriteLine(header);
        log.WriteLine(rule);

        var results = new List<EpochResult>();
        var order = Enumerable.Range(0, settings.Train).Select(i => (long)i).ToArray();
        for (int epoch = 1; epoch <= settings.Epochs; epoch++)
        {
            var epochClock = Stopwatch.StartNew();
            model.train();
            Shuffle(order, rng);
            double lossSum = 0;
            int batches = 0;
            for (int start = 0; start < settings.Train; start += BatchSize)
            {
                using var scope = torch.NewDisposeScope();
                var batch = torch.tensor(order[start..Math.Min(start + BatchSize, settings.Train)]);
                optimizer.zero_grad();
                var logits = model.call(trainX.index_select(0, batch));
                var loss = Losses.DiceCE(logits, trainY.index_select(0, batch), reduction: Reduction.Mean);
                loss.backward();
                optimizer.step();
                schedule.step();
                lossSum += loss.item<float>();
                batches++;
            }
            var (iou, _) = Evaluate(model, testX, testY);
            var result = new EpochResult(epoch, lossSum / batches, iou, epochClock.Elapsed.TotalSeconds);
            results.Add(result);
            log.WriteLine(Row(result));
        }

        // ---- Predictions for the first few test images. ----
        var (_, predicted) = Evaluate(model, testX, testY);
        int examples = Math.Min(Examples, settings.Test);
        var images = new List<double[,]>();
        var masks = new List<double[,]>();
        var predictions = new List<double[,]>();
        var exampleIou = new List<double>();
        for (int e = 0; e < examples; e++)
        {
            images.Add(Grid(testImages, e, size, v => v));
            masks.Add(Grid(testMasks, e, size, v => v));
            predictions.Add(Grid(predicted, e, size, v => v));
            exampleIou.Add(ImageIou(testMasks, predicted, e, size));
        }
        var last = results[^1];
        Pictures.Save(Path.Combine(outDir, "predictions.png"), images, masks, predictions, exampleIou,
            $"test images after {settings.Epochs} epoch{(settings.Epochs == 1 ? "" : "s")} (test mean IoU {last.MeanIou:F3})");

        var report = new StringBuilder();
        report.AppendLine("# Segmentation").AppendLine();
        report.AppendLine($"{settings.Train} train / {settings.Test} test synthetic {size}×{size} images; U-Net {settings.Channels}-{2 * settings.Channels}-"
            + $"{4 * settings.Channels}; loss DiceCE (multiclass Dice + cross-entropy). IoU over all test pixels, per class.").AppendLine();
        report.AppendLine(header).AppendLine(rule);
        foreach (var r in results) report.AppendLine(Row(r));
        File.WriteAllText(Path.Combine(outDir, "results.md"), report.ToString());
        model.Dispose();
        optimizer.Dispose();
        log.WriteLine();
        log.WriteLine($"wrote {Path.Combine(outDir, "results.md")} and predictions.png in {clock.Elapsed.TotalSeconds:F1} s");
        return results;
    }

    static string Row(EpochResult r) => string.Create(CultureInfo.InvariantCulture,
        $"| {r.Epoch} | {r.TrainLoss:F4} | {string.Join(" | ", r.Iou.Select(v => v.ToString("F3", CultureInfo.InvariantCulture)))} | {r.MeanIou:F3} | {r.Seconds:F1} s |");

    /// <summary>IoU per class over every test pixel (intersection and union summed over the images), and the predicted classes.</summary>
    static (double[] Iou, long[] Predicted) Evaluate(UNet model, Tensor x, Tensor y)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        model.eval();
        var predicted = new List<long>();
        for (long start = 0; start < x.shape[0]; start += 64)
        {
            long count = Math.Min(64, x.shape[0] - start);
            predicted.AddRange(model.call(x.narrow(0, start, count)).argmax(1).data<long>().ToArray());
        }
        var truth = y.data<long>().ToArray();
        var intersection = new long[Shapes.Classes];
        var union = new long[Shapes.Classes];
        for (int i = 0; i < truth.Length; i++)
        {
            long t = truth[i], p = predicted[i];
            if (t == p) { intersection[t]++; union[t]++; }
            else { union[t]++; union[p]++; }
        }
        return (intersection.Zip(union, (i, u) => u == 0 ? 1.0 : i / (double)u).ToArray(), predicted.ToArray());
    }

    /// <summary>One image's mean IoU over the classes in its mask or its prediction.</summary>
    static double ImageIou(long[] truth, long[] predicted, int image, int size)
    {
        var intersection = new long[Shapes.Classes];
        var union = new long[Shapes.Classes];
        for (int i = image * size * size; i < (image + 1) * size * size; i++)
        {
            if (truth[i] == predicted[i]) { intersection[truth[i]]++; union[truth[i]]++; }
            else { union[truth[i]]++; union[predicted[i]]++; }
        }
        return Enumerable.Range(0, Shapes.Classes).Where(c => union[c] > 0).Average(c => intersection[c] / (double)union[c]);
    }

    static double[,] Grid<T>(T[] values, int image, int size, Func<T, double> convert)
    {
        var grid = new double[size, size];
        for (int r = 0; r < size; r++)
            for (int c = 0; c < size; c++)
                grid[r, c] = convert(values[(image * size + r) * size + c]);
        return grid;
    }

    static void Shuffle(long[] a, Random rng)
    {
        for (int i = a.Length - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (a[i], a[j]) = (a[j], a[i]);
        }
    }

    /// <summary>out/segmentation under the sample's directory (recorded at build time), else under the current one.</summary>
    static string DefaultOutputDirectory()
    {
        string? project = typeof(SegmentationSample).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "ProjectDirectory")?.Value;
        return Path.Combine(project is not null && Directory.Exists(project) ? project : Directory.GetCurrentDirectory(), "out", "segmentation");
    }
}
