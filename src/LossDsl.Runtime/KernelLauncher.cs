using System;
using System.Linq;
using ILGPU;
using ILGPU.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace LossDsl.Runtime;

/// <summary>
/// Runs a loss call's generated ILGPU kernels: packs the inputs into accelerator buffers, launches the
/// kernels in schedule order, and copies the per-segment loss and the gradient back into tensors.
/// </summary>
internal static class KernelLauncher
{
    public static (Tensor Loss, Tensor Grad) Run(LossCall call)
        => call.DType == ScalarType.Float32
            ? Run(call, call.Definition.KernelsFor<LossKernel<float>>(Backend.Ilgpu, ScalarType.Float32)!)
            : Run(call, call.Definition.KernelsFor<LossKernel<double>>(Backend.Ilgpu, ScalarType.Float64)!);

    private static (Tensor, Tensor) Run<T>(LossCall call, LossKernel<T>[] kernels) where T : unmanaged
    {
        var shape = call.Shape;
        if (call.Definition.Chunked)
        {
            // Enough chunks per set to occupy a GPU, each long enough to amortize the combine.
            shape.Chunks = (int)Math.Max(1, Math.Min(256, shape.Length / 8192));
            shape.ChunkLength = (shape.Length + shape.Chunks - 1) / shape.Chunks;
        }
        // The kernels expect spans first, then per-row inputs, whatever the declaration order.
        // A multiclass loss's kernels read the logits, then per pixel log Σ_c e^z and the class.
        var floats = call.Definition.Multiclass ? new[] { call.Prediction, call.PixelLogSumExp(), call.PixelClasses! }
            : call.WithRole(TensorRole.Span).Concat(call.WithRole(TensorRole.Input)).ToArray();
        if (floats.Sum(t => t.numel()) > Array.MaxLength)
            throw new NotSupportedException($"{call.Definition.Name}: the ILGPU path stages all inputs in one buffer of at most {Array.MaxLength} elements. Use the CPU backend for larger tensors.");
        var targets = call.WithRole(TensorRole.Target).ToArray();

        var packed = new T[Math.Max(1, floats.Sum(t => t.numel()))];
        long at = 0;
        foreach (var t in floats)
        {
            TensorMemory.Span<T>(t, call.Definition.Name).CopyTo(packed.AsSpan(checked((int)at)));
            at += t.numel();
        }
        var packedTargets = new long[Math.Max(1, targets.Sum(t => t.numel()))];
        at = 0;
        foreach (var t in targets)
        {
            TensorMemory.Span<long>(t, call.Definition.Name).CopyTo(packedTargets.AsSpan(checked((int)at)));
            at += t.numel();
        }

        var loss = torch.empty(shape.Segments, dtype: call.DType);
        var grad = call.GradientOutput ?? torch.empty_like(call.Prediction);
        long partialCount = Math.Max(1L, (long)shape.Segments * shape.Chunks * Math.Max(1, shape.PartialSlots));

        lock (LossAccelerator.Gate)
        {
            var acc = LossAccelerator.Current;
            using var inputs = acc.Allocate1D(packed);
            using var targetBuffer = acc.Allocate1D(packedTargets);
            using var hyper = acc.Allocate1D(call.Arguments.Hyper.Length == 0 ? new double[1] : call.Arguments.Hyper);
            using var lossBuffer = acc.Allocate1D<T>(Math.Max(1, shape.Segments));
            using var gradBuffer = acc.Allocate1D<T>(Math.Max(1, call.Prediction.numel()));
            using var partials = acc.Allocate1D<double>(partialCount);

            int threads = shape.Segments * shape.Chunks;
            if (threads > 0)
            {
                foreach (var kernel in kernels)
                    LossAccelerator.Load(kernel)(acc.DefaultStream, threads, shape, inputs.View.AsContiguous(), targetBuffer.View.AsContiguous(), hyper.View.AsContiguous(), lossBuffer.View.AsContiguous(), gradBuffer.View.AsContiguous(), partials.View.AsContiguous());
                acc.Synchronize();
            }
            if (shape.Segments > 0) lossBuffer.View.AsContiguous().SubView(0, shape.Segments).CopyToCPU(TensorMemory.Span<T>(loss, call.Definition.Name));
            if (call.Prediction.numel() > 0) gradBuffer.View.AsContiguous().SubView(0, call.Prediction.numel()).CopyToCPU(TensorMemory.Span<T>(grad, call.Definition.Name));
        }
        return (loss, grad);
    }
}
