using System;
using static TorchSharp.torch;
using LossDsl.Runtime.Distributed;

namespace LossDsl.Runtime;

/// <summary>
/// The pair masks of a pair loss (<see cref="PairRowLayout"/>), built from the batch's labels as
/// pytorch-metric-learning builds its <c>pos_mask</c> and <c>neg_mask</c>: item <c>j</c> is a positive of anchor
/// <c>i</c> when it has the same label and is not <c>i</c> itself, a negative when its label differs. The generated
/// tensor overloads call these; the masks are constants, never differentiated.
/// </summary>
public static class PairMasks
{
    /// <summary>
    /// The masks a pair loss asks for, from one comparison of the labels, in the compute dtype of <paramref name="pairs"/>
    /// (float64 for float64, float32 otherwise). Positives: [N, N], 1 where labels[i] == labels[j] and i ≠ j. Negatives:
    /// [N, N], 1 where labels[i] ≠ labels[j]. A mask not asked for is null.
    /// </summary>
    public static (Tensor? Positives, Tensor? Negatives) FromLabels(Tensor labels, Tensor pairs, bool positives, bool negatives)
    {
        using var scope = NewDisposeScope();
        // Over a sharded batch (LossSharding, ShardAxis.Batch) the matrix is this rank's anchors against every rank's
        // items, [n, N]: the columns' labels are every rank's, and an anchor's own column is offset by the ranks before.
        var shard = LossSharding.Current is { Axis: ShardAxis.Batch } s ? s.Collective : null;
        long offset = 0;
        Tensor columns = labels;
        if (shard is not null && labels is { IsInvalid: false })
        {
            var counts = shard.Gather(labels.shape[0]);
            offset = Collectives.Offset(counts, shard.Rank);
            columns = shard.AllGather(labels.to(ScalarType.Int64).cpu().contiguous()).to(labels.device);
        }
        var same = Same(labels, columns, pairs, shard is not null);
        var dtype = ComputeType(pairs);
        Tensor? negative = negatives ? same.logical_not().to(dtype).MoveToOuterDisposeScope() : null;
        Tensor? positive = null;
        if (positives)
        {
            var self = shard is null ? eye(same.shape[0], dtype: ScalarType.Bool, device: same.device)
                : TorchScalars.Add(TorchScalars.Arange(same.shape[0], same.device).unsqueeze(1), offset).eq(TorchScalars.Arange(same.shape[1], same.device).unsqueeze(0));
            positive = same.logical_and_(self.logical_not_()).to(dtype).MoveToOuterDisposeScope();
        }
        return (positive, negative);
    }

    /// <summary>The positive mask alone (see <see cref="FromLabels"/>).</summary>
    public static Tensor Positives(Tensor labels, Tensor pairs) => FromLabels(labels, pairs, positives: true, negatives: false).Positives!;

    /// <summary>The negative mask alone (see <see cref="FromLabels"/>).</summary>
    public static Tensor Negatives(Tensor labels, Tensor pairs) => FromLabels(labels, pairs, positives: false, negatives: true).Negatives!;

    private static ScalarType ComputeType(Tensor pairs) => pairs.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;

    private static Tensor Same(Tensor labels, Tensor columns, Tensor pairs, bool sharded)
    {
        if (labels is null || labels.IsInvalid) throw new ArgumentNullException(nameof(labels), "'labels' must be a tensor of the batch's labels.");
        if (pairs is null || pairs.IsInvalid) throw new ArgumentNullException(nameof(pairs));
        if (sharded)
        {
            if (pairs.dim() != 2 || pairs.shape[0] != labels.shape[0] || pairs.shape[1] != columns.shape[0])
                throw new ArgumentException($"A pair loss over a sharded batch takes an [n, N] pair matrix (this rank's {labels.shape[0]} anchors against all {columns.shape[0]} items, e.g. z.matmul(AllGatherFunction.Gather(comm, z).t())); got [{string.Join(", ", pairs.shape)}].", nameof(pairs));
            return labels.unsqueeze(1).eq(columns.unsqueeze(0));
        }
        if (pairs.dim() != 2 || pairs.shape[0] != pairs.shape[1])
            throw new ArgumentException($"A pair loss takes an [N, N] pair matrix; got [{string.Join(", ", pairs.shape)}].", nameof(pairs));
        long n = pairs.shape[0];
        if (labels.dim() != 1 || labels.shape[0] != n)
            throw new ArgumentException($"'labels' has shape [{string.Join(", ", labels.shape)}]; expected [{n}], one label per item of the [{n}, {n}] pair matrix.", nameof(labels));
        if (labels.dtype is not (ScalarType.Int64 or ScalarType.Int32 or ScalarType.Int16 or ScalarType.Int8 or ScalarType.Byte))
            throw new ArgumentException($"'labels' has dtype {labels.dtype}; labels are integers (int64).", nameof(labels));
        if (labels.device_type != pairs.device_type || labels.device_index != pairs.device_index)
            throw new ArgumentException($"'labels' is on {labels.device} but the pair matrix is on {pairs.device}; put every tensor of a loss call on one device.", nameof(labels));
        return labels.unsqueeze(1).eq(labels.unsqueeze(0));
    }
}
