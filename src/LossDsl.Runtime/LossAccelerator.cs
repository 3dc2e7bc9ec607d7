using System;
using System.Collections.Concurrent;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace LossDsl.Runtime;

/// <summary>
/// The process-wide ILGPU accelerator LossDsl launches kernels on: CUDA when a CUDA device is present,
/// otherwise ILGPU's CPU accelerator. Set LOSSDSL_ACCELERATOR=cpu or =cuda to choose explicitly.
/// Created on first use and disposed at process exit.
/// </summary>
public static class LossAccelerator
{
    private static readonly Lazy<(Context Context, Accelerator Accelerator)> s_current = new(Create);
    private static readonly ConcurrentDictionary<Delegate, Delegate> s_loaded = new();

    /// <summary>Serializes launches: one stream, one loss call at a time.</summary>
    internal static readonly object Gate = new();

    public static Accelerator Current => s_current.Value.Accelerator;

    private static (Context, Accelerator) Create()
    {
        var context = Context.Create(builder => builder.Default().EnableAlgorithms());
        string? wanted = Environment.GetEnvironmentVariable("LOSSDSL_ACCELERATOR")?.Trim().ToLowerInvariant();
        Device device = wanted switch
        {
            "cpu" => context.GetCPUDevice(0),
            "cuda" => context.GetCudaDevices().Count > 0
                ? context.GetCudaDevice(0)
                : throw new InvalidOperationException("LOSSDSL_ACCELERATOR=cuda, but ILGPU finds no CUDA device."),
            null or "" => context.GetCudaDevices().Count > 0 ? context.GetCudaDevice(0) : context.GetCPUDevice(0),
            _ => throw new InvalidOperationException($"LOSSDSL_ACCELERATOR='{wanted}' is not 'cpu' or 'cuda'."),
        };
        var accelerator = device.CreateAccelerator(context);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            accelerator.Dispose();
            context.Dispose();
        };
        return (context, accelerator);
    }

    /// <summary>The loaded (compiled) form of a generated kernel, compiled once per process.</summary>
    internal static Action<AcceleratorStream, Index1D, KernelShape, ArrayView<T>, ArrayView<long>, ArrayView<double>, ArrayView<T>, ArrayView<T>, ArrayView<double>>
        Load<T>(LossKernel<T> kernel) where T : unmanaged
        => (Action<AcceleratorStream, Index1D, KernelShape, ArrayView<T>, ArrayView<long>, ArrayView<double>, ArrayView<T>, ArrayView<T>, ArrayView<double>>)
            s_loaded.GetOrAdd(kernel, k =>
            {
                var action = (Action<Index1D, KernelShape, ArrayView<T>, ArrayView<long>, ArrayView<double>, ArrayView<T>, ArrayView<T>, ArrayView<double>>)
                    Delegate.CreateDelegate(typeof(Action<Index1D, KernelShape, ArrayView<T>, ArrayView<long>, ArrayView<double>, ArrayView<T>, ArrayView<T>, ArrayView<double>>), ((LossKernel<T>)k).Method);
                return Current.LoadAutoGroupedKernel(action);
            });
}
