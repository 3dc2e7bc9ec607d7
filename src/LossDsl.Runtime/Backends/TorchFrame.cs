using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;
using LossDsl.Runtime.Distributed;

namespace LossDsl.Runtime;

/// <summary>
/// The signature of a loss's generated torch-ops form: it returns the per-segment loss, and hands each gradient it
/// computes to <see cref="TorchFrame.Gradient(int, Tensor, bool)"/>.
/// </summary>
public delegate Tensor TorchOpsKernel(TorchFrame f);

/// <summary>
/// What a loss's generated torch-ops form sees of one call: its tensors laid out on the loss's axes, and the
/// reductions over them. A value lives on the <b>element</b> axes (a whole row or set) or on the <b>segment</b>
/// axes (one value per row, set or element, kept as size-1 dimensions so that it broadcasts over the elements), as the
/// loss's layout says (<see cref="LossLayout.TorchAxes"/>):
/// <list type="bullet">
/// <item>class rows and pair rows: elements [N, C] (pairs: [N, N]), segments [N, 1]; reductions over dim 1;</item>
/// <item>sets per channel: elements [N, C, S] (S the flattened spatial axes), segments [1, C, 1]; reductions over dims 0 and 2;</item>
/// <item>sets per image: elements [N, C, S], segments [N, C, 1]; reductions over dim 2;</item>
/// <item>one set over the whole tensor: elements [1, 1, numel], segments [1, 1, 1]; reductions over dim 2;</item>
/// <item>elementwise: elements and segments are the tensors' own shape; there are no reductions.</item>
/// </list>
/// The same generated code therefore serves every shape, device and dtype.
/// </summary>
public sealed class TorchFrame
{
    private readonly LossCall _call;
    private readonly Tensor[] _spans, _targets, _inputs;
    private readonly long[] _elementShape, _segmentShape, _reduce;
    private Tensor? _index;

    /// <summary>Set elements that are not ignored (on the element axes), or null when none is.</summary>
    private readonly Tensor? _valid;

    /// <summary>For a sharded call whose reductions cross the sharded axis, how they combine over the ranks; else null.</summary>
    private readonly ShardedReductions? _shard;

    internal TorchFrame(LossCall call, bool inPlace)
    {
        _call = call;
        InPlace = inPlace;
        Gradients = new Tensor?[call.Tensors.Length];
        TemporaryGradients = new bool[call.Tensors.Length];
        (_elementShape, _segmentShape, _reduce) = call.Definition.Layout.TorchAxes(call.Prediction.shape);
        _valid = call.ValidElements?.view(_elementShape);
        _spans = call.Definition.Layout.Multiclass ? MulticlassSpans() : call.WithRole(TensorRole.Span).Select(t => t.view(_elementShape)).ToArray();
        _inputs = call.WithRole(TensorRole.Input).Select(t => t.view(_segmentShape)).ToArray();
        _targets = call.WithRole(TensorRole.Target).Select(t =>
        {
            var rows = t.view(_segmentShape);
            // An ignored row reads class 0; its loss and gradient are zeroed afterwards.
            return call.HasIgnoredRows ? TorchScalars.MaskedFill(rows, Eq(rows, call.Arguments.IgnoreIndex), 0) : rows;
        }).ToArray();
        if (call.Shard is { } shard && call.ShardCrosses)
            _shard = new ShardedReductions(shard.Collective, call.Definition, _reduce.Aggregate(1L, (n, d) => n * _elementShape[d]));
    }

    /// <summary>
    /// A multiclass set loss's spans on [N, C, S]: the softmax across C, the one-hot of the class mask, the log-softmax
    /// (the span Log of a probability reads); 0 at ignored pixels, as the fused kernels read them. Built from the logits
    /// with differentiable ops, so that under grad mode the gradient reaches them.
    /// </summary>
    private Tensor[] MulticlassSpans()
    {
        var z = _call.Prediction.view(_elementShape);
        var mask = _call.ClassMask.view(_elementShape[0], 1, _elementShape[2]);
        var kept = Ne(mask, _call.Arguments.IgnoreIndex);
        var logp = torch.where(kept, torch.nn.functional.log_softmax(z, 1), Constant(0));
        var p = torch.where(kept, logp.exp(), Constant(0));
        var classes = TorchScalars.Arange(_elementShape[1], Device).view(1, -1, 1);
        var y = mask.eq(classes).logical_and_(kept).to(DType);
        return new[] { p, y, logp };
    }

