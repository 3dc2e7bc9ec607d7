using System;
using System.Linq;
using static TorchSharp.torch;

namespace LossDsl.Runtime;

/// <summary>
/// What a loss's axes declaration means to the runtime, decided once per loss: the generated
/// <see cref="LossDefinition"/> holds one, made by <see cref="LossLayouts"/>. A layout owns everything that depends on
/// the axes: which tensor shapes a call takes (<see cref="Validate"/>), how the prediction splits into the kernels'
/// segments (<see cref="Segments"/>), the axes the torch-ops form sees (<see cref="TorchAxes"/>), what Mean divides by,
/// and the conversion between the caller's layout and the call's (<see cref="ToCallLayout"/>,
/// <see cref="ToCallerLayout"/>). The call, the launchers and the backends ask the layout, never the declaration.
/// </summary>
/// <remarks>
/// The layouts: <see cref="ElementLayout"/> (elementwise), <see cref="ClassRowLayout"/> (class axis last, or at dim 1
/// with trailing dims), <see cref="PairRowLayout"/> ([N, N] pair matrices) and <see cref="SetLayout"/> (per channel, per
/// image, the whole tensor; multiclass). Only this assembly derives from it.
/// </remarks>
public abstract class LossLayout
{
    private protected LossLayout() { }

    /// <summary>
    /// A multiclass set loss: its prediction is the softmax across the class axis 1 of the logits, its target the one-hot
    /// of a class mask (<see cref="TensorRole.ClassMask"/>), and its backends return a = p·∂L/∂p + ∂L/∂log p, to which
    /// backward applies the softmax's Jacobian.
    /// </summary>
    public virtual bool Multiclass => false;

    /// <summary>
    /// Whether a segment is one element (elementwise losses): no member axis, one kernel thread per element, and a Sum or
    /// Mean needs only the sum of the losses.
    /// </summary>
    public virtual bool PerElement => false;

    /// <summary>Whether the call's <see cref="TensorRole.Target"/> tensors are class indices, one per row, checked against the row length and ignore_index.</summary>
    public virtual bool RowTargets => false;

    /// <summary>
    /// Whether <c>Reduction.Mean</c> averages only the segments whose loss is positive (pair rows, as pytorch-metric-learning's
    /// <c>AvgNonZeroReducer</c>), a count known only after the loss.
    /// </summary>
    public virtual bool MeanOverPositive => false;

    /// <summary>Whether an ignore_index leaves out the elements whose target span holds it (sets, as smp does).</summary>
    public virtual bool IgnoresElements => false;

    /// <summary>
    /// How the prediction of dimensions <paramref name="dims"/> (the caller's) splits into segments for the kernels, with
    /// <paramref name="partialSlots"/> partial reductions per (segment, chunk). Assumes dimensions that
    /// <see cref="Validate"/> accepted.
    /// </summary>
    public abstract SegmentLayout Segments(long[] dims, int partialSlots);

    /// <summary>The axes the torch-ops form sees for a prediction of dimensions <paramref name="dims"/> (the call's layout).</summary>
    public abstract TorchAxes TorchAxes(long[] dims);

    /// <summary>
    /// Rewrites the caller's <paramref name="tensors"/> in place into the call's layout, checking the shapes the rewrite
    /// relies on; returns the caller's prediction shape when it rewrote them, null when the call works on them as given.
    /// </summary>
    internal virtual long[]? ToCallLayout(LossDefinition def, Tensor[] tensors) => null;

    /// <summary>
    /// A span's gradient computed on the call's layout, in the caller's layout of prediction shape
    /// <paramref name="callerShape"/> (what <see cref="ToCallLayout"/> returned).
    /// </summary>
    internal virtual Tensor ToCallerLayout(Tensor gradient, long[] callerShape) => gradient;

    /// <summary>
    /// Checks the shapes of a call's <paramref name="tensors"/> (in the call's layout, contiguous), naming the offending
    /// argument; <see cref="ArgumentException"/> otherwise.
    /// </summary>
    public abstract void Validate(LossDefinition def, Tensor[] tensors);

    /// <summary>
    /// PyTorch's <c>weight</c> argument for this layout, checked and expanded to one weight per segment (a tensor of
    /// <paramref name="dtype"/>, made in the current dispose scope), and what Mean then divides by (null: the segment count).
    /// <paramref name="targetClasses"/> is how many classes a class-index target indexes (global when the class axis is sharded).
    /// </summary>
    internal virtual (Tensor PerSegment, double? Count) Weigh(LossDefinition def, Tensor[] tensors, Tensor weight, ScalarType dtype, long ignoreIndex, long targetClasses)
        => throw new NotSupportedException($"{def.Name}: weights are not supported for {this} losses.");

    /// <summary>A shape in messages: [2, 3].</summary>
    private protected static string Dims(long[] shape) => "[" + string.Join(", ", shape) + "]";

    /// <summary>Throws unless tensor <paramref name="i"/> has shape <paramref name="expected"/>; <paramref name="what"/> says why.</summary>
    private protected static void RequireShape(LossDefinition def, Tensor[] tensors, int i, long[] expected, string what)
    {
        if (!tensors[i].shape.SequenceEqual(expected))
            throw new ArgumentException(
                $"{def.Name}: '{def.TensorNames[i]}' has shape {Dims(tensors[i].shape)}; expected {Dims(expected)} ({what}).", def.TensorNames[i]);
    }

    /// <summary>The product of <paramref name="dims"/> (1 for none).</summary>
    private protected static long Product(System.Collections.Generic.IEnumerable<long> dims) => dims.Aggregate(1L, (a, b) => a * b);

    /// <summary>A kernel shape of one chunk per segment: each launcher splits sets into chunks for its own hardware.</summary>
    private protected static SegmentLayout Done(KernelShape k, long[] perSegment, long[] broadcast, long count)
    {
        k.Chunks = 1;
        k.ChunkLength = k.Length;
        return new SegmentLayout(k, perSegment, broadcast, count);
    }
}

/// <summary>
/// The axes of the torch-ops form (<see cref="TorchFrame"/>): the shape a span is viewed as (<paramref name="Elements"/>),
/// the shape of a per-segment value (<paramref name="Segments"/>, size-1 dimensions where it broadcasts over the elements)
/// and the dimensions a reduction over a segment's elements sums (<paramref name="Reduce"/>).
/// </summary>
public sealed record TorchAxes(long[] Elements, long[] Segments, long[] Reduce);
