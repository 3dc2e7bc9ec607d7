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

namespace LossDsl.Samples.CalibrationStudy;

/// <summary>One loss of the study: how to call it, and how to name it.</summary>
/// <param name="Method">The [Loss] method's name in Losses.cs, which the analyzer's diagnostics name.</param>
/// <param name="Label">The loss's name in the table and the plots.</param>
/// <param name="Loss">The generated tensor overload, called with the hyperparameter the method declares as its default.</param>
public sealed record StudyLoss(string Method, string Label, Func<Tensor, Tensor, Tensor> Loss);

/// <summary>What one loss's run measured on the test set.</summary>
public sealed record LossResult(StudyLoss Loss, double Accuracy, double Ece, double Nll, double MeanConfidence,
    Reliability Reliability, double Seconds, IReadOnlyList<Verdict> Verdicts);

/// <summary>
/// The calibration study: one MLP classifier, trained from the same initial weights on the same batches with each of the
/// five losses of Losses.cs, then measured on a held-out test set (accuracy, ECE with 15 equal-width bins on the
/// max-probability confidence, NLL), next to the calibration verdict the LossDsl analyzer gave each loss at compile time.
/// </summary>
public static class Study
{
    /// <summary>The data and training sizes; <c>--quick</c> shrinks them for the smoke test.</summary>
    public sealed record Settings(int Train, int Test, int Epochs, int Hidden)
    {
        public static readonly Settings Full = new(Train: 10000, Test: 10000, Epochs: 30, Hidden: 256);
        public static readonly Settings Quick = new(Train: 256, Test: 512, Epochs: 2, Hidden: 32);
    }

    const int Classes = 5, Dimensions = 10, ClustersPerClass = 2, BatchSize = 128, Bins = 15, Seed = 20240;
    const double ClusterSpread = 1.6, LabelNoise = 0.1, LearningRate = 1e-3;

    /// <summary>
    /// The five losses. Each call passes the hyperparameter the [Loss] method declares as its default, the value the
    /// analyzer checked.
    /// </summary>
    public static readonly StudyLoss[] Losses =
    [
        new(nameof(CalibrationStudy.Losses.CrossEntropy), "cross-entropy",
            (z, y) => CalibrationStudy.Losses.CrossEntropy(z, y, reduction: Reduction.Mean)),
        new(nameof(CalibrationStudy.Losses.LabelSmoothing), "label smoothing (ε = 0.1)",
            (z, y) => CalibrationStudy.Losses.LabelSmoothing(z, y, smoothing: 0.1, reduction: Reduction.Mean)),
        new(nameof(CalibrationStudy.Losses.Focal), "focal (γ = 3)",
            (z, y) => CalibrationStudy.Losses.Focal(z, y, gamma: 3.0, reduction: Reduction.Mean)),
        new(nameof(CalibrationStudy.Losses.Poly1), "Poly-1 (ε = 1)",
            (z, y) => CalibrationStudy.Losses.Poly1(z, y, epsilon: 1.0, reduction: Reduction.Mean)),
        new(nameof(CalibrationStudy.Losses.DualFocal), "dual focal (γ = 2)",
            (z, y) => CalibrationStudy.Losses.DualFocal(z, y, gamma: 2.0, reduction: Reduction.Mean)),
    ];

    /// <summary>
    /// Entry point: <c>[outdir] [--quick]</c>. Writes results.md and the reliability diagrams to outdir (default:
    /// out/calibration-study under the sample's directory) and prints the table. Returns the process exit code.
    /// </summary>
    public static int CommandLine(string[] args)
    {
        bool quick = args.Contains("--quick");
        var positional = args.Where(a => !a.StartsWith("--", StringComparison.Ordinal)).ToArray();
        var unknown = args.Where(a => a.StartsWith("--", StringComparison.Ordinal) && a != "--quick").ToArray();
        if (unknown.Length > 0 || positional.Length > 1)
        {
            Console.Error.WriteLine("usage: CalibrationStudy [outdir] [--quick]");
            return 2;
        }
        string outDir = Path.GetFullPath(positional.Length == 1 ? positional[0] : DefaultOutputDirectory());
        Directory.CreateDirectory(outDir);
        var results = Run(quick ? Settings.Quick : Settings.Full, outDir, Console.Out);
        return results.All(r => double.IsFinite(r.Nll)) ? 0 : 1;
    }

    /// <summary>Trains and measures every loss, writes the report and the plots to outDir, and returns the results.</summary>
    public static IReadOnlyList<LossResult> Run(Settings settings, string outDir, TextWriter log)
    {
        int threads = torch.get_num_threads();
        torch.set_num_threads(1);   // a small MLP: one thread is faster than two, and the results do not depend on the core count
        try
        {
            return RunOnOneThread(settings, outDir, log);
        }
        finally
        {
            torch.set_num_threads(threads);
        }
    }