    /// <summary>
    /// Whether the generated code may overwrite a temporary it made at the temporary's last use (the in-place ops in
    /// it). False when the ops build an autograd graph, which needs the values it saved.
    /// </summary>
    public bool InPlace { get; }

    private ScalarType DType => _call.DType;

    private Device Device => _call.Prediction.device;

    /// <summary>Hyperparameter <paramref name="slot"/>.</summary>
    public double Hyper(int slot) => _call.Arguments.Hyper[slot];

    /// <summary>Span <paramref name="slot"/>, on the element axes.</summary>
    public Tensor Span(int slot) => _spans[slot];

    /// <summary>Float input <paramref name="slot"/>, one value per segment.</summary>
    public Tensor Input(int slot) => _inputs[slot];

    /// <summary>Class-index tensor <paramref name="slot"/> (int64), one per row; ignored rows read class 0.</summary>
    public Tensor Target(int slot) => _targets[slot];

    /// <summary>The number of elements of a row or set.</summary>
    public double Length => _shard is not null && _valid is null && !_call.Definition.Layout.Multiclass ? _shard.GlobalPositions
        : _call.Definition.Layout.Multiclass
        ? _call.UnevenSets
            ? throw new NotSupportedException($"{_call.Definition.Name}: a set's length (Mean, .Length) of per-image sets whose images keep different numbers of pixels is not supported yet; call it without ignore_index, or with LossSets.PerChannel.")
            : _call.Shape.Count
        : _valid is null ? _call.Shape.Length
        : throw new NotSupportedException($"{_call.Definition.Name}: a set's length (Mean, .Length) with ignored elements is not supported yet; call it without ignore_index.");

    /// <summary>A set loss's class (channel) count C: axis 1 of its prediction (of a multiclass one, of its logits).</summary>
    public double Classes => _call.Definition.Layout.Multiclass ? _call.Shape.Classes : _segmentShape[1];

    /// <summary>
    /// Σ across the segments: the classes of a set loss (axis 1 of its per-set values), the anchors of a pair loss (axis 0
    /// of its per-row values), keepdim (<c>LossMath.SumOverClasses</c>, <c>SumOverAnchors</c>).
    /// </summary>
    public Tensor SumAcross(Tensor perSegment) => Segmentwise(perSegment).sum(AcrossAxis, keepdim: true);

    /// <summary>The largest per-segment value across the segments.</summary>
    public Tensor MaxAcross(Tensor perSegment) => Segmentwise(perSegment).amax(new[] { AcrossAxis }, keepdim: true);

    /// <summary>The smallest per-segment value across the segments.</summary>
    public Tensor MinAcross(Tensor perSegment) => Segmentwise(perSegment).amin(new[] { AcrossAxis }, keepdim: true);

    /// <summary>log Σ e^v across the segments.</summary>
    public Tensor LogSumExpAcross(Tensor perSegment) => Segmentwise(perSegment).logsumexp(AcrossAxis, keepdim: true);

    /// <summary>The axis of the segment tensors a reduction across the segments runs over: the classes, or the anchor rows.</summary>
    private long AcrossAxis => _call.Definition.Layout is SetLayout ? 1 : 0;

    /// <summary>Whether the loss reduces across its segments, so that its value is one per call (per image for sets per image).</summary>
    private bool ReducesAcross => _call.Definition.Layout is SetLayout { AcrossClasses: true } or PairRowLayout { AcrossAnchors: true };

    /// <summary>
    /// A per-segment value on the segment axes, for a reduction across the segments. A sharded call holds only some of
    /// them when the sharded axis is the one reduced (a set loss's classes, a pair loss's anchors), which this does not
    /// combine over the ranks.
    /// </summary>
    private Tensor Segmentwise(Tensor value)
    {
        if (_call.Shard is { } shard && (shard.Axis == ShardAxis.Classes || _call.Definition.Layout is PairRowLayout))
            throw new NotSupportedException($"{_call.Definition.Name} reduces across its {(AcrossAxis == 1 ? "classes" : "anchors")}, which a call sharded over them holds only some of.");
        return value.expand(_segmentShape);
    }

