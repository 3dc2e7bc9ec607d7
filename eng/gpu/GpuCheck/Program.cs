using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using LossDsl.Runtime;
using static TorchSharp.torch;

namespace LossDsl.GpuCheck;

/// <summary>A generated loss: its definition and its hyperparameters' defaults, from its declaring class.</summary>
internal sealed record GpuCheckLoss(string Name, LossDefinition Definition, double[] Hyper);

/// <summary>
/// The device check. <c>LossDsl.GpuCheck OUT [--dry-run] [--torch FILE]</c>:
/// <list type="number">
/// <item>Truth: every [Loss] of LossDsl.Samples, LossDsl.Losses and the test suite (TestLosses.cs), on random inputs, through the ILGPU kernels on
/// <see cref="LossAccelerator.Current"/> (on a GPU: CUDA in the primary context, on memory from cuMemAlloc) against the
/// fused CPU kernels on the same inputs in host memory: first in float64, with predictions of 25·N(0, 1) so that Softplus,
/// LogSigmoid and Log1p run in their tails, then in float32 with float32 and bfloat16 inputs.</item>
/// <item>Speed: the benchmark cases, forward + backward per call, with the effective bandwidth (each input read once,
/// each output written once) as a fraction of a device-to-device copy measured in the same run.</item>
/// </list>
/// Writes OUT/gpu-check.md (with the PyTorch timings of --torch, if given) and exits 1 if a truth check fails.
/// With --ptx it runs <see cref="PtxCheck"/> instead, which needs no device.
/// --dry-run uses small sizes; with LOSSDSL_ACCELERATOR=cpu it runs on ILGPU's CPU accelerator, as CI does.
/// </summary>
public static unsafe class Program
{
    public static int Main(string[] args)
    {
        if (args.Length == 0 || args[0].StartsWith("--", StringComparison.Ordinal))
        {
            Console.Error.WriteLine("usage: LossDsl.GpuCheck OUT [--dry-run] [--torch torch.json] | LossDsl.GpuCheck OUT --ptx [--ptxas PATH]");
            return 2;
        }
        string outDir = Path.GetFullPath(args[0]);
        if (args.Contains("--ptx"))
        {
            int ptxasAt = Array.IndexOf(args, "--ptxas");
            return PtxCheck.Run(outDir, ptxasAt >= 0 && ptxasAt + 1 < args.Length ? args[ptxasAt + 1] : null);
        }
        bool dry = args.Contains("--dry-run");
        int torchAt = Array.IndexOf(args, "--torch");
        string? torchFile = torchAt >= 0 && torchAt + 1 < args.Length ? args[torchAt + 1] : null;
        Directory.CreateDirectory(outDir);

        var acc = LossAccelerator.Current;
        var memory = acc is CudaAccelerator ? (Memory)new CudaMemory(acc) : new HostMemory();
        var report = new StringBuilder();
        report.AppendLine($"# LossDsl device check{(dry ? " (dry run)" : "")}").AppendLine();
        report.AppendLine($"Accelerator: {acc.Name} ({acc.AcceleratorType}), {acc.NumMultiprocessors} multiprocessors, warp {acc.WarpSize}, " +
            $"at most {acc.MaxNumThreadsPerGroup} threads per group. {LossAccelerator.WhyNotTorchCuda ?? "Kernels run in the device's primary context."}").AppendLine();

        var losses = Discover();
        // float64 first: the kernels' own math (Exp, Log1p, Softplus...) in its tails, where a GPU math library's error shows.
        int failures = Truth(acc, memory, losses, report, ScalarType.Float64);
        failures += Truth(acc, memory, losses, report, ScalarType.Float32, ScalarType.BFloat16);
        Speed(acc, memory, losses, dry, torchFile, report);

        File.WriteAllText(Path.Combine(outDir, "gpu-check.md"), report.ToString());
        Console.WriteLine(report);
        return failures == 0 ? 0 : 1;
    }

    internal static List<GpuCheckLoss> Discover()
    {
        var found = new List<GpuCheckLoss>();
        foreach (var assembly in new[] { typeof(LossDsl.Losses.Classification).Assembly, typeof(LossDsl.Samples.Losses).Assembly, typeof(Program).Assembly })
        {
            var kernels = assembly.GetTypes().Where(t => t.Namespace == "LossDsl.Generated" && t.GetField("Definition") is not null).ToList();
            foreach (var type in assembly.GetTypes().Where(t => t.Namespace != "LossDsl.Generated"))
                foreach (var method in type.GetMethods(BindingFlags.Public | BindingFlags.Static).Where(m => m.GetParameters().Any(p => p.ParameterType == typeof(Backend))))
                {
                    string prefix = type.FullName!.Replace('.', '_').Replace('+', '_') + "_" + method.Name + "_Kernels_";
                    var k = kernels.FirstOrDefault(t => t.Name.StartsWith(prefix, StringComparison.Ordinal));
                    if (k is null || found.Any(f => f.Name == $"{type.Name}.{method.Name}")) continue;
                    var def = (LossDefinition)k.GetField("Definition")!.GetValue(null)!;
                    var hyper = def.HyperNames.Select(h => method.GetParameters().FirstOrDefault(p => p.Name == h) is { HasDefaultValue: true } p
                        ? Convert.ToDouble(p.DefaultValue, CultureInfo.InvariantCulture) : 0.5).ToArray();
                    found.Add(new GpuCheckLoss($"{type.Name}.{method.Name}", def, hyper));
                }
        }
        return found.OrderBy(l => l.Name, StringComparer.Ordinal).ToList();
    }

    /// <summary>The truth sizes of a loss's shape: a prediction's dimensions.</summary>
    private static long[] TruthDims(LossDefinition def) => def.Layout switch
    {
        ElementLayout => new long[] { 3000 },
        ClassRowLayout => new long[] { 67, 1000 },
        PairRowLayout => new long[] { 48, 48 },
        _ => new long[] { 3, 4, 33, 35 },
    };

    private static int Truth(Accelerator acc, Memory memory, List<GpuCheckLoss> losses, StringBuilder report, params ScalarType[] storages)
    {
        bool f64 = storages[0] == ScalarType.Float64;
        // Per element: relative + a fraction of the largest |expected|.
        var (relative, absolute) = f64 ? (1e-11, 1e-12) : (2e-4, 1e-5);
        if (f64)
        {
            report.AppendLine("## Truth in float64: ILGPU kernels against the fused CPU path, large logits").AppendLine();
            report.AppendLine("Random inputs in float64, predictions 25·N(0, 1), so that Softplus, LogSigmoid and Log1p run in their tails; loss and " +
                "gradient in float64, by the float64 kernels (LossKernelMath on the device; the CPU path's vectors use .NET's Vector512 math). " +
                "Tolerance per element 10⁻¹¹ relative + 10⁻¹² of the largest |expected|; NaN must match NaN.").AppendLine();
        }
        else
        {
            report.AppendLine("## Truth: ILGPU kernels against the fused CPU path").AppendLine();
            report.AppendLine("Random inputs, stored as float32 or bfloat16 (the CPU path reads the same values in float32); loss and gradient " +
                "in float32. Tolerance per element 2·10⁻⁴ relative + 10⁻⁵ of the largest |expected|; NaN must match NaN.").AppendLine();
        }
        report.AppendLine("| loss | shape | prediction | inputs | loss max error | gradient max error | result |");
        report.AppendLine("|---|---|---|---|---|---|---|");
        int failures = 0, runs = 0;
        foreach (var loss in losses)
        foreach (var storage in storages)
        {
            runs++;
            string verdict;
            double lossErr = 0, gradErr = 0;
            var compute = f64 ? ScalarType.Float64 : ScalarType.Float32;
            if (!loss.Definition.Supports(Backend.Ilgpu, compute) || !loss.Definition.Supports(Backend.Cpu, compute))
            {
                // A loss that sorts or nests a reduction has no fused kernels (its backend table says so): torch ops run it.
                report.AppendLine($"| {loss.Name} | {loss.Definition.Layout} | [{string.Join(", ", TruthDims(loss.Definition))}] | {storage.ToString().ToLowerInvariant()} | — | — | skipped: no fused kernels (torch-ops only) |");
                continue;
            }
            try
            {
                using var problem = Problem.Random(loss, TruthDims(loss.Definition), memory, seed: loss.Name.Length * 7919, storage);
                var (cpuLoss, cpuGrad) = problem.RunCpu();
                problem.RunIlgpu(acc, memory);
                var (gpuLoss, gpuGrad) = problem.Download(memory);
                lossErr = Compare(cpuLoss, gpuLoss, relative, absolute);
                gradErr = Compare(cpuGrad, gpuGrad, relative, absolute);
                verdict = lossErr <= 1 && gradErr <= 1 ? "ok" : "FAIL";
            }
            catch (Exception e) when (e is NotSupportedException or ArgumentException)
            {
                verdict = "skipped: " + e.Message.Replace('|', '/');
            }
            catch (Exception e)
            {
                verdict = "FAIL: " + e.GetType().Name + ": " + e.Message.Replace('|', '/');
            }
            if (verdict.StartsWith("FAIL", StringComparison.Ordinal)) failures++;
            report.AppendLine($"| {loss.Name} | {loss.Definition.Layout} | [{string.Join(", ", TruthDims(loss.Definition))}] | {storage.ToString().ToLowerInvariant()} | {lossErr:0.00} | {gradErr:0.00} | {verdict} |");
        }
        report.AppendLine().AppendLine($"Errors are in units of the tolerance (≤ 1 passes). {losses.Count} losses; {runs - failures} of {runs} runs pass or are skipped as shown.").AppendLine();
        return failures;
    }

    /// <summary>The largest error in units of the tolerance; a NaN where the other has none is infinite.</summary>
    private static double Compare(double[] expected, double[] actual, double relative, double absolute)
    {
        double scale = expected.Where(double.IsFinite).Select(Math.Abs).DefaultIfEmpty(0).Max();
        double worst = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            if (double.IsNaN(e) || double.IsNaN(a)) { if (double.IsNaN(e) != double.IsNaN(a)) return double.PositiveInfinity; continue; }
            if (double.IsInfinity(e) || double.IsInfinity(a)) { if (e != a) return double.PositiveInfinity; continue; }
            worst = Math.Max(worst, Math.Abs(e - a) / (relative * Math.Abs(e) + absolute * scale + 1e-300));
        }
        return worst;
    }

