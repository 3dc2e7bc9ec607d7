using System;
using System.Collections.Concurrent;
using System.Diagnostics;
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
/// ignored rows, retain_graph, create_graph, with and without a dispose scope) while another thread keeps the garbage
/// collector and the finalizer thread busy, so that TorchSharp wrappers left to the finalizer are finalized at any moment,
/// during native calls and autograd callbacks included. Every result is checked against TorchSharp autograd on the same
/// formula. A crash of the test host is the failure this exists to catch.
/// <para>
/// CI runs a short version. <c>LOSSDSL_SOAK_MINUTES</c> (and optionally <c>LOSSDSL_SOAK_THREADS</c>) make it a soak test;
/// it then prints its figures (calls, threads, minutes, RSS at start and end).
/// </para>
/// </summary>
public class AutogradSoakTests(ITestOutputHelper output)
{
    private static readonly Backend[] Backends = { Backend.Auto, Backend.Cpu, Backend.Ilgpu, Backend.TorchOps };
    private static readonly nn.Reduction[] Reductions = { nn.Reduction.None, nn.Reduction.Sum, nn.Reduction.Mean };

    private enum Mode { Backward, RetainGraphTwice, CreateGraph, InDisposeScope }

    private sealed record Case(string Name, Func<Random, ScalarType, Tensor[]> Inputs, Func<Tensor[], nn.Reduction, Tensor> Generated, Func<Tensor[], nn.Reduction, Tensor> Reference);

    private static Tensor Randn(Random r, ScalarType dt, params long[] shape)
        => torch.tensor(Enumerable.Range(0, (int)shape.Aggregate(1L, (a, b) => a * b)).Select(_ => r.NextDouble() * 4 - 2).ToArray(), dtype: ScalarType.Float64).reshape(shape).to(dt);

    private static Tensor Targets(Random r, long n, long c, bool ignoreSome)
        => torch.tensor(Enumerable.Range(0, (int)n).Select(i => ignoreSome && i % 3 == 1 ? -100L : r.NextInt64(c)).ToArray());

    private static readonly Case[] Cases =
    {
        new("Huber",
            (r, dt) => new[] { Randn(r, dt, 3, 5), Randn(r, dt, 3, 5) },
            (t, red) => TestLosses.Huber(t[0], t[1], delta: 1.0, reduction: red),
            (t, red) => F.huber_loss(t[0], t[1], reduction: red, delta: 1.0)),
        new("CrossEntropy, ignored rows",
            (r, dt) => new[] { Randn(r, dt, 6, 7), Targets(r, 6, 7, ignoreSome: true) },
            (t, red) => TestLosses.CrossEntropy(t[0], t[1], reduction: red),
            (t, red) => F.cross_entropy(t[0], t[1], reduction: red, ignore_index: -100)),
        new("DualFocal, wide rows",
            (r, dt) => new[] { Randn(r, dt, 4, 45), Targets(r, 4, 45, ignoreSome: false) },
            (t, red) => TestLosses.DualFocal(t[0], t[1], gamma: 2.0, reduction: red),
            (t, red) =>
            {
                var logp = F.log_softmax(t[0], 1);
                var logpt = logp.gather(1, t[1].unsqueeze(1)).squeeze(1);
                var others = logp.scatter(1, t[1].unsqueeze(1), torch.full(new long[] { t[0].shape[0], 1 }, double.NegativeInfinity, dtype: logp.dtype));
                var loss = -(1 - logpt.exp() + others.max(1).values.exp()).pow(2.0) * logpt;
                return red switch { nn.Reduction.None => loss, nn.Reduction.Sum => loss.sum(), _ => loss.mean() };
            }),
    };

    private static int Setting(string name, int fallback)
        => int.TryParse(Environment.GetEnvironmentVariable(name), out int v) && v > 0 ? v : fallback;

