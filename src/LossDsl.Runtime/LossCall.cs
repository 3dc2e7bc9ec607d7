using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;
using LossDsl.Runtime.Distributed;

namespace LossDsl.Runtime;

/// <summary>
/// One validated loss call: contiguous tensors by role, the element type, the kernel shape and what the
/// reduction divides by. Every check names the offending argument.
/// </summary>
internal sealed class LossCall : IDisposable
{
    private LossCall(LossDefinition def, LossArguments args, Tensor[] tensors, ScalarType dtype)
    {
        Definition = def;
        Arguments = args;
        Tensors = tensors;
        DType = dtype;
    }

    public LossDefinition Definition { get; }
    public LossArguments Arguments { get; }

    /// <summary>The data tensors in declaration order, contiguous; targets as int64.</summary>
    public Tensor[] Tensors { get; }

    /// <summary>The dtype the loss is computed in: float64 for float64 predictions, float32 otherwise.</summary>
    public ScalarType DType { get; }

    /// <summary>The device the call's tensors are on, as backend choice sees it.</summary>
    public DeviceType Device => LossBackend.DeviceOf(Prediction);

    /// <summary>How the fused kernels find the data of this call.</summary>
    public KernelShape Shape;

    /// <summary>The shape of the per-segment loss for Reduction.None.</summary>
    public long[] PerSegmentShape { get; private set; } = Array.Empty<long>();

    /// <summary>The shape an upstream per-segment gradient is viewed as to broadcast over the input gradient.</summary>
    public long[] GradientBroadcastShape { get; private set; } = Array.Empty<long>();

    /// <summary>Whether some rows have a target equal to ignore_index.</summary>
    public bool HasIgnoredRows { get; private set; }

    /// <summary>What Mean divides by: segments, less ignored rows; with class weights, the sum of the rows' weights.</summary>
    public double ReductionCount { get; private set; }

    public Tensor Prediction => Tensors[0];

    public IEnumerable<Tensor> WithRole(TensorRole role) => Tensors.Where((_, i) => Definition.Roles[i] == role);

    /// <summary>Tensors this call made (contiguous, int64 or row-layout copies of the caller's tensors, weights, masks).</summary>
    private readonly List<Tensor> _temporaries = new();

    public void Dispose()
    {
        foreach (var t in _temporaries) t.Dispose();
    }

