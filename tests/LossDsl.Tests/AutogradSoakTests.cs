using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Threading;
using LossDsl.Runtime;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LossDsl.Tests;

/// <summary>
/// The autograd path under load: several threads call generated losses and run backward (every backend, every reduction,
/// ignored rows, three backward passes through a retained graph, create_graph, with and without a dispose scope; the fused linear form; float16 and bfloat16
/// on the CPU kernels) while another thread keeps the garbage collector and the finalizer thread busy, so that TorchSharp
/// wrappers left to the finalizer are finalized at any moment, during native calls and autograd callbacks included. Every
/// result is checked against TorchSharp autograd on the same formula in float64. A crash of the test host is the failure
/// this exists to catch.
/// <para>
/// CI runs a short version. <c>LOSSDSL_SOAK_MINUTES</c> (and optionally <c>LOSSDSL_SOAK_THREADS</c>) make it a soak test;
/// it then prints its figures (calls, calls/s, threads, minutes, RSS after warm-up, every minute and at the end), and
/// <c>LOSSDSL_SOAK_REPORT=file</c> appends them to a file. A failing call is recorded with its seed (its case, backend,
/// reduction, mode and dtype, and its inputs, follow from the seed alone); <c>LOSSDSL_SOAK_REPLAY=seed[,seed…]</c>
/// replays those calls on the test's thread, without the collector.
/// </para>
/// </summary>
public class AutogradSoakTests(ITestOutputHelper output)
{
    private static readonly Backend[] AllBackends = { Backend.Auto, Backend.Cpu, Backend.Ilgpu, Backend.TorchOps };
    private static readonly Backend[] FusedBackends = { Backend.Cpu, Backend.Ilgpu, Backend.TorchOps };
    private static readonly ScalarType[] FullPrecision = { ScalarType.Float32, ScalarType.Float64 };
    private static readonly ScalarType[] HalfPrecision = { ScalarType.Float16, ScalarType.BFloat16 };
    private static readonly nn.Reduction[] Reductions = { nn.Reduction.None, nn.Reduction.Sum, nn.Reduction.Mean };
    private const long Ignore = -100;

    private enum Mode { Backward, RetainGraphThrice, CreateGraph, InDisposeScope }

    /// <summary>
    /// A soak case: its inputs (the first <paramref name="Differentiated"/> are differentiated), the generated call (which
    /// is given the backend too, for the forms that take it as an argument), the same formula in TorchSharp ops, and what
    /// it runs on. <paramref name="CreateGraph"/>: whether its gradients are themselves differentiable.
    /// </summary>
    private sealed record Case(
        string Name, int Differentiated, ScalarType[] DTypes, Backend[] Backends, bool CreateGraph,
        Func<Random, ScalarType, Tensor[]> Inputs, Func<Tensor[], nn.Reduction, Backend, Tensor> Generated, Func<Tensor[], nn.Reduction, Tensor> Reference);

    private static Tensor Randn(Random r, ScalarType dt, params long[] shape)
        => torch.tensor(Enumerable.Range(0, (int)shape.Aggregate(1L, (a, b) => a * b)).Select(_ => r.NextDouble() * 4 - 2).ToArray(), dtype: ScalarType.Float64).reshape(shape).to(dt);

    private static Tensor Targets(Random r, long n, long c, bool ignoreSome)
        => torch.tensor(Enumerable.Range(0, (int)n).Select(i => ignoreSome && i % 3 == 1 ? Ignore : r.NextInt64(c)).ToArray());

    private static Tensor Reduce(Tensor perRow, nn.Reduction r) => r switch { nn.Reduction.None => perRow, nn.Reduction.Sum => perRow.sum(), _ => perRow.mean() };

