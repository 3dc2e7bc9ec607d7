using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace LossDsl.Benchmarks;

/// <summary>
/// Quick mode: every case, every variant, interleaved in one process. Per case: a correctness check (LossDsl's
/// loss and gradient against the eager composite), a warm-up (the first calls JIT-compile, and for ILGPU
/// compile the kernels), then <c>rounds</c> rounds that each time every variant (rotating the order), and the
/// medians of the per-round ratios. A variant's figure in one round is the median of a few back-to-back
/// steps, enough for about <see cref="TargetMsPerVariant"/> ms.
/// </summary>
public static class QuickRunner
{
    private const double TargetMsPerVariant = 20;
    private const int MaxReps = 5;

    /// <summary>ILGPU's CPU accelerator is left out of the quick rounds of a case when one warm step is slower than this.</summary>
    private const double IlgpuQuickLimitMs = 1500;

    /// <summary>One variant's figures. <see cref="Ratio"/>: against LossDsl on a leaf input; <see cref="RatioNonLeaf"/>:
    /// against LossDsl on a non-leaf input. For baselines, how many times faster LossDsl is (baseline ÷ LossDsl);
    /// for the roofline, LossDsl's time in roofline times (LossDsl ÷ roofline).</summary>
    public sealed record Row(Variant Variant, double MedianMs, double Ratio, double RatioNonLeaf, StepAllocation? Alloc, string? Skipped)
    {
        /// <summary>The fastest step seen (all rounds): the uncontended cost on a shared machine.</summary>
        public double MinMs { get; init; } = double.NaN;

        /// <summary>Quartiles of the per-round ratios against LossDsl (leaf input).</summary>
        public (double P25, double P75) RatioSpread { get; init; } = (double.NaN, double.NaN);
    }

    /// <param name="TorchOpsVsEager">Median of per-round (eager time ÷ torch-ops time): how many times faster the
    /// torch-ops backend is than the same formula in TorchSharp eager.</param>
    public sealed record CaseResult(BenchCase Case, List<Row> Rows, string Check, double TorchOpsVsEager);

    public static int Run(Options o)
    {
        var clock = Stopwatch.StartNew();
        Console.WriteLine(MachineInfo.Describe());
        Console.WriteLine($"quick mode: {o.Rounds} interleaved rounds per case; medians of per-round ratios");
        Console.WriteLine();

        var compute = ComputeRoofline.Measure();
        var results = new List<CaseResult>();
        foreach (var name in o.Cases)
        {
            if (name == FusedLinearBench.CaseName)
            {
                // Seconds per step (about 0.8 TFLOP of matmuls on 2 cores): three rounds are enough to rank the variants.
                FusedLinearBench.Run(Math.Min(o.Rounds, 3));
                continue;
            }
            using var c = BenchCase.Create(name);
            var r = RunCase(c, o);
            results.Add(r);
            Print(r);
            Console.Out.Flush();
        }

        Console.WriteLine(Summary(results));
        Console.WriteLine(ComputeRoofline.Table(compute, results, markdown: false));
        Console.WriteLine($"total {clock.Elapsed.TotalSeconds:F1} s");
        if (o.Markdown is not null)
        {
            System.IO.File.WriteAllText(o.Markdown, Markdown(results, o) + "\n" + ComputeRoofline.Table(compute, results, markdown: true));
            Console.WriteLine($"markdown table written to {o.Markdown}");
        }
        return 0;
    }