    /// <summary>Each element's position in its row or set (int64): j of the loss body's <c>(x, j) =&gt; …</c>.</summary>
    public Tensor Index => _index ??= _shard is null ? MakeIndex() : TorchScalars.Add(MakeIndex(), _shard.Offset, overwrite: true);

    private Tensor MakeIndex()
    {
        long last = _elementShape[^1];
        var positions = TorchScalars.Arange(last, Device);
        if (_reduce.Length == 2)
        {
            // A per-channel set numbers its positions batch first, then spatial.
            long batch = _elementShape[0];
            return TorchScalars.Add(TorchScalars.Mul(TorchScalars.Arange(batch, Device), last).view(batch, 1, 1), positions.view(1, 1, last));
        }
        // Rows and the other sets: positions along the last axis.
        var shape = Enumerable.Repeat(1L, _elementShape.Length).ToArray();
        shape[^1] = last;
        return positions.view(shape);
    }

    /// <summary>A constant as a 0-dimensional tensor of the compute dtype, for ops that take no scalar.</summary>
    public Tensor Constant(double value) => torch.tensor(value, DType, Device);

    /// <summary>A constant on the segment axes: one value per row, set or element.</summary>
    public Tensor PerSegment(double value) => TorchScalars.Full(_segmentShape, value, DType, Device);

    /// <summary>An integer tensor (a class index or a position) as a value of the compute dtype.</summary>
    public Tensor Real(Tensor integer) => integer.to(DType);

    /// <summary>Σ over the row or set.</summary>
    public Tensor Sum(Tensor body) => Combined("Sum", Elements(body, 0).sum(_reduce, keepdim: true));

    /// <summary>Max over the row or set (NaN if any element is NaN).</summary>
    public Tensor Max(Tensor body) => Combined("Max", Elements(body, double.NegativeInfinity).amax(_reduce, keepdim: true));

    /// <summary>Min over the row or set (NaN if any element is NaN).</summary>
    public Tensor Min(Tensor body) => Combined("Min", Elements(body, double.PositiveInfinity).amin(_reduce, keepdim: true));

    /// <summary>A reduction's value: the local one, or in a sharded call the ranks' partials combined by the loss's generated rule.</summary>
    private Tensor Combined(string reduction, Tensor partial) => _shard is null ? partial : _shard.Combine(reduction, partial);

    /// <summary>Slices of dim 0 per block of a blocked reduction: about four megabytes of float32 temporaries.</summary>
    private long RowBlock => Math.Max(1, (1L << 20) / Math.Max(1, _elementShape.Skip(1).Aggregate(1L, (a, b) => a * b)));

    /// <summary>
    /// log Σ exp over the row or set, shifted by the maximum so that it is stable, and ±∞ elements give ±∞. Rows go in
    /// blocks, so that the temporaries stay small and are reused instead of being fresh memory: libtorch's own
    /// logsumexp makes two temporaries the size of the input, and on a CPU fresh memory costs more than the math.
    /// </summary>
    public Tensor LogSumExp(Tensor body)
    {
        body = Elements(body, double.NegativeInfinity);
        long rows = body.shape[0], block = RowBlock;
        (Tensor Shift, Tensor LogSum) parts;
        if (_shard is not null) parts = _shard.LogSumExp(body, _reduce, DType == ScalarType.Float64 ? double.MinValue : float.MinValue);
        else if (_reduce.Length != 1 || rows <= block) parts = ShiftedLogSumExp(body);
        else
        {
            var shifts = new Tensor[(rows + block - 1) / block];
            var logSums = new Tensor[shifts.Length];
            for (long b = 0; b < shifts.Length; b++)
            {
                using var scope = torch.NewDisposeScope();
                var (shift, logSum) = ShiftedLogSumExp(body.narrow(0, b * block, Math.Min(block, rows - b * block)));
                shifts[b] = shift.MoveToOuterDisposeScope();
                logSums[b] = logSum.MoveToOuterDisposeScope();
            }
            parts = (torch.cat(shifts, 0), torch.cat(logSums, 0));
        }
        var result = TorchScalars.Add(parts.Shift, parts.LogSum);
        _logSumExpParts[result] = parts;
        return result;
    }