    private static Tensor DualFocalReference(Tensor[] t, nn.Reduction red)
    {
        var logp = F.log_softmax(t[0], 1);
        var logpt = logp.gather(1, t[1].unsqueeze(1)).squeeze(1);
        var others = logp.scatter(1, t[1].unsqueeze(1), TorchScalars.Full(new long[] { t[0].shape[0], 1 }, double.NegativeInfinity, logp.dtype, logp.device));
        // −(1 − p_t + max_{j≠t} p_j)² log p_t, through TorchScalars as the runtime's own code (no temporary Scalar).
        var u = TorchScalars.Add(others.max(1).values.exp().sub(logpt.exp()), 1);
        return Reduce(u.mul(u).mul(logpt).neg(), red);
    }

    /// <summary>Cross-entropy on the logits of a linear head, with ignored rows: Mean divides by the rows kept.</summary>
    private static Tensor LinearCrossEntropyReference(Tensor[] t, nn.Reduction red)
        => F.cross_entropy(F.linear(t[0], t[1], t[2]), t[3], reduction: red, ignore_index: Ignore);

    private static readonly Case[] Cases =
    {
        new("Huber", 1, FullPrecision, AllBackends, true,
            (r, dt) => new[] { Randn(r, dt, 3, 5), Randn(r, dt, 3, 5) },
            (t, red, _) => TestLosses.Huber(t[0], t[1], delta: 1.0, reduction: red),
            (t, red) => F.huber_loss(t[0], t[1], reduction: red, delta: 1.0)),
        new("CrossEntropy, ignored rows", 1, FullPrecision, AllBackends, true,
            (r, dt) => new[] { Randn(r, dt, 6, 7), Targets(r, 6, 7, ignoreSome: true) },
            (t, red, _) => TestLosses.CrossEntropy(t[0], t[1], reduction: red),
            (t, red) => F.cross_entropy(t[0], t[1], reduction: red, ignore_index: Ignore)),
        new("DualFocal, wide rows", 1, FullPrecision, AllBackends, true,
            (r, dt) => new[] { Randn(r, dt, 4, 45), Targets(r, 4, 45, ignoreSome: false) },
            (t, red, _) => TestLosses.DualFocal(t[0], t[1], gamma: 2.0, reduction: red),
            DualFocalReference),
        // The fused linear form: hidden [7, 5], classifier [9, 5] and bias [9] all differentiated, in chunks of 3 rows (so
        // that chunks do not divide the rows), on the backend named in the call. Its gradients are not differentiable.
        new("CrossEntropyLinear, ignored rows, chunks of 3", 3, FullPrecision, FusedBackends, false,
            (r, dt) => new[] { Randn(r, dt, 7, 5), Randn(r, dt, 9, 5), Randn(r, dt, 9), Targets(r, 7, 9, ignoreSome: true) },
            (t, red, backend) => TestLosses.CrossEntropyLinear(t[0], t[1], t[2], t[3], ignore_index: Ignore, reduction: red, chunk_rows: 3, backend: backend),
            LinearCrossEntropyReference),
        // Half precision on the fused CPU kernels, which widen half rows in place a block at a time (HalfRows).
        new("Huber, half", 1, HalfPrecision, new[] { Backend.Cpu }, true,
            (r, dt) => new[] { Randn(r, dt, 3, 5), Randn(r, dt, 3, 5) },
            (t, red, _) => TestLosses.Huber(t[0], t[1], delta: 1.0, reduction: red),
            (t, red) => F.huber_loss(t[0], t[1], reduction: red, delta: 1.0)),
        new("CrossEntropy, ignored rows, half", 1, HalfPrecision, new[] { Backend.Cpu }, true,
            (r, dt) => new[] { Randn(r, dt, 6, 7), Targets(r, 6, 7, ignoreSome: true) },
            (t, red, _) => TestLosses.CrossEntropy(t[0], t[1], reduction: red),
            (t, red) => F.cross_entropy(t[0], t[1], reduction: red, ignore_index: Ignore)),
    };

    /// <summary>The call this thread is running, for a crash's report (an exception in an autograd callback ends the process).</summary>
    [ThreadStatic] private static string? t_call;