    public static CaseResult RunCase(BenchCase c, Options o)
    {
        var caseClock = Stopwatch.StartNew();
        var variants = c.Variants.Where(v => o.Variants.Contains(v.Kind) && !c.QuickSkips.ContainsKey(v.Kind)).ToList();
        string check = Check(c);

        // Warm up: JIT and tiering, ILGPU kernel compilation, allocator caches. Estimate each variant's step time.
        var estimate = new Dictionary<Variant, double>();
        foreach (var v in variants)
        {
            StepMeter.Time(v);
            double t = StepMeter.Time(v);
            if (t < 200) t = Math.Min(t, StepMeter.Time(v));
            estimate[v] = t;
        }
        var slow = new Dictionary<Variant, string>();
        foreach (var v in variants.Where(v => v.Kind == VariantKind.Ilgpu && estimate[v] > IlgpuQuickLimitMs))
            slow[v] = $"left out of the quick rounds: one warm step took {estimate[v]:F0} ms (figure from the warm-up)";
        var timed = variants.Where(v => !slow.ContainsKey(v)).ToList();
        var reps = timed.ToDictionary(v => v, v => (int)Math.Clamp(Math.Round(TargetMsPerVariant / Math.Max(estimate[v], 0.01)), 1, MaxReps));

        var perRound = timed.ToDictionary(v => v, _ => new List<double>());
        var best = timed.ToDictionary(v => v, _ => double.PositiveInfinity);
        for (int round = 0; round < o.Rounds; round++)
        {
            for (int i = 0; i < timed.Count; i++)
            {
                var v = timed[(i + round) % timed.Count];
                var ts = new double[reps[v]];
                for (int k = 0; k < ts.Length; k++) ts[k] = StepMeter.Time(v);
                perRound[v].Add(StepMeter.Median(ts));
                best[v] = Math.Min(best[v], ts.Min());
            }
        }

        var ours = timed.First(v => v.Kind == VariantKind.LossDsl);
        var oursNonLeaf = timed.FirstOrDefault(v => v.Kind == VariantKind.LossDslNonLeaf);
        double[] Ratios(Variant v, Variant? reference)
        {
            if (reference is null || !perRound.ContainsKey(v)) return Array.Empty<double>();
            return Enumerable.Range(0, o.Rounds).Select(i => v.Kind is VariantKind.Roofline or VariantKind.RooflineFresh
                ? perRound[reference][i] / perRound[v][i]
                : perRound[v][i] / perRound[reference][i]).OrderBy(r => r).ToArray();
        }
        double RatioTo(Variant v, Variant? reference) => StepMeter.Median(Ratios(v, reference));
        (double, double) Spread(Variant v)
        {
            var r = Ratios(v, ours);
            return r.Length == 0 ? (double.NaN, double.NaN) : (r[(r.Length - 1) / 4], r[(3 * (r.Length - 1) + 3) / 4]);
        }

        var rows = new List<Row>();
        foreach (var v in c.Variants.Where(v => o.Variants.Contains(v.Kind)))
        {
            if (c.QuickSkips.TryGetValue(v.Kind, out var why))
                rows.Add(new Row(v, double.NaN, double.NaN, double.NaN, null, why));
            else if (slow.TryGetValue(v, out why))
                rows.Add(new Row(v, estimate[v], estimate[v] / estimate[ours], oursNonLeaf is null ? double.NaN : estimate[v] / estimate[oursNonLeaf], StepMeter.Allocations(v, c), why));
            else
                rows.Add(new Row(v, StepMeter.Median(perRound[v]), RatioTo(v, ours), RatioTo(v, oursNonLeaf), StepMeter.Allocations(v, c), null)
                {
                    MinMs = best[v],
                    RatioSpread = Spread(v),
                });
        }
        if (o.Verbose) Console.WriteLine($"  ({c.Name}: {caseClock.Elapsed.TotalSeconds:F1} s, reps {string.Join(", ", reps.Select(kv => $"{kv.Key.Kind}={kv.Value}"))})");
        var torchOps = timed.FirstOrDefault(v => v.Kind == VariantKind.TorchOps);
        var eager = timed.FirstOrDefault(v => v.Kind == VariantKind.TorchEager);
        double torchOpsVsEager = torchOps is null || eager is null ? double.NaN : RatioTo(eager, torchOps);
        return new CaseResult(c, rows, check, torchOpsVsEager);
    }

    /// <summary>LossDsl's loss and gradient against the eager composite, so that every variant computes the same thing.</summary>
    private static string Check(BenchCase c)
    {
        var ours = c.Get(VariantKind.LossDsl)!;
        var eager = c.Get(VariantKind.TorchEager)!;
        using var scope = torch.NewDisposeScope();
        var (l1, x1) = ours.Step();
        var (l2, x2) = eager.Step();
        double dl = Math.Abs(l1!.item<float>() - l2!.item<float>()) / Math.Max(1e-12, Math.Abs(l2.item<float>()));
        var g1 = x1!.grad!;
        var g2 = x2!.grad!;
        double dg = (g1 - g2).abs().max().item<float>() / Math.Max(1e-30, g2.abs().max().item<float>());
        bool ok = dl < 1e-4 && dg < 1e-4;
        return FormattableString.Invariant($"{(ok ? "ok" : "MISMATCH")}: loss {l1.item<float>():G6} vs eager {l2.item<float>():G6} (rel {dl:E1}), gradient max|Δ|/max|g| {dg:E1}");
    }

