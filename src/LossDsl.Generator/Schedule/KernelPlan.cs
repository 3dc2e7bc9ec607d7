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
    bool Chunked);
