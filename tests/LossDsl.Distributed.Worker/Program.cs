using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using LossDsl.Distributed;
using LossDsl.Losses;
using LossDsl.Runtime;
using LossDsl.Runtime.Distributed;
using TorchSharp;
using static TorchSharp.torch;
using Reduction = TorchSharp.torch.nn.Reduction;

namespace LossDsl.Distributed.Worker;

/// <summary>
/// One rank: builds the same global data on every rank (same seed), takes its uneven shard, runs each loss sharded over
/// the MPI ranks, and compares the value and every gradient with the single-process loss on the whole data. Rank 0
/// prints one line per case: <c>CASE name ranks=N value_err=… grad_err=…</c> (the largest absolute error over ranks). A
/// rank that throws prints its error and aborts every rank (MPI_Abort), so that none waits.
/// </summary>
public static class Program
{
    private static MpiCollective s_comm = null!;

    public static int Main(string[] args)
    {
        string what = args.Length > 0 ? args[0] : "all";
        s_comm = MpiCollective.World();
        try
        {
            torch.set_num_threads(1);
            switch (what)
            {
                case "fail":
                    // A rank that fails: the others are already waiting in a collective.
                    if (s_comm.Rank == s_comm.Size - 1) throw new InvalidOperationException("deliberate failure on the last rank (the test of a failing rank)");
                    s_comm.Sum(1);
                    break;
                case "hang":
                    // A rank that never joins the collective: only the launcher's timeout ends this.
                    if (s_comm.Rank == s_comm.Size - 1) Thread.Sleep(Timeout.Infinite);
                    s_comm.Sum(1);
                    break;
                case "measure":
                    Measure(args.Skip(1).ToArray());
                    break;
                default:
                    Run(what);
                    break;
            }
            s_comm.Barrier();
            s_comm.Dispose();
            return 0;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"rank {s_comm.Rank} of {s_comm.Size} failed: {e}");
            Console.Error.Flush();
            s_comm.Abort(3);
            return 3;
        }
    }

    private static void Run(string what)
    {
        var cases = new List<(string Name, Action Run)>();
        cases.Add(("collectives", Collectives));
        cases.Add(("nccl-dry-run", NcclDryRun));
        foreach (var (name, loss) in ClassRowLosses()) cases.Add(($"classes/{name}", () => ClassAxis(name, loss)));
        cases.Add(("classes/CrossEntropyLinear", () => FusedLinearClasses("CrossEntropyLinear", (h, w, b, t) => Classification.CrossEntropyLinear(h, w, b, t, ignore_index: -1, chunk_rows: 3))));
        cases.Add(("classes/Poly1Linear", () => FusedLinearClasses("Poly1Linear", (h, w, b, t) => Classification.Poly1Linear(h, w, b, t, ignore_index: -1, epsilon: 0.5))));
        cases.Add(("batch/CrossEntropyLinear", () => FusedLinearBatch((h, w, b, t, r) => Classification.CrossEntropyLinear(h, w, b, t, ignore_index: -1, chunk_rows: 2, reduction: r))));
        foreach (var (name, loss) in BatchRowLosses()) cases.Add(($"batch/{name}", () => BatchRows(name, loss)));
        foreach (var (name, loss) in SetLosses()) cases.Add(($"batch/{name}", () => BatchSets(name, loss)));
        cases.Add(("batch/AucM", BatchAucM));
        foreach (var (name, loss) in MulticlassSetLosses()) cases.Add(($"batch/{name}", () => BatchMulticlass(loss)));
        foreach (var (name, loss) in PairLosses()) cases.Add(($"batch/{name}", () => BatchPairs(name, loss)));
        cases.Add(("batch/Mse", BatchElementwise));
        foreach (var (name, run) in cases.Where(c => what == "all" || c.Name.StartsWith(what, StringComparison.Ordinal)))
        {
            s_errors.Clear();
            using (var scope = torch.NewDisposeScope()) run();
            double value = GlobalMax(s_errors.Where(e => e.Value).Select(e => e.Error));
            double grad = GlobalMax(s_errors.Where(e => !e.Value).Select(e => e.Error));
            if (s_comm.Rank == 0) Console.WriteLine($"CASE {name} ranks={s_comm.Size} value_err={value:E3} grad_err={grad:E3} checks={s_errors.Count}");
        }
    }

    private static readonly List<(bool Value, double Error)> s_errors = new();

    private static double GlobalMax(IEnumerable<double> errors)
    {
        double local = errors.DefaultIfEmpty(double.NaN).Max();
        using var t = tensor(new[] { double.IsNaN(local) ? double.PositiveInfinity : local });
        s_comm.AllReduce(t, CollectiveOp.Max);
        return t.data<double>()[0];
    }

    private static void Value(Tensor sharded, Tensor reference) => s_errors.Add((true, MaxError(sharded, reference)));
    private static void Grad(Tensor? sharded, Tensor? reference)
    {
        if (sharded is null || reference is null) throw new InvalidOperationException("a gradient is missing");
        s_errors.Add((false, MaxError(sharded, reference)));
    }

    private static double MaxError(Tensor a, Tensor b)
    {
        if (!a.shape.SequenceEqual(b.shape)) throw new InvalidOperationException($"shapes differ: [{string.Join(", ", a.shape)}] vs [{string.Join(", ", b.shape)}]");
        if (a.numel() == 0) return 0;
        var d = (a.detach().to(ScalarType.Float64) - b.detach().to(ScalarType.Float64)).abs().max().item<double>();
        return double.IsNaN(d) ? double.PositiveInfinity : d;
    }

    /// <summary>Uneven shards of <paramref name="total"/>: rank r gets about (r + 1)/Σ of it, at least one.</summary>
    private static long[] Split(long total)
    {
        int p = s_comm.Size;
        long weights = p * (p + 1) / 2;
        var counts = Enumerable.Range(0, p).Select(r => Math.Max(1, total * (r + 1) / weights)).ToArray();
        counts[^1] += total - counts.Sum();
        if (counts.Any(c => c < 1)) throw new InvalidOperationException($"cannot split {total} over {p} ranks");
        return counts;
    }

    private static (long Start, long Count) Mine(long[] counts) => (counts.Take(s_comm.Rank).Sum(), counts[s_comm.Rank]);

    private static Tensor Leaf(Tensor t) => t.detach().clone().requires_grad_(true);

    // ---------------------------------------------------------------- collectives

    private static void Collectives()
    {
        var counts = Split(9);
        var (start, count) = Mine(counts);
        manual_seed(11);
        var all = randn(new long[] { counts.Sum(), 3 }, ScalarType.Float64);
        var perRank = randn(new long[] { s_comm.Size, 5 }, ScalarType.Float64);
        var mine = all.narrow(0, start, count).contiguous();
        Value(s_comm.AllGather(mine), all);
        var ids = arange(start, start + count, dtype: ScalarType.Int64);
        Value(s_comm.AllGather(ids), arange(counts.Sum(), dtype: ScalarType.Int64));
        foreach (var (op, expected) in new[] { (CollectiveOp.Sum, perRank.sum(new long[] { 0 })), (CollectiveOp.Max, perRank.amax(new long[] { 0 })), (CollectiveOp.Min, perRank.amin(new long[] { 0 })) })
        {
            var t = perRank[s_comm.Rank].clone();
            s_comm.AllReduce(t, op);
            Value(t, expected);
        }
        // Reduce-scatter: rank r contributes (r + 1)·all; its slice of the sum is Σ(r + 1)·all[slice].
        var contribution = all * (s_comm.Rank + 1);
        double factor = s_comm.Size * (s_comm.Size + 1) / 2.0;
        Value(s_comm.ReduceScatter(contribution, counts), mine * factor);
        // The broadcast that bootstraps NCCL: rank 0's 128-byte id reaches every rank.
        var id = Enumerable.Range(0, NcclApi.UniqueIdBytes).Select(i => s_comm.Rank == 0 ? (byte)(i * 7 + 3) : (byte)0).ToArray();
        s_comm.Broadcast(id, root: 0);
        s_errors.Add((true, id.Select((b, i) => b == (byte)(i * 7 + 3)).All(ok => ok) ? 0 : double.PositiveInfinity));
        // The gather with gradients: ∂(Σ_r w_r · gathered)/∂mine = Σ_r w_r[slice], routed back by reduce-scatter.
        var leaf = Leaf(mine);
        var gathered = AllGatherFunction.Gather(s_comm, leaf);
        var w = all * (s_comm.Rank + 2);
        (gathered * w).sum().backward();
        Grad(leaf.grad, all.narrow(0, start, count) * (factor + s_comm.Size));
    }

    /// <summary>
    /// The NCCL path where there is no libnccl (no GPU here): the bootstrap fails on every rank, before any collective,
    /// with a message that names the library; the plan of an uneven all-gather is what the MPI path moves, padded.
    /// </summary>
    private static void NcclDryRun()
    {
        if (NcclApi.Available(out _)) throw new InvalidOperationException("libnccl is installed here: run the NCCL check on the GPU machine instead of the dry run");
        try
        {
            using var nccl = new NcclCollective(s_comm);
            throw new InvalidOperationException("NcclCollective bootstrapped without libnccl");
        }
        catch (DllNotFoundException e) when (e.Message.Contains(NcclApi.Library)) { }
        var counts = Split(9);
        var plan = NcclPlan.AllGather(counts, 3, sizeof(double));
        var mine = zeros(counts[s_comm.Rank], 3, dtype: ScalarType.Float64);
        using var gathered = s_comm.AllGather(mine);
        // The padded receive buffer holds every rank's slot; what the MPI gather returned is its unpadded part.
        s_errors.Add((true, plan.BufferBytes == s_comm.Size * counts.Max() * 3 * 8 && gathered.numel() * 8 == counts.Sum() * 3 * 8 ? 0 : double.PositiveInfinity));
    }

    // ---------------------------------------------------------------- measurements (docs/distributed.md)

    /// <summary>
    /// Per-step time and communication of three sharded losses at this world size: vocabulary-parallel CE, data-parallel
    /// CE and SupCon over global negatives (float32, forward + backward; the median of the timed steps).
    /// </summary>
    private static void Measure(string[] args)
    {
        int steps = args.Length > 0 ? int.Parse(args[0]) : 10;
        var counting = new CountingCollective(s_comm);
        void Report(string name, Action step)
        {
            step();   // warm-up
            var times = new List<double>();
            long bytes = 0, calls = 0;
            double comm = 0;
            for (int i = 0; i < steps; i++)
            {
                counting.Reset();
                s_comm.Barrier();
                var clock = System.Diagnostics.Stopwatch.StartNew();
                using (var scope = torch.NewDisposeScope()) step();
                times.Add(clock.Elapsed.TotalMilliseconds);
                (bytes, calls, comm) = (counting.Bytes, counting.Calls, counting.Time.TotalMilliseconds);
            }
            times.Sort();
            double median = GlobalMax(new[] { times[times.Count / 2] });
            if (s_comm.Rank == 0)
                Console.WriteLine($"MEASURE {name} ranks={s_comm.Size} step_ms={median:F2} comm_ms={comm:F2} calls={calls} bytes_per_rank={bytes}");
        }
        const long rows = 256, vocab = 32768, batch = 4096, classes = 1000, pairs = 1024, dim = 128;
        manual_seed(1);
        var vocabCounts = Split(vocab);
        var (vs, vc) = Mine(vocabCounts);
        var logits = randn(rows, vocab).narrow(1, vs, vc).contiguous();
        var target = randint(0, vocab, new[] { rows }, dtype: ScalarType.Int64);
        Report($"vocab-parallel CE (N={rows}, V={vocab})", () =>
        {
            var x = Leaf(logits);
            using (LossSharding.Over(counting, ShardAxis.Classes)) Classification.CrossEntropy(x, target).backward();
        });
        var batchCounts = Split(batch);
        var (bs, bc) = Mine(batchCounts);
        var rowsLogits = randn(batch, classes).narrow(0, bs, bc).contiguous();
        var rowsTarget = randint(0, classes, new[] { batch }, dtype: ScalarType.Int64).narrow(0, bs, bc).contiguous();
        Report($"data-parallel CE (N={batch}, C={classes})", () =>
        {
            var x = Leaf(rowsLogits);
            using (LossSharding.Over(counting, ShardAxis.Batch)) Classification.CrossEntropy(x, rowsTarget).backward();
        });
        var pairCounts = Split(pairs);
        var (ps, pc) = Mine(pairCounts);
        var z = randn(pairs, dim).narrow(0, ps, pc).contiguous();
        var labels = randint(0, 64, new[] { pairs }, dtype: ScalarType.Int64).narrow(0, ps, pc).contiguous();
        Report($"SupCon over global negatives (N={pairs}, D={dim})", () =>
        {
            var e = Leaf(z);
            var n = nn.functional.normalize(e, dim: 1);
            using (LossSharding.Over(counting, ShardAxis.Batch))
                MetricLearning.SupCon(n.matmul(AllGatherFunction.Gather(counting, n).t()), labels).backward();
        });
    }

    // ---------------------------------------------------------------- class axis (vocabulary parallel)

    private delegate Tensor ClassRowLoss(Tensor logits, Tensor target, Tensor rowInput, Tensor classSpan, Reduction reduction);

    private static IEnumerable<(string, ClassRowLoss)> ClassRowLosses()
    {
        yield return ("CrossEntropy", (x, t, m, p, r) => Classification.CrossEntropy(x, t, ignore_index: -1, reduction: r));
        // Class weights over the whole class axis on every rank (targets are global): Mean divides by Σ weight[target].
        yield return ("CrossEntropy+weight", (x, t, m, p, r) => Classification.CrossEntropy(x, t, weight: linspace(0.25, 3, 13, dtype: ScalarType.Float64), ignore_index: -1, reduction: r));
        yield return ("LabelSmoothingCrossEntropy", (x, t, m, p, r) => Classification.LabelSmoothingCrossEntropy(x, t, ignore_index: -1, reduction: r, label_smoothing: 0.2));
        yield return ("Poly1", (x, t, m, p, r) => Classification.Poly1(x, t, ignore_index: -1, reduction: r, epsilon: 0.7));
        yield return ("PolyN", (x, t, m, p, r) => Classification.PolyN(x, t, ignore_index: -1, reduction: r, epsilon1: 0.5, epsilon2: 0.25, epsilon3: 0.1));
        yield return ("Focal", (x, t, m, p, r) => Classification.Focal(x, t, ignore_index: -1, reduction: r));
        yield return ("DualFocal", (x, t, m, p, r) => Classification.DualFocal(x, t, ignore_index: -1, reduction: r));
        yield return ("GeneralizedCrossEntropy", (x, t, m, p, r) => Classification.GeneralizedCrossEntropy(x, t, ignore_index: -1, reduction: r));
        yield return ("Mae", (x, t, m, p, r) => Classification.Mae(x, t, ignore_index: -1, reduction: r));
        yield return ("NormalizedCrossEntropy", (x, t, m, p, r) => Classification.NormalizedCrossEntropy(x, t, ignore_index: -1, reduction: r));
        yield return ("ReverseCrossEntropy", (x, t, m, p, r) => Classification.ReverseCrossEntropy(x, t, ignore_index: -1, reduction: r));
        yield return ("SymmetricCrossEntropy", (x, t, m, p, r) => Classification.SymmetricCrossEntropy(x, t, ignore_index: -1, reduction: r));
        yield return ("Squentropy", (x, t, m, p, r) => Classification.Squentropy(x, t, ignore_index: -1, reduction: r));
        yield return ("TaylorCrossEntropy", (x, t, m, p, r) => Classification.TaylorCrossEntropy(x, t, ignore_index: -1, reduction: r, order: 3));
        yield return ("Brier", (x, t, m, p, r) => Classification.Brier(x, t, ignore_index: -1, reduction: r));
        yield return ("Ldam", (x, t, m, p, r) => Classification.Ldam(x, t, m, ignore_index: -1, reduction: r, s: 5));
        yield return ("LogitAdjusted", (x, t, m, p, r) => Classification.LogitAdjusted(x, p, t, ignore_index: -1, reduction: r));
        yield return ("ZLoss", (x, t, m, p, r) => Classification.ZLoss(x, t, ignore_index: -1, reduction: r, z_loss: 0.1));
        yield return ("ConfidencePenalty", (x, t, m, p, r) => Classification.ConfidencePenalty(x, t, ignore_index: -1, reduction: r));
    }

    /// <summary>Rows [N, C] with C split unevenly over the ranks; global targets, some rows ignored; Mean, Sum and None.</summary>
    private static void ClassAxis(string name, ClassRowLoss loss)
    {
        const long n = 9, classes = 13;
        var counts = Split(classes);
        var (start, count) = Mine(counts);
        manual_seed(5);
        var logits = randn(n, classes, dtype: ScalarType.Float64) * 2;
        var target = randint(0, classes, new[] { n }, dtype: ScalarType.Int64);
        target[1] = tensor(-1L);
        target[6] = tensor(-1L);
        var margin = rand(n, dtype: ScalarType.Float64);
        var prior = nn.functional.log_softmax(randn(1, classes, dtype: ScalarType.Float64), 1).expand(n, classes).contiguous();
        foreach (var reduction in new[] { Reduction.Mean, Reduction.Sum, Reduction.None })
        {
            var reference = Leaf(logits);
            var refMargin = Leaf(margin);
            var refLoss = loss(reference, target, refMargin, prior, reduction);
            refLoss.sum().backward();

            var local = Leaf(logits.narrow(1, start, count));
            var localMargin = Leaf(margin);
            Tensor sharded;
            using (LossSharding.Over(s_comm, ShardAxis.Classes))
                sharded = loss(local, target, localMargin, prior.narrow(1, start, count).contiguous(), reduction);
            sharded.sum().backward();
            Value(sharded, refLoss);
            Grad(local.grad, reference.grad!.narrow(1, start, count));
            // A per-row input is every rank's: its full gradient on each (as the hidden rows of the fused linear form).
            if (name == "Ldam") Grad(localMargin.grad, refMargin.grad);
        }
    }

    private static void FusedLinearClasses(string name, Func<Tensor, Tensor, Tensor?, Tensor, Tensor> loss)
    {
        const long n = 10, classes = 17, dim = 6;
        var counts = Split(classes);
        var (start, count) = Mine(counts);
        manual_seed(7);
        var hidden = randn(n, dim, dtype: ScalarType.Float64);
        var classifier = randn(classes, dim, dtype: ScalarType.Float64);
        var bias = randn(classes, dtype: ScalarType.Float64);
        var target = randint(0, classes, new[] { n }, dtype: ScalarType.Int64);
        target[3] = tensor(-1L);
        var (h, w, b) = (Leaf(hidden), Leaf(classifier), Leaf(bias));
        var refLoss = loss(h, w, b, target);
        refLoss.backward();

        var (hl, wl, bl) = (Leaf(hidden), Leaf(classifier.narrow(0, start, count)), Leaf(bias.narrow(0, start, count)));
        Tensor sharded;
        using (LossSharding.Over(s_comm, ShardAxis.Classes)) sharded = loss(hl, wl, bl, target);
        sharded.backward();
        Value(sharded, refLoss);
        Grad(hl.grad, h.grad);
        Grad(wl.grad, w.grad!.narrow(0, start, count));
        Grad(bl.grad, b.grad!.narrow(0, start, count));
    }

    // ---------------------------------------------------------------- batch axis (data parallel)

    /// <summary>
    /// The fused linear form with the hidden rows split unevenly (so each rank runs a different number of chunks) and
    /// ignored unevenly, the classifier on every rank: the loss is the global one, Mean divides by the global count, each
    /// rank's hidden rows get their gradient, and the classifier's and bias's, summed over the ranks, are the full ones.
    /// </summary>
    private static void FusedLinearBatch(Func<Tensor, Tensor, Tensor?, Tensor, Reduction, Tensor> loss)
    {
        const long classes = 7, dim = 5;
        long n = 3L * s_comm.Size + 2;
        var counts = Split(n);
        var (start, count) = Mine(counts);
        manual_seed(17);
        var hidden = randn(n, dim, dtype: ScalarType.Float64);
        var classifier = randn(classes, dim, dtype: ScalarType.Float64);
        var bias = randn(classes, dtype: ScalarType.Float64);
        var target = randint(0, classes, new[] { n }, dtype: ScalarType.Int64);
        target.narrow(0, 0, counts[0] - 1).fill_(-1);
        foreach (var reduction in new[] { Reduction.Mean, Reduction.Sum })
        {
            var (h, w, b) = (Leaf(hidden), Leaf(classifier), Leaf(bias));
            var refLoss = loss(h, w, b, target, reduction);
            refLoss.backward();
            var (hl, wl, bl) = (Leaf(hidden.narrow(0, start, count)), Leaf(classifier), Leaf(bias));
            Tensor sharded;
            using (LossSharding.Over(s_comm, ShardAxis.Batch)) sharded = loss(hl, wl, bl, target.narrow(0, start, count), reduction);
            sharded.backward();
            Value(sharded, refLoss);
            Grad(hl.grad, h.grad!.narrow(0, start, count));
            foreach (var (local, full) in new[] { (wl.grad!, w.grad!), (bl.grad!, b.grad!) })
            {
                var summed = local.contiguous().clone();
                s_comm.AllReduce(summed, CollectiveOp.Sum);
                Grad(summed, full);
            }
        }
    }

    private delegate Tensor BatchRowLoss(Tensor logits, Tensor target, Tensor? weight, Reduction reduction);

    private static IEnumerable<(string, BatchRowLoss)> BatchRowLosses()
    {
        yield return ("CrossEntropy", (x, t, w, r) => Classification.CrossEntropy(x, t, weight: w, ignore_index: -1, reduction: r));
        yield return ("Focal", (x, t, w, r) => Classification.Focal(x, t, weight: w, ignore_index: -1, reduction: r));
        yield return ("CrossEntropy+weight", (x, t, w, r) => Classification.CrossEntropy(x, t, weight: w, ignore_index: -1, reduction: r));
    }

    /// <summary>
    /// Rows split unevenly; rows ignored unevenly (every row of rank 0 and some of the others), so a local mean averaged
    /// over ranks would be wrong: Mean must divide by the global count of the rows that count.
    /// </summary>
    private static void BatchRows(string name, BatchRowLoss loss)
    {
        const long classes = 5;
        long n = 6L * s_comm.Size + 1;
        var counts = Split(n);
        var (start, count) = Mine(counts);
        manual_seed(13);
        var logits = randn(n, classes, dtype: ScalarType.Float64);
        var target = randint(0, classes, new[] { n }, dtype: ScalarType.Int64);
        target.narrow(0, 0, counts[0]).fill_(-1);
        target[n - 2] = tensor(-1L);
        var weight = name.EndsWith("+weight") ? rand(classes, dtype: ScalarType.Float64) + 0.5 : null;
        foreach (var reduction in new[] { Reduction.Mean, Reduction.Sum })
        {
            var reference = Leaf(logits);
            var refLoss = loss(reference, target, weight, reduction);
            refLoss.backward();
            var local = Leaf(logits.narrow(0, start, count));
            Tensor sharded;
            using (LossSharding.Over(s_comm, ShardAxis.Batch)) sharded = loss(local, target.narrow(0, start, count), weight, reduction);
            sharded.backward();
            Value(sharded, refLoss);
            Grad(local.grad, reference.grad!.narrow(0, start, count));
        }
    }

    private static IEnumerable<(string, Func<Tensor, Tensor, Tensor>)> SetLosses()
    {
        yield return ("Dice", (x, y) => Segmentation.Dice(x, y));
        yield return ("Jaccard", (x, y) => Segmentation.Jaccard(x, y));
        yield return ("Tversky", (x, y) => Segmentation.Tversky(x, y));
        yield return ("FocalTversky", (x, y) => Segmentation.FocalTversky(x, y));
        yield return ("Mcc", (x, y) => Segmentation.Mcc(x, y));
        // Reductions across the classes: per channel (the sets' sums cross the ranks, the reduction across the classes
        // is then each rank's own), and per image (the images are split, Mean over them counts every rank's).
        yield return ("SmpFocalTversky", (x, y) => Segmentation.SmpFocalTversky(x, y, gamma: 1.5));
        yield return ("GeneralizedDiceBatch", (x, y) => Overlap.GeneralizedDiceBatch(x, y));
        yield return ("GeneralizedDice", (x, y) => Overlap.GeneralizedDice(x, y));
    }

    private static IEnumerable<(string, Func<Tensor, Tensor, Tensor>)> MulticlassSetLosses()
    {
        yield return ("MulticlassDice", (x, m) => Segmentation.MulticlassDice(x, m, ignore_index: -1));
        yield return ("MulticlassJaccard", (x, m) => Segmentation.MulticlassJaccard(x, m, ignore_index: -1));
    }

    /// <summary>
    /// Multiclass sets (a softmax across C per pixel; one set per class over the batch and pixels), [N, C, H, W] with N
    /// split unevenly, a class mask [N, H, W] with pixels ignored unevenly and a class absent everywhere.
    /// </summary>
    private static void BatchMulticlass(Func<Tensor, Tensor, Tensor> loss)
    {
        long n = 2L * s_comm.Size + 1;
        var counts = Split(n);
        var (start, count) = Mine(counts);
        manual_seed(19);
        var logits = randn(new long[] { n, 4, 3, 5 }, ScalarType.Float64);
        var mask = randint(0, 3, new long[] { n, 3, 5 }, dtype: ScalarType.Int64);   // class 3 never occurs
        mask.narrow(0, 0, counts[0]).select(1, 0).fill_(-1);
        CompareOverBatch(logits, mask, start, count, loss);
    }

    /// <summary>Per-channel sets over the batch and pixels ([N, C, H, W], N split unevenly): the sets' sums run over every rank.</summary>
    private static void BatchSets(string name, Func<Tensor, Tensor, Tensor> loss)
    {
        long n = 2L * s_comm.Size + 1;
        var counts = Split(n);
        var (start, count) = Mine(counts);
        manual_seed(17);
        var logits = randn(new long[] { n, 3, 4, 5 }, ScalarType.Float64);
        var targets = rand(new long[] { n, 3, 4, 5 }, ScalarType.Float64).gt(0.6).to(ScalarType.Float64);
        targets.select(1, 2).zero_();   // an empty channel (its loss is 0 by the body's condition)
        CompareOverBatch(logits, targets, start, count, loss);
    }

    /// <summary>The loss of the whole batch against this rank's rows of it under a batch shard: the value, and the rows' gradient.</summary>
    private static void CompareOverBatch(Tensor logits, Tensor data, long start, long count, Func<Tensor, Tensor, Tensor> loss)
    {
        var reference = Leaf(logits);
        var refLoss = loss(reference, data);
        refLoss.backward();
        var local = Leaf(logits.narrow(0, start, count));
        Tensor sharded;
        using (LossSharding.Over(s_comm, ShardAxis.Batch)) sharded = loss(local, data.narrow(0, start, count).contiguous());
        sharded.backward();
        Value(sharded, refLoss);
        Grad(local.grad, reference.grad!.narrow(0, start, count));
    }

    /// <summary>AUC-M, one set over the whole batch; its trained scalars a, b, α are every rank's (their gradients sum over ranks).</summary>
    private static void BatchAucM()
    {
        long n = 5L * s_comm.Size + 2;
        var counts = Split(n);
        var (start, count) = Mine(counts);
        manual_seed(19);
        var logits = randn(n, dtype: ScalarType.Float64);
        var labels = rand(n, dtype: ScalarType.Float64).gt(0.7).to(ScalarType.Float64);
        var scalars = rand(3, dtype: ScalarType.Float64);
        var reference = Leaf(logits);
        var (a, b, alpha) = (Leaf(scalars[0]), Leaf(scalars[1]), Leaf(scalars[2]));
        var refLoss = Binary.AucM(reference, labels, a, b, alpha, imratio: 0.3);
        refLoss.backward();
        var local = Leaf(logits.narrow(0, start, count));
        var (al, bl, alphal) = (Leaf(scalars[0]), Leaf(scalars[1]), Leaf(scalars[2]));
        Tensor sharded;
        using (LossSharding.Over(s_comm, ShardAxis.Batch)) sharded = Binary.AucM(local, labels.narrow(0, start, count), al, bl, alphal, imratio: 0.3);
        sharded.backward();
        Value(sharded, refLoss);
        Grad(local.grad, reference.grad!.narrow(0, start, count));
        foreach (var (mine, full) in new[] { (al, a), (bl, b), (alphal, alpha) })
        {
            var summed = mine.grad!.clone();
            s_comm.AllReduce(summed, CollectiveOp.Sum);
            Grad(summed, full.grad);
        }
    }

    private static IEnumerable<(string, Func<Tensor, Tensor, Tensor>)> PairLosses()
    {
        yield return ("SupCon", (s, l) => MetricLearning.SupCon(s, l));
        yield return ("NTXent", (s, l) => MetricLearning.NTXent(s, l));
        yield return ("MultiSimilarity", (s, l) => MetricLearning.MultiSimilarity(s, l));
        yield return ("Circle", (s, l) => MetricLearning.Circle(s, l));
    }

    /// <summary>
    /// A pair loss over global negatives: this rank's embeddings against every rank's (AllGatherFunction), labels
    /// gathered by the pair masks; Mean over the positive rows of the whole batch. The embeddings' gradient comes back
    /// to the rank that owns them.
    /// </summary>
    private static void BatchPairs(string name, Func<Tensor, Tensor, Tensor> loss)
    {
        long n = 4L * s_comm.Size + 3;
        var counts = Split(n);
        var (start, count) = Mine(counts);
        manual_seed(23);
        var z = randn(n, 4, dtype: ScalarType.Float64);
        var labels = randint(0, 3, new[] { n }, dtype: ScalarType.Int64);
        var reference = Leaf(z);
        var zn = nn.functional.normalize(reference, dim: 1);
        var refLoss = loss(zn.matmul(zn.t()), labels);
        refLoss.backward();
        var local = Leaf(z.narrow(0, start, count));
        var ln = nn.functional.normalize(local, dim: 1);
        Tensor sharded;
        using (LossSharding.Over(s_comm, ShardAxis.Batch))
            sharded = loss(ln.matmul(AllGatherFunction.Gather(s_comm, ln).t()), labels.narrow(0, start, count));
        sharded.backward();
        Value(sharded, refLoss);
        Grad(local.grad, reference.grad!.narrow(0, start, count));
    }

    private static void BatchElementwise()
    {
        long n = 3L * s_comm.Size + 2;
        var counts = Split(n);
        var (start, count) = Mine(counts);
        manual_seed(29);
        var input = randn(n, 3, dtype: ScalarType.Float64);
        var target = randn(n, 3, dtype: ScalarType.Float64);
        var reference = Leaf(input);
        var refLoss = Regression.Mse(reference, target);
        refLoss.backward();
        var local = Leaf(input.narrow(0, start, count));
        Tensor sharded;
        using (LossSharding.Over(s_comm, ShardAxis.Batch)) sharded = Regression.Mse(local, target.narrow(0, start, count));
        sharded.backward();
        Value(sharded, refLoss);
        Grad(local.grad, reference.grad!.narrow(0, start, count));
    }
}
