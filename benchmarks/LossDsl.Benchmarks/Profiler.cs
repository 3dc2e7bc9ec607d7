using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using LossDsl.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace LossDsl.Benchmarks;

/// <summary>
/// Profile mode: where LossDsl's forward+backward step spends its time, phase by phase, each phase timed on
/// its own (medians of interleaved repetitions). Reaches into LossDsl.Runtime's internals (LossCall.Bind,
/// CpuLauncher) by reflection, so a runtime refactoring breaks only this mode, never the build.
/// </summary>
public static class Profiler
{
    private const int Repeats = 21;

    public static int Run(Options o)
    {
        Console.WriteLine(MachineInfo.Describe());
        Console.WriteLine($"profile mode: {Repeats} interleaved repetitions per phase; min and median (ms)");
        Console.WriteLine();
        foreach (var name in o.Cases.Where(n => n != FusedLinearBench.CaseName))
        {
            using var c = BenchCase.Create(name);
            if (o.SpinSeconds > 0) Spin(c, o);
            else ProfileCase(c);
        }
        return 0;
    }

    private static readonly Assembly Runtime = typeof(LossDefinition).Assembly;
    private static readonly Type LossCallType = Runtime.GetType("LossDsl.Runtime.LossCall", throwOnError: true)!;
    private static readonly MethodInfo Bind = LossCallType.GetMethod("Bind", BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)!;
    private static readonly Type LauncherType = Runtime.GetType("LossDsl.Runtime.CpuLauncher", throwOnError: true)!;
    private static readonly MethodInfo LauncherRun = LauncherType.GetMethod("Run", BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)!;
    private static readonly MethodInfo LauncherLaunch = LauncherType.GetMethod("Launch", BindingFlags.NonPublic | BindingFlags.Static)!;
    private static readonly MethodInfo LossSumMethod = Runtime.GetType("LossDsl.Runtime.LossSum", throwOnError: true)!.GetMethod("Sum", BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)!;
    private static readonly ConstructorInfo CpuArgsCtor = typeof(CpuArgs).GetConstructors(BindingFlags.NonPublic | BindingFlags.Instance).Single();

    private static LossDefinition Definition(string loss)
    {
        foreach (var asm in new[] { typeof(LossDsl.Samples.Losses).Assembly, typeof(BenchLosses).Assembly })
            foreach (var t in asm.GetTypes())
                if (t.GetField("Definition", BindingFlags.Public | BindingFlags.Static)?.GetValue(null) is LossDefinition d && d.Name == loss)
                    return d;
        throw new InvalidOperationException($"No generated definition for {loss}");
    }

    private sealed class Phase
    {
        public required string Name;
        public required Action Body;
        public readonly List<double> Times = new();
        public string Note = "";
    }