    /// <summary>The max shift and the log of the shifted sum of each LogSumExp this frame computed (R = shift + logSum).</summary>
    private readonly Dictionary<Tensor, (Tensor Shift, Tensor LogSum)> _logSumExpParts = new(ReferenceEqualityComparer.Instance);

    /// <summary>
    /// x − R for a LogSumExp R of this frame, as (x − shift) − log Σ: both terms are small where x is near the row's
    /// maximum, so a softmax weight e^(x − R) keeps its precision in float32 even when |R| is large (R rounded to
    /// float32 would lose |R|·2⁻²⁴ absolute, which e^(x − R) turns into relative error).
    /// </summary>
    /// <param name="x">The values, on the frame's element axes.</param>
    /// <param name="logSumExp">R, one of this frame's LogSumExp results.</param>
    /// <param name="overwrite">Whether <paramref name="x"/> is a temporary that may be overwritten.</param>
    public Tensor MinusLogSumExp(Tensor x, Tensor logSumExp, bool overwrite)
    {
        if (!_logSumExpParts.TryGetValue(logSumExp, out var parts)) return Sub(x, logSumExp, overwrite);
        return Sub(Sub(x, parts.Shift, overwrite), parts.LogSum, InPlace);
    }

    private (Tensor Shift, Tensor LogSum) ShiftedLogSumExp(Tensor body)
    {
        var max = body.amax(_reduce, keepdim: true);
        var shift = torch.where(max.isfinite(), max, Constant(0)).detach();
        var shifted = body.sub(shift);
        var sum = (InPlace ? shifted.exp_() : shifted.exp()).sum(_reduce, keepdim: true);
        // Every element −∞ (a mask that keeps nothing): the lowest finite value rather than −∞, so that the weights
        // e^(x − R) of its −∞ elements are 0, not NaN, as in the fused kernels.
        var logSum = InPlace ? sum.log_() : sum.log();
        double lowest = DType == ScalarType.Float64 ? double.MinValue : float.MinValue;
        return (shift, Maximum(logSum, lowest, overwrite: InPlace));
    }

    /// <summary>The position (as <see cref="Index"/> numbers it) of the first maximal element of the row or set.</summary>
    public Tensor ArgMax(Tensor body)
    {
        body = Elements(body, double.NegativeInfinity);
        var arg = _reduce.Length == 1 ? body.argmax(_reduce[0], keepdim: true) : PerSetPositions(body).argmax(1).view(_segmentShape);
        return _shard is null ? arg : _shard.Arg(body.amax(_reduce, keepdim: true), arg, CollectiveOp.Max);
    }

    /// <summary>The position (as <see cref="Index"/> numbers it) of the first minimal element of the row or set.</summary>
    public Tensor ArgMin(Tensor body)
    {
        body = Elements(body, double.PositiveInfinity);
        var arg = _reduce.Length == 1 ? body.argmin(_reduce[0], keepdim: true) : PerSetPositions(body).argmin(1).view(_segmentShape);
        return _shard is null ? arg : _shard.Arg(body.amin(_reduce, keepdim: true), arg, CollectiveOp.Min);
    }

    /// <summary>
    /// A running sum over a sort (the IR's <c>CumSum</c>): at each element, Σ <paramref name="value"/> over the elements of
    /// its row or set ranked at or before it when sorted by <paramref name="key"/> descending, ties in element order (a
    /// stable sort; a NaN key first). Ignored set elements add nothing. Built from <c>gather</c>, <c>cumsum</c> and
    /// <c>scatter</c> on the detached order, so under grad mode autograd carries the gradient back through the permutation.
    /// </summary>
    public Tensor CumSum(Tensor value, Tensor key)
    {
        value = Elements(value, 0);
        key = Elements(key, double.NegativeInfinity);
        if (_reduce.Length == 1) return SortedCumSum(value, key, _reduce[0]);
        // A per-channel set runs over batch and spatial positions: sort each channel's [N·S] row, then restore [N, C, S].
        var running = SortedCumSum(PerSetPositions(value), PerSetPositions(key), 1);
        return running.view(_elementShape[1], _elementShape[0], _elementShape[2]).permute(1, 0, 2);
    }

