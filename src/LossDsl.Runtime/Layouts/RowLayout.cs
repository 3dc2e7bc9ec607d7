using System;
using System.Linq;
using static TorchSharp.torch;

namespace LossDsl.Runtime;

/// <summary>
/// Losses evaluated once per <b>row</b> of <c>[N, C]</c> span tensors, the row's members contiguous: class rows and pair
/// rows. Per-row tensors (targets, inputs) are <c>[N]</c>; a target equal to ignore_index leaves its row out.
/// </summary>
public abstract class RowLayout : LossLayout
{
    private protected RowLayout() { }

    public override bool RowTargets => true;

    /// <summary>
    /// A row per sample: the C members of a row are contiguous. <paramref name="dims"/> [N, C] gives N rows; [N, C, d1, …]
    /// (class axis 1, as <see cref="ClassRowLayout"/> also takes it) gives N·d1·… rows, whose per-row values are
    /// [N, d1, …] and broadcast over class axis 1.
    /// </summary>
    public override SegmentLayout Segments(long[] dims, int partialSlots)
    {
        long members = dims[1];
        var positions = new[] { dims[0] }.Concat(dims.Skip(2)).ToArray();
        long rows = Product(positions);
        var k = new KernelShape { PartialSlots = partialSlots, Segments = checked((int)rows), Length = members, Inner = members, SegmentStride = members };
        return Done(k, positions, new[] { dims[0], 1L }.Concat(dims.Skip(2)).ToArray(), rows);
    }

    /// <summary>Elements [N, C], one value per row [N, 1]; reductions over dim 1.</summary>
    public override TorchAxes TorchAxes(long[] dims) => new(dims, new[] { dims[0], 1L }, new[] { 1L });

    public override void Validate(LossDefinition def, Tensor[] tensors)
    {
        var x = tensors[0];
        if (x.dim() != 2 || x.shape[1] == 0)
            throw new ArgumentException($"{def.Name}: '{def.TensorNames[0]}' has shape {Dims(x.shape)}; expected [N, C] with C ≥ 1.", def.TensorNames[0]);
        for (int i = 1; i < tensors.Length; i++)
        {
            bool span = def.Roles[i] == TensorRole.Span;
            RequireShape(def, tensors, i, span ? x.shape : new[] { x.shape[0] }, span ? $"same shape as '{def.TensorNames[0]}'" : "one per row");
        }
    }
}

/// <summary>
/// Class rows: spans are rows of <c>[N, C]</c> tensors (class axis last), <c>int</c> parameters <c>[N]</c> int64 class
/// indices. Also takes the class axis at dim 1 with trailing dims, as PyTorch's <c>cross_entropy</c> does
/// (<c>[N, C, d1, …]</c> with targets <c>[N, d1, …]</c>): the call then works on rows <c>[N·d1·…, C]</c> and gives the
/// loss per position <c>[N, d1, …]</c> and the gradient in the caller's layout.
/// </summary>
public sealed class ClassRowLayout : RowLayout
{
    internal ClassRowLayout() { }

    public override string ToString() => "class-row";

    /// <summary>
    /// For a prediction with trailing dims: checks the shapes and rewrites the tensors as rows: spans [N, C, d…] become
    /// [N·d…, C] (a copy, class axis last), per-row tensors [N, d…] become [N·d…].
    /// </summary>
    internal override long[]? ToCallLayout(LossDefinition def, Tensor[] tensors)
    {
        var x = tensors[0];
        if (x.dim() <= 2) return null;
        long classes = x.shape[1];
        var perRow = new[] { x.shape[0] }.Concat(x.shape.Skip(2)).ToArray();
        var toRows = new[] { 0L }.Concat(Enumerable.Range(2, (int)x.dim() - 2).Select(d => (long)d)).Append(1L).ToArray();
        for (int i = 0; i < tensors.Length; i++)
        {
            bool span = def.Roles[i] == TensorRole.Span;
            var expected = span ? x.shape : perRow;
            if (!tensors[i].shape.SequenceEqual(expected))
                throw new ArgumentException(
                    $"{def.Name}: '{def.TensorNames[i]}' has shape {Dims(tensors[i].shape)}; expected {Dims(expected)} " +
                    (span ? $"(same shape as '{def.TensorNames[0]}')" : $"(one per row: '{def.TensorNames[0]}' without its class axis 1)") + ".",
                    def.TensorNames[i]);
            if (span)
            {
                using var classLast = tensors[i].permute(toRows);
                tensors[i] = classLast.reshape(-1, classes);
            }
            else tensors[i] = tensors[i].reshape(-1);
        }
        return x.shape;
    }