    public static LossCall Bind(LossDefinition def, object[] vars)
    {
        int n = def.TensorNames.Length;
        if (vars.Length != n + 1 || vars[n] is not LossArguments args)
            throw new ArgumentException($"{def.Name} expects {n} tensors ({string.Join(", ", def.TensorNames)}) and its options.");
        if (args.Hyper.Length != def.HyperNames.Length)
            throw new ArgumentException($"{def.Name} expects {def.HyperNames.Length} hyperparameters ({string.Join(", ", def.HyperNames)}), got {args.Hyper.Length}.");
        if (args.Reduction is not (nn.Reduction.None or nn.Reduction.Mean or nn.Reduction.Sum))
            throw new ArgumentOutOfRangeException("reduction", args.Reduction, "Reduction must be None, Mean or Sum.");

        var tensors = new Tensor[n];
        for (int i = 0; i < n; i++)
        {
            string name = def.TensorNames[i];
            if (vars[i] is not Tensor t || t.IsInvalid)
                throw new ArgumentNullException(name, $"{def.Name}: '{name}' must be a tensor.");
            if (i > 0 && (t.device_type != tensors[0].device_type || t.device_index != tensors[0].device_index))
                throw new ArgumentException(
                    $"{def.Name}: '{name}' is on {t.device} but '{def.TensorNames[0]}' is on {tensors[0].device}; put every tensor of a loss call on one device.", name);
            tensors[i] = t;
        }

        // The prediction's gradient is always computed; another float tensor's when it requires grad.
        var differentiated = tensors.Select((t, i) => i == 0 || def.Roles[i] is not (TensorRole.Target or TensorRole.ClassMask) && t.requires_grad).ToArray();
        var callerShapes = tensors.Select(t => t.shape).ToArray();
        long[]? callerShape = def.Layout.ToCallLayout(def, tensors);
        var rowLayout = callerShape is null ? Array.Empty<Tensor>() : (Tensor[])tensors.Clone();

        var dtype = tensors[0].dtype;
        if (dtype is not (ScalarType.Float32 or ScalarType.Float64 or ScalarType.Float16 or ScalarType.BFloat16))
            throw new ArgumentException($"{def.Name}: '{def.TensorNames[0]}' has dtype {dtype}; float32, float64, float16 and bfloat16 are supported.", def.TensorNames[0]);
        // Half precision computes in float32, as PyTorch's autocast does for losses.
        var compute = dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
        bool half = dtype is ScalarType.Float16 or ScalarType.BFloat16 && !def.Layout.Multiclass
            && Enumerable.Range(0, n).All(i => def.Roles[i] is TensorRole.Target or TensorRole.ClassMask || tensors[i].dtype == dtype);
        for (int i = 0; i < n; i++)
        {
            string name = def.TensorNames[i];
            if (def.Roles[i] is TensorRole.Target or TensorRole.ClassMask)
            {
                if (tensors[i].dtype is not (ScalarType.Int64 or ScalarType.Int32 or ScalarType.Int16 or ScalarType.Byte))
                    throw new ArgumentException($"{def.Name}: '{name}' has dtype {tensors[i].dtype}; class indices are int64.", name);
                tensors[i] = tensors[i].to(ScalarType.Int64).contiguous();
            }
            else
            {
                if (!tensors[i].is_floating_point())
                    throw new ArgumentException($"{def.Name}: '{name}' has dtype {tensors[i].dtype}; it must be a float tensor.", name);
                // Half inputs stay as they are until a backend needs them in the compute dtype (ToComputeDType): the
                // ILGPU kernels read them in place.
                tensors[i] = half ? tensors[i].contiguous() : tensors[i].to(compute).contiguous();
            }
        }

        var shard = LossSharding.Current;
        bool crosses = shard is not null && ShardPlan.Crosses(def, shard.Axis);
        if (shard is { Axis: ShardAxis.Classes } && def.Layout.Multiclass)
            throw new NotSupportedException($"{def.Name}: a multiclass set loss's class axis cannot be sharded (each pixel's softmax runs across it); shard its batch (ShardAxis.Batch).");
        var call = new LossCall(def, args, tensors, compute)
        {
            Shard = shard, ShardCrosses = crosses,
            _callerShape = callerShape, _callerShapes = callerShapes, Differentiated = differentiated,
            StoredAs = half ? dtype : compute, _stored = half ? (Tensor[])tensors.Clone() : Array.Empty<Tensor>(),
        };
        for (int i = 0; i < n; i++)
            if (!ReferenceEquals(tensors[i], vars[i])) call._temporaries.Add(tensors[i]);
        // Row-layout copies that a dtype conversion then replaced.
        call._temporaries.AddRange(rowLayout.Where(t => !call._temporaries.Any(k => ReferenceEquals(k, t))));
        call.Lay();
        return call;
    }

    /// <summary>
    /// How the call's float tensors are stored: float16 or bfloat16 when all of them share the prediction's half dtype (and
    /// the loss is not multiclass); otherwise the compute dtype. Until <see cref="ToComputeDType"/>, half tensors stay as
    /// they are in <see cref="Tensors"/>, so that a backend that reads them in place (the ILGPU kernels) pays no conversion.
    /// </summary>
    /// <summary>The shard declared around this call (<see cref="LossSharding"/>), or null.</summary>
    public Shard? Shard { get; private init; }

    /// <summary>Whether the loss's reductions cross the sharded axis (they combine over ranks; the loss is replicated).</summary>
    public bool ShardCrosses { get; private init; }

    /// <summary>Whether the segments (rows, images, elements) are split over ranks: Sum and Mean add over them, with global counts.</summary>
    public bool SegmentsSharded => Shard is not null && !ShardCrosses;

    public ScalarType StoredAs { get; private init; }

    private Tensor[] _stored = Array.Empty<Tensor>();
    private bool _converted;

    /// <summary>Tensor <paramref name="i"/> as stored (see <see cref="StoredAs"/>), contiguous, in the call's row layout.</summary>
    public Tensor Stored(int i) => StoredAs == DType ? Tensors[i] : _stored[i];

