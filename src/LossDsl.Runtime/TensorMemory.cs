using System;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace LossDsl.Runtime;

/// <summary>Raw access to the memory of contiguous CPU tensors, without copies and without a 2 GiB limit.</summary>
internal static class TensorMemory
{
    /// <summary>
    /// The address of a contiguous CPU tensor's first element (0 for an empty tensor). TorchSharp's
    /// <c>Tensor.bytes</c> is a Span and so stops at 2 GiB; the span of a one-element view has no such limit and
    /// starts at the same address.
    /// </summary>
    public static unsafe nint Pointer(Tensor t)
    {
        if (t.numel() == 0) return 0;
        using var first = t.reshape(-1).narrow(0, 0, 1);
        return (nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(first.bytes));
    }

    private static readonly Func<IntPtr, IntPtr> s_dataPtr = (Func<IntPtr, IntPtr>)Delegate.CreateDelegate(typeof(Func<IntPtr, IntPtr>),
        typeof(torch).Assembly.GetType("TorchSharp.PInvoke.NativeMethods")!.GetMethod("THSTensor_data", BindingFlags.NonPublic | BindingFlags.Static)!);

    /// <summary>
    /// The address of a contiguous tensor's first element on any device (a CUDA tensor's device address), whatever its
    /// dtype: libtorch's <c>data_ptr()</c>, through TorchSharp's binding of it (internal to TorchSharp, hence reflection).
    /// </summary>
    public static nint DataPointer(Tensor t) => t.numel() == 0 ? 0 : s_dataPtr(t.Handle);

    /// <summary>A contiguous CPU tensor's elements as a span (the ILGPU path stages through spans, so at most 2^31 − 1).</summary>
    public static unsafe Span<T> Span<T>(Tensor t, string name) where T : unmanaged
    {
        long n = t.numel();
        if (n > int.MaxValue)
            throw new NotSupportedException($"{name}: a tensor has {n} elements; the ILGPU path stages at most {int.MaxValue} per tensor. Use the CPU backend for larger tensors.");
        return new Span<T>((void*)Pointer(t), (int)n);
    }
}
