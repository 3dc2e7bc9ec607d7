using System;
using System.Globalization;
using System.Linq;
using System.Text.RegularExpressions;
using Xunit;

namespace LossDsl.Distributed.Tests;

/// <summary>
/// Every sharded form at 2 and 4 real MPI ranks against the single-process loss on the concatenated data (the worker
/// computes both on every rank; float64, uneven shards, rows ignored unevenly): the value and every gradient within 1e-12.
/// </summary>
public class MultiRankTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(150);

    /// <summary>The cases the worker must report: every sharded kind (the worker lists each loss of a kind).</summary>
    private static readonly string[] Required =
    {
        "collectives", "nccl-dry-run",
        "classes/CrossEntropy", "classes/CrossEntropy+weight", "classes/LabelSmoothingCrossEntropy", "classes/Focal", "classes/ZLoss", "classes/Ldam", "classes/LogitAdjusted",
        "classes/CrossEntropyLinear", "classes/Poly1Linear",
        "batch/CrossEntropy", "batch/CrossEntropy+weight", "batch/CrossEntropyLinear", "batch/Dice", "batch/Mcc", "batch/AucM", "batch/MulticlassDice", "batch/MulticlassJaccard",
        "batch/SupCon", "batch/NTXent", "batch/MultiSimilarity", "batch/Mse",
    };

    [MpiTheory]
    [InlineData(2)]
    [InlineData(4)]
    public void EveryShardedFormEqualsTheSingleProcessResult(int ranks)
    {
        var launch = MpiLauncher.Run(ranks, "all", Timeout);
        Assert.False(launch.TimedOut, launch.Describe());
        Assert.True(launch.ExitCode == 0, launch.Describe());
        var cases = Regex.Matches(launch.Output, @"^CASE (\S+) ranks=(\d+) value_err=(\S+) grad_err=(\S+) checks=(\d+)", RegexOptions.Multiline)
            .Select(m => (Name: m.Groups[1].Value, Ranks: int.Parse(m.Groups[2].Value), Value: Parse(m.Groups[3].Value), Grad: Parse(m.Groups[4].Value), Checks: int.Parse(m.Groups[5].Value)))
            .ToList();
        var missing = Required.Where(r => cases.All(c => c.Name != r)).ToList();
        Assert.True(missing.Count == 0, $"cases not reported: {string.Join(", ", missing)}\n{launch.Describe()}");
        var bad = cases.Where(c => c.Ranks != ranks || c.Checks == 0 || !(c.Value <= 1e-12) || !(c.Grad <= 1e-12 || c.Name == "nccl-dry-run")).ToList();
        Assert.True(bad.Count == 0, "cases off the single-process result by more than 1e-12:\n" + string.Join("\n", bad) + "\n" + launch.Describe());
    }

    /// <summary>A rank that throws aborts every rank (MPI_Abort): the launch ends at once, non-zero, with the rank's error.</summary>
    [MpiFact]
    public void AFailingRankFailsTheLaunchWithItsError()
    {
        var launch = MpiLauncher.Run(2, "fail", Timeout);
        Assert.False(launch.TimedOut, launch.Describe());
        Assert.NotEqual(0, launch.ExitCode);
        Assert.Contains("rank 1 of 2 failed", launch.Output);
        Assert.Contains("deliberate failure on the last rank", launch.Output);
    }

    /// <summary>A rank that never joins a collective: the launcher's timeout kills every process and says so.</summary>
    [MpiFact]
    public void AHangingRankIsKilledAtTheTimeout()
    {
        var launch = MpiLauncher.Run(2, "hang", TimeSpan.FromSeconds(12));
        Assert.True(launch.TimedOut, launch.Describe());
        Assert.InRange(launch.Elapsed.TotalSeconds, 12, 60);
        Assert.Contains("timed out and was killed", launch.Describe());
        // Every rank went with mpiexec: none is left waiting.
        var left = System.IO.Directory.GetDirectories("/proc").Select(d => System.IO.Path.Combine(d, "cmdline"))
            .Where(f => { try { var c = System.IO.File.ReadAllText(f); return c.Contains("LossDsl.Distributed.Worker.dll\0hang"); } catch (Exception) { return false; } })
            .ToList();
        Assert.True(left.Count == 0, $"ranks left running after the kill: {string.Join(", ", left)}");
    }

    private static double Parse(string s) => double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture);
}