    /// <summary>
    /// Converts the float tensors to the compute dtype (float32 for half), once; what every backend but the ILGPU kernels'
    /// in-place half loads needs first. Nothing to do when <see cref="StoredAs"/> is the compute dtype.
    /// </summary>
    public void ToComputeDType()
    {
        if (_converted || StoredAs == DType) return;
        _converted = true;
        for (int i = 0; i < Tensors.Length; i++)
            if (Definition.Roles[i] is not (TensorRole.Target or TensorRole.ClassMask))
            {
                Tensors[i] = Tensors[i].to(DType);
                _temporaries.Add(Tensors[i]);
            }
    }

    /// <summary>
    /// The caller's prediction shape when the layout rewrote the tensors into its own (class rows with the class axis at
    /// dim 1 and trailing dims: <see cref="LossLayout.ToCallLayout"/>); null when the call works on them as given.
    /// </summary>
    private long[]? _callerShape;

    /// <summary>Each data tensor's shape as the caller passed it.</summary>
    private long[][] _callerShapes = Array.Empty<long[]>();

    /// <summary>Per data tensor: whether its gradient is computed (the prediction's always; another float tensor's when it requires grad).</summary>
    public bool[] Differentiated { get; private init; } = Array.Empty<bool>();

    /// <summary>The gradient of data tensor <paramref name="i"/>, computed on the call's layout, in the caller's.</summary>
    private Tensor ToCallerLayout(int i, Tensor gradient)
        => Definition.Roles[i] == TensorRole.Span ? ToCallerLayout(gradient)
            : gradient.shape.SequenceEqual(_callerShapes[i]) ? gradient : gradient.reshape(_callerShapes[i]);

    /// <summary>A span's gradient computed on the call's layout, in the caller's.</summary>
    private Tensor ToCallerLayout(Tensor gradient)
        => _callerShape is { } shape ? Definition.Layout.ToCallerLayout(gradient, shape) : gradient;

    private string Name(int i) => Definition.TensorNames[i];

    /// <summary>
    /// Validates the call's tensors and lays them out, all as its layout says: the kernel shape, the per-segment and
    /// broadcast shapes (in the caller's layout), what Mean divides by, ignored rows or elements, and weights.
    /// </summary>
    private void Lay()
    {
        var def = Definition;
        var layout = def.Layout;
        layout.Validate(def, Tensors);
        var segments = layout.Segments(_callerShape ?? Prediction.shape, def.PartialSlots);
        Shape = segments.Shape;
        Shape.IgnoreIndex = Arguments.IgnoreIndex;
        PerSegmentShape = segments.PerSegment;
        GradientBroadcastShape = segments.GradientBroadcast;
        ReductionCount = segments.Count;
        if (layout.RowTargets)
        {
            // Vocabulary parallel: targets are global class indices.
            TargetClasses = Shard is { Axis: ShardAxis.Classes } s ? s.Collective.Gather(Shape.Length).Sum() : Shape.Length;
            long ignored = CheckTargets(TargetClasses);
            HasIgnoredRows = ignored > 0;
            ReductionCount -= ignored;
        }
        if (layout.Multiclass) CountPixels();
        else if (layout.IgnoresElements && Arguments.IgnoreIndex != long.MinValue) IgnoreElements();
        if (Arguments.Weight is { } weight) Weigh(weight);
        // Data parallel: Mean divides by the global count of the rows that count, never by a local one.
        if (SegmentsSharded) ReductionCount = Shard!.Collective.Sum(ReductionCount);
        // A Mean over the rows with a positive loss is known only after the loss: its scale comes with CountPositiveRows.
        Shape.GradScale = Arguments.Reduction == nn.Reduction.Mean && !MeanOverPositiveRows ? 1.0 / ReductionCount : 1.0;
    }

    /// <summary>
    /// Whether the reduction needs only the sum of the per-segment losses (an elementwise Sum or Mean without weights): a
    /// backend may then return partial sums of the losses (float64, any length) in place of the per-segment losses, and set
    /// <see cref="LossIsPartialSums"/>.
    /// </summary>
    public bool OnlySumNeeded => Definition.Layout.PerElement && Arguments.Reduction != nn.Reduction.None
        && SegmentWeight is null && !MeanOverPositiveRows;

    /// <summary>Set by a backend that returned partial sums of the losses (float64) instead of the per-segment losses.</summary>
    public bool LossIsPartialSums { get; set; }

