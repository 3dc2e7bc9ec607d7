extern alias LossLibrary;

using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using Lovasz = LossLibrary::LossDsl.Losses.Lovasz;
using Ranking = LossLibrary::LossDsl.Losses.Ranking;

namespace LossDsl.Benchmarks;

/// <summary>
/// The cost of the sort and nested-reduction losses against the TorchSharp compositions of their definitions, side by side
/// in one run: each (loss, form, size) in a fresh child process, so that its peak resident memory is its own. A row is the
/// minimum and median time of a forward and backward over a few repetitions, and the peak RSS above the process's RSS
/// after TorchSharp's start (VmHWM − VmRSS at start, from /proc/self/status).
/// <code>dotnet run -c Release --project benchmarks/LossDsl.Benchmarks -- --sort-nested-cost [--rounds N]</code>
/// </summary>
public static class SortAndNestedCost
{
    private static readonly (string Loss, string Form, long Size)[] Runs =
    {
        ("LovaszHingePerImage [8, 1, 256, 256]", "dsl", 256), ("LovaszHingePerImage [8, 1, 256, 256]", "composed", 256),
        ("TripletMarginAllTriplets [N, N]", "dsl", 256), ("TripletMarginAllTriplets [N, N]", "composed", 256),
        ("TripletMarginAllTriplets [N, N]", "dsl", 512), ("TripletMarginAllTriplets [N, N]", "composed", 512),
        ("SmoothAP [N, N]", "dsl", 256), ("SmoothAP [N, N]", "composed", 256),
    };

    public static int Run(string[] args)
    {
        int rounds = args.SkipWhile(a => a != "--rounds").Skip(1).Select(int.Parse).FirstOrDefault(5);
        Console.WriteLine($"| loss | N | form | min ms | median ms | peak RSS above start, MB |");
        Console.WriteLine($"|---|---|---|---|---|---|");
        foreach (var (loss, form, size) in Runs)
        {
            var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, UseShellExecute = false };
            foreach (var a in new[] { "--sort-nested-child", loss, form, size.ToString(), rounds.ToString() }) start.ArgumentList.Add(a);
            using var child = Process.Start(start)!;
            string output = child.StandardOutput.ReadToEnd().Trim();
            child.WaitForExit();
            Console.WriteLine(child.ExitCode == 0 ? output : $"| {loss} | {size} | {form} | failed ({child.ExitCode}) | | |");
        }
        return 0;
    }

    /// <summary>One (loss, form, size): prints its table row.</summary>
    public static int Child(string[] args)
    {
        string loss = args[1], form = args[2];
        long n = long.Parse(args[3]);
        int rounds = int.Parse(args[4]);
        torch.set_num_threads(Environment.ProcessorCount);
        using (torch.NewDisposeScope()) torch.ones(4).sum().item<float>();   // libtorch loaded
        long startRss = Status("VmRSS");
        var step = Step(loss, form, n);
        var times = new double[rounds];
        step();   // warm-up
        for (int r = 0; r < rounds; r++)
        {
            var watch = Stopwatch.StartNew();
            step();
            times[r] = watch.Elapsed.TotalMilliseconds;
        }
        Array.Sort(times);
        double peak = (Status("VmHWM") - startRss) / 1024.0;
        Console.WriteLine($"| {loss} | {(loss.StartsWith("Lovasz") ? "" : n.ToString())} | {form} | {times[0]:F1} | {times[rounds / 2]:F1} | {peak:F0} |");
        return 0;
    }

    private static long Status(string key)
        => long.Parse(File.ReadLines("/proc/self/status").First(l => l.StartsWith(key + ":")).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);

    private static Action Step(string loss, string form, long n)
    {
        var g = new Generator(1);
        if (loss.StartsWith("Lovasz"))
        {
            var logits = torch.randn(new long[] { 8, 1, 256, 256 }, generator: g);
            var labels = (torch.rand(new long[] { 8, 1, 256, 256 }, generator: g) < 0.3).to(ScalarType.Float32);
            return () => Backward(logits, z => form == "dsl" ? Lovasz.LovaszHingePerImage(z, labels) : LovaszComposed(z, labels));
        }
        var labelsN = torch.randint(0, Math.Max(2, n / 8), new long[] { n }, generator: g);
        var e = F.normalize(torch.randn(new long[] { n, 32 }, generator: g), dim: 1);
        var (pos, neg) = Masks(labelsN);
        if (loss.StartsWith("Triplet"))
        {
            var d = torch.cdist(e, e);
            return () => Backward(d, x => form == "dsl"
                ? Ranking.TripletMarginAllTriplets(x, labelsN, margin: 0.1, reduction: nn.Reduction.Sum)
                : (F.relu(x.unsqueeze(2) - x.unsqueeze(1) + 0.1) * pos.unsqueeze(2).logical_and(neg.unsqueeze(1))).sum());
        }
        var s = e.matmul(e.t());
        return () => Backward(s, x => form == "dsl" ? Ranking.SmoothAP(x, labelsN, temperature: 0.01) : SmoothAPComposed(x, pos, neg, 0.01));
    }

    private static void Backward(Tensor input, Func<Tensor, Tensor> loss)
    {
        using var scope = torch.NewDisposeScope();
        var leaf = input.detach().requires_grad_(true);
        loss(leaf).backward();
        leaf.grad!.sum().item<float>();
    }

    private static (Tensor, Tensor) Masks(Tensor labels)
    {
        var same = labels.view(-1, 1).eq(labels.view(1, -1));
        return (same.logical_and(torch.eye(labels.shape[0], dtype: ScalarType.Bool).logical_not()), same.logical_not());
    }

    /// <summary>smp's lovasz_hinge(per_image=True) composed: per image, sort, gather, cumsum, the first difference, a dot product.</summary>
    private static Tensor LovaszComposed(Tensor logits, Tensor labels)
    {
        var losses = new Tensor[logits.shape[0]];
        for (int i = 0; i < losses.Length; i++)
        {
            var z = logits[i].reshape(-1);
            var y = labels[i].reshape(-1);
            var errors = 1 - z * (2 * y - 1);
            var (sorted, order) = errors.sort(0, descending: true);
            var gt = y.gather(0, order);
            var gts = gt.sum();
            var jaccard = 1 - (gts - gt.cumsum(0)) / (gts + (1 - gt).cumsum(0));
            var grad = torch.cat(new[] { jaccard[..1], jaccard[1..] - jaccard[..^1] });
            losses[i] = torch.dot(F.relu(sorted), grad);
        }
        return torch.stack(losses).mean();
    }

    /// <summary>Smooth-AP (Brown et al. 2020) composed on [N, N, N]: the sigmoid of every (query, j, k) difference.</summary>
    private static Tensor SmoothAPComposed(Tensor s, Tensor pos, Tensor neg, double tau)
    {
        long n = s.shape[0];
        var p = pos.to(s.dtype);
        var others = pos.logical_or(neg).to(s.dtype);
        var notSame = torch.eye(n, dtype: s.dtype).neg().add(1).unsqueeze(0);
        var sg = torch.sigmoid((s.unsqueeze(1) - s.unsqueeze(2)) / tau) * notSame;
        var rankP = 1 + (sg * p.unsqueeze(1)).sum(2);
        var rankAll = 1 + (sg * others.unsqueeze(1)).sum(2);
        var count = p.sum(1);
        var ap = (p * rankP / rankAll).sum(1) / count.clamp_min(1);
        return (1 - ap).masked_select(count.gt(0)).mean();
    }
}
