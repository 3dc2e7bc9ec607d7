using System;
using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;

namespace LossDsl.Runtime.Distributed;

/// <summary>What a sharded call of a given layout communicates (docs/distributed.md).</summary>
public static class ShardPlan
{
    /// <summary>
    /// What a sharded call of <paramref name="def"/>'s layout over <paramref name="axis"/> does: whether the loss's reductions
    /// cross the sharded axis (they then combine over the ranks and the loss is the same on every rank), or the
    /// segments (rows, images, elements) are what is split (then the loss's Sum and Mean add over the ranks, and Mean
    /// divides by the global count). Throws a clear error for a layout and axis that have no sharded form.
    /// </summary>
    public static bool Crosses(LossDefinition def, ShardAxis axis)
    {
        var layout = def.Layout;
        return axis switch
        {
            ShardAxis.Classes => layout is ClassRowLayout
                ? true
                : throw new NotSupportedException($"{def.Name}: the class axis can be sharded (vocabulary parallel) for class-row losses; {def.Name} is a {layout} loss. Shard its batch axis instead (ShardAxis.Batch)."),
            ShardAxis.Batch => layout is SetLayout set && set.Sets is LossSets.PerChannel or LossSets.Whole,
            _ => throw new ArgumentOutOfRangeException(nameof(axis)),
        };
    }
}

/// <summary>
/// The torch-ops frame's reductions for one call whose reductions cross the sharded axis: each local partial is combined
/// over the ranks by the rule the generator derived for it from its reduction table (<see cref="LossDefinition.CombineOf"/>:
/// the runtime keeps no table of its own), positions are global (offset by the ranks before), and a
/// row or set's length is the global one. Every combine happens in the forward pass (the generated torch-ops code
/// computes the gradient from the combined values), so the backward pass is local.
/// </summary>
internal sealed class ShardedReductions
{
    private readonly ICollective _c;
    private readonly LossDefinition _def;

    /// <param name="c">The group.</param>
    /// <param name="def">The loss, whose definition holds the combine rule of each of its reductions.</param>
    /// <param name="localPositions">How many positions of a reduced row or set this rank holds.</param>
    public ShardedReductions(ICollective c, LossDefinition def, long localPositions)
    {
        _c = c;
        _def = def;
        var counts = c.Gather(localPositions);
        Offset = Collectives.Offset(counts, c.Rank);
        LocalPositions = localPositions;
        GlobalPositions = counts.Sum();
    }

    /// <summary>The global position of this rank's first element of a row or set.</summary>
    public long Offset { get; }
    public long LocalPositions { get; }
    public long GlobalPositions { get; }

    /// <summary>A reduction's partial, combined over the ranks by the rule the generator derived for <paramref name="name"/>.</summary>
    public Tensor Combine(string name, Tensor partial) => AllReduced(partial, Rule(name) switch
    {
        ShardCombine.Additive => CollectiveOp.Sum,
        ShardCombine.SelectMax => CollectiveOp.Max,
        ShardCombine.SelectMin => CollectiveOp.Min,
        var other => throw new InvalidOperationException($"{_def.Name}: its {name} reduction combines as {other}, in more than one step."),
    });

    /// <summary>The combine rule the generator wrote for the reduction <paramref name="name"/> of this loss.</summary>
    private ShardCombine Rule(string name)
        => _def.CombineOf(name) ?? throw new NotSupportedException(
            $"{_def.Name}: the generator wrote no combine rule over ranks for a {name} reduction (LossDefinition.Combines); regenerate the loss with this LossDsl.");

    /// <summary>Throws unless the generator's rule for <paramref name="name"/> is <paramref name="expected"/>.</summary>
    private void Expect(string name, ShardCombine expected)
    {
        var rule = Rule(name);
        if (rule != expected) throw new InvalidOperationException($"{_def.Name}: its {name} reduction combines as {rule}, not {expected}.");
    }

    /// <summary>
    /// An all-reduced copy; under grad mode the result's gradient flows to the local partial only (identity), as the
    /// backward pass of a sharded loss is local.
    /// </summary>
    public Tensor AllReduced(Tensor partial, CollectiveOp op)
    {
        var combined = partial.detach().contiguous().clone();
        _c.AllReduce(combined, op);
        if (!partial.requires_grad) return combined;
        return TorchScalars.Add(partial, combined.sub(partial.detach()));
    }

    /// <summary>(M, log Σ e^(x − M)) over every rank's elements: M the global max (0 where it is not finite).</summary>
    public (Tensor Shift, Tensor LogSum) LogSumExp(Tensor body, long[] reduce, double lowest)
    {
        Expect("LogSumExp", ShardCombine.LogSumExp);
        var max = AllReduced(body.detach().amax(reduce, keepdim: true), CollectiveOp.Max);
        var shift = where(max.isfinite(), max, zeros(1, max.dtype, max.device));
        var sum = AllReduced((body - shift).exp().sum(reduce, keepdim: true), CollectiveOp.Sum);
        return (shift, TorchScalars.With(lowest, s => sum.log().clamp_min(s)));
    }

    /// <summary>span[index] for a global index of the sharded class axis: the owning rank's element, 0 elsewhere, summed.</summary>
    public Tensor At(Tensor span, Tensor index, long dim)
    {
        var (local, owned) = Local(index);
        var value = span.gather(dim, local);
        return AllReduced(where(owned, value, zeros(1, value.dtype, value.device)), CollectiveOp.Sum);
    }

    /// <summary>
    /// A global index of the sharded class axis as this rank's local one (clamped into range), with <paramref name="value"/>
    /// zeroed where another rank owns the class: for a scatter-add that only the owner makes.
    /// </summary>
    public (Tensor Index, Tensor Value) Owned(Tensor index, Tensor value)
    {
        var (local, owned) = Local(index);
        return (local, where(owned, value.expand(index.shape), zeros(1, value.dtype, value.device)));
    }

    /// <summary>A global index of the sharded class axis as this rank's local one, clamped into range, and whether this rank owns it.</summary>
    private (Tensor Local, Tensor Owned) Local(Tensor index)
    {
        var local = TorchScalars.Add(index, -Offset);
        var owned = TorchScalars.With(0L, local.ge).logical_and(TorchScalars.With(LocalPositions, local.lt));
        return (TorchScalars.Clamp(local, 0, Math.Max(0, LocalPositions - 1)), owned);
    }

    /// <summary>The first global position holding the combined extreme (a selecting reduction's Arg), from the local one.</summary>
    public Tensor Arg(Tensor localExtreme, Tensor localArg, CollectiveOp op)
    {
        if (op == CollectiveOp.Max) Expect("Max", ShardCombine.SelectMax);
        else Expect("Min", ShardCombine.SelectMin);
        var global = AllReduced(localExtreme, op);
        // Ties across ranks: the earliest position, as within a row; a rank without the extreme offers +∞.
        var mine = where(localExtreme.eq(global), TorchScalars.Add(localArg, Offset).to(ScalarType.Float64), TorchScalars.Full(new[] { 1L }, double.PositiveInfinity, ScalarType.Float64, localArg.device));
        var first = AllReduced(mine, CollectiveOp.Min);
        return first.to(ScalarType.Int64);
    }
}
