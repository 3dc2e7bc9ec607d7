using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection;
using LossDsl.Distributed;
using LossDsl.Losses;
using LossDsl.Runtime.Distributed;
using ScottPlot;
using TorchSharp;
using static TorchSharp.torch;

namespace LossDsl.Samples.DistributedContrastive;

public static class Sample
{
    /// <summary>Sizes: a global batch of <c>Batch</c> items of <c>Classes</c> Gaussian clusters in <c>Input</c> dimensions.</summary>
    private sealed record Settings(int Steps, long Batch, long Input, long Hidden, long Embedding, long Classes, double LearningRate)
    {
        public static readonly Settings Full = new(120, 256, 32, 64, 16, 8, 0.5);
        public static readonly Settings Quick = new(12, 64, 32, 64, 16, 8, 0.5);
    }

    private const int Ranks = 2;

    /// <summary>
    /// <c>[outdir] [--quick]</c>: the single-process run, then the two ranks under mpiexec.mpich, then the comparison and
    /// curves.png. <c>--rank outdir [--quick]</c> is what each MPI rank runs.
    /// </summary>
    public static int Run(string[] args)
    {
        bool quick = args.Contains("--quick");
        var settings = quick ? Settings.Quick : Settings.Full;
        var positional = args.Where(a => !a.StartsWith("--", StringComparison.Ordinal)).ToArray();
        if (args.Any(a => a.StartsWith("--", StringComparison.Ordinal) && a is not ("--quick" or "--rank")) || positional.Length > 1)
        {
            Console.Error.WriteLine("usage: DistributedContrastive [outdir] [--quick]");
            return 2;
        }
        string outDir = positional.Length > 0 ? positional[0] : Path.Combine(ProjectDirectory(), "out", "distributed-contrastive");
        Directory.CreateDirectory(outDir);
        torch.set_num_threads(1);
        if (args.Contains("--rank")) return RankMain(settings, outDir);

        var clock = Stopwatch.StartNew();
        var single = Train(settings, SingleProcessCollective.Instance);
        Console.WriteLine($"one process:   {single.Length} steps, SupCon {single[0]:F6} → {single[^1]:F6} ({clock.Elapsed.TotalSeconds:F1} s)");
        if (single.Any(v => !double.IsFinite(v))) { Console.WriteLine("FAILED: a loss is not finite"); return 1; }

        double[]? distributed = null;
        string? mpiexec = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(d => Path.Combine(d, "mpiexec.mpich")).FirstOrDefault(File.Exists);
        if (mpiexec is null)
            Console.WriteLine("mpiexec.mpich is not installed: the two-process run is skipped (bash eng/mpi/install.sh installs MPICH).");
        else
        {
            clock.Restart();
            distributed = LaunchRanks(mpiexec, outDir, quick);
            if (distributed is null) return 1;
            Console.WriteLine($"{Ranks} processes:   {distributed.Length} steps, SupCon {distributed[0]:F6} → {distributed[^1]:F6} ({clock.Elapsed.TotalSeconds:F1} s, launch included)");
            double gap = single.Zip(distributed, (a, b) => Math.Abs(a - b)).Max();
            Console.WriteLine($"largest |one process − {Ranks} processes| over the curve: {gap:E2}");
            if (distributed.Length != single.Length || !(gap <= 1e-9))
            {
                Console.WriteLine("FAILED: the two-process curve does not follow the one-process curve");
                return 1;
            }
        }
        string png = Path.Combine(outDir, "curves.png");
        Plot(single, distributed, settings, png);
        Console.WriteLine($"wrote {png}");
        return 0;
    }

    /// <summary>One rank of the two-process run: trains, and rank 0 writes the curve for the launcher.</summary>
    private static int RankMain(Settings settings, string outDir)
    {
        var comm = MpiCollective.World();
        try
        {
            var curve = Train(settings, comm);
            if (comm.Rank == 0) File.WriteAllLines(Path.Combine(outDir, "curve-2-ranks.csv"), curve.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
            comm.Barrier();
            comm.Dispose();
            return 0;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"rank {comm.Rank} failed: {e}");
            comm.Abort(1);
            return 1;
        }
    }

