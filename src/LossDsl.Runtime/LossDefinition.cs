using System;
using ILGPU;
using static TorchSharp.torch.nn;

namespace LossDsl.Runtime;

/// <summary>How a loss's tensors map onto segments; mirrors LossDsl.LossShape.</summary>
public enum LossLayout { Elementwise = 1, ClassRow = 2, ChannelSet = 3 }

/// <summary>What a data tensor is to the loss.</summary>
public enum TensorRole
{
    /// <summary>A float tensor whose rows or sets are spans; the first one is the differentiated prediction.</summary>
    Span,
    /// <summary>An int64 tensor of class indices, one per row.</summary>
    Target,
    /// <summary>A float tensor of one value per element (elementwise) or per row.</summary>
    Input,
}

/// <summary>The signature every generated ILGPU kernel has.</summary>
public delegate void LossKernel<T>(
    Index1D index, KernelShape shape, ArrayView<T> inputs, ArrayView<long> targets, ArrayView<double> hyper,
    ArrayView<T> loss, ArrayView<T> grad, ArrayView<double> partials) where T : unmanaged;

/// <summary>Everything the runtime needs to validate, lay out and launch one generated loss.</summary>
public sealed class LossDefinition
{
    public LossDefinition(string name, LossLayout layout, string[] tensorNames, TensorRole[] roles, string[] hyperNames,
        int partialSlots, bool chunked, LossKernel<float>[] kernelsF32, LossKernel<double>[] kernelsF64,
        CpuKernel[] cpuF32, CpuKernel[] cpuF64)
    {
        if (tensorNames.Length != roles.Length) throw new ArgumentException("One role per tensor.", nameof(roles));
        Name = name;
        Layout = layout;
        TensorNames = tensorNames;
        Roles = roles;
        HyperNames = hyperNames;
        PartialSlots = partialSlots;
        Chunked = chunked;
        KernelsF32 = kernelsF32;
        KernelsF64 = kernelsF64;
        CpuF32 = cpuF32;
        CpuF64 = cpuF64;
    }

    public string Name { get; }
    public LossLayout Layout { get; }
    public string[] TensorNames { get; }
    public TensorRole[] Roles { get; }
    public string[] HyperNames { get; }
    public int PartialSlots { get; }
    public bool Chunked { get; }
    public LossKernel<float>[] KernelsF32 { get; }
    public LossKernel<double>[] KernelsF64 { get; }

    /// <summary>The fast CPU path's kernels, in launch order, for float32 and float64 tensors.</summary>
    public CpuKernel[] CpuF32 { get; }
    public CpuKernel[] CpuF64 { get; }
}

/// <summary>The non-tensor arguments of one loss call.</summary>
public sealed class LossArguments
{
    public LossArguments(double[] hyper, Reduction reduction, long ignoreIndex)
    {
        Hyper = hyper;
        Reduction = reduction;
        IgnoreIndex = ignoreIndex;
    }

    public double[] Hyper { get; }
    public Reduction Reduction { get; }
    public long IgnoreIndex { get; }
}