    private static void ProfileCase(BenchCase c)
    {
        if (c.Direct.Loss is null)
        {
            Console.WriteLine($"== {c.Name}: composed from several losses; profile mode covers single losses only.");
            return;
        }
        var (lossName, tensors, hyper) = c.Direct;
        var def = Definition(lossName);
        object[] Vars() => tensors.Cast<object>().Append(new LossArguments(hyper, nn.Reduction.Mean, -100)).ToArray();
        var x = tensors[0];
        var ours = c.Get(VariantKind.LossDsl)!;

        // Kernels alone on preallocated, already-touched loss and gradient buffers (what CpuLauncher.Run does
        // minus the two allocations).
        var call = Bind.Invoke(null, new object[] { def, Vars() })!;
        var shape = (KernelShape)LossCallType.GetField("Shape")!.GetValue(call)!;
        int workers = Environment.ProcessorCount;
        if (def.Chunked)
        {
            long maxChunks = Math.Max(1, shape.Length / (16 * 1024));
            shape.Chunks = (int)Math.Clamp((4L * workers + shape.Segments - 1) / shape.Segments, 1, Math.Min(maxChunks, 4096));
            shape.ChunkLength = (shape.Length + shape.Chunks - 1) / shape.Chunks;
        }
        var lossBuf = torch.empty(shape.Segments);
        var gradBuf = torch.empty_like(x);
        gradBuf.zero_();
        lossBuf.zero_();
        var partials = new double[Math.Max(1L, (long)shape.Segments * shape.Chunks * Math.Max(1, shape.PartialSlots))];
        nint[] Ptrs(TensorRole role) => tensors.Where((_, i) => def.Roles[i] == role).Select(t => role == TensorRole.Target ? Ptr(t.to(ScalarType.Int64).contiguous()) : Ptr(t)).ToArray();
        var args = (CpuArgs)CpuArgsCtor.Invoke(new object[] { shape, Ptrs(TensorRole.Span), Ptrs(TensorRole.Input), Ptrs(TensorRole.Target), hyper, Ptr(lossBuf), Ptr(gradBuf), partials });
        int items = def.Chunked ? shape.Segments * shape.Chunks : shape.Segments;
        long perItem = def.Layout.PerElement ? 1 : def.Chunked ? shape.ChunkLength : shape.Length;

        var cpuKernels = def.KernelsFor<CpuKernel>(Backend.Cpu, ScalarType.Float32)!;
        var kernelPhases = cpuKernels.Select((k, i) => new Phase
        {
            Name = $"  kernel {i + 1}/{cpuKernels.Length}: {k.Method.Name}",
            Body = () => LauncherLaunch.Invoke(null, new object[] { k, args, items, perItem, workers }),
        }).ToList();

        var rows = (long)shape.Segments;
        var phases = new List<Phase>
        {
            new() { Name = "full step: forward + backward()", Body = () => StepMeter.Time(ours) },
            new() { Name = "forward only (leaf requires grad)", Body = () => { using (torch.NewDisposeScope()) { var xi = x.detach().requires_grad_(true); ForwardOnly(c, xi); } } },
            new() { Name = "  LossCall.Bind (validation, contiguous)", Body = () => { using (torch.NewDisposeScope()) Bind.Invoke(null, new object[] { def, Vars() }); } },
            new() { Name = "  CpuLauncher.Run (2 allocs + kernels)", Body = () => { using (torch.NewDisposeScope()) LauncherRun.Invoke(null, new[] { Bind.Invoke(null, new object[] { def, Vars() }) }); } },
        };
        phases.AddRange(kernelPhases);
        phases.AddRange(new[]
        {
            new Phase { Name = $"  mean of the {rows}-element loss (to f64, sum, /n)", Body = () => { using (torch.NewDisposeScope()) { var l = lossBuf; _ = (l.to(ScalarType.Float64).sum() / (double)rows).to(ScalarType.Float32); } } },
            new Phase { Name = $"  same with sum(dtype: f64)", Body = () => { using (torch.NewDisposeScope()) { var l = lossBuf; _ = (l.sum(ScalarType.Float64) / (double)rows).to(ScalarType.Float32); } } },
            new Phase { Name = $"  same in place in C# (LossSum, the runtime's way)", Body = () => { using (torch.NewDisposeScope()) { _ = torch.tensor((double)LossSumMethod.Invoke(null, new object[] { lossBuf })! / rows, dtype: ScalarType.Float32); } } },
            new Phase { Name = "  empty_like(x), freed", Body = () => { using (torch.NewDisposeScope()) torch.empty_like(x); } },
            new Phase { Name = "roofline, preallocated output", Body = () => c.Roofline!.Run() },
            new Phase { Name = "roofline into a fresh empty_like output", Body = () => { using (torch.NewDisposeScope()) RooflinePass.Run(x, tensors.Length > 1 && tensors[1].dtype == ScalarType.Float32 ? tensors[1] : null, torch.empty_like(x), (int)Math.Clamp(x.numel() / (16 * 1024), 1, 8L * workers)); } },
            new Phase { Name = "a clone of the gradient (x.grad = clone)", Body = () => { using (torch.NewDisposeScope()) gradBuf.clone(); } },
        });

        // Warm up, then interleave.
        foreach (var p in phases) { p.Body(); p.Body(); }
        for (int r = 0; r < Repeats; r++)
            foreach (var p in phases)
            {
                long t0 = Stopwatch.GetTimestamp();
                p.Body();
                p.Times.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }

        var alloc = StepMeter.Allocations(ours, c);
        Console.WriteLine($"== {c.Name}: LossDsl {cpuKernels.Length} kernel(s), {(def.Chunked ? $"chunked: {shape.Segments} sets × {shape.Chunks} chunks" : $"{items} work items")}");
        // Minimum: the uncontended cost of deterministic work on a shared machine; median: what a step typically sees.
        double full = phases[0].Times.Min(), fwd = phases[1].Times.Min();
        Console.WriteLine($"   {"phase",-52} {"min ms",8} {"median",8}   share of the full step (by min)");
        foreach (var p in phases)
            Console.WriteLine($"   {p.Name,-52} {p.Times.Min(),8:F2} {StepMeter.Median(p.Times),8:F2}   ({100 * p.Times.Min() / full,5:F0}%)");
        Console.WriteLine($"   {"backward() (full − forward, by min)",-52} {full - fwd,8:F2} {"",8}   ({100 * (full - fwd) / full,5:F0}%)");
        Console.WriteLine($"   step allocations: managed {alloc.ManagedBytes:N0} B; {alloc.Tensors} native tensors = {alloc.NativeTensorBytes / 1048576.0:F1} MiB, "
                          + $"{alloc.PredictionSized} of them prediction-sized ({(alloc.PredictionSized > 1 ? "the gradient is copied: x.grad is not the kernel's buffer" : "the gradient only")})");
        Console.WriteLine();
        lossBuf.Dispose();
        gradBuf.Dispose();
    }

    /// <summary>Runs one variant's step in a loop, e.g. under <c>perf record</c>; prints the median step time.</summary>
    private static void Spin(BenchCase c, Options o)
    {
        var v = c.Get(o.SpinVariant) ?? throw new ArgumentException($"{c.Name} has no {o.SpinVariant} variant");
        for (int i = 0; i < 5; i++) StepMeter.Time(v);
        var times = new List<double>();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < o.SpinSeconds) times.Add(StepMeter.Time(v));
        Console.WriteLine($"{c.Name} {v.Label}: {times.Count} steps, median {StepMeter.Median(times):F2} ms");
        if (v.Kind is not (VariantKind.LossDsl or VariantKind.LossDslNonLeaf)) return;
        // Forward and backward() timed separately within each step.
        var fwd = new List<double>();
        var bwd = new List<double>();
        var x = c.Direct.Tensors[0];
        clock.Restart();
        while (clock.Elapsed.TotalSeconds < o.SpinSeconds)
        {
            using var scope = torch.NewDisposeScope();
            long t0 = Stopwatch.GetTimestamp();
            var xi = x.detach().requires_grad_(true);
            var loss = ForwardOnly(c, v.Kind == VariantKind.LossDsl ? xi : xi.view(x.shape));
            long t1 = Stopwatch.GetTimestamp();
            loss.backward();
            long t2 = Stopwatch.GetTimestamp();
            fwd.Add(Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds);
            bwd.Add(Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds);
        }
        Console.WriteLine($"  forward median {StepMeter.Median(fwd):F2} ms, backward() median {StepMeter.Median(bwd):F2} ms ({fwd.Count} steps)");
    }

    private static Tensor ForwardOnly(BenchCase c, Tensor xi)
    {
        var (lossName, tensors, hyper) = c.Direct;
        return lossName switch
        {
            "Poly1" => LossDsl.Samples.Losses.Poly1(xi, tensors[1], hyper[0]),
            "CrossEntropy" => BenchLosses.CrossEntropy(xi, tensors[1]),
            "Tversky" => LossDsl.Samples.Losses.Tversky(xi, tensors[1], alpha: hyper[0], beta: hyper[1], smooth: hyper[2], eps: hyper[3]),
            "SigmoidFocal" => LossDsl.Samples.Losses.SigmoidFocal(xi, tensors[1], alpha: hyper[0], gamma: hyper[1]),
            _ => throw new InvalidOperationException(lossName),
        };
    }

    private static unsafe nint Ptr(Tensor t) => (nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(t.bytes));
}