    static IReadOnlyList<LossResult> RunOnOneThread(Settings settings, string outDir, TextWriter log)
    {
        var clock = Stopwatch.StartNew();
        Directory.CreateDirectory(outDir);

        string sarif = Path.Combine(AppContext.BaseDirectory, Verdicts.FileName);
        var verdicts = Verdicts.Read(sarif);
        if (verdicts.Count == 0)
            log.WriteLine($"warning: no calibration verdicts found in {sarif}; build the project to produce the compiler's log.");

        // ---- Data: a Gaussian mixture, two clusters per class, overlapping, with 10% of the labels replaced by a
        // uniformly drawn class (in both splits, so the test labels follow the distribution the model learns). ----
        var rng = new Random(Seed);
        var centers = new double[Classes * ClustersPerClass, Dimensions];
        for (int k = 0; k < centers.GetLength(0); k++)
            for (int d = 0; d < Dimensions; d++)
                centers[k, d] = ClusterSpread * Gaussian(rng);
        var (trainX, trainY) = Sample(settings.Train, centers, rng);
        var (testX, testY) = Sample(settings.Test, centers, rng);
        log.WriteLine($"data: {Classes} classes in {Dimensions} dimensions, {ClustersPerClass} Gaussian clusters per class, "
            + $"{LabelNoise:P0} label noise; {settings.Train} train / {settings.Test} test points");
        log.WriteLine($"model: MLP {Dimensions}-{settings.Hidden}-{settings.Hidden}-{Classes} (ReLU), Adam lr {LearningRate}, "
            + $"batch {BatchSize}, {settings.Epochs} epochs, no weight decay; the same initial weights and batches for every loss");
        log.WriteLine();

        var results = new List<LossResult>();
        foreach (var loss in Losses)
        {
            var lossClock = Stopwatch.StartNew();
            using var testLogits = Train(loss, settings, trainX, trainY, testX);
            var result = Measure(loss, testLogits, testY, lossClock, verdicts.GetValueOrDefault(loss.Method) ?? []);
            results.Add(result);
            log.WriteLine($"{loss.Label,-26} accuracy {result.Accuracy:P1}  ECE {result.Ece:F4}  NLL {result.Nll:F4}  ({result.Seconds:F1} s)");
        }
        trainX.Dispose(); trainY.Dispose(); testX.Dispose(); testY.Dispose();

        string table = Table(results);
        log.WriteLine();
        log.WriteLine(table);
        var report = new StringBuilder();
        report.AppendLine("# Calibration study").AppendLine();
        report.AppendLine($"{Classes}-class Gaussian mixture in {Dimensions} dimensions, {LabelNoise:P0} label noise, "
            + $"{settings.Train} train / {settings.Test} test points; MLP {Dimensions}-{settings.Hidden}-{settings.Hidden}-{Classes}, "
            + $"{settings.Epochs} epochs. ECE: {Bins} equal-width bins on the max-probability confidence. The verdicts are the "
            + $"LossDsl analyzer's, read from the compiler's log ({Verdicts.FileName}).").AppendLine();
        report.AppendLine(table).AppendLine();
        report.AppendLine("## The analyzer's messages").AppendLine();
        foreach (var r in results)
            foreach (var v in r.Verdicts)
                report.AppendLine($"- **{r.Loss.Method}** ({v.Id}, Losses.cs line {v.Line}{(v.Suppressed is null ? "" : "; suppressed in source")}): {v.Message}");
        File.WriteAllText(Path.Combine(outDir, "results.md"), report.ToString());

        foreach (var r in results)
            Plots.SaveReliability(r, Path.Combine(outDir, $"reliability-{r.Loss.Method}.png"));
        Plots.SaveReliabilityGrid(results, Path.Combine(outDir, "reliability.png"));
        log.WriteLine();
        log.WriteLine($"wrote {Path.Combine(outDir, "results.md")} and {results.Count + 1} reliability diagrams (reliability*.png) "
            + $"in {clock.Elapsed.TotalSeconds:F1} s");
        return results;
    }

    /// <summary>Trains a fresh MLP (the same seed for every loss) with the loss; returns its logits on the test set.</summary>
    static Tensor Train(StudyLoss loss, Settings settings, Tensor trainX, Tensor trainY, Tensor testX)
    {
        torch.manual_seed(Seed);
        var model = nn.Sequential(
            nn.Linear(Dimensions, settings.Hidden), nn.ReLU(),
            nn.Linear(settings.Hidden, settings.Hidden), nn.ReLU(),
            nn.Linear(settings.Hidden, Classes));
        var optimizer = optim.Adam(model.parameters(), lr: LearningRate);
        var order = new Random(Seed);
        int n = (int)trainX.shape[0];
        var indices = Enumerable.Range(0, n).Select(i => (long)i).ToArray();
        for (int epoch = 0; epoch < settings.Epochs; epoch++)
        {
            Shuffle(indices, order);
            for (int start = 0; start < n; start += BatchSize)
            {
                using var scope = torch.NewDisposeScope();
                var batch = torch.tensor(indices[start..Math.Min(start + BatchSize, n)]);
                optimizer.zero_grad();
                var value = loss.Loss(model.call(trainX.index_select(0, batch)), trainY.index_select(0, batch));
                value.backward();
                optimizer.step();
            }
        }
        model.eval();
        using (torch.no_grad())
        {
            var logits = model.call(testX);
            model.Dispose();
            optimizer.Dispose();
            return logits;
        }
    }