    /// <summary>
    /// Whether Mean averages only the rows whose loss is positive, as pytorch-metric-learning's <c>AvgNonZeroReducer</c>
    /// does for pair losses (rows without a positive pair have loss 0 and drop out).
    /// </summary>
    private bool MeanOverPositiveRows => Definition.Layout.MeanOverPositive && Arguments.Reduction == nn.Reduction.Mean;

    /// <summary>
    /// After the backend has run: for a Mean over the rows with a positive loss, weighs each row by
    /// [loss &gt; 0] / (number of such rows), so that the Mean's sum and the gradients count only those rows. No host
    /// round trip: the count stays a tensor. (With no such row, the loss is 0.)
    /// </summary>
    public void CountPositiveRows(Tensor loss)
    {
        if (!MeanOverPositiveRows) return;
        using var scope = torch.NewDisposeScope();
        var kept = TorchScalars.With(0L, loss.detach().gt).to(DType);
        var positive = kept.sum();
        if (SegmentsSharded) Shard!.Collective.AllReduce(positive, CollectiveOp.Sum);
        SegmentWeight = kept.div_(TorchScalars.With(1L, positive.clamp_min_)).MoveToOuterDisposeScope();
        _temporaries.Add(SegmentWeight);
        ReductionCount = 1;
    }

    /// <summary>
    /// For set losses called with an ignore_index: true where no target set (a span after the prediction) holds that
    /// value, in the prediction's shape; null when nothing is ignored.
    /// </summary>
    public Tensor? ValidElements { get; private set; }

    /// <summary>smp's ignore_index for sets: an element whose target holds the value is left out of its set.</summary>
    private void IgnoreElements()
    {
        using var scope = torch.NewDisposeScope();
        double ignore = Arguments.IgnoreIndex;
        var valid = torch.ones_like(Prediction, dtype: ScalarType.Bool);
        for (int i = 1; i < Tensors.Length; i++)
            if (Definition.Roles[i] == TensorRole.Span) valid.logical_and_(TorchScalars.With(ignore, Tensors[i].ne));
        if (valid.all().item<bool>()) return;
        ValidElements = valid.MoveToOuterDisposeScope();
        _temporaries.Add(ValidElements);
    }

    /// <summary>
    /// Where the fused backends write the prediction's gradient, instead of a fresh tensor: a contiguous tensor of the
    /// prediction's shape and compute dtype, which the caller reuses across calls (the fused linear form's chunks).
    /// </summary>
    public Tensor? GradientOutput { get; set; }

    /// <summary>
    /// The multiclass set loss's class mask [N, *spatial] (int64). A loss that takes none (its body reads only the
    /// probabilities) gets one of zeros, made once per call: every pixel kept, its one-hot never read.
    /// </summary>
    public Tensor ClassMask
    {
        get
        {
            int m = Array.IndexOf(Definition.Roles, TensorRole.ClassMask);
            if (m >= 0) return Tensors[m];
            if (_everyPixel is null)
            {
                var x = Prediction;
                _everyPixel = torch.zeros(x.shape.Take(1).Concat(x.shape.Skip(2)).ToArray(), ScalarType.Int64, device: x.device);
                _temporaries.Add(_everyPixel);
            }
            return _everyPixel;
        }
    }

    private Tensor? _everyPixel;

    /// <summary>
    /// Multiclass sets: per pixel, the class as a value of the compute dtype, −1 where ignored ([N·S], host memory; what
    /// the fused kernels read). Null on other devices, where the torch-ops form reads the mask itself.
    /// </summary>
    public Tensor? PixelClasses { get; private set; }

    /// <summary>Multiclass sets on host memory: per pixel, log Σ_c e^z ([N·S]), computed on first use (by the fused backends).</summary>
    public Tensor PixelLogSumExp()
    {
        if (_pixelLogSumExp is { } done) return done;
        var x = Prediction;
        var lse = torch.empty(Shape.Pixels, DType);
        _temporaries.Add(lse);
        unsafe
        {
            if (DType == ScalarType.Float32)
                PixelSoftmax.LogSumExp((float*)TensorMemory.Pointer(x), (float*)TensorMemory.Pointer(lse), x.shape[0], Shape.Classes, Shape.Inner);
            else
                PixelSoftmax.LogSumExp((double*)TensorMemory.Pointer(x), (double*)TensorMemory.Pointer(lse), x.shape[0], Shape.Classes, Shape.Inner);
        }
        return _pixelLogSumExp = lse;
    }

