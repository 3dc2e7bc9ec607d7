using System;
using System.Collections.Generic;
using System.Linq;
using LossDsl.Generator.IR;
using LossDsl.Generator.Model;
using LossDsl.Generator.Schedule;

namespace LossDsl.Generator.Emit.Kernels;

/// <summary>
/// One row of a loss's backend table that a kernel backend serves: the dtype the runtime asks for, the compute type of
/// the kernels that serve it, the runtime's delegate type for them, and the type argument their methods are instantiated
/// with (the ILGPU float32 kernels, generic over how inputs are stored), if any.
/// </summary>
public sealed record KernelRow(string DType, string Real, string Delegate, string? TypeArgument = null);

/// <summary>
/// A backend the generator writes kernels for: its member of the runtime's <c>Backend</c> enum, the banner over its
/// kernels in the generated file, its dialect, and its rows of the backend table.
/// </summary>
public sealed record KernelBackend(string Id, string Banner, Func<KernelSkeleton, string, IndentedWriter, KernelDialect> Dialect, IReadOnlyList<KernelRow> Rows)
{
    /// <summary>The compute types it has kernels for, each emitted once.</summary>
    public IEnumerable<string> Reals => Rows.Select(r => r.Real).Distinct();
}

/// <summary>The kernel backends, one list: a new backend is an entry here and its <see cref="KernelDialect"/>.</summary>
public static class KernelBackends
{
    public static readonly IReadOnlyList<KernelBackend> All = new[]
    {
        new KernelBackend("Ilgpu", "ILGPU kernels: the GPU path (and ILGPU's CPU accelerator in tests)",
            (k, real, w) => new IlgpuDialect(k, real, w),
            new[]
            {
                // The float32 kernels, instantiated per input storage; half inputs are loaded in place and computed in float32.
                new KernelRow("Float32", "float", "LossKernel<F32, float>", "F32"),
                new KernelRow("BFloat16", "float", "LossKernel<BF16, float>", "BF16"),
                new KernelRow("Float16", "float", "LossKernel<F16, float>", "F16"),
                new KernelRow("Float64", "double", "LossKernel<double, double>"),
            }),
        new KernelBackend("Cpu", "The fast CPU path: the same schedule, vectorized, in place on the tensors' memory",
            (k, real, w) => new CpuDialect(k, real, w),
            new[] { new KernelRow("Float32", "float", "CpuKernel"), new KernelRow("Float64", "double", "CpuKernel") }),
    };

    /// <summary>
    /// Whether the kernel skeleton can run a plan: not when the loss reads a running sum over a sort (<see cref="IR.Op.CumSum"/>),
    /// which needs a sort pass the skeleton does not have, or a nested reduction (<see cref="IR.Op.NestedSum"/>), which needs
    /// an inner loop, or a reduction across the segments (<see cref="IR.Op.Across"/>), which every segment's gradient reads. Such a loss gets no kernel rows in its backend table, so the
    /// fused backends decline its calls ("generated without … kernels") and <c>Auto</c> takes the torch-ops form.
    /// </summary>
    public static bool Runs(KernelPlan plan) => WhyNot(plan) is null;

    /// <summary>Why the kernel backends cannot run a plan (for the generated file's comment), or null when they can.</summary>
    public static string? WhyNot(KernelPlan plan)
        => plan.Loss.Graph.Nodes.Any(n => n.Op.IsOrdered()) ? "it sorts its elements (CumSum in a SortedSum), and the kernel skeleton has no sort pass"
        : plan.Loss.Graph.Nodes.Any(n => n.Op.IsNested()) ? "it nests a reduction inside an element function, and the kernel skeleton has no inner loop"
        : plan.Loss.ReducesAcross ? "it reduces across its segments (classes or anchors), and the kernel skeleton's groups each finish one segment"
        : null;

    /// <summary>Every backend's kernels of a loss, under its banner, for each of its compute types.</summary>
    public static void Emit(IndentedWriter w, KernelSkeleton skeleton)
    {
        if (!Runs(skeleton.Plan)) return;
        foreach (var backend in All)
        {
            w.Line($"// ---- {backend.Banner} ----");
            w.Line();
            foreach (string real in backend.Reals) skeleton.Emit(backend.Dialect(skeleton, real, w));
        }
    }

    /// <summary>The backend table's rows of every kernel backend: its id, dtype, and its kernels in the ABI's launch order.</summary>
    public static IEnumerable<(string Backend, string DType, string Kernels)> Rows(KernelSkeleton skeleton)
    {
        if (!Runs(skeleton.Plan)) yield break;
        foreach (var backend in All)
            foreach (var row in backend.Rows)
            {
                var dialect = backend.Dialect(skeleton, row.Real, new IndentedWriter());
                var names = skeleton.EntryPoints().Select(e => dialect.MethodName(e.Entry) + (row.TypeArgument is null ? "" : $"<{row.TypeArgument}>"));
                yield return (backend.Id, "global::TorchSharp.torch.ScalarType." + row.DType, $"new {row.Delegate}[] {{ {string.Join(", ", names)} }}");
            }
    }
}
