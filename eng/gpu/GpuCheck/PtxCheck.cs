using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using LossDsl.Runtime;

namespace LossDsl.GpuCheck;

/// <summary>
/// The PTX check (<c>LossDsl.GpuCheck OUT --ptx [--ptxas PATH]</c>, run by eng/gpu/ptx-check.sh in CI): every ILGPU
/// kernel of every loss (library, samples, test losses; each compute dtype and input storage) compiled by ILGPU's own PTX
/// backend for sm_80 and sm_90, with no device, exactly as <c>LoadKernel</c> compiles it (explicitly grouped entry point,
/// no specialization, a context built as <see cref="LossAccelerator"/> builds its own), at PTX ISA 7.8 so that ptxas 11.8
/// reads it. Then, given ptxas, each PTX is assembled for its architecture with <c>-v</c>. Writes OUT/ptx-check.md (one row
/// per kernel and architecture: PTX size, shared and local memory declared in the PTX, calls, then registers, stack frame,
/// spills and shared memory as ptxas reports them) and the PTX files; fails on any compile or assembly error, any call
/// (an un-inlined routine, such as XMath's software CORDIC), any local memory, stack frame or spill.
/// </summary>
internal static class PtxCheck
{
    private sealed record Row(string Loss, string DType, string Kernel, string Arch, int PtxBytes, int Shared, int Local, int Calls, string File)
    {
        public int Registers { get; set; } = -1;
        public int Stack { get; set; } = -1;
        public int SpillStores { get; set; } = -1;
        public int SpillLoads { get; set; } = -1;
        public int Smem { get; set; } = -1;
        public string? Error { get; set; }
    }

    private static readonly (string Name, CudaArchitecture Arch)[] s_archs = { ("sm_80", CudaArchitecture.SM_80), ("sm_90", CudaArchitecture.SM_90) };

