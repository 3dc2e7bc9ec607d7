using System;
using System.Reflection;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace LossDsl.Runtime;

/// <summary>
/// Moves an ILGPU CUDA accelerator onto the device's primary context, where libtorch allocates its CUDA tensors, so that
/// kernels can read and write those tensors in place and launch on the same (legacy default) stream.
/// <para>
/// ILGPU 1.5.3 has no constructor for an existing context: <c>CudaAccelerator</c> always creates a context of its own
/// (<c>cuCtxCreate_v2</c>) and keeps it in <c>Accelerator.NativePtr</c>, whose setter is protected. Every later use (binding
/// to a thread, loading modules, launching) reads that property. Adopt retains the primary context and, before any kernel
/// is loaded, sets <c>NativePtr</c> to it by reflection and makes it current. Dispose puts ILGPU's own context back, so that
/// ILGPU destroys its own context, never the primary one, and releases the primary context.
/// </para>
/// </summary>
internal sealed class CudaPrimaryContext : IDisposable
{
    private static readonly PropertyInfo s_nativePtr = typeof(Accelerator).GetProperty(nameof(Accelerator.NativePtr))!;

    private readonly Accelerator _accelerator;
    private readonly IntPtr _ownContext;
    private readonly int _device;

    private CudaPrimaryContext(Accelerator accelerator, IntPtr ownContext, IntPtr primary, int device)
    {
        _accelerator = accelerator;
        _ownContext = ownContext;
        Handle = primary;
        _device = device;
    }

    /// <summary>The primary context (CUcontext).</summary>
    public IntPtr Handle { get; }

    public static CudaPrimaryContext Adopt(CudaAccelerator accelerator)
    {
        int device = CudaDriver.DeviceGet(accelerator.DeviceId);
        var primary = CudaDriver.PrimaryContextRetain(device);
        var own = accelerator.NativePtr;
        s_nativePtr.SetValue(accelerator, primary);
        CudaDriver.SetCurrent(primary);
        return new CudaPrimaryContext(accelerator, own, primary, device);
    }

    /// <summary>Makes the accelerator's (primary) context current on this thread, as libtorch's own calls do.</summary>
    public static void MakeCurrent(Accelerator accelerator) => CudaDriver.SetCurrent(accelerator.NativePtr);

    /// <summary>
    /// Unloads the kernels while the primary context, which holds their modules, is still the accelerator's; then hands
    /// ILGPU its own context back (for ILGPU to destroy) and releases the primary one. Call before disposing the accelerator.
    /// </summary>
    public void Dispose()
    {
        _accelerator.ClearCache(ClearCacheMode.Everything);
        s_nativePtr.SetValue(_accelerator, _ownContext);
        CudaDriver.PrimaryContextRelease(_device);
    }
}

/// <summary>
/// Memory ILGPU did not allocate (a tensor's), as an ILGPU buffer: it holds the address, allocates and frees nothing, so
/// that <c>new ArrayView&lt;T&gt;(buffer, 0, length)</c> gives kernels a view of the tensor without a copy. The address must be
/// one the accelerator can dereference: host memory for the CPU accelerator, memory of the accelerator's context on CUDA.
/// </summary>
internal sealed class ForeignMemory : MemoryBuffer
{
    public ForeignMemory(Accelerator accelerator, IntPtr address, long length, int elementSize)
        : base(accelerator, length, elementSize)
        => NativePtr = address;

    protected override void MemSet(AcceleratorStream stream, byte value, in ArrayView<byte> targetView)
        => throw new NotSupportedException("LossDsl never fills a tensor's memory through ILGPU.");

    protected override void CopyFrom(AcceleratorStream stream, in ArrayView<byte> sourceView, in ArrayView<byte> targetView)
        => throw new NotSupportedException("LossDsl never copies into a tensor's memory through ILGPU.");

    protected override void CopyTo(AcceleratorStream stream, in ArrayView<byte> sourceView, in ArrayView<byte> targetView)
        => throw new NotSupportedException("LossDsl never copies out of a tensor's memory through ILGPU.");

    /// <summary>The tensor owns the memory.</summary>
    protected override void DisposeAcceleratorObject(bool disposing) { }
}