    private sealed record SpeedCase(string Name, string Loss, long[] Dims, long[] DryDims);

    private static readonly SpeedCase[] s_speed =
    {
        new("Poly-1 [8192, 32000]", "Classification.Poly1", new long[] { 8192, 32000 }, new long[] { 64, 1000 }),
        new("CE [8192, 32000]", "Classification.CrossEntropy", new long[] { 8192, 32000 }, new long[] { 64, 1000 }),
        new("Poly-1 [8192, 128256]", "Classification.Poly1", new long[] { 8192, 128256 }, new long[] { 16, 4000 }),
        new("CE [8192, 128256]", "Classification.CrossEntropy", new long[] { 8192, 128256 }, new long[] { 16, 4000 }),
        new("Tversky [16, 4, 256, 256]", "Segmentation.Tversky", new long[] { 16, 4, 256, 256 }, new long[] { 2, 4, 32, 32 }),
        new("sigmoid focal [64M]", "Binary.SigmoidFocal", new long[] { 64L << 20 }, new long[] { 1 << 16 }),
    };

    private static void Speed(Accelerator acc, Memory memory, List<GpuCheckLoss> losses, bool dry, string? torchFile, StringBuilder report)
    {
        int reps = dry ? 2 : 20;
        double copy = memory.CopyBandwidth(dry ? 1L << 24 : 2L << 30, reps);
        var torch = ReadTorch(torchFile);
        report.AppendLine("## Speed: forward + backward per call").AppendLine();
        report.AppendLine($"Device-to-device copy in this run: {copy / 1e9:0.0} GB/s (read + write). Bandwidth = each input read once and each " +
            $"output written once, ÷ time. Mean of {reps} calls after 3 warm-up calls; ms per call.").AppendLine();
        report.AppendLine("| case | dtype | LossDsl ILGPU (ms) | GB/s | of copy | PyTorch eager | torch.compile | built-in |");
        report.AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (var c in s_speed)
        foreach (var storage in c.Loss.StartsWith("Classification.", StringComparison.Ordinal) ? new[] { ScalarType.Float32, ScalarType.BFloat16 } : new[] { ScalarType.Float32 })
        {
            var loss = losses.Single(l => l.Name == c.Loss);
            var dims = dry ? c.DryDims : c.Dims;
            using var problem = Problem.Random(loss, dims, memory, seed: 1, storage);
            for (int i = 0; i < 3; i++) problem.RunIlgpu(acc, memory);
            memory.Synchronize(acc);
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < reps; i++) problem.RunIlgpu(acc, memory);
            memory.Synchronize(acc);
            double seconds = clock.Elapsed.TotalSeconds / reps;
            double gbps = problem.Bytes / seconds / 1e9;
            string dtype = storage.ToString().ToLowerInvariant();
            string Torch(string variant) => torch.TryGetValue((c.Name, dtype, variant), out var ms) ? $"{ms:0.000}" : "—";
            string name = dry ? $"{c.Name} (dry run: [{string.Join(", ", dims)}])" : c.Name;
            report.AppendLine($"| {name} | {dtype} | {seconds * 1e3:0.000} | {gbps:0.0} | {gbps * 1e9 / copy:P0} | {Torch("eager")} | {Torch("compile")} | {Torch("builtin")} |");
        }
        report.AppendLine();
    }

    private static Dictionary<(string Case, string DType, string Variant), double> ReadTorch(string? file)
    {
        var result = new Dictionary<(string, string, string), double>();
        if (file is null || !File.Exists(file)) return result;
        foreach (var line in File.ReadLines(file).Where(l => l.TrimStart().StartsWith('{')))
        {
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            result[(r.GetProperty("case").GetString()!, r.GetProperty("dtype").GetString()!, r.GetProperty("variant").GetString()!)] = r.GetProperty("ms").GetDouble();
        }
        return result;
    }
}