    private static Tensor SortedCumSum(Tensor value, Tensor key, long dim)
    {
        var (_, order) = key.detach().sort(dim, descending: true, stable: true);
        var running = value.gather(dim, order).cumsum(dim);
        return torch.zeros_like(running).scatter(dim, order, running);
    }

    /// <summary>
    /// Σ_k f(x_j, x_k) for every element j of each row: a nested reduction. <paramref name="body"/> computes f for a block of
    /// outer elements j at once, on [rows, block, N] tensors (<see cref="Nest.Outer"/> is x_j, <see cref="Nest.Inner"/> a
    /// row value or x_k); the blocks keep about a million elements each, so that no [rows, N, N] tensor is made.
    /// Rows only (class rows and pair rows): the parser allows a nested reduction nowhere else.
    /// </summary>
    public Tensor NestedSum(Func<Nest, Tensor> body)
    {
        if (_reduce.Length != 1 || _elementShape.Length != 2)
            throw new NotSupportedException($"{_call.Definition.Name}: a nested reduction runs over rows only.");
        long rows = _elementShape[0], n = _elementShape[1];
        long block = Math.Max(1, (1L << 20) / Math.Max(1, rows * n));
        // Without a graph, the blocks' sums go into one result made first, and each block frees all it made before the
        // next: nothing a block allocates outlives it, so the C allocator reuses the same memory block after block (a
        // small result kept per block would pin its heap, and glibc's heap would grow by the temporaries of every block).
        var result = InPlace ? torch.empty(rows, n, DType, Device) : null;
        var parts = new List<Tensor>();
        for (long start = 0; start < n; start += block)
        {
            using var scope = torch.NewDisposeScope();
            long length = Math.Min(block, n - start);
            var sum = body(new Nest(start, length)).expand(rows, length, n).sum(2);
            if (result is not null) result.narrow(1, start, length).copy_(sum);
            else parts.Add(sum.MoveToOuterDisposeScope());   // under grad mode autograd keeps what it saved: the handles are ours
        }
        return result ?? (parts.Count == 1 ? parts[0] : torch.cat(parts.ToArray(), 1));
    }

    /// <summary>One block of outer elements of a nested sum: the views its body computes on.</summary>
    public sealed class Nest
    {
        private readonly long _start, _length;

        internal Nest(long start, long length) { _start = start; _length = length; }

        /// <summary>The outer elements x_j of the block, from an element tensor [rows, N] (or the positions [1, N]): [rows, block, 1].</summary>
        public Tensor Outer(Tensor elements) => elements.narrow(1, _start, _length).unsqueeze(2);

        /// <summary>A row value [rows, 1] or the inner elements x_k of an element tensor [rows, N], for the block: [rows, 1, 1] or [rows, 1, N].</summary>
        public Tensor Inner(Tensor values) => values.unsqueeze(1);
    }

    /// <summary>A per-channel set's elements as rows [channels, positions]: its positions run over batch, then spatial.</summary>
    private Tensor PerSetPositions(Tensor body) => body.permute(1, 0, 2).reshape(_elementShape[1], -1);

    /// <summary>span[index]: one element of each row, at a per-row index.</summary>
    public Tensor At(Tensor span, Tensor index) => _shard is null ? span.gather(_reduce[0], index) : _shard.At(span, index, _reduce[0]);

    /// <summary>
    /// y + (j == index ? value : 0): <paramref name="value"/> (one per row) added at each row's <paramref name="index"/>, in
    /// place when <paramref name="overwrite"/>. Over a sharded class axis only the rank that owns the class adds.
    /// </summary>
    public Tensor AddAt(Tensor y, Tensor index, Tensor value, bool overwrite)
    {
        long dim = _reduce[0];
        if (_shard is not null) (index, value) = _shard.Owned(index, value);
        return overwrite ? y.scatter_add_(dim, index, value.expand(index.shape)) : y.scatter_add(dim, index, value.expand(index.shape));
    }