    /// <summary>A span's gradient on rows [N·d…, C] as [N, C, d…] again (class axis 1).</summary>
    internal override Tensor ToCallerLayout(Tensor gradient, long[] callerShape)
    {
        int k = callerShape.Length;
        var rows = new[] { callerShape[0] }.Concat(callerShape.Skip(2)).Append(callerShape[1]).ToArray();
        var back = new[] { 0L, k - 1L }.Concat(Enumerable.Range(1, k - 2).Select(d => (long)d)).ToArray();
        using var view = gradient.view(rows);
        using var moved = view.permute(back);
        return moved.contiguous();
    }

    /// <summary>
    /// Per class, as <c>cross_entropy</c> takes it: <c>[C]</c>; a row weighs weight[target], an ignored row 0, and Mean
    /// divides by the total weight of the rows. With the class axis sharded, C is the global class count and every rank
    /// passes the whole [C] (targets are global class indices, and each rank holds every row), so nothing is communicated.
    /// </summary>
    internal override (Tensor PerSegment, double? Count) Weigh(LossDefinition def, Tensor[] tensors, Tensor weight, ScalarType dtype, long ignoreIndex, long targetClasses)
    {
        long classes = targetClasses;
        if (weight.dim() != 1 || weight.shape[0] != classes)
            throw new ArgumentException($"{def.Name}: 'weight' has shape {Dims(weight.shape)}; expected [{classes}], one weight per class"
                + (classes != tensors[0].shape[1] ? " of the whole (sharded) class axis." : "."), "weight");
        var target = tensors[Array.IndexOf(def.Roles, TensorRole.Target)];
        var valid = TorchScalars.With(ignoreIndex, target.ne);
        var perRow = weight.to(dtype).gather(0, TorchScalars.MaskedFill(target, valid.logical_not(), 0)) * valid;
        return (perRow, perRow.sum(ScalarType.Float64).item<double>());
    }
}

/// <summary>
/// Pair rows: spans are rows of <c>[N, N]</c> pair matrices over one batch (row i: item i's pairs with every item j);
/// the pair masks come from the batch's labels (<see cref="PairMasks"/>). <c>Reduction.Mean</c> averages the rows whose
/// loss is positive, as pytorch-metric-learning's <c>AvgNonZeroReducer</c> does.
/// </summary>
public sealed class PairRowLayout : RowLayout
{
    internal PairRowLayout(bool acrossAnchors) => AcrossAnchors = acrossAnchors;

    /// <summary>
    /// Whether the loss reduces across its anchor rows (<c>LossMath.SumOverAnchors</c>, …), e.g. a mean over pairs rather
    /// than over anchors: its value is one per call, which every reduction returns as it is.
    /// </summary>
    public bool AcrossAnchors { get; }

    public override bool MeanOverPositive => !AcrossAnchors;

    public override SegmentLayout Segments(long[] dims, int partialSlots)
    {
        var rows = base.Segments(dims, partialSlots);
        return AcrossAnchors ? rows with { PerSegment = Array.Empty<long>(), GradientBroadcast = new[] { 1L, 1L }, Count = 1 } : rows;
    }

    public override string ToString() => "pair-row";

    public override void Validate(LossDefinition def, Tensor[] tensors)
    {
        var x = tensors[0];
        // Over a sharded batch a rank's anchors meet every rank's items: [n, N] (PairMasks checks N).
        bool sharded = Distributed.LossSharding.Current is { Axis: Distributed.ShardAxis.Batch };
        if (x.dim() != 2 || (!sharded && x.shape[0] != x.shape[1]))
            throw new ArgumentException($"{def.Name}: '{def.TensorNames[0]}' has shape {Dims(x.shape)}; expected an [N, N] pair matrix over the batch.", def.TensorNames[0]);
        base.Validate(def, tensors);
    }
}