    private static string Ms(double ms) => ms >= 100 ? ms.ToString("F0", CultureInfo.InvariantCulture) : ms >= 10 ? ms.ToString("F1", CultureInfo.InvariantCulture) : ms.ToString("F2", CultureInfo.InvariantCulture);

    private static string Bytes(long b) => b switch
    {
        >= 1 << 20 => (b / 1048576.0).ToString("F1", CultureInfo.InvariantCulture) + " MiB",
        >= 1 << 10 => (b / 1024.0).ToString("F1", CultureInfo.InvariantCulture) + " KiB",
        _ => b + " B",
    };

    private static string RatioText(VariantKind kind, double ratio, VariantKind self)
    {
        if (double.IsNaN(ratio)) return "";
        if (kind == self) return "ref";
        return kind switch
        {
            VariantKind.Roofline or VariantKind.RooflineFresh => $"{ratio:F2}× roofline",
            VariantKind.LossDsl or VariantKind.LossDslNonLeaf => $"{ratio:F2}×",
            _ => $"{ratio:F2}× faster",
        };
    }

    private static (string Ms, string Leaf, string NonLeaf) Cells(Row row)
    {
        if (double.IsNaN(row.MedianMs)) return ("not run", "", "");
        string star = row.Skipped is null ? "" : "*";
        return (Ms(row.MedianMs) + star,
                RatioText(row.Variant.Kind, row.Ratio, VariantKind.LossDsl),
                RatioText(row.Variant.Kind, row.RatioNonLeaf, VariantKind.LossDslNonLeaf));
    }

    private static string MinText(Row row) => double.IsNaN(row.MinMs) ? "" : Ms(row.MinMs);

    private static string SpreadText(Row row)
        => double.IsNaN(row.RatioSpread.P25) || row.Variant.Kind == VariantKind.LossDsl ? "" : $"{row.RatioSpread.P25:F2}–{row.RatioSpread.P75:F2}";

    private static string AllocText(StepAllocation? a)
        => a is { } x ? $"{Bytes(x.ManagedBytes)} / {x.Tensors} = {Bytes(x.NativeTensorBytes)}" : "";

    private static void Print(CaseResult r)
    {
        var c = r.Case;
        var roof = r.Rows.FirstOrDefault(x => x.Variant.Kind == VariantKind.Roofline);
        string bw = roof is null ? "" : $", roofline moves {c.RooflineBytes / 1e6:F0} MB = {c.RooflineBytes / 1e6 / roof.MedianMs:F1} GB/s";
        Console.WriteLine($"== {c.Name}, float32, forward+backward, reduction mean{bw}");
        Console.WriteLine($"   check {r.Check}");
        Console.WriteLine($"   {"variant",-24} {"median ms",10} {"min ms",8} {"LossDsl vs it",17} {"(p25–p75)",13} {"LossDsl non-leaf vs it",23}  {"managed / native tensors per step",-34}");
        foreach (var row in r.Rows)
        {
            var (ms, leaf, nonLeaf) = Cells(row);
            Console.WriteLine($"   {row.Variant.Label,-24} {ms,10} {MinText(row),8} {leaf,17} {SpreadText(row),13} {nonLeaf,23}  {AllocText(row.Alloc),-34}");
        }
        foreach (var row in r.Rows.Where(x => x.Skipped is not null)) Console.WriteLine($"   * {row.Variant.Label}: {row.Skipped}");
        Console.WriteLine();
    }