    public static int Run(string outDir, string? ptxas)
    {
        var clock = Stopwatch.StartNew();
        string ptxDir = Path.Combine(outDir, "ptx");
        Directory.CreateDirectory(ptxDir);
        var rows = new List<Row>();
        var losses = Program.Discover();
        using (var context = Context.Create(b => b.Default().EnableAlgorithms()))
        {
            foreach (var (archName, arch) in s_archs)
            {
                using var backend = new PTXBackend(context, arch, CudaInstructionSet.ISA_78, null!);
                // The check must see what it forbids: ILGPU.Algorithms' float64 log is a software routine called from the kernel.
                string probe = ((PTXCompiledKernel)backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(
                    typeof(PtxCheck).GetMethod(nameof(XMathProbe), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!), KernelSpecialization.Empty)).PTXAssembly;
                if (Calls(probe) == 0) throw new InvalidOperationException("PTX check: the call detector finds no call in a kernel that calls XMath.Log(double)");
                // The runtime's own kernel: a multiclass loss's per-pixel statistics, for each compute type and stored float kind.
                var statistics = typeof(KernelLauncher).Assembly.GetType("LossDsl.Runtime.PixelStatistics")!;
                var flags = System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static;
                foreach (var method in new[] { typeof(F32), typeof(BF16), typeof(F16) }.Select(t => statistics.GetMethod("Float", flags)!.MakeGenericMethod(t))
                    .Append(statistics.GetMethod("Double", flags)!))
                    Compile("PixelStatistics (runtime)", "any", method, EntryPointDescription.FromImplicitlyGroupedKernel(method));
                foreach (var loss in losses)
                foreach (var entry in loss.Definition.Kernels.Where(k => k.Backend == Backend.Ilgpu))
                {
                    string dtype = entry.DType?.ToString() ?? "any";
                    foreach (var kernel in entry.Kernels)
                        Compile(loss.Name, dtype, kernel.Method, EntryPointDescription.FromExplicitlyGroupedKernel(kernel.Method));
                }

                // One kernel compiled for this architecture, as a row of the report (its PTX written beside it).
                void Compile(string loss, string dtype, System.Reflection.MethodInfo method, EntryPointDescription entryPoint)
                {
                    string kernelName = method.Name + (method.IsGenericMethod ? "<" + string.Join(",", method.GetGenericArguments().Select(t => t.Name)) + ">" : "");
                    string file = Path.Combine(ptxDir, archName, $"{loss.Split(' ')[0]}.{dtype}.{method.Name}{(method.IsGenericMethod ? "." + method.GetGenericArguments()[0].Name : "")}.ptx");
                    Directory.CreateDirectory(Path.GetDirectoryName(file)!);
                    try
                    {
                        string ptx = ((PTXCompiledKernel)backend.Compile(entryPoint, KernelSpecialization.Empty)).PTXAssembly;
                        File.WriteAllText(file, ptx);
                        rows.Add(new Row(loss, dtype, kernelName, archName, Encoding.UTF8.GetByteCount(ptx), Declared(ptx, ".shared"), Declared(ptx, ".local"), Calls(ptx), file));
                    }
                    catch (Exception e)
                    {
                        rows.Add(new Row(loss, dtype, kernelName, archName, 0, 0, 0, 0, file) { Error = "compile: " + e.GetType().Name + ": " + e.Message });
                    }
                }
            }
        }
        double compileSeconds = clock.Elapsed.TotalSeconds;
        if (ptxas is not null) Assemble(rows, ptxas);

        var failing = rows.Where(r => r.Error is not null || r.Calls > 0 || r.Local > 0 || r.Stack > 0 || r.SpillStores > 0 || r.SpillLoads > 0).ToList();
        var report = new StringBuilder();
        report.AppendLine("# LossDsl PTX check").AppendLine();
        report.AppendLine($"{losses.Count} losses, {rows.Count / s_archs.Length} kernel instantiations per architecture, compiled by ILGPU's PTX backend " +
            $"(PTX ISA 7.8) for {string.Join(" and ", s_archs.Select(a => a.Name))} in {compileSeconds:0} s" +
            (ptxas is null ? "; not assembled (no ptxas given)." : $", then assembled by ptxas -v ({clock.Elapsed.TotalSeconds - compileSeconds:0} s).")).AppendLine();
        report.AppendLine("## Summary").AppendLine();
        report.AppendLine("| architecture | kernels | registers (max) | stack frame (max, bytes) | spill stores + loads | local memory in PTX | calls | shared memory (max, bytes) | PTX size (max, KiB) | failures |");
        report.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var (arch, _) in s_archs)
        {
            var a = rows.Where(r => r.Arch == arch).ToList();
            report.AppendLine($"| {arch} | {a.Count} | {Max(a, r => r.Registers)} | {Max(a, r => r.Stack)} | {a.Sum(r => Math.Max(0, r.SpillStores) + Math.Max(0, r.SpillLoads))} | " +
                $"{a.Sum(r => r.Local)} | {a.Sum(r => r.Calls)} | {Max(a, r => Math.Max(r.Shared, r.Smem))} | {a.Max(r => r.PtxBytes) / 1024.0:0.0} | {failing.Count(r => r.Arch == arch)} |");
        }
        foreach (var dtype in rows.Select(r => r.DType).Distinct())
        {
            var d = rows.Where(r => r.DType == dtype).ToList();
            report.AppendLine().Append($"{dtype}: {d.Count} kernels, registers ≤ {Max(d, r => r.Registers)}, shared memory ≤ {Max(d, r => Math.Max(r.Shared, r.Smem))} B.");
        }
        report.AppendLine().AppendLine();
        report.AppendLine("## Per kernel").AppendLine();
        report.AppendLine("| loss | dtype | kernel | arch | PTX bytes | shared (PTX) | local (PTX) | calls | registers | stack | spill stores | spill loads | smem (ptxas) | result |");
        report.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in rows)
            report.AppendLine($"| {r.Loss} | {r.DType} | {r.Kernel} | {r.Arch} | {r.PtxBytes} | {r.Shared} | {r.Local} | {r.Calls} | {Cell(r.Registers)} | {Cell(r.Stack)} | " +
                $"{Cell(r.SpillStores)} | {Cell(r.SpillLoads)} | {Cell(r.Smem)} | {(failing.Contains(r) ? "FAIL" + (r.Error is null ? "" : ": " + r.Error.Replace('|', '/').ReplaceLineEndings(" ")) : "ok")} |");
        File.WriteAllText(Path.Combine(outDir, "ptx-check.md"), report.ToString());
        Console.WriteLine(report.ToString().TrimEnd());
        foreach (var r in failing)
            Console.WriteLine($"FAIL {r.Loss} {r.DType} {r.Kernel} {r.Arch}: {r.Error ?? $"calls {r.Calls}, local {r.Local} B, stack {r.Stack} B, spills {r.SpillStores}+{r.SpillLoads}"}");
        Console.WriteLine($"PTX check: {rows.Count - failing.Count} of {rows.Count} kernels pass ({Path.Combine(outDir, "ptx-check.md")})");
        return failing.Count == 0 ? 0 : 1;
    }

    /// <summary>Call instructions in a PTX: an un-inlined routine.</summary>
    private static int Calls(string ptx) => Regex.Matches(ptx, @"^\s*(@!?%p\d+\s+)?call(\.uni)?\b", RegexOptions.Multiline).Count;

    private static void XMathProbe(ArrayView<double> a) => a[0] = ILGPU.Algorithms.XMath.Log(a[0]);

    private static string Max(List<Row> rows, Func<Row, int> f) => rows.Count == 0 || rows.All(r => f(r) < 0) ? "—" : rows.Max(f).ToString();

    private static string Cell(int v) => v < 0 ? "—" : v.ToString();

    /// <summary>The bytes of the PTX's declarations in a state space, e.g. <c>.shared .align 4 .b8 name[256];</c>.</summary>
    private static int Declared(string ptx, string space)
        => Regex.Matches(ptx, @"^\s*" + Regex.Escape(space) + @"\s+(?:\.align\s+\d+\s+)?\.(?:b|u|s|f)(\d+)\s+[^\[;]+(?:\[(\d+)\])?\s*;", RegexOptions.Multiline)
            .Sum(m => int.Parse(m.Groups[1].Value) / 8 * (m.Groups[2].Success ? int.Parse(m.Groups[2].Value) : 1));

    /// <summary>Runs <c>ptxas -v</c> on every compiled kernel, both cores busy, and reads its resource report.</summary>
    private static void Assemble(List<Row> rows, string ptxas)
    {
        var todo = new ConcurrentQueue<Row>(rows.Where(r => r.Error is null));
        var workers = Enumerable.Range(0, Math.Max(1, Environment.ProcessorCount)).Select(_ => Task.Run(() =>
        {
            while (todo.TryDequeue(out var r))
            {
                var psi = new ProcessStartInfo(ptxas, new[] { "-v", "-arch=" + r.Arch, "-o", Path.ChangeExtension(r.File, ".cubin"), r.File })
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                };
                using var p = Process.Start(psi)!;
                var stdout = p.StandardOutput.ReadToEndAsync();
                string err = p.StandardError.ReadToEnd();
                p.WaitForExit();
                string text = stdout.Result + err;
                if (p.ExitCode != 0)
                {
                    r.Error = "ptxas: " + text.Trim();
                    continue;
                }
                r.Registers = Field(text, @"Used (\d+) registers");
                r.Stack = Field(text, @"(\d+) bytes stack frame");
                r.SpillStores = Field(text, @"(\d+) bytes spill stores");
                r.SpillLoads = Field(text, @"(\d+) bytes spill loads");
                r.Smem = Math.Max(0, Field(text, @"(\d+) bytes smem"));
                File.Delete(Path.ChangeExtension(r.File, ".cubin"));
            }
        })).ToArray();
        Task.WaitAll(workers);
    }

    private static int Field(string text, string pattern)
    {
        var m = Regex.Match(text, pattern);
        return m.Success ? int.Parse(m.Groups[1].Value) : -1;
    }
}