    /// <summary>
    /// TorchSharp 0.107's race: an operation such as <c>a + b</c> (<c>a.add(b, alpha: 1)</c>) or <c>x / 2.5</c> makes a
    /// temporary <see cref="Scalar"/> and passes its native handle on without keeping the object reachable, so a collection
    /// on another thread can free the native c10::Scalar while libtorch reads it, which then finds no valid type tag in it
    /// (c10/core/Scalar.h: "Expected false to be true" from toFloat/toDouble, or "Unknown scalar type"). A loop of
    /// <c>a + b</c> on two threads, with a third collecting, fails so about once in 10,000 additions. LossDsl makes no such
    /// Scalar (<see cref="TorchScalars"/>; <c>ScalarTemporaryTests</c> checks its IL, and this test's references too), so the
    /// race is a failure like any other; it is named in the report. (Inside backward, an autograd callback, it would end
    /// the process instead: the crash handler names it.)
    /// </summary>
    private static bool IsTorchSharpScalarRace(Exception e)
        => e is System.Runtime.InteropServices.ExternalException && e.Message.Contains("c10/core/Scalar.h", StringComparison.Ordinal);

    private static int Setting(string name, int fallback)
        => int.TryParse(Environment.GetEnvironmentVariable(name), out int v) && v > 0 ? v : fallback;

    /// <summary>The seed of call <paramref name="k"/> on worker <paramref name="thread"/> (−1: the warm-up on the test's thread).</summary>
    private static int Seed(int thread, long k) => checked((thread + 2) * 100_000_000 + (int)k);