    /// <summary>cond ? a : b, elementwise.</summary>
    public Tensor Where(Tensor cond, Tensor a, Tensor b) => torch.where(cond, a, b);
    public Tensor Where(Tensor cond, Tensor a, double b) => torch.where(cond, a, Constant(b));
    public Tensor Where(Tensor cond, double a, Tensor b) => torch.where(cond, Constant(a), b);
    public Tensor Where(Tensor cond, double a, double b) => torch.where(cond, Constant(a), Constant(b));

    /// <summary>A constant condition with a tensor one.</summary>
    public Tensor And(bool a, Tensor b) => a ? b : torch.zeros_like(b);
    public Tensor Or(bool a, Tensor b) => a ? torch.ones_like(b) : b;

    // Arithmetic, comparisons and the two-operand functions for the generated code. A number operand becomes a Scalar only
    // through TorchScalars, which keeps it alive across the native call (TorchSharp 0.107's temporary-Scalar race). With
    // overwrite, the result is written into the tensor operand (the first, when both are tensors).

    /// <summary>a + b.</summary>
    public Tensor Add(Tensor a, Tensor b, bool overwrite = false) => TorchScalars.Add(a, b, overwrite);
    public Tensor Add(Tensor a, double b, bool overwrite = false) => TorchScalars.Add(a, b, overwrite);
    public Tensor Add(double a, Tensor b, bool overwrite = false) => TorchScalars.Add(b, a, overwrite);

    /// <summary>a − b; for a number a, −b + a (the same rounding).</summary>
    public Tensor Sub(Tensor a, Tensor b, bool overwrite = false) => overwrite ? a.sub_(b) : a.sub(b);
    public Tensor Sub(Tensor a, double b, bool overwrite = false) => TorchScalars.With(b, s => overwrite ? a.sub_(s) : a.sub(s));
    public Tensor Sub(double a, Tensor b, bool overwrite = false) => TorchScalars.Add(overwrite ? b.neg_() : b.neg(), a, overwrite: true);

    /// <summary>a · b.</summary>
    public Tensor Mul(Tensor a, Tensor b, bool overwrite = false) => overwrite ? a.mul_(b) : a.mul(b);
    public Tensor Mul(Tensor a, double b, bool overwrite = false) => TorchScalars.Mul(a, b, overwrite);
    public Tensor Mul(double a, Tensor b, bool overwrite = false) => TorchScalars.Mul(b, a, overwrite);

    /// <summary>a / b; for a number a, a 0-dimensional tensor divided by b (one rounding, as a / b).</summary>
    public Tensor Div(Tensor a, Tensor b, bool overwrite = false) => overwrite ? a.div_(b) : a.div(b);
    public Tensor Div(Tensor a, double b, bool overwrite = false) => TorchScalars.Div(a, b, overwrite);
    public Tensor Div(double a, Tensor b, bool overwrite = false) => Constant(a).div(b);

    /// <summary>a &lt; b, a ≤ b, a &gt; b, a ≥ b, a = b, a ≠ b against a number (the emitter puts the tensor first).</summary>
    public Tensor Lt(Tensor a, double b) => TorchScalars.With(b, s => a.lt(s));
    public Tensor Le(Tensor a, double b) => TorchScalars.With(b, s => a.le(s));
    public Tensor Gt(Tensor a, double b) => TorchScalars.With(b, s => a.gt(s));
    public Tensor Ge(Tensor a, double b) => TorchScalars.With(b, s => a.ge(s));
    public Tensor Eq(Tensor a, double b) => TorchScalars.With(b, s => a.eq(s));
    public Tensor Ne(Tensor a, double b) => TorchScalars.With(b, s => a.ne(s));
    private static Tensor Eq(Tensor a, long b) => TorchScalars.With(b, s => a.eq(s));
    private static Tensor Ne(Tensor a, long b) => TorchScalars.With(b, s => a.ne(s));

