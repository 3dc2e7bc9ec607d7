using System;
using System.Collections.Concurrent;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace LossDsl.Runtime;

/// <summary>
/// The process-wide ILGPU accelerator LossDsl launches kernels on: CUDA when a CUDA device is present, otherwise ILGPU's
/// CPU accelerator. Set LOSSDSL_ACCELERATOR=cpu or =cuda to choose explicitly. Created on first use and disposed at
/// process exit. A CUDA accelerator runs in the device's primary context, libtorch's, so that kernels read and write
/// TorchSharp's CUDA tensors in place (<see cref="CudaPrimaryContext"/>).
/// </summary>
public static class LossAccelerator
{
    private static readonly Lazy<Host> s_current = new(Host.Create);
    private static readonly ConcurrentDictionary<Delegate, Delegate> s_loaded = new();

    public static Accelerator Current => s_current.Value.Accelerator;

    /// <summary>
    /// Whether kernels on <see cref="Current"/> can address libtorch's CUDA memory: a CUDA accelerator that runs in the
    /// device's primary context. Null when it does not, with the reason.
    /// </summary>
    internal static string? WhyNotTorchCuda => s_current.Value.WhyNotTorchCuda;

    /// <summary>The CUDA device the accelerator runs on (its ordinal, as in cuda:N), or −1 on the CPU accelerator.</summary>
    internal static int CudaDeviceIndex => Current is CudaAccelerator cuda ? cuda.DeviceId : -1;

    /// <summary>
    /// Explicit launches of the generated kernels: (stream, grid and group sizes, shape, views). Compiled once per
    /// process and kernel.
    /// </summary>
    internal static Action<AcceleratorStream, KernelConfig, KernelShape, LossViews<TIn, T>> Load<TIn, T>(LossKernel<TIn, T> kernel)
        where TIn : unmanaged where T : unmanaged
        => (Action<AcceleratorStream, KernelConfig, KernelShape, LossViews<TIn, T>>)s_loaded.GetOrAdd(kernel, k =>
        {
            var action = (Action<KernelShape, LossViews<TIn, T>>)Delegate.CreateDelegate(typeof(Action<KernelShape, LossViews<TIn, T>>), k.Method);
            return Current.LoadKernel(action);
        });

    private static readonly ConcurrentBag<KernelLane> s_lanes = new();

    /// <summary>
    /// A lane for one call: its stream and its reusable buffers. Calls on different lanes run concurrently; there is no
    /// process-wide lock. On CUDA every lane uses the accelerator's default stream, the primary context's legacy stream,
    /// which is libtorch's default stream too, so kernels are ordered with libtorch's work both ways.
    /// </summary>
    internal static KernelLane RentLane() => s_lanes.TryTake(out var lane) ? lane : new KernelLane(Current);

    internal static void ReturnLane(KernelLane lane) => s_lanes.Add(lane);

    /// <summary>Test hook: stage even host tensors through accelerator buffers, the path CPU tensors take on a GPU.</summary>
    internal static bool StageHostTensors { get; set; }

    private sealed class Host
    {
        public required Accelerator Accelerator { get; init; }
        public string? WhyNotTorchCuda { get; init; }

        public static Host Create()
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
            CudaPrimaryContext? primary = null;
            string? whyNot = "ILGPU runs on its CPU accelerator (no CUDA device)";
            if (accelerator is CudaAccelerator cuda)
            {
                try
                {
                    primary = CudaPrimaryContext.Adopt(cuda);
                    whyNot = null;
                }
                catch (Exception e) when (e is InvalidOperationException or DllNotFoundException or EntryPointNotFoundException)
                {
                    whyNot = "ILGPU's CUDA accelerator could not move to the device's primary context: " + e.Message;
                }
            }
            AppDomain.CurrentDomain.ProcessExit += (_, _) =>
            {
                // Buffers first (in whichever context they were made), then the kernels, then the contexts.
                while (s_lanes.TryTake(out var lane)) lane.Dispose();
                primary?.Dispose();
                accelerator.Dispose();
                context.Dispose();
            };
            return new Host { Accelerator = accelerator, WhyNotTorchCuda = whyNot };
        }
    }
}

/// <summary>One call's stream and reusable accelerator buffers (see <see cref="LossAccelerator.RentLane"/>).</summary>
internal sealed class KernelLane : IDisposable
{
    private readonly Accelerator _accelerator;
    private readonly MemoryBuffer1D<byte, Stride1D.Dense>?[] _buffers = new MemoryBuffer1D<byte, Stride1D.Dense>?[16];

    public KernelLane(Accelerator accelerator)
    {
        _accelerator = accelerator;
        Stream = accelerator is CudaAccelerator ? accelerator.DefaultStream : accelerator.CreateStream();
    }

    public AcceleratorStream Stream { get; }

    /// <summary>Buffer <paramref name="slot"/> of this lane as at least <paramref name="length"/> elements, grown when too small.</summary>
    public ArrayView<T> Buffer<T>(int slot, long length) where T : unmanaged
    {
        long bytes = Math.Max(1, length) * System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        if (_buffers[slot] is not { } b || b.Length < bytes)
        {
            // Not before the work queued on the old buffer has run.
            if (_buffers[slot] is { } old)
            {
                Stream.Synchronize();
                old.Dispose();
            }
            _buffers[slot] = b = _accelerator.Allocate1D<byte>(Math.Max(bytes, 256));
        }
        return b.View.AsContiguous().Cast<T>().SubView(0, Math.Max(1, length));
    }

    public void Dispose()
    {
        foreach (var b in _buffers) b?.Dispose();
        if (Stream != _accelerator.DefaultStream) Stream.Dispose();
    }
}
