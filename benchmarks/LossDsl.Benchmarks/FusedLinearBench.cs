using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using LossDsl.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LossDsl.Benchmarks;

/// <summary>
/// The fused linear form against the materialized path, on CPU, in one run: a [4096, 1024] hidden batch, a 65,536-class
/// classifier, float32, forward + backward with hidden, classifier and bias all trained. Time, and peak memory as the
/// growth of the process's resident set over the step (Linux: VmHWM after resetting it through /proc/self/clear_refs).
/// </summary>
internal static class FusedLinearBench
{
    public const string CaseName = "FusedLinear-4096x1024x65536";
    private const long N = 4096, D = 1024, V = 65536;

    private sealed record Variant(string Label, Func<Tensor, Tensor, Tensor, Tensor, Tensor> Loss, string Note);

    public static void Run(int rounds)
    {
        Console.WriteLine($"== Fused linear cross-entropy: hidden [{N}, {D}], classifier [{V}, {D}] + bias, float32, forward+backward of hidden, classifier and bias");
        var g = new Generator(BenchCase.Seed);
        var hidden = torch.randn(new[] { N, D }, generator: g);
        var classifier = torch.randn(new[] { V, D }, generator: g).mul_(1 / Math.Sqrt(D));
        var bias = torch.zeros(V);
        var target = torch.randint(0, V, new[] { N }, generator: g);
        var variants = new[]
        {
            new Variant("LossDsl fused linear", (h, w, b, t) => BenchLosses.CrossEntropyLinear(h, w, b, t),
                $"chunks of {FusedLinear.ChunkRows(V, ScalarType.Float32)} rows (FusedLinear.MemoryBudget {FusedLinear.MemoryBudget >> 20} MiB)"),
            new Variant("materialized, TorchSharp cross_entropy", (h, w, b, t) => F.cross_entropy(F.linear(h, w, b), t),
                "linear, then the built-in cross_entropy: [N, V] logits and their gradient"),
            new Variant("materialized, LossDsl row kernel", (h, w, b, t) => BenchLosses.CrossEntropy(F.linear(h, w, b), t),
                "linear, then LossDsl's fused CPU row kernel on the [N, V] logits"),
        };
        long outputs = (N * D + V * D + V) * sizeof(float);

        // Warm-up, and the check that every variant computes the same loss and gradients.
        var reference = Step(variants[1], hidden, classifier, bias, target, keep: true);
        foreach (var v in variants.Where(v => v != variants[1]))
        {
            var r = Step(v, hidden, classifier, bias, target, keep: true);
            double worst = r.Grads.Zip(reference.Grads, (a, e) => (a - e).abs().max().item<float>() / e.abs().max().item<float>()).Max();
            Console.WriteLine($"   check {v.Label}: loss {r.Loss:F6} vs {reference.Loss:F6}, gradients max|Δ|/max|g| {worst:E1}");
            foreach (var t in r.Grads) t.Dispose();
        }
        foreach (var t in reference.Grads) t.Dispose();

        var ms = variants.ToDictionary(v => v, _ => new List<double>());
        var peak = variants.ToDictionary(v => v, _ => new List<long>());
        for (int round = 0; round < rounds; round++)
            for (int i = 0; i < variants.Length; i++)
            {
                var v = variants[(i + round) % variants.Length];
                var r = Step(v, hidden, classifier, bias, target, keep: false);
                ms[v].Add(r.Ms);
                peak[v].Add(r.PeakBytes);
            }

        var materialized = variants[1];
        double Median(IEnumerable<double> xs) => StepMeter.Median(xs.ToArray());
        double baseMs = Median(ms[materialized]), basePeak = Median(peak[materialized].Select(p => (double)p));
        Console.WriteLine($"   {"variant",-40} {"median ms",10} {"min ms",8} {"time vs materialized",21} {"peak extra MiB",15} {"of materialized",16} {"beyond the gradients",21}");
        foreach (var v in variants)
        {
            double m = Median(ms[v]), p = Median(peak[v].Select(x => (double)x));
            string memory = p < 0 ? "n/a" : $"{p / (1 << 20):F0}";
            string share = p < 0 || basePeak <= 0 ? "n/a" : $"{100 * p / basePeak:F1}%";
            string beyond = p < 0 || basePeak <= 0 ? "n/a" : $"{Math.Max(0, p - outputs) / (1 << 20):F0} MiB ({100 * Math.Max(0, p - outputs) / Math.Max(1, basePeak - outputs):F1}%)";
            Console.WriteLine($"   {v.Label,-40} {m,10:F0} {ms[v].Min(),8:F0} {m / baseMs,20:F2}× {memory,15} {share,16} {beyond,21}");
        }
        foreach (var v in variants) Console.WriteLine($"     {v.Label}: {v.Note}");
        Console.WriteLine($"   (the gradients every variant returns, of hidden, classifier and bias: {outputs / (1 << 20)} MiB; 'beyond the gradients' subtracts them)");
        double fusedMs = Median(ms[variants[0]]), fusedPeak = Median(peak[variants[0]].Select(x => (double)x));
        Console.WriteLine($"  {(fusedMs <= 1.2 * baseMs ? "MET " : "MISS")}  fused time within 1.2× of the materialized path: {fusedMs / baseMs:F2}×");
        if (basePeak > 0)
        {
            Console.WriteLine($"  {(fusedPeak <= 0.1 * basePeak ? "MET " : "MISS")}  fused peak extra memory ≤ 10% of the materialized path's: {100 * fusedPeak / basePeak:F1}%");
            Console.WriteLine($"  {((fusedPeak - outputs) <= 0.1 * (basePeak - outputs) ? "MET " : "MISS")}  (info) the same, beyond the returned gradients: {100 * (fusedPeak - outputs) / (basePeak - outputs):F1}%");
        }
        Console.WriteLine();
        foreach (var t in new[] { hidden, classifier, bias, target }) t.Dispose();
    }

    private sealed record Result(double Ms, long PeakBytes, double Loss, Tensor[] Grads);

    private static Result Step(Variant v, Tensor hidden, Tensor classifier, Tensor bias, Tensor target, bool keep)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var leaves = new[] { hidden, classifier, bias }.Select(t => t.detach().requires_grad_(true)).ToArray();
        bool tracked = ProcessMemory.ResetPeak();
        long before = ProcessMemory.Resident();
        var clock = Stopwatch.StartNew();
        double loss;
        using (var scope = torch.NewDisposeScope())
        {
            var l = v.Loss(leaves[0], leaves[1], leaves[2], target);
            l.backward();
            loss = l.item<float>();
        }
        double ms = clock.Elapsed.TotalMilliseconds;
        long peak = tracked ? ProcessMemory.Peak() - before : -1;
        var grads = keep ? leaves.Select(l => l.grad!.detach().clone()).ToArray() : Array.Empty<Tensor>();
        foreach (var l in leaves) { l.grad?.Dispose(); l.Dispose(); }
        return new Result(ms, peak, loss, grads);
    }
}

/// <summary>The process's resident set on Linux: now, and its peak since the last reset.</summary>
internal static class ProcessMemory
{
    /// <summary>Resets the peak (VmHWM) to the current resident set; false where that is not possible.</summary>
    public static bool ResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception) { return false; }
    }

    public static long Resident() => Field("VmRSS:");

    public static long Peak() => Field("VmHWM:");

    private static long Field(string name)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(name, StringComparison.Ordinal))
                return long.Parse(line.Substring(name.Length).Trim().Split(' ')[0]) * 1024;
        return -1;
    }
}