    /// <summary>a^b.</summary>
    public Tensor Pow(Tensor a, Tensor b, bool overwrite = false) => overwrite ? a.pow_(b) : a.pow(b);
    public Tensor Pow(Tensor a, double b, bool overwrite = false) => TorchScalars.With(b, s => overwrite ? a.pow_(s) : a.pow(s));
    public Tensor Pow(double a, Tensor b) => Constant(a).pow(b);

    /// <summary>max(a, b) and min(a, b), elementwise.</summary>
    public Tensor Maximum(Tensor a, Tensor b) => torch.maximum(a, b);
    public Tensor Maximum(Tensor a, double b, bool overwrite = false) => TorchScalars.With(b, s => overwrite ? a.clamp_min_(s) : a.clamp_min(s));
    public Tensor Maximum(double a, Tensor b) => Maximum(b, a);
    public Tensor Minimum(Tensor a, Tensor b) => torch.minimum(a, b);
    public Tensor Minimum(Tensor a, double b, bool overwrite = false) => TorchScalars.With(b, s => overwrite ? a.clamp_max_(s) : a.clamp_max(s));
    public Tensor Minimum(double a, Tensor b) => Minimum(b, a);

    /// <summary>softplus(x) = −log σ(−x): TorchSharp's own softplus makes Scalars of its beta and threshold.</summary>
    public Tensor Softplus(Tensor x) => torch.nn.functional.logsigmoid(x.neg()).neg_();

    /// <summary>
    /// The loss per segment: [rows], [channels] or the elementwise shape; of a loss that reduces across its segments, one
    /// value per call or per image.
    /// </summary>
    public Tensor Loss(Tensor perSegment)
        => (ReducesAcross ? perSegment.expand(AcrossShape) : perSegment.expand(_segmentShape)).reshape(_call.PerSegmentShape);
    public Tensor Loss(double perSegment) => TorchScalars.Full(_call.PerSegmentShape, perSegment, DType, Device);

    /// <summary>The segment shape with the axis a reduction across the segments ran over at 1.</summary>
    private long[] AcrossShape => _segmentShape.Select((d, i) => i == AcrossAxis ? 1L : d).ToArray();

    /// <summary>
    /// Whether the gradient of data parameter <paramref name="parameter"/> is wanted: always for the prediction
    /// (parameter 0), and for another float tensor when it requires grad.
    /// </summary>
    public bool Wants(int parameter) => _call.Differentiated[parameter];

    /// <summary>
    /// ∂loss/∂ data parameter <paramref name="parameter"/>, in that tensor's shape: a span's gradient lives on the
    /// element axes, a per-row or elementwise value's on the segment axes.
    /// </summary>
    /// <param name="parameter">The data parameter's index in the loss's declaration.</param>
    /// <param name="value">The gradient.</param>
    /// <param name="temporary">True when the tensor is a temporary of the generated code, which the backend may then
    /// scale and mask in place; false when it may be an input, the loss or another gradient.</param>
    public void Gradient(int parameter, Tensor value, bool temporary)
    {
        var shape = _call.Tensors[parameter].shape;
        bool span = _call.Definition.Roles[parameter] == TensorRole.Span;
        var gradient = value.expand(span ? _elementShape : _segmentShape);
        if (span && _valid is not null)
        {
            // Ignored set elements are outside their set: no gradient.
            gradient = torch.where(_valid, gradient, Constant(0));
            temporary = true;
        }
        Gradients[parameter] = gradient.reshape(shape);
        TemporaryGradients[parameter] = temporary;
    }

    /// <summary>A gradient that is the same constant everywhere.</summary>
    public void Gradient(int parameter, double value)
        => Gradient(parameter, TorchScalars.Full(_call.Tensors[parameter].shape, value, DType, Device).view(
            _call.Definition.Roles[parameter] == TensorRole.Span ? _elementShape : _segmentShape), temporary: true);

    /// <summary>The gradients handed over, one per data tensor (null where not computed).</summary>
    internal Tensor?[] Gradients { get; }

