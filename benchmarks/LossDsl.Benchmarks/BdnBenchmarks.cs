using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using TorchSharp;

namespace LossDsl.Benchmarks;

/// <summary>
/// BenchmarkDotNet configuration: in-process (the TorchSharp native libraries, patched for Debian 12 by the
/// build, are already next to this assembly), a short job because each step takes milliseconds, and the
/// memory diagnoser for managed allocations per step.
/// </summary>
public static class BdnConfig
{
    public static IConfig Create() => ManualConfig.Create(DefaultConfig.Instance)
        .AddJob(Job.Default
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithLaunchCount(1)
            .WithWarmupCount(3)
            .WithIterationCount(11)
            .WithUnrollFactor(1)
            .WithId("InProcess"))
        .AddDiagnoser(MemoryDiagnoser.Default)
        .AddColumn(StatisticColumn.Median)
        .WithSummaryStyle(BenchmarkDotNet.Reports.SummaryStyle.Default.WithRatioStyle(RatioStyle.Trend));
}

/// <summary>
/// One BenchmarkDotNet class per case; every method is one forward+backward step (tensors freed by a dispose
/// scope). The baseline is LossDsl, so the Ratio column reads "how many times slower/faster than LossDsl".
/// </summary>
public abstract class CaseBenchmarks
{
    private BenchCase _case = null!;

    protected abstract string CaseName { get; }

    [GlobalSetup]
    public void Setup() => _case = BenchCase.Create(CaseName);

    [GlobalCleanup]
    public void Cleanup() => _case.Dispose();

    protected void Run(VariantKind kind)
    {
        using (torch.NewDisposeScope()) _case.Get(kind)!.Step();
    }

    [Benchmark(Baseline = true, Description = "LossDsl (CPU path)")]
    public void LossDsl() => Run(VariantKind.LossDsl);

    [Benchmark(Description = "TorchSharp eager")]
    public void TorchEager() => Run(VariantKind.TorchEager);

    [Benchmark(Description = "ILGPU CPU accelerator")]
    public void Ilgpu() => Run(VariantKind.Ilgpu);

    [Benchmark(Description = "LossDsl torch-ops")]
    public void TorchOps() => Run(VariantKind.TorchOps);

    [Benchmark(Description = "LossDsl, non-leaf input")]
    public void LossDslNonLeaf() => Run(VariantKind.LossDslNonLeaf);

    [Benchmark(Description = "Roofline")]
    public void Roofline() => Run(VariantKind.Roofline);

    [Benchmark(Description = "Roofline, fresh output")]
    public void RooflineFresh() => Run(VariantKind.RooflineFresh);
}

public abstract class CaseBenchmarksWithBuiltIn : CaseBenchmarks
{
    [Benchmark(Description = "TorchSharp built-in")]
    public void TorchBuiltIn() => Run(VariantKind.TorchBuiltIn);
}

public class Poly1_4096x1000 : CaseBenchmarksWithBuiltIn { protected override string CaseName => "Poly1-4096x1000"; }

public class Poly1_512x32000 : CaseBenchmarksWithBuiltIn { protected override string CaseName => "Poly1-512x32000"; }

public class CrossEntropy_4096x1000 : CaseBenchmarksWithBuiltIn { protected override string CaseName => "CE-4096x1000"; }

public class Tversky_16x4x256x256 : CaseBenchmarks { protected override string CaseName => "Tversky-16x4x256x256"; }

public class SigmoidFocal_4M : CaseBenchmarksWithBuiltIn { protected override string CaseName => "SigmoidFocal-4M"; }