    private static double[]? LaunchRanks(string mpiexec, string outDir, bool quick)
    {
        var dll = Assembly.GetExecutingAssembly().Location;
        var info = new ProcessStartInfo(mpiexec) { UseShellExecute = false };
        foreach (var a in new[] { "-np", Ranks.ToString(), "dotnet", dll, "--rank", outDir }.Concat(quick ? new[] { "--quick" } : Array.Empty<string>()))
            info.ArgumentList.Add(a);
        var curveFile = Path.Combine(outDir, "curve-2-ranks.csv");
        File.Delete(curveFile);
        using var process = Process.Start(info)!;
        if (!process.WaitForExit(TimeSpan.FromMinutes(10)))
        {
            process.Kill(entireProcessTree: true);
            Console.WriteLine("FAILED: the two-process run took more than 10 minutes and was killed");
            return null;
        }
        if (process.ExitCode != 0 || !File.Exists(curveFile))
        {
            Console.WriteLine($"FAILED: mpiexec exited {process.ExitCode}");
            return null;
        }
        return File.ReadAllLines(curveFile).Select(l => double.Parse(l, CultureInfo.InvariantCulture)).ToArray();
    }

    /// <summary>
    /// The training: the same seeds on every rank (same initial model, same global batches); this rank takes its slice
    /// of each global batch. Over one process the slice is the whole batch and every collective is the identity.
    /// </summary>
    private static double[] Train(Settings s, ICollective comm)
    {
        manual_seed(42);
        var centers = randn(s.Classes, s.Input, dtype: ScalarType.Float64) * 1.5;
        var encoder = nn.Sequential(
            ("fc1", nn.Linear(s.Input, s.Hidden, dtype: ScalarType.Float64)),
            ("relu", nn.ReLU()),
            ("fc2", nn.Linear(s.Hidden, s.Embedding, dtype: ScalarType.Float64)));
        var parameters = encoder.parameters().ToArray();
        long mine = s.Batch / comm.Size + (comm.Rank < s.Batch % comm.Size ? 1 : 0);
        long start = Enumerable.Range(0, comm.Rank).Sum(r => s.Batch / comm.Size + (r < s.Batch % comm.Size ? 1 : 0));
        var curve = new double[s.Steps];
        var generator = new Generator(7);
        for (int step = 0; step < s.Steps; step++)
        {
            using var scope = torch.NewDisposeScope();
            // The global batch, drawn identically on every rank.
            var labels = randint(0, s.Classes, new[] { s.Batch }, generator: generator, dtype: ScalarType.Int64);
            var x = centers.index_select(0, labels) + randn(new[] { s.Batch, s.Input }, generator: generator, dtype: ScalarType.Float64);
            var (xLocal, yLocal) = (x.narrow(0, start, mine), labels.narrow(0, start, mine).contiguous());

            foreach (var p in parameters) p.grad?.zero_();
            var z = nn.functional.normalize(encoder.forward(xLocal), dim: 1);
            // This rank's anchors against every rank's items: [mine, Batch]; the gradient of the gathered columns goes
            // back to the rank that embedded them.
            var similarity = z.matmul(AllGatherFunction.Gather(comm, z).t());
            Tensor loss;
            using (LossSharding.Over(comm, ShardAxis.Batch)) loss = MetricLearning.SupCon(similarity, yLocal, temperature: 0.1);
            loss.backward();
            // The global loss's gradient is the sum of the ranks' parts.
            foreach (var p in parameters) comm.AllReduce(p.grad!, CollectiveOp.Sum);
            using (torch.no_grad())
                foreach (var p in parameters) p.add_(p.grad!, alpha: -s.LearningRate);
            curve[step] = loss.item<double>();
        }
        return curve;
    }

    private static void Plot(double[] single, double[]? distributed, Settings s, string path)
    {
        using var plot = new Plot();
        var steps = Enumerable.Range(1, single.Length).Select(i => (double)i).ToArray();
        var one = plot.Add.ScatterLine(steps, single, Colors.Black);
        one.LineWidth = 4;
        one.LegendText = "one process (global batch)";
        if (distributed is not null)
        {
            var two = plot.Add.ScatterLine(steps, distributed, new Color(230, 90, 30));
            two.LineWidth = 1.5f;
            two.LinePattern = LinePattern.Dashed;
            two.LegendText = $"{Ranks} MPI processes, SupCon over global negatives";
        }
        plot.Title($"SupCon training loss, global batch {s.Batch}" + (distributed is null ? " (MPI not installed: one curve)" : ""));
        plot.XLabel("step");
        plot.YLabel("SupCon loss");
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, 800, 500);
    }

    private static string ProjectDirectory()
        => typeof(Sample).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "ProjectDirectory")?.Value
           ?? Directory.GetCurrentDirectory();
}
