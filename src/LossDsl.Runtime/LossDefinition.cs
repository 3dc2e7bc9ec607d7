using System;
using System.Collections.Generic;
using System.Linq;
using ILGPU;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LossDsl.Runtime;

/// <summary>What a data tensor is to the loss.</summary>
public enum TensorRole
{
    /// <summary>A float tensor whose rows or sets are spans; the first one is the differentiated prediction.</summary>
    Span,
    /// <summary>An int64 tensor of class indices, one per row.</summary>
    Target,
    /// <summary>A float tensor of one value per element (elementwise) or per row.</summary>
    Input,
    /// <summary>A multiclass set loss's int64 class mask <c>[N, *spatial]</c>: its one-hot is the loss's target span.</summary>
    ClassMask,
}

/// <summary>
/// The signature every generated ILGPU kernel has, for inputs stored as <typeparamref name="TIn"/> and computed in
/// <typeparamref name="T"/>; it is launched explicitly grouped (see <c>KernelLauncher</c>).
/// </summary>
public delegate void LossKernel<TIn, T>(KernelShape shape, LossViews<TIn, T> v) where TIn : unmanaged where T : unmanaged;

/// <summary>
/// What one backend needs to run a loss for one compute dtype: its generated entry points, in launch order.
/// <paramref name="DType"/> is null when the entry points serve every dtype (the torch-ops form).
/// </summary>
public sealed record BackendKernels(Backend Backend, ScalarType? DType, params Delegate[] Kernels);

/// <summary>
/// Everything the runtime needs to validate, lay out and run one generated loss: its layout, its tensors and
/// hyperparameters, and a table of what each backend needs, keyed by backend and compute dtype. A backend
/// whose entry is missing cannot run the loss, and says so; adding a backend adds rows, not parameters.
/// </summary>
public sealed class LossDefinition
{
    private readonly BackendKernels[] _kernels;

    /// <summary>
    /// A generated loss's description. <c>combines</c>: per reduction the loss computes (by its name in the torch-ops
    /// frame), how its partials combine over the ranks of a sharded call, derived by the generator from its reduction table.
    /// </summary>
    public LossDefinition(string name, LossLayout layout, string[] tensorNames, TensorRole[] roles, string[] hyperNames,
        int partialSlots, bool chunked, BackendKernels[] kernels, (string Reduction, ShardCombine Combine)[]? combines = null)
    {
        if (tensorNames.Length != roles.Length) throw new ArgumentException("One role per tensor.", nameof(roles));
        if (!layout.Multiclass && roles.Contains(TensorRole.ClassMask))
            throw new ArgumentException("Only a multiclass layout takes a class mask.", nameof(layout));
        if (layout.Multiclass && roles.Skip(1).Any(r => r != TensorRole.ClassMask))
            throw new ArgumentException("A multiclass layout takes the logits and, optionally, a class mask; nothing else.", nameof(layout));
        Name = name;
        Layout = layout;
        TensorNames = tensorNames;
        Roles = roles;
        HyperNames = hyperNames;
        PartialSlots = partialSlots;
        Chunked = chunked;
        _kernels = kernels;
        _combines = (combines ?? Array.Empty<(string, ShardCombine)>()).ToDictionary(c => c.Reduction, c => c.Combine, StringComparer.Ordinal);
    }

    private readonly Dictionary<string, ShardCombine> _combines;

    /// <summary>How the partials of this loss's <paramref name="reduction"/> combine over ranks, or null when it has none.</summary>
    public ShardCombine? CombineOf(string reduction) => _combines.TryGetValue(reduction, out var c) ? c : null;

    /// <summary>Every reduction of this loss with its combine rule over ranks (the generator's derivation).</summary>
    public IReadOnlyDictionary<string, ShardCombine> Combines => _combines;

    public string Name { get; }

    /// <summary>What the loss's axes declaration means to the runtime: validation, segments, torch-ops axes, Mean, caller layout.</summary>
    public LossLayout Layout { get; }

    public string[] TensorNames { get; }
    public TensorRole[] Roles { get; }
    public string[] HyperNames { get; }

    /// <summary>Partial reductions per (set, chunk) in the fused set kernels.</summary>
    public int PartialSlots { get; }

    /// <summary>Whether the fused kernels split a row or set over several work items (set losses).</summary>
    public bool Chunked { get; }

    /// <summary>The backends this loss was generated for.</summary>
    public IEnumerable<BackendKernels> Kernels => _kernels;

    /// <summary>Whether this loss has entry points for <paramref name="backend"/> at compute dtype <paramref name="dtype"/>.</summary>
    public bool Supports(Backend backend, ScalarType dtype) => Find(backend, dtype) is not null;

    private BackendKernels? Find(Backend backend, ScalarType dtype)
        => _kernels.FirstOrDefault(k => k.Backend == backend && (k.DType is null || k.DType == dtype));

    /// <summary>The entry points <paramref name="backend"/> needs for <paramref name="dtype"/>, or null when there are none.</summary>
    public TKernel[]? KernelsFor<TKernel>(Backend backend, ScalarType dtype) where TKernel : Delegate
        => Find(backend, dtype)?.Kernels.Cast<TKernel>().ToArray();
}

/// <summary>The non-tensor arguments of one loss call.</summary>
public sealed class LossArguments
{
    public LossArguments(double[] hyper, Reduction reduction, long ignoreIndex, Backend backend = Backend.Auto, Tensor? weight = null)
    {
        Hyper = hyper;
        Reduction = reduction;
        IgnoreIndex = ignoreIndex;
        Backend = backend;
        Weight = weight;
    }

    /// <summary>
    /// Optional weights, as PyTorch's losses take them: per class ([C], class rows; a row's loss is scaled by
    /// weight[target] and Mean divides by the sum of those weights) or per element (elementwise losses; broadcastable
    /// to the prediction; Mean divides by the element count). Not differentiated.
    /// </summary>
    public Tensor? Weight { get; }

    public double[] Hyper { get; }
    public Reduction Reduction { get; }
    public long IgnoreIndex { get; }

    /// <summary>The backend this call must run on, or <see cref="Backend.Auto"/> to let the runtime choose.</summary>
    public Backend Backend { get; }
}