    /// <summary>Accuracy, ECE, NLL and the reliability bins of the test logits.</summary>
    static LossResult Measure(StudyLoss loss, Tensor logits, Tensor labels, Stopwatch clock, IReadOnlyList<Verdict> verdicts)
    {
        using var scope = torch.NewDisposeScope();
        var logProbabilities = nn.functional.log_softmax(logits.to_type(ScalarType.Float64), 1);
        double nll = -logProbabilities.gather(1, labels.unsqueeze(1)).mean().item<double>();
        var (maxLog, predicted) = logProbabilities.max(1);
        var confidence = maxLog.exp().data<double>().ToArray();
        var correct = predicted.eq(labels).data<bool>().ToArray();
        var reliability = Reliability.Of(confidence, correct, Bins);
        return new LossResult(loss, correct.Count(c => c) / (double)correct.Length, reliability.Ece, nll,
            confidence.Average(), reliability, clock.Elapsed.TotalSeconds, verdicts);
    }

    /// <summary>The Markdown table: measured calibration next to the compile-time verdict.</summary>
    public static string Table(IReadOnlyList<LossResult> results)
    {
        var s = new StringBuilder();
        s.AppendLine("| loss | test accuracy | ECE (15 bins) | NLL | mean confidence − accuracy | compile-time verdict (LossDsl analyzer) |");
        s.AppendLine("|---|---:|---:|---:|---:|---|");
        foreach (var r in results)
        {
            string verdict = r.Verdicts.Count == 0 ? "(no verdict in the compiler's log)" : string.Join("; ", r.Verdicts.Select(v => v.Short));
            s.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Loss.Label} | {r.Accuracy * 100:F1}% | {r.Ece:F4} | {r.Nll:F4} | {r.MeanConfidence - r.Accuracy:+0.000;−0.000;0.000} | {verdict} |"));
        }
        return s.ToString().TrimEnd();
    }

    static (Tensor X, Tensor Y) Sample(int n, double[,] centers, Random rng)
    {
        var x = new float[n, Dimensions];
        var y = new long[n];
        for (int i = 0; i < n; i++)
        {
            int label = rng.Next(Classes), cluster = label * ClustersPerClass + rng.Next(ClustersPerClass);
            for (int d = 0; d < Dimensions; d++) x[i, d] = (float)(centers[cluster, d] + Gaussian(rng));
            y[i] = rng.NextDouble() < LabelNoise ? rng.Next(Classes) : label;
        }
        return (torch.tensor(x), torch.tensor(y));
    }

    static void Shuffle(long[] a, Random rng)
    {
        for (int i = a.Length - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (a[i], a[j]) = (a[j], a[i]);
        }
    }

    /// <summary>A standard normal sample (Box–Muller).</summary>
    static double Gaussian(Random rng)
        => Math.Sqrt(-2.0 * Math.Log(1.0 - rng.NextDouble())) * Math.Cos(2.0 * Math.PI * rng.NextDouble());

    /// <summary>out/calibration-study under the sample's directory (recorded at build time), else under the current one.</summary>
    static string DefaultOutputDirectory()
    {
        string? project = typeof(Study).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "ProjectDirectory")?.Value;
        return Path.Combine(project is not null && Directory.Exists(project) ? project : Directory.GetCurrentDirectory(), "out", "calibration-study");
    }
}

/// <summary>The reliability bins: per equal-width confidence bin, the count, the mean confidence and the accuracy.</summary>
public sealed record Reliability(int[] Count, double[] Confidence, double[] Accuracy, double Ece)
{
    /// <summary>Bins (b/bins, (b+1)/bins]; ECE = Σ_b (n_b/N)·|accuracy_b − confidence_b|.</summary>
    public static Reliability Of(double[] confidence, bool[] correct, int bins)
    {
        var count = new int[bins];
        var sumConfidence = new double[bins];
        var sumCorrect = new double[bins];
        for (int i = 0; i < confidence.Length; i++)
        {
            int b = Math.Clamp((int)Math.Ceiling(confidence[i] * bins) - 1, 0, bins - 1);
            count[b]++;
            sumConfidence[b] += confidence[i];
            sumCorrect[b] += correct[i] ? 1 : 0;
        }
        var meanConfidence = new double[bins];
        var accuracy = new double[bins];
        double ece = 0;
        for (int b = 0; b < bins; b++)
        {
            if (count[b] == 0) continue;
            meanConfidence[b] = sumConfidence[b] / count[b];
            accuracy[b] = sumCorrect[b] / count[b];
            ece += count[b] / (double)confidence.Length * Math.Abs(accuracy[b] - meanConfidence[b]);
        }
        return new Reliability(count, meanConfidence, accuracy, ece);
    }
}
