using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Runtime.Intrinsics;
using System.Text;
using System.Threading.Tasks;
using LossDsl.Runtime;

namespace LossDsl.Benchmarks;

/// <summary>
/// The exps and logs per element that a case's generated CPU kernels compute (their vector loops: a Sigmoid is one exp, a
/// Softplus one exp and one log1p, a Pow by a small whole exponent none), and what else it costs per element.
/// Recount with <c>python3 eng/bench/count-transcendentals.py</c> after a build.
/// </summary>
public sealed record Transcendentals(double Exp, double Log, string Counted);

/// <summary>
/// The compute roofline beside the memory one: the measured throughput of the kernels' own float exp and log
/// (<see cref="LossVectorMath"/>, 512-bit vectors, on every core at once) times the exps and logs per element of each
/// case. A kernel can be no faster than this floor however its memory traffic is arranged.
/// </summary>
public static class ComputeRoofline
{
    /// <summary>Nanoseconds per element of one float exp and one float log, with every core busy.</summary>
    public sealed record Throughput(double ExpNs, double LogNs, int Cores);

    /// <summary>
    /// Times <see cref="LossVectorMath.Exp(Vector512{float})"/> and <see cref="LossVectorMath.Log(Vector512{float})"/> over a
    /// 16 KiB buffer per core (L1-resident, so memory does not bound it), on every core at once; the best of several runs.
    /// </summary>
    public static Throughput Measure()
    {
        int cores = Environment.ProcessorCount;
        const int n = 4096, sweeps = 2000;
        var buffers = Enumerable.Range(0, cores).Select(c => Enumerable.Range(0, n).Select(i => 0.5f + (i + c) % 97 / 13f).ToArray()).ToArray();
        double Time<TOp>() where TOp : struct, IVectorOp
        {
            double best = double.PositiveInfinity;
            for (int run = 0; run < 5; run++)
            {
                var sw = Stopwatch.StartNew();
                var sinks = new float[cores];
                Parallel.For(0, cores, new ParallelOptions { MaxDegreeOfParallelism = cores }, c => sinks[c] = Sweep<TOp>(buffers[c], sweeps));
                sw.Stop();
                if (sinks.Any(float.IsNaN)) throw new InvalidOperationException("exp/log produced NaN on positive inputs.");
                best = Math.Min(best, sw.Elapsed.TotalMilliseconds * 1e6 / ((double)n * sweeps * cores));
            }
            return best * cores;   // per element on one core; the floor divides by the cores again
        }
        return new Throughput(Time<ExpOp>(), Time<LogOp>(), cores);
    }

    /// <summary>One vector function, called through a struct type argument so that the JIT inlines it as a kernel does.</summary>
    private interface IVectorOp
    {
        static abstract Vector512<float> Apply(Vector512<float> x);
    }

    private struct ExpOp : IVectorOp
    {
        public static Vector512<float> Apply(Vector512<float> x) => LossVectorMath.Exp(x);
    }

    private struct LogOp : IVectorOp
    {
        public static Vector512<float> Apply(Vector512<float> x) => LossVectorMath.Log(x);
    }

    // Optimized at first call: run a few times with a long loop, it would otherwise stay in tier-0 code (with OSR).
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static float Sweep<TOp>(float[] x, int sweeps) where TOp : struct, IVectorOp
    {
        var acc = Vector512<float>.Zero;
        for (int s = 0; s < sweeps; s++)
            for (int i = 0; i <= x.Length - Vector512<float>.Count; i += Vector512<float>.Count)
                acc += TOp.Apply(Vector512.Create(x, i));
        return Vector512.Sum(acc);
    }

    /// <summary>The floor in ms of a case of <paramref name="elements"/> elements spread over every core.</summary>
    public static double FloorMs(Throughput t, long elements, Transcendentals c)
        => elements * (c.Exp * t.ExpNs + c.Log * t.LogNs) / t.Cores / 1e6;

    /// <summary>The table: per case, its exps and logs per element, its compute floor, its memory roofline and LossDsl's step.</summary>
    public static string Table(Throughput t, IEnumerable<QuickRunner.CaseResult> results, bool markdown)
    {
        var sb = new StringBuilder();
        string F(double v) => v.ToString(v >= 10 ? "F1" : "F2", CultureInfo.InvariantCulture);
        sb.AppendLine(FormattableString.Invariant(
            $"Compute roofline: float exp {t.ExpNs:F2} ns, log {t.LogNs:F2} ns per element on one core ({t.Cores} cores: {t.Cores / t.ExpNs:F2} G exp/s, {t.Cores / t.LogNs:F2} G log/s)"));
        if (markdown)
        {
            sb.AppendLine();
            sb.AppendLine("| case | elements | exp + log per element | compute floor ms | memory roofline min ms | LossDsl min ms | LossDsl ÷ compute floor | counted |");
            sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---|");
        }
        foreach (var r in results)
        {
            if (r.Case.Transcendentals is not { } c) continue;
            double floor = FloorMs(t, r.Case.Elements, c);
            double ours = r.Rows.FirstOrDefault(x => x.Variant.Kind == VariantKind.LossDsl)?.MinMs ?? double.NaN;
            double memory = r.Rows.FirstOrDefault(x => x.Variant.Kind == VariantKind.Roofline)?.MinMs ?? double.NaN;
            string counts = FormattableString.Invariant($"{c.Exp:0.##} exp + {c.Log:0.##} log");
            sb.AppendLine(markdown
                ? FormattableString.Invariant($"| {r.Case.Name} | {r.Case.Elements:N0} | {counts} | {F(floor)} | {F(memory)} | {F(ours)} | {ours / floor:F1}× | {c.Counted} |")
                : FormattableString.Invariant($"  {r.Case.Name,-32} {counts,-18} floor {F(floor),7} ms   memory {F(memory),7} ms   LossDsl {F(ours),7} ms = {ours / floor,5:F1}× the compute floor"));
        }
        return sb.ToString();
    }
}
