using System;
using System.Threading;

namespace LossDsl.Runtime.Distributed;

/// <summary>Which axis of a loss's tensors is split over the ranks of a <see cref="ICollective"/>.</summary>
public enum ShardAxis
{
    /// <summary>
    /// The batch (dim 0): each rank holds some rows, sets' images or pair-matrix anchors (data parallel). Reductions that
    /// run over the batch (a per-channel or whole-tensor set) combine over the ranks; Mean divides by the global count
    /// of the rows that count (ignore_index, class weights, the positive rows of a pair loss); the loss is the global one.
    /// </summary>
    Batch,

    /// <summary>
    /// The classes of class rows (dim 1 of [N, C]): each rank holds a slice of the vocabulary (vocabulary parallel);
    /// targets are global class indices. A row's reductions (Σ, max, log-Σ-exp) and its target logit combine over
    /// the ranks; the backward pass is local.
    /// </summary>
    Classes,
}

/// <summary>
/// Declares, for the loss calls made inside it, that their tensors are shards over a group of ranks:
/// <code>using (LossSharding.Over(comm, ShardAxis.Classes)) loss = Losses.CrossEntropy(localLogits, targets);</code>
/// Each reduction of the loss then combines its partials over the ranks by the rule its accumulator has in the
/// generator's reduction table (Additive: all-reduce sum; Selecting: all-reduce max or min; LogSumExp: all-reduce max,
/// then the sum of e^(x − max)): see <see cref="ShardPlan"/> and docs/distributed.md. A sharded call runs on the torch-ops
/// backend, whose generated code names each reduction. Outside such a scope nothing changes.
/// </summary>
public static class LossSharding
{
    private static readonly AsyncLocal<Shard?> s_current = new();

    /// <summary>The innermost declared shard, or null (one process, or a call that is not sharded).</summary>
    public static Shard? Current => s_current.Value;

    /// <summary>Declares <paramref name="axis"/> sharded over <paramref name="collective"/> until the result is disposed.</summary>
    public static IDisposable Over(ICollective collective, ShardAxis axis)
    {
        ArgumentNullException.ThrowIfNull(collective);
        var previous = s_current.Value;
        s_current.Value = new Shard(collective, axis);
        return new Restore(previous);
    }

    /// <summary>
    /// Declares <paramref name="shard"/> until the result is disposed, or nothing when it is null: what a loss module's
    /// <c>shard</c> property does around each call.
    /// </summary>
    /// <param name="shard">The group and axis, or null.</param>
    /// <param name="suspend">With a null <paramref name="shard"/>: whether calls inside run unsharded even within an outer
    /// declaration (a fused linear form's per-chunk calls over a sharded batch), rather than keep it.</param>
    public static IDisposable Within(Shard? shard, bool suspend = false)
    {
        if (shard is not null) return Over(shard.Collective, shard.Axis);
        var restore = new Restore(s_current.Value);
        if (suspend) s_current.Value = null;
        return restore;
    }

    private sealed class Restore(Shard? previous) : IDisposable
    {
        private bool _done;
        public void Dispose()
        {
            if (_done) return;
            _done = true;
            s_current.Value = previous;
        }
    }
}

/// <summary>A declared shard: the group and the axis.</summary>
public sealed record Shard(ICollective Collective, ShardAxis Axis);