    private static string Summary(List<CaseResult> results)
    {
        var sb = new StringBuilder("Targets (medians of in-run ratios; LossDsl on a leaf input, and on a non-leaf input):\n");
        foreach (var r in results)
        {
            double Get(VariantKind k) => r.Rows.FirstOrDefault(x => x.Variant.Kind == k && x.Skipped is null)?.Ratio ?? double.NaN;
            double GetNonLeaf(VariantKind k) => r.Rows.FirstOrDefault(x => x.Variant.Kind == k && x.Skipped is null)?.RatioNonLeaf ?? double.NaN;
            string name = r.Case.Name;
            if (name.StartsWith("Poly-1") || name.StartsWith("Tversky"))
                sb.AppendLine(Verdict(name, "≥ 5× faster than TorchSharp eager", Get(VariantKind.TorchEager), GetNonLeaf(VariantKind.TorchEager), 5, higherIsBetter: true));
            if (name.StartsWith("SupCon") || name.StartsWith("Dice+CE"))
                sb.AppendLine(Verdict(name, "≥ 3× faster than TorchSharp eager", Get(VariantKind.TorchEager), GetNonLeaf(VariantKind.TorchEager), 3, higherIsBetter: true));
            if (name.StartsWith("CE"))
                sb.AppendLine(Verdict(name, "≥ 3× faster than built-in cross_entropy", Get(VariantKind.TorchBuiltIn), GetNonLeaf(VariantKind.TorchBuiltIn), 3, higherIsBetter: true));
            sb.AppendLine(Verdict(name, "within 4× of roofline", Get(VariantKind.Roofline), GetNonLeaf(VariantKind.Roofline), 4, higherIsBetter: false));
            sb.AppendLine(Verdict(name, "(info) within 4× of roofline, fresh output", Get(VariantKind.RooflineFresh), GetNonLeaf(VariantKind.RooflineFresh), 4, higherIsBetter: false));
        }
        sb.AppendLine("Torch-ops backend (the generated ops, forced onto CPU tensors) against the same formula in TorchSharp eager:");
        foreach (var r in results.Where(r => !double.IsNaN(r.TorchOpsVsEager)))
            sb.AppendLine($"  {(r.TorchOpsVsEager >= 1 ? "MET " : "MISS")}  {r.Case.Name,-32} {"no slower than TorchSharp eager",-42} {r.TorchOpsVsEager,6:F2}× faster");
        return sb.ToString();
    }

    private static string Verdict(string name, string what, double value, double nonLeaf, double target, bool higherIsBetter)
    {
        bool Met(double v) => higherIsBetter ? v >= target : v <= target;
        string Tag(double v) => double.IsNaN(v) ? "n/a " : Met(v) ? "MET " : "MISS";
        return $"  {Tag(value)}  {name,-32} {what,-42} {value,6:F2}×   (non-leaf input: {Tag(nonLeaf).Trim()} {nonLeaf:F2}×)";
    }

    /// <summary>The table as Markdown (for docs/performance.md).</summary>
    public static string Markdown(List<CaseResult> results, Options o)
    {
        var sb = new StringBuilder();
        sb.AppendLine(MachineInfo.Describe().Replace("\n", "  \n"));
        sb.AppendLine();
        sb.AppendLine("| case | variant | median ms | min ms | LossDsl vs it (p25–p75) | LossDsl non-leaf vs it | managed B/step | native tensors/step (.NET-visible) |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|");
        foreach (var r in results)
        {
            foreach (var row in r.Rows)
            {
                var (ms, leaf, nonLeaf) = Cells(row);
                string managed = row.Alloc is { } a ? a.ManagedBytes.ToString("N0", CultureInfo.InvariantCulture) : "";
                string native = row.Alloc is { } b ? $"{b.Tensors} = {Bytes(b.NativeTensorBytes)}" : "";
                string spread = SpreadText(row);
                sb.AppendLine($"| {r.Case.Name} | {row.Variant.Label} | {ms} | {MinText(row)} | {leaf}{(spread.Length > 0 ? $" ({spread})" : "")} | {nonLeaf} | {managed} | {native} |");
            }
        }
        foreach (var r in results)
            foreach (var row in r.Rows.Where(x => x.Skipped is not null))
                sb.AppendLine($"\n\\* {r.Case.Name}, {row.Variant.Label}: {row.Skipped}.");
        sb.AppendLine();
        sb.AppendLine("```");
        sb.AppendLine(Summary(results).TrimEnd());
        sb.AppendLine("```");
        return sb.ToString();
    }
}