    private static long Rss()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        using var p = Process.GetCurrentProcess();
        return p.WorkingSet64;
    }

    [Fact]
    public void AutogradPathSurvivesThreadsAndFinalizers()
    {
        int minutes = Setting("LOSSDSL_SOAK_MINUTES", 0);
        int threads = Setting("LOSSDSL_SOAK_THREADS", 2);
        long callsPerThread = minutes > 0 ? long.MaxValue : 400;
        var deadline = minutes > 0 ? DateTime.UtcNow.AddMinutes(minutes) : DateTime.MaxValue;

        // Warm up every backend once so that the figures below do not count kernel compilation.
        for (int i = 0; i < Backends.Length * Reductions.Length; i++) Step(new Random(i), i, threadId: -1);
        long rssStart = Rss();

        long calls = 0;
        var failures = new ConcurrentQueue<string>();
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
        var clock = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, threads).Select(w => new Thread(() =>
        {
            var r = new Random(1000 + w);
            for (long k = 0; k < callsPerThread && DateTime.UtcNow < deadline && failures.IsEmpty; k++)
            {
                try { Step(r, k, w); }
                catch (Exception e) { failures.Enqueue($"thread {w}, call {k}: {e}"); }
                Interlocked.Increment(ref calls);
            }
        }) { Name = $"soak worker {w}" }).ToArray();
        foreach (var t in workers) t.Start();
        foreach (var t in workers) t.Join();
        stop.Cancel();
        collector.Join();
        long rssEnd = Rss();

        string figures = $"autograd soak: {calls} calls on {threads} threads in {clock.Elapsed.TotalMinutes:F1} min; RSS {rssStart / (1 << 20)} MiB after warm-up, {rssEnd / (1 << 20)} MiB at the end";
        output.WriteLine(figures);
        if (Environment.GetEnvironmentVariable("LOSSDSL_SOAK_REPORT") is { Length: > 0 } path) System.IO.File.AppendAllText(path, figures + Environment.NewLine);
        Assert.True(failures.IsEmpty, string.Join(Environment.NewLine, failures.Take(3)));
    }

    /// <summary>One loss call and backward, chosen by <paramref name="r"/>, checked against TorchSharp autograd.</summary>
    private static void Step(Random r, long k, int threadId)
    {
        var c = Cases[r.Next(Cases.Length)];
        var backend = Backends[r.Next(Backends.Length)];
        var reduction = Reductions[r.Next(Reductions.Length)];
        var dtype = r.Next(2) == 0 ? ScalarType.Float32 : ScalarType.Float64;
        var mode = (Mode)r.Next(4);
        using var _ = LossBackend.Use(backend);
        // The test's own tensors: the reference in a dispose scope (a chain of TorchSharp temporaries left to the finalizer
        // is itself unsafe, see NativeHandoff), the generated path outside one (except in InDisposeScope), with every
        // tensor it hands to TorchSharp held in a local until the end.
        Tensor[] inputs;
        Tensor? upstream;
        Tensor refValue, refGrad;
        using (var reference = torch.NewDisposeScope())
        {
            inputs = c.Inputs(r, dtype);
            var ref64 = inputs.Select(t => t.is_floating_point() ? t.to(ScalarType.Float64) : t).ToArray();
            upstream = reduction == nn.Reduction.None ? torch.rand(c.Reference(ref64, reduction).shape, dtype: ScalarType.Float64) + 0.5 : null;
            (refValue, refGrad) = Reference.Autograd(x => c.Reference(new[] { x }.Concat(ref64.Skip(1)).ToArray(), reduction), ref64[0], upstream);
            reference.MoveToOuter(inputs.Append(refValue).Append(refGrad).Append(upstream ?? refValue));
        }
        upstream = upstream?.to(dtype);

        Tensor value, grad;
        var x = inputs[0].detach().clone().requires_grad_(true);
        var args = new[] { x }.Concat(inputs.Skip(1)).ToArray();
        var gradients = upstream is null ? null : new[] { upstream };
        Tensor Run() => c.Generated(args, reduction);
        switch (mode)
        {
            case Mode.RetainGraphTwice:
                // Two backward passes through one retained graph accumulate twice the gradient.
                value = Run();
                value.backward(gradients, retain_graph: true);
                value.backward(gradients);
                grad = x.grad! / 2;
                break;
            case Mode.CreateGraph:
            {
                // The gradient with its graph, then backward through a function of it: the gradient itself must still match.
                value = Run();
                var weighted = upstream is null ? value : value * upstream;
                var j = upstream is null ? value : weighted.sum();
                var withGraph = torch.autograd.grad(new[] { j }, new[] { x }, retain_graph: true, create_graph: true)[0];
                var sum = withGraph.sum();
                sum.backward();
                grad = withGraph.detach();
                GC.KeepAlive(weighted);
                GC.KeepAlive(j);
                GC.KeepAlive(sum);
                break;
            }
            case Mode.InDisposeScope:
            {
                using var scope = torch.NewDisposeScope();
                value = Run();
                value.backward(gradients);
                value = value.detach().clone().MoveToOuterDisposeScope();
                grad = x.grad!.clone().MoveToOuterDisposeScope();
                break;
            }
            default:
                value = Run();
                value.backward(gradients);
                grad = x.grad!;
                break;
        }
        GC.KeepAlive(args);
        GC.KeepAlive(gradients);
        double rtol = dtype == ScalarType.Float64 ? 1e-9 : 1e-4;
        string what = $"{c.Name}, {backend}, {reduction}, {dtype}, {mode} (thread {threadId}, call {k})";
        Reference.Close(refValue, value.detach(), rtol, rtol, what + " value");
        Reference.Close(refGrad, grad, rtol, rtol, what + " gradient");
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
