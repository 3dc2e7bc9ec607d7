using LossDsl.Generator.Differentiate;
using LossDsl.Generator.Model;

namespace LossDsl.Generator.Schedule;

/// <summary>
/// One pass over the elements of a row or set: the reductions it accumulates (all of the same dependency
/// level), the element-scope nodes it evaluates per element, and the outer nodes that become computable
/// once it is done.
/// </summary>
/// <param name="SlotOffsets">Per reduction, its first slot in the per-chunk partials buffer (chunked kernels).</param>
public sealed record Pass(int Level, EquatableArray<int> Reductions, EquatableArray<int> SlotOffsets, EquatableArray<int> ElementNodes, EquatableArray<int> Epilogue);

/// <summary>
/// Schedule stage output. Execution order: <see cref="Prologue"/> (outer nodes that need no reduction), each
/// <see cref="Passes"/> entry in order, then one final pass over the elements that writes the gradient
/// (<see cref="GradientElements"/>). Elementwise losses have no passes; their gradient is an outer node.
/// </summary>
/// <param name="Loss">The derived loss the fused kernels compute: <see cref="Source"/> after <see cref="KernelLowering"/>.</param>
/// <param name="Source">The derived loss as the differentiate and rewrite stages left it, which the torch-ops form computes.</param>
/// <param name="Lowered">The nodes of <see cref="Loss"/> that compute an intrinsic by parts (empty: Loss is Source).</param>
/// <param name="Chunked">
/// True when a row or set is split over several threads (set losses): each pass then becomes its own kernel
/// launch that writes per-chunk partials, and the last launch combines them and writes the gradient.
/// False when one thread owns a whole row or element, so forward and backward fuse into one launch.
/// </param>
public sealed record KernelPlan(
    DerivedLoss Loss,
    EquatableArray<int> Prologue,
    EquatableArray<Pass> Passes,
    EquatableArray<int> GradientElements,
    int PartialSlots,
    bool Chunked,
    DerivedLoss Source,
    EquatableArray<LoweredCall> Lowered)
{
    /// <summary>The node of <see cref="Loss"/> that node <paramref name="source"/> of <see cref="Source"/> became.</summary>
    public int KernelNode(int source) => SourceMap is { } map ? map[source] : source;

    /// <summary>Null where <see cref="Loss"/> is <see cref="Source"/>; else the kernel node of each source node (−1 where unneeded).</summary>
    public EquatableArray<int>? SourceMap { get; init; }
}
