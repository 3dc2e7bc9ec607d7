using System;
using System.Runtime.CompilerServices;

namespace LossDsl.Runtime;

/// <summary>
/// What a generated CPU kernel reads and writes: pointers straight into the TorchSharp tensors' memory (no
/// staging copies), the hyperparameters, and the per-(segment, chunk) partials of chunked losses.
/// The accessors hand out <c>ref T</c>, so generated code needs no <c>unsafe</c> context.
/// </summary>
public sealed unsafe class CpuArgs
{
    internal CpuArgs(KernelShape shape, nint[] spans, nint[] inputs, nint[] targets, double[] hyper, nint loss, nint grad, double[] partials)
    {
        Shape = shape;
        _spans = spans;
        _inputs = inputs;
        _targets = targets;
        Hyper = hyper;
        _loss = loss;
        _grad = grad;
        Partials = partials;
    }

    private readonly nint[] _spans, _inputs, _targets;
    private readonly nint _loss, _grad;

    internal nint[] Spans => _spans;
    internal nint[] Inputs => _inputs;

    /// <summary>The same arguments reading the spans and inputs from other memory (<see cref="HalfRows"/>' float32 blocks).</summary>
    internal CpuArgs WithData(nint[] spans, nint[] inputs) => new(Shape, spans, inputs, _targets, Hyper, _loss, _grad, Partials);

    public KernelShape Shape { get; }
    public double[] Hyper { get; }
    public double[] Partials { get; }

    /// <summary>The first element of span tensor <paramref name="k"/> (a multiclass loss's in <see cref="KernelAbi.MulticlassSpans"/> order).</summary>
    public ref T Span<T>(int k) where T : unmanaged => ref Unsafe.AsRef<T>((void*)_spans[k]);

    /// <summary>The first element of per-row or per-element input tensor <paramref name="k"/>.</summary>
    public ref T Input<T>(int k) where T : unmanaged => ref Unsafe.AsRef<T>((void*)_inputs[k]);

    /// <summary>Class index of segment <paramref name="s"/> from target tensor <paramref name="k"/>.</summary>
    public long Target(int k, int s) => ((long*)_targets[k])[s];

    public ref T Loss<T>() where T : unmanaged => ref Unsafe.AsRef<T>((void*)_loss);

    public ref T Grad<T>() where T : unmanaged => ref Unsafe.AsRef<T>((void*)_grad);
}

/// <summary>A generated CPU kernel: processes work items [begin, end) (segments, or (segment, chunk) pairs).</summary>
public delegate void CpuKernel(CpuArgs args, int begin, int end);
