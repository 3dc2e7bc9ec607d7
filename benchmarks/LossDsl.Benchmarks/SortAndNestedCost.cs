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
using Overlap = LossLibrary::LossDsl.Losses.Overlap;
using Segmentation = LossLibrary::LossDsl.Losses.Segmentation;
using PairLosses = LossLibrary::LossDsl.Losses.PairLosses;

namespace LossDsl.Benchmarks;

/// <summary>
/// The cost of the sort, nested-reduction and across-the-segments losses (all on the torch-ops backend) against the
/// TorchSharp compositions of their definitions, side by side
/// in one run: each (loss, form, size) in a fresh child process, so that its peak resident memory is its own. A row is the
/// minimum and median time of a forward and backward over a few repetitions, and the peak RSS above the process's RSS
/// after TorchSharp's start (VmHWM − VmRSS at start, from /proc/self/status).
/// <code>dotnet run -c Release --project benchmarks/LossDsl.Benchmarks -- --sort-nested-cost [--rounds N] [--case GeneralizedDice,…]</code>
/// </summary>
public static class SortAndNestedCost
{
    private static readonly (string Loss, string Form, long Size)[] Runs =
    {
        ("LovaszHingePerImage [8, 1, 256, 256]", "dsl", 256), ("LovaszHingePerImage [8, 1, 256, 256]", "composed", 256),
        ("TripletMarginAllTriplets [N, N]", "dsl", 256), ("TripletMarginAllTriplets [N, N]", "composed", 256),
        ("TripletMarginAllTriplets [N, N]", "dsl", 512), ("TripletMarginAllTriplets [N, N]", "composed", 512),
        ("SmoothAP [N, N]", "dsl", 256), ("SmoothAP [N, N]", "composed", 256),
        ("GeneralizedDice [8, 21, 256, 256]", "dsl", 0), ("GeneralizedDice [8, 21, 256, 256]", "composed", 0),
        ("SmpFocalTversky [8, 21, 256, 256]", "dsl", 0), ("SmpFocalTversky [8, 21, 256, 256]", "composed", 0),
        ("Contrastive [N, N]", "dsl", 2048), ("Contrastive [N, N]", "composed", 2048),
    };

    public static int Run(string[] args)
    {
        int rounds = args.SkipWhile(a => a != "--rounds").Skip(1).Select(int.Parse).FirstOrDefault(5);
        // --case GeneralizedDice,Contrastive: only the rows whose loss starts with one of them.
        var only = args.SkipWhile(a => a != "--case").Skip(1).Select(c => c.Split(',')).FirstOrDefault();
        Console.WriteLine($"| loss | N | form | min ms | median ms | peak RSS above start, MB |");
        Console.WriteLine($"|---|---|---|---|---|---|");
        foreach (var (loss, form, size) in Runs.Where(r => only is null || only.Any(c => r.Loss.StartsWith(c, StringComparison.Ordinal))))
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
        Console.WriteLine($"| {loss} | {(n == 256 && loss.StartsWith("Lovasz") || n == 0 ? "" : n.ToString())} | {form} | {times[0]:F1} | {times[rounds / 2]:F1} | {peak:F0} |");
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
        if (n == 0)
        {
            // Sets per channel or per image of [8, 21, 256, 256]: targets with about 10% positives, class 3 absent from image 0.
            var logits = torch.randn(new long[] { 8, 21, 256, 256 }, generator: g);
            var y = (torch.rand(new long[] { 8, 21, 256, 256 }, generator: g) < 0.1).to(ScalarType.Float32);
            y[0, 3] = 0;
            return loss.StartsWith("Generalized")
                ? () => Backward(logits, z => form == "dsl" ? Overlap.GeneralizedDice(z, y) : MonaiGeneralizedDice(z, y))
                : () => Backward(logits, z => form == "dsl" ? Segmentation.SmpFocalTversky(z, y, gamma: 1.5) : SmpFocalTverskyComposed(z, y, 1.5));
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
        if (loss.StartsWith("Contrastive"))
        {
            var d = torch.cdist(e, e);
            return () => Backward(d, x => form == "dsl" ? PairLosses.Contrastive(x, labelsN) : ContrastiveComposed(x, labelsN));
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

    /// <summary>MONAI's GeneralizedDiceLoss(sigmoid=True, w_type="square", batch=False), as its forward computes it.</summary>
    private static Tensor MonaiGeneralizedDice(Tensor logits, Tensor y)
    {
        var p = logits.sigmoid();
        var dims = new long[] { 2, 3 };
        var ground = y.sum(dims);
        var w = 1 / ground.square();
        var infinite = w.isinf();
        w = torch.where(infinite, torch.zeros_like(w), w);
        w = w + infinite.to(w.dtype) * w.amax(new long[] { 1 }, keepdim: true);
        return (1 - (2 * (w * (p * y).sum(dims)).sum(1) + 1e-5) / ((w * (p.sum(dims) + ground)).sum(1) + 1e-5)).mean();
    }

    /// <summary>smp's TverskyLoss(mode="multilabel", gamma): per channel 1 − the Tversky score, masked where empty, mean ** γ.</summary>
    private static Tensor SmpFocalTverskyComposed(Tensor logits, Tensor y, double gamma)
    {
        var p = logits.sigmoid();
        var dims = new long[] { 0, 2, 3 };
        var tp = (p * y).sum(dims);
        var score = tp / (tp + 0.5 * (p * (1 - y)).sum(dims) + 0.5 * ((1 - p) * y).sum(dims)).clamp_min(1e-7);
        return ((1 - score) * (y.sum(dims) > 0).to(p.dtype)).mean().pow(gamma);
    }

    /// <summary>pytorch-metric-learning's ContrastiveLoss(pos_margin=0, neg_margin=1) with AvgNonZeroReducer, from the labels.</summary>
    private static Tensor ContrastiveComposed(Tensor d, Tensor labels)
    {
        var (pos, neg) = Masks(labels);
        var positive = F.relu(d) * pos.to(d.dtype);
        var negative = F.relu(1 - d) * neg.to(d.dtype);
        return positive.sum() / positive.gt(0).sum().clamp_min(1).to(d.dtype) + negative.sum() / negative.gt(0).sum().clamp_min(1).to(d.dtype);
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