    /// <summary>Which of <see cref="Gradients"/> may be overwritten.</summary>
    internal bool[] TemporaryGradients { get; }

    /// <summary>Rows whose targets are not ignore_index, as a segment-shaped mask.</summary>
    internal Tensor ValidRows()
    {
        var valid = torch.ones(_segmentShape, ScalarType.Bool, Device);
        foreach (var t in _call.WithRole(TensorRole.Target)) valid = valid.logical_and(Ne(t.view(_segmentShape), _call.Arguments.IgnoreIndex));
        return valid;
    }

    /// <summary>
    /// A reduction's body on the element axes (a value on the segment axes is broadcast), with ignored set elements
    /// replaced by the reduction's identity <paramref name="identity"/>, so that they are left out.
    /// </summary>
    private Tensor Elements(Tensor body, double identity)
    {
        var elements = body.shape.SequenceEqual(_elementShape) ? body : body.expand(_elementShape);
        return _valid is null ? elements : torch.where(_valid, elements, Constant(identity));
    }
}

/// <summary>
/// The torch-ops backend: runs a loss's generated torch-ops form, on any device and float dtype TorchSharp supports,
/// and computes the gradient of every float tensor that requires grad. With <c>createGraph</c> it runs under grad
/// mode, so that the gradients it returns are themselves differentiable: that is how every backend's backward
/// answers <c>backward(create_graph: true)</c>.
/// </summary>
internal sealed class TorchOpsBackend : ILossBackend
{
    public static readonly TorchOpsBackend Instance = new();

    public Backend Kind => Backend.TorchOps;

    public string? WhyNot(LossCall call)
        => call.Definition.Supports(Backend.TorchOps, call.DType) ? null : $"{call.Definition.Name} was generated without a torch-ops form";

    public (Tensor Loss, Tensor?[] Gradients) Run(LossCall call) => Run(call, createGraph: false);

    public (Tensor Loss, Tensor?[] Gradients) Run(LossCall call, bool createGraph)
    {
        var kernel = call.Definition.KernelsFor<TorchOpsKernel>(Backend.TorchOps, call.DType)![0];
        call.ToComputeDType();   // before the scope, which would dispose the converted tensors; under create_graph, differentiable
        using var scope = torch.NewDisposeScope();
        using var mode = createGraph ? torch.enable_grad() : torch.no_grad();
        var frame = new TorchFrame(call, inPlace: !createGraph);
        var loss = kernel(frame);
        var valid = call.HasIgnoredRows ? frame.ValidRows().view(-1) : null;
        if (valid is not null) loss = torch.where(valid.view(call.PerSegmentShape), loss, frame.Constant(0));
        var gradients = new Tensor?[frame.Gradients.Length];
        for (int i = 0; i < gradients.Length; i++)
        {
            if (frame.Gradients[i] is not { } grad) continue;
            // A gradient that may be a view of an input, of the loss or of another gradient is copied, not changed in place;
            // so is a broadcast one (stride 0 along an axis), whose elements share memory: masking one row would mask all.
            bool own = !createGraph && frame.TemporaryGradients[i] && !SharesElements(grad);
            if (valid is not null)
            {
                // Ignored rows: the first axis is the rows for a span's [rows, C] and for a per-row value's [rows].
                var rows = valid.view(new[] { grad.shape[0] }.Concat(Enumerable.Repeat(1L, (int)grad.dim() - 1)).ToArray());
                grad = own ? TorchScalars.MaskedFill(grad, rows.logical_not(), 0, overwrite: true) : torch.where(rows, grad, frame.Constant(0));
                own = !createGraph;
            }
            if (call.Shape.GradScale != 1.0) grad = TorchScalars.Mul(grad, call.Shape.GradScale, overwrite: own);
            gradients[i] = grad.MoveToOuterDisposeScope();
        }
        return (loss.MoveToOuterDisposeScope(), gradients);
    }

    /// <summary>Whether some elements of <paramref name="t"/> are one memory location (an expanded, stride-0 axis).</summary>
    private static bool SharesElements(Tensor t)
    {
        var stride = t.stride();
        return stride.Where((s, d) => s == 0 && t.shape[d] > 1).Any();
    }
}
