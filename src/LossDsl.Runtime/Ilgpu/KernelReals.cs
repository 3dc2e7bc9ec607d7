using System.Runtime.InteropServices;
using ILGPU;

namespace LossDsl.Runtime;

/// <summary>
/// An element of a float tensor as the float32 ILGPU kernels load it: whatever its storage (float32, bfloat16, float16),
/// <see cref="Value"/> is float32, and the kernel computes in float32, as PyTorch's autocast does for losses. The kernels
/// are generic over it, so a bfloat16 tensor is read in place, half the bytes of a converted copy.
/// </summary>
public interface IKernelReal
{
    float Value { get; }
}

/// <summary>A float32 element.</summary>
[StructLayout(LayoutKind.Sequential)]
public readonly struct F32 : IKernelReal
{
    private readonly float _value;

    public float Value => _value;
}

/// <summary>A bfloat16 element: the upper 16 bits of a float32.</summary>
[StructLayout(LayoutKind.Sequential)]
public readonly struct BF16 : IKernelReal
{
    private readonly ushort _bits;

    public BF16(ushort bits) => _bits = bits;

    public float Value => Interop.IntAsFloat((uint)_bits << 16);
}

/// <summary>An IEEE float16 element.</summary>
[StructLayout(LayoutKind.Sequential)]
public readonly struct F16 : IKernelReal
{
    private readonly Half _value;

    public float Value => (float)_value;
}