    private Tensor? _pixelLogSumExp;

    /// <summary>The per-pixel statistics an accelerator computed (<c>PixelStatistics</c>), in place of the host's.</summary>
    public void SetPixelStatistics(Tensor logSumExp, Tensor classes)
    {
        _temporaries.Add(logSumExp);
        _temporaries.Add(classes);
        (_pixelLogSumExp, PixelClasses) = (logSumExp, classes);
    }

    /// <summary>
    /// The per-pixel statistics the fused backends computed (log Σ_c e^z and the class), handed over for backward's
    /// Jacobian: the call no longer disposes them. Null when no fused backend ran.
    /// </summary>
    public (Tensor LogSumExp, Tensor Classes)? TakePixelStatistics()
    {
        if (_pixelLogSumExp is not { } lse || PixelClasses is not { } cls) return null;
        // By reference: List.Remove would compare tensors through TorchSharp's Equals.
        _temporaries.RemoveAll(t => ReferenceEquals(t, lse) || ReferenceEquals(t, cls));
        return (lse, cls);
    }

    /// <summary>Multiclass sets whose sets count different numbers of pixels (per image, with ignored pixels): Length has no one value.</summary>
    public bool UnevenSets { get; private set; }

    /// <summary>
    /// Multiclass sets: checks that every class is in [0, C) or ignore_index, and counts each set's pixels that are not
    /// ignored (what Length reads). On host memory one loop also writes <see cref="PixelClasses"/>.
    /// </summary>
    private void CountPixels()
    {
        var x = Prediction;
        long classes = x.shape[1], images = x.shape[0], pixels = Shape.Inner;
        var mask = ClassMask;
        int m = Array.IndexOf(Definition.Roles, TensorRole.ClassMask);
        long ignore = Arguments.IgnoreIndex;
        Shape.Classes = classes;
        Shape.Pixels = images * pixels;
        var kept = new long[Math.Max(1, images)];
        if (Device == DeviceType.CPU)
        {
            PixelClasses = torch.empty(Shape.Pixels, DType);
            _temporaries.Add(PixelClasses);
            unsafe
            {
                long* labels = (long*)TensorMemory.Pointer(mask);
                float* f = DType == ScalarType.Float32 ? (float*)TensorMemory.Pointer(PixelClasses) : null;
                double* d = f == null ? (double*)TensorMemory.Pointer(PixelClasses) : null;
                for (long at = 0; at < Shape.Pixels; at++)
                {
                    long v = labels[at];
                    double cls;
                    if (v == ignore) cls = -1;
                    else if (v < 0 || v >= classes) throw BadTarget(m, at, v, classes);
                    else { cls = v; kept[at / Math.Max(1, pixels)]++; }
                    if (f != null) f[at] = (float)cls; else d[at] = cls;
                }
            }
        }
        else
        {
            using var scope = torch.NewDisposeScope();
            var bad = NotAClass(mask, ignore, classes);
            if (bad.any().item<bool>())
            {
                long first = bad.reshape(-1).nonzero()[0, 0].item<long>();
                throw BadTarget(m, first, mask.reshape(-1)[first].item<long>(), classes);
            }
            var perImage = TorchScalars.With(ignore, mask.ne).reshape(images, -1).sum(new long[] { 1 }).cpu();
            for (long n = 0; n < images; n++) kept[n] = perImage[n].item<long>();
        }
        (Shape.Count, UnevenSets) = ((SetLayout)Definition.Layout).Kept(kept.Take((int)images).ToArray());
    }

    /// <summary>How many classes a class-index target indexes: the row length, the global one when the class axis is sharded.</summary>
    public long TargetClasses { get; private set; }

    /// <summary>The weight of each segment (row or element), from <see cref="LossArguments.Weight"/>; null without weights.</summary>
    public Tensor? SegmentWeight { get; private set; }