    private static long Rss()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        using var p = Process.GetCurrentProcess();
        return p.WorkingSet64;
    }

    private static string MiB(long bytes) => (bytes >> 20).ToString(CultureInfo.InvariantCulture);

    [Fact]
    public void AutogradPathSurvivesThreadsAndFinalizers()
    {
        if (Environment.GetEnvironmentVariable("LOSSDSL_SOAK_REPLAY") is { Length: > 0 } replay)
        {
            foreach (var seed in replay.Split(',').Select(s => int.Parse(s.Trim(), CultureInfo.InvariantCulture))) Step(seed, threadId: -1, k: -1);
            return;
        }
        int minutes = Setting("LOSSDSL_SOAK_MINUTES", 0);
        int threads = Setting("LOSSDSL_SOAK_THREADS", 2);
        long callsPerThread = minutes > 0 ? long.MaxValue : 400;
        var deadline = minutes > 0 ? DateTime.UtcNow.AddMinutes(minutes) : DateTime.MaxValue;

        // Warm up so that the figures below do not count kernel compilation.
        for (int i = 0; i < 40; i++) Step(Seed(-1, i), threadId: -1, k: i);
        long rssStart = Rss();

        string? reportPath = Environment.GetEnvironmentVariable("LOSSDSL_SOAK_REPORT") is { Length: > 0 } p ? p : null;
        void Append(string line)
        {
            if (reportPath is not null) System.IO.File.AppendAllText(reportPath, line + Environment.NewLine);
        }
        void Report(string line)
        {
            output.WriteLine(line);
            Append(line);
        }
        long calls = 0;
        var failures = new ConcurrentQueue<string>();
        var rss = new ConcurrentQueue<string>();
        var clock = Stopwatch.StartNew();
        // A managed exception that escapes an autograd callback cannot be caught by the worker: the process ends. Name
        // the call it came from first, with the figures so far.
        UnhandledExceptionEventHandler crash = (_, e) =>
        {
            string race = e.ExceptionObject is Exception x && IsTorchSharpScalarRace(x) ? " (TorchSharp's temporary-Scalar race)" : "";
            string line = string.Create(CultureInfo.InvariantCulture,
                $"autograd soak: crash{race} after {Interlocked.Read(ref calls)} calls in {clock.Elapsed.TotalMinutes:F1} min (RSS {MiB(rssStart)} MiB after warm-up{string.Concat(rss.Select(r => ", " + r))}) on {Thread.CurrentThread.Name} during {t_call ?? "no soak call"}: {e.ExceptionObject}");
            Console.Error.WriteLine(line);
            Append(line);
        };
        AppDomain.CurrentDomain.UnhandledException += crash;
        using var stop = new CancellationTokenSource();
        // The garbage collector at random points: a thread that allocates and collects, so that finalizers run concurrently
        // with the workers' native calls.
        var collector = new Thread(() =>
        {
            var r = new Random(1);
            while (!stop.IsCancellationRequested)
            {
                _ = new byte[r.Next(64, 8192)];
                if (r.Next(16) == 0) GC.Collect(r.Next(3), GCCollectionMode.Forced, blocking: r.Next(2) == 0);
                Thread.Sleep(0);
            }
        }) { IsBackground = true, Name = "soak collector" };
        collector.Start();
        clock.Restart();
        var workers = Enumerable.Range(0, threads).Select(w => new Thread(() =>
        {
            for (long k = 0; k < callsPerThread && DateTime.UtcNow < deadline && failures.IsEmpty; k++)
            {
                int seed = Seed(w, k);
                try { Step(seed, w, k); }
                catch (Exception e)
                {
                    string race = IsTorchSharpScalarRace(e) ? "TorchSharp's temporary-Scalar race: " : "";
                    failures.Enqueue($"{race}thread {w}, call {k}, seed {seed} (LOSSDSL_SOAK_REPLAY={seed} replays it): {e}");
                }
                Interlocked.Increment(ref calls);
            }
        }) { Name = $"soak worker {w}" }).ToArray();
        foreach (var t in workers) t.Start();
        // RSS once a minute: memory that grows with calls is a leak, a step at the start is warm-up.
        for (var next = TimeSpan.FromMinutes(1); workers.Any(t => t.IsAlive); Thread.Sleep(200))
            if (clock.Elapsed >= next)
            {
                rss.Enqueue($"{next.TotalMinutes:F0} min: {MiB(Rss())} MiB after {Interlocked.Read(ref calls)} calls");
                next += TimeSpan.FromMinutes(1);
            }
        stop.Cancel();
        collector.Join();
        AppDomain.CurrentDomain.UnhandledException -= crash;
        long rssEnd = Rss();

        string figures = string.Create(CultureInfo.InvariantCulture,
            $"autograd soak: {calls} calls on {threads} threads in {clock.Elapsed.TotalMinutes:F1} min ({calls / clock.Elapsed.TotalSeconds:F0} calls/s), "
            + $"{failures.Count} failed; RSS {MiB(rssStart)} MiB after warm-up, {(rss.IsEmpty ? "" : string.Join(", ", rss) + ", ")}{MiB(rssEnd)} MiB at the end");
        Report(figures);
        foreach (var f in failures) Report("first failure: " + f);
        Assert.True(failures.IsEmpty, string.Join(Environment.NewLine, failures));
    }

    /// <summary>
    /// One loss call and backward, chosen by <paramref name="seed"/>, checked against TorchSharp autograd in float64.
    /// Every tensor the test makes itself, temporaries included, stays referenced until the end (<c>held</c>): TorchSharp
    /// passes raw handles to native code without keeping their .NET objects alive, so an unreferenced temporary of a chain
    /// can be finalized during a native call, and this test is about the runtime's handling of that, not the test's.
    /// </summary>
    private static void Step(int seed, int threadId, long k)
    {
        var r = new Random(seed);
        var c = Cases[r.Next(Cases.Length)];
        var backend = c.Backends[r.Next(c.Backends.Length)];
        var reduction = Reductions[r.Next(Reductions.Length)];
        var dtype = c.DTypes[r.Next(c.DTypes.Length)];
        // A case without differentiable gradients draws from the other three modes.
        var mode = (Mode)r.Next(c.CreateGraph ? 4 : 3);
        if (mode == Mode.CreateGraph && !c.CreateGraph) mode = Mode.InDisposeScope;
        bool half = dtype is ScalarType.Float16 or ScalarType.BFloat16;
        // Half inputs give a float32 loss (and their gradient in their own dtype), as under PyTorch's autocast.
        var valueType = half ? ScalarType.Float32 : dtype;
        string what = $"{c.Name}, {backend}, {reduction}, {mode}, {dtype} (thread {threadId}, call {k}, seed {seed})";
        t_call = what;
        using var _ = LossBackend.Use(backend);
        var held = new List<Tensor>();
        Tensor Hold(Tensor t)
        {
            held.Add(t);
            return t;
        }

        // The reference, in a dispose scope: float64 autograd on the same (already rounded) inputs.
        Tensor[] inputs;
        Tensor? upstream;
        Tensor refValue;
        Tensor[] refGrads;
        using (var reference = torch.NewDisposeScope())
        {
            inputs = c.Inputs(r, dtype);
            var ref64 = inputs.Select(t => t.is_floating_point() ? t.to(ScalarType.Float64) : t).ToArray();
            var leaves = ref64.Take(c.Differentiated).Select(t => t.detach().clone().requires_grad_(true)).ToArray();
            var y = c.Reference(leaves.Concat(ref64.Skip(c.Differentiated)).ToArray(), reduction);
            upstream = reduction == nn.Reduction.None
                ? torch.tensor(Enumerable.Range(0, (int)y.numel()).Select(_ => r.NextDouble() + 0.5).ToArray(), dtype: ScalarType.Float64).reshape(y.shape).to(valueType).to(ScalarType.Float64)
                : null;
            if (upstream is null) y.backward();
            else y.backward(new[] { upstream });
            refValue = y.detach();
            refGrads = leaves.Select(l => l.grad!.detach().clone()).ToArray();
            reference.MoveToOuter(inputs.Append(refValue).Concat(refGrads).Append(upstream ?? refValue));
            held.AddRange(inputs.Append(refValue).Concat(refGrads).Append(upstream ?? refValue));
        }
        var gradients = upstream is null ? null : new[] { Hold(upstream.to(valueType)) };

        // The generated path, outside a dispose scope except in InDisposeScope.
        Tensor value;
        Tensor[] grads;
        var xs = inputs.Take(c.Differentiated).Select(t => Hold(Hold(t.detach()).clone()).requires_grad_(true)).ToArray();
        var args = xs.Concat(inputs.Skip(c.Differentiated)).ToArray();
        Tensor Run() => Hold(c.Generated(args, reduction, backend));
        Tensor[] Grads() => xs.Select(x => Hold(x.grad!)).ToArray();
        switch (mode)
        {
            case Mode.RetainGraphThrice:
                // Three backward passes through one retained graph, with .grad halved in place after the first (as clipping
                // would): 0.5 + 1 + 1 times the gradient. (The saved gradient was once .grad itself: SecondBackwardTests.)
                value = Run();
                value.backward(gradients, retain_graph: true);
                foreach (var g in Grads()) TorchScalars.Mul(g, 0.5, overwrite: true);
                value.backward(gradients, retain_graph: true);
                value.backward(gradients);
                grads = Grads().Select(g => Hold(TorchScalars.Div(g, 2.5))).ToArray();
                break;
            case Mode.CreateGraph:
            {
                // The gradient with its graph, then backward through a function of it: the gradient itself must still match.
                value = Run();
                var j = upstream is null ? value : Hold(Hold(value * gradients![0]).sum());
                var withGraph = torch.autograd.grad(new[] { j }, xs, retain_graph: true, create_graph: true).Select(Hold).ToArray();
                Hold(Hold(withGraph[0].sum())).backward();
                grads = withGraph.Select(g => Hold(g.detach())).ToArray();
                break;
            }
            case Mode.InDisposeScope:
            {
                using var scope = torch.NewDisposeScope();
                value = Run();
                value.backward(gradients);
                value = Hold(value.detach().clone().MoveToOuterDisposeScope());
                grads = Grads().Select(g => Hold(g.clone().MoveToOuterDisposeScope())).ToArray();
                break;
            }
            default:
                value = Run();
                value.backward(gradients);
                grads = Grads();
                break;
        }

        Assert.Equal(valueType, value.dtype);
        var (rtol, atol) = Tolerance(dtype, refValue, gradient: false);
        Compare(refValue, Hold(value.detach()), rtol, atol, what + ": value");
        for (int i = 0; i < grads.Length; i++)
        {
            Assert.Equal(dtype, grads[i].dtype);
            (rtol, atol) = Tolerance(dtype, refGrads[i], gradient: true, roundings: mode == Mode.RetainGraphThrice ? 4 : 1);
            Compare(refGrads[i], grads[i], rtol, atol, $"{what}: gradient of input {i}");
        }
        GC.KeepAlive(held);
        GC.KeepAlive(args);
    }

    /// <summary>
    /// The bound |actual − expected| ≤ atol + rtol·|expected|. float64: 1e-9. float32: 1e-4, atol scaled by the largest
    /// expected value. Half (as in <see cref="HalfPrecisionTests"/>): the float32 loss to 2e-5 plus 2e-6·max|expected|;
    /// the gradient <paramref name="roundings"/> roundings to the half dtype more (each its unit roundoff), plus float16's
    /// subnormal spacing. Three retained backward passes accumulate .grad in its own dtype, two additions and the in-place
    /// halving, and the test divides by 2.5: four roundings (bfloat16 once missed one rounding's bound by 13%).
    /// </summary>
    private static (double Rtol, double Atol) Tolerance(ScalarType dtype, Tensor expected, bool gradient, int roundings = 1)
    {
        double max;
        using (torch.NewDisposeScope()) max = expected.numel() == 0 ? 0 : expected.abs().max().to(ScalarType.Float64).item<double>();
        GC.KeepAlive(expected);
        return dtype switch
        {
            ScalarType.Float64 => (1e-9, 1e-9 * Math.Max(1, max)),
            ScalarType.Float32 => (1e-4, 1e-4 * Math.Max(1, max)),
            _ when !gradient => (2e-5, 2e-6 * max + 1e-30),
            _ => (roundings * HalfPrecisionTests.UnitRoundoff(dtype) + 2e-5, 2e-6 * max + roundings * (dtype == ScalarType.Float16 ? Math.Pow(2, -24) : 0) + 1e-30),
        };
    }

    /// <summary><see cref="Reference.Close"/>, and on a mismatch every value of both sides in the message.</summary>
    private static void Compare(Tensor expected, Tensor actual, double rtol, double atol, string what)
    {
        try { Reference.Close(expected, actual, rtol, atol, what); }
        catch (Exception e) when (e is Xunit.Sdk.XunitException)
        {
            throw new Xunit.Sdk.XunitException($"{e.Message}{Environment.NewLine}  expected {Values(expected)}{Environment.NewLine}  actual   {Values(actual)}");
        }
    }

    private static string Values(Tensor t)
    {
        double[] v;
        using (torch.NewDisposeScope()) v = t.to(ScalarType.Float64).contiguous().data<double>().ToArray();
        GC.KeepAlive(t);
        return "[" + string.Join(", ", v.Select(x => x.ToString("R", CultureInfo.InvariantCulture))) + "]";
    }
}

/// <summary>The guard the other tests rely on: a test's tensors belong to the scope that TensorScopePerTest opened on its thread.</summary>
public class TensorScopePerTestTests
{
    [Fact]
    public void ATestsTensorsBelongToItsScope()
    {
        var scope = TensorScopePerTestAttribute.Current;
        Assert.NotNull(scope);
        Assert.True(scope!.Contains(torch.zeros(3).exp()), "a tensor made by the test is held by its scope");
    }
}
