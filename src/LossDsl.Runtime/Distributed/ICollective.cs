using System;
using System.Linq;
using static TorchSharp.torch;

namespace LossDsl.Runtime.Distributed;

/// <summary>How an all-reduce combines the ranks' values, element by element.</summary>
public enum CollectiveOp
{
    /// <summary>The sum over ranks (an Additive reduction's partials).</summary>
    Sum,
    /// <summary>The largest value (a Selecting Max's partials; a LogSumExp's shift).</summary>
    Max,
    /// <summary>The smallest value (a Selecting Min's partials).</summary>
    Min,
}

/// <summary>
/// The collective seam: the operations a loss across ranks needs, on TorchSharp tensors, over one group of ranks. An
/// implementation rides an existing engine (<see cref="SingleProcessCollective"/> here; MPI and NCCL in the
/// LossDsl.Distributed assembly); LossDsl has no transport of its own. Every rank of the group must make the same
/// calls in the same order, with tensors of the same dtype (and, for <see cref="AllReduce"/>, the same shape).
/// </summary>
public interface ICollective
{
    /// <summary>This process's rank in the group, in [0, <see cref="Size"/>).</summary>
    int Rank { get; }

    /// <summary>The number of ranks in the group.</summary>
    int Size { get; }

    /// <summary>The engine, for messages and docs (e.g. "MPI (MPICH 4.0.2 via MPI.NET)").</summary>
    string Engine { get; }

    /// <summary>Combines <paramref name="tensor"/> over the ranks by <paramref name="op"/>, in place; it must be contiguous.</summary>
    void AllReduce(Tensor tensor, CollectiveOp op);

    /// <summary>
    /// Every rank's <paramref name="tensor"/> concatenated along dim 0 in rank order, as a new tensor; dim 0 may differ
    /// between ranks (uneven shards), the other dims may not.
    /// </summary>
    Tensor AllGather(Tensor tensor);

    /// <summary>
    /// The sum over ranks of <paramref name="tensor"/> (every rank's has Σ <paramref name="counts"/> rows along dim 0),
    /// of which this rank keeps its <c>counts[Rank]</c> rows (those after <c>counts[0..Rank]</c>), as a new tensor.
    /// </summary>
    Tensor ReduceScatter(Tensor tensor, long[] counts);
}

/// <summary>One process, one rank: every collective is the identity. The default, so that one-device users see no change.</summary>
public sealed class SingleProcessCollective : ICollective
{
    /// <summary>The one instance.</summary>
    public static readonly SingleProcessCollective Instance = new();

    private SingleProcessCollective() { }

    public int Rank => 0;
    public int Size => 1;
    public string Engine => "single process";

    public void AllReduce(Tensor tensor, CollectiveOp op) => Collectives.CheckContiguous(tensor);

    public Tensor AllGather(Tensor tensor) => tensor.clone();

    public Tensor ReduceScatter(Tensor tensor, long[] counts)
    {
        Collectives.CheckCounts(this, tensor, counts);
        return tensor.clone();
    }
}

/// <summary>Helpers over any <see cref="ICollective"/>.</summary>
public static class Collectives
{
    /// <summary>Every rank's <paramref name="count"/>, in rank order.</summary>
    public static long[] Gather(this ICollective c, long count)
    {
        using var local = tensor(new[] { count });
        using var all = c.AllGather(local);
        return all.data<long>().ToArray();
    }

    /// <summary>The sum over ranks of a scalar.</summary>
    public static double Sum(this ICollective c, double value)
    {
        using var t = tensor(new[] { value });
        c.AllReduce(t, CollectiveOp.Sum);
        return t.data<double>()[0];
    }

    /// <summary>The address of a tensor's first element (host or device memory), for an engine's C API; 0 when it is empty.</summary>
    public static nint DataPointer(Tensor t) => TensorMemory.DataPointer(t);

    /// <summary>Where this rank's slice starts, given every rank's count (an exclusive prefix sum).</summary>
    public static long Offset(long[] counts, int rank) => counts.Take(rank).Sum();

    internal static void CheckContiguous(Tensor t)
    {
        if (t is null || t.IsInvalid) throw new ArgumentNullException(nameof(t), "A collective takes a tensor.");
        if (!t.is_contiguous()) throw new ArgumentException("An in-place all-reduce needs a contiguous tensor; call .contiguous() first.", nameof(t));
    }

    internal static void CheckCounts(ICollective c, Tensor t, long[] counts)
    {
        if (counts.Length != c.Size)
            throw new ArgumentException($"ReduceScatter takes one count per rank ({c.Size}); got {counts.Length}.", nameof(counts));
        if (t.dim() == 0 || t.shape[0] != counts.Sum())
            throw new ArgumentException($"ReduceScatter's tensor has {(t.dim() == 0 ? 0 : t.shape[0])} rows along dim 0; the counts add up to {counts.Sum()}.", nameof(counts));
    }
}