    /// <summary>
    /// PyTorch's weights, as the layout takes them (per class for class rows, per element for elementwise losses): checked
    /// here for dtype and device, by the layout for shape.
    /// </summary>
    private void Weigh(Tensor weight)
    {
        var def = Definition;
        var x = Prediction;
        if (!weight.is_floating_point())
            throw new ArgumentException($"{def.Name}: 'weight' has dtype {weight.dtype}; it must be a float tensor.", "weight");
        if (weight.device_type != x.device_type || weight.device_index != x.device_index)
            throw new ArgumentException($"{def.Name}: 'weight' is on {weight.device} but '{Name(0)}' is on {x.device}; put every tensor of a loss call on one device.", "weight");
        using var scope = torch.NewDisposeScope();
        var (perSegment, count) = def.Layout.Weigh(def, Tensors, weight, DType, Arguments.IgnoreIndex, TargetClasses);
        SegmentWeight = perSegment.MoveToOuterDisposeScope();
        _temporaries.Add(SegmentWeight);
        if (count is { } c) ReductionCount = c;
    }

    /// <summary>The per-segment losses, weighted when the call has weights.</summary>
    public Tensor Weighted(Tensor loss) => SegmentWeight is { } w ? loss * w.view(loss.shape) : loss;

    /// <summary>
    /// The gradients a backend computed on the call's layout, weighted when the call has weights, in the caller's layout.
    /// </summary>
    public Tensor?[] CallerGradients(Tensor?[] gradients)
        => gradients.Select((g, i) =>
        {
            if (g is null) return null;
            if (SegmentWeight is { } w)
                g = g * (Definition.Roles[i] != TensorRole.Span ? w.view(g.shape)
                    : Definition.Layout is SetLayout ? w.view(GradientBroadcastShape)   // sets: each set's weight over its elements
                    : w.view(g.shape[0], 1));
            // A set's input (one value per set) is every rank's when the batch is sharded: each rank gets 1/world of its
            // gradient, so that the all-reduce sum of the model's gradients gives it once (docs/distributed.md).
            if (Shard is { Axis: ShardAxis.Batch } s && ShardCrosses && Definition.Roles[i] == TensorRole.Input && s.Collective.Size > 1)
                g = TorchScalars.Div(g, s.Collective.Size);
            return ToCallerLayout(i, g);
        }).ToArray();

    /// <summary>Checks that every class index is in [0, C) or equals ignore_index; returns the number of ignored rows.</summary>
    private long CheckTargets(long classes)
    {
        var targets = Enumerable.Range(0, Tensors.Length).Where(i => Definition.Roles[i] == TensorRole.Target).ToArray();
        long ignore = Arguments.IgnoreIndex;
        if (Device == DeviceType.CPU)
        {
            // On host memory a loop is cheaper than a chain of tensor ops, and finds the first bad row at once.
            // (Device, not the tensor's own: a test that pretends another device checks the tensor-op branch.)
            var ignored = new bool[Shape.Segments];
            foreach (int i in targets)
            {
                long row = 0;
                foreach (long v in Tensors[i].data<long>())
                {
                    if (v == ignore) ignored[row] = true;
                    else if (v < 0 || v >= classes) throw BadTarget(i, row, v, classes);
                    row++;
                }
            }
            return ignored.LongCount(b => b);
        }
        using var scope = torch.NewDisposeScope();
        var anyIgnored = torch.zeros(Shape.Segments, ScalarType.Bool, device: Prediction.device);
        foreach (int i in targets)
        {
            var t = Tensors[i];
            var bad = NotAClass(t, ignore, classes);
            if (bad.any().item<bool>())
            {
                long row = bad.nonzero()[0, 0].item<long>();
                throw BadTarget(i, row, t[row].item<long>(), classes);
            }
            anyIgnored.logical_or_(TorchScalars.With(ignore, t.eq));
        }
        return anyIgnored.sum().item<long>();
    }

    /// <summary>Where <paramref name="t"/> holds neither a class index in [0, classes) nor ignore_index.</summary>
    private static Tensor NotAClass(Tensor t, long ignore, long classes)
        => TorchScalars.With(ignore, t.ne).logical_and_(TorchScalars.With(0L, t.lt).logical_or_(TorchScalars.With(classes, t.ge)));

    private ArgumentOutOfRangeException BadTarget(int i, long row, long v, long classes)
        => new(Name(i), v, $"{Definition.Name}: '{Name(i)}'{(Definition.Layout.Multiclass ? ", flattened, " : "")}[{row}] = {v} is not a class index in [0, {classes}) (nor ignore_index = {Arguments.IgnoreIndex}).");
}
