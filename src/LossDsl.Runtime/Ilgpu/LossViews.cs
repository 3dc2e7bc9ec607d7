using System;
using ILGPU;

namespace LossDsl.Runtime;

/// <summary>
/// What a generated ILGPU kernel reads and writes, as views of accelerator memory: the tensors' own memory where the
/// accelerator can address it (no copy), else staging buffers. Spans and per-row inputs are numbered in declaration order
/// within their role (at most <see cref="KernelAbi"/>'s slot counts); a multiclass loss's spans are in
/// <see cref="KernelAbi.MulticlassSpans"/> order.
/// <typeparamref name="TIn"/> is how float inputs are stored (<see cref="F32"/>, <see cref="BF16"/>, <see cref="F16"/> for
/// the float32 kernels, double for the float64 ones); <typeparamref name="T"/> is the compute type, of the loss and gradient.
/// </summary>
public struct LossViews<TIn, T> where TIn : unmanaged where T : unmanaged
{
    public ArrayView<TIn> Span0, Span1, Span2, Span3;
    public ArrayView<TIn> Input0, Input1, Input2, Input3;
    public ArrayView<long> Target0, Target1, Target2, Target3;

    /// <summary>The hyperparameters, in declaration order.</summary>
    public ArrayView<double> Hyper;

    /// <summary>The loss per segment (unless <see cref="KernelShape.SumLoss"/>), and ∂loss/∂prediction.</summary>
    public ArrayView<T> Loss, Grad;

    /// <summary>Per-(set, chunk) partial reductions, or per-group partial sums of the loss; always double.</summary>
    public ArrayView<double> Partials;

    /// <summary>Sets span <paramref name="k"/> (host side, before a launch).</summary>
    public void SetSpan(int k, ArrayView<TIn> view)
    {
        switch (k)
        {
            case 0: Span0 = view; break;
            case 1: Span1 = view; break;
            case 2: Span2 = view; break;
            case 3: Span3 = view; break;
            default: throw new ArgumentOutOfRangeException(nameof(k), k, $"at most {KernelAbi.MaxSpans} spans");
        }
    }

    /// <summary>Sets per-row or per-element input <paramref name="k"/>.</summary>
    public void SetInput(int k, ArrayView<TIn> view)
    {
        switch (k)
        {
            case 0: Input0 = view; break;
            case 1: Input1 = view; break;
            case 2: Input2 = view; break;
            case 3: Input3 = view; break;
            default: throw new ArgumentOutOfRangeException(nameof(k), k, $"at most {KernelAbi.MaxInputs} inputs");
        }
    }

    /// <summary>Sets target <paramref name="k"/>.</summary>
    public void SetTarget(int k, ArrayView<long> view)
    {
        switch (k)
        {
            case 0: Target0 = view; break;
            case 1: Target1 = view; break;
            case 2: Target2 = view; break;
            case 3: Target3 = view; break;
            default: throw new ArgumentOutOfRangeException(nameof(k), k, $"at most {KernelAbi.MaxTargets} targets");
        }
    }
}
