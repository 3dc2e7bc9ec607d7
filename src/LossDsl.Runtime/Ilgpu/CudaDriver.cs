using System;
using System.Runtime.InteropServices;

namespace LossDsl.Runtime;

/// <summary>
/// The few CUDA driver API calls LossDsl makes itself, bound on first use from the driver library (libcuda.so.1 or
/// nvcuda.dll): the primary context, and, for the device check, memory allocated the way libtorch allocates it.
/// </summary>
internal static unsafe class CudaDriver
{
    private static readonly Lazy<IntPtr> s_library = new(() => NativeLibrary.Load(OperatingSystem.IsWindows() ? "nvcuda.dll" : "libcuda.so.1"));

    private static IntPtr Export(string name) => NativeLibrary.GetExport(s_library.Value, name);

    public static void Check(int status, string call)
    {
        if (status != 0) throw new InvalidOperationException($"{call} failed with CUDA error {status}.");
    }

    public static int DeviceGet(int ordinal)
    {
        int device;
        Check(((delegate* unmanaged<int*, int, int>)Export("cuDeviceGet"))(&device, ordinal), "cuDeviceGet");
        return device;
    }

    public static IntPtr PrimaryContextRetain(int device)
    {
        IntPtr context;
        Check(((delegate* unmanaged<IntPtr*, int, int>)Export("cuDevicePrimaryCtxRetain"))(&context, device), "cuDevicePrimaryCtxRetain");
        return context;
    }

    public static void PrimaryContextRelease(int device)
        => Check(((delegate* unmanaged<int, int>)Export("cuDevicePrimaryCtxRelease_v2"))(device), "cuDevicePrimaryCtxRelease");

    public static void SetCurrent(IntPtr context)
        => Check(((delegate* unmanaged<IntPtr, int>)Export("cuCtxSetCurrent"))(context), "cuCtxSetCurrent");

    public static void Synchronize() => Check(((delegate* unmanaged<int>)Export("cuCtxSynchronize"))(), "cuCtxSynchronize");

    /// <summary>Device memory in the current context (cuMemAlloc, as libtorch's caching allocator obtains it).</summary>
    public static IntPtr Alloc(long bytes)
    {
        IntPtr p;
        Check(((delegate* unmanaged<IntPtr*, nuint, int>)Export("cuMemAlloc_v2"))(&p, (nuint)Math.Max(1, bytes)), "cuMemAlloc");
        return p;
    }

    public static void Free(IntPtr p) => Check(((delegate* unmanaged<IntPtr, int>)Export("cuMemFree_v2"))(p), "cuMemFree");

    public static void CopyToDevice(IntPtr device, void* host, long bytes)
        => Check(((delegate* unmanaged<IntPtr, void*, nuint, int>)Export("cuMemcpyHtoD_v2"))(device, host, (nuint)bytes), "cuMemcpyHtoD");

    public static void CopyToHost(void* host, IntPtr device, long bytes)
        => Check(((delegate* unmanaged<void*, IntPtr, nuint, int>)Export("cuMemcpyDtoH_v2"))(host, device, (nuint)bytes), "cuMemcpyDtoH");

    public static void CopyOnDevice(IntPtr target, IntPtr source, long bytes)
        => Check(((delegate* unmanaged<IntPtr, IntPtr, nuint, int>)Export("cuMemcpyDtoD_v2"))(target, source, (nuint)bytes), "cuMemcpyDtoD");
}
