using System;
using TorchSharp;
using static TorchSharp.torch;

namespace LossDsl.Runtime;

/// <summary>
/// The one place where LossDsl turns a number into a TorchSharp <see cref="Scalar"/>.
/// <para>
/// TorchSharp 0.107 reads a Scalar's native handle and keeps no reference to the Scalar across the native call. A
/// temporary Scalar (the alpha 1 that <c>a + b</c> passes, the 2 of <c>x * 2</c>, the 0 of <c>masked_fill(m, 0)</c>) may
/// therefore be finalized, and its native value freed, on the finalizer thread while libtorch still reads it. In a forward
/// call that is an exception ("Unknown scalar type", "toDouble"); inside an autograd backward callback it ends the process
/// (README, "The autograd path under load"; upstream: dotnet/TorchSharp pull request 1496).
/// </para>
/// <para>
/// So every Scalar of the runtime and of the generated torch-ops code is either <see cref="One"/>, held for the process, or
/// made by <see cref="With(double, Func{Scalar, Tensor})"/> and freed only after the op has returned. The operators and
/// the TorchSharp overloads that make a Scalar of their own (<c>Tensor + Tensor</c>, <c>add(Tensor)</c>, <c>square()</c>,
/// <c>softplus()</c>, <c>arange(long)</c>, …) are not called. <c>ScalarTemporaryTests</c> checks both rules on the compiled
/// IL of the runtime, the library and the generated code.
/// </para>
/// </summary>
public static class TorchScalars
{
    /// <summary>1: the alpha of every tensor addition. Never freed.</summary>
    public static readonly Scalar One = 1;

    /// <summary>Runs <paramref name="op"/> with <paramref name="value"/> as a Scalar that lives until the op has returned.</summary>
    public static Tensor With(double value, Func<Scalar, Tensor> op)
    {
        using var scalar = value.ToScalar();
        return op(scalar);
    }

    /// <summary>Runs <paramref name="op"/> with the integer <paramref name="value"/> as a Scalar that lives until the op has returned.</summary>
    public static Tensor With(long value, Func<Scalar, Tensor> op)
    {
        using var scalar = value.ToScalar();
        return op(scalar);
    }

    /// <summary>a + b.</summary>
    public static Tensor Add(Tensor a, Tensor b, bool overwrite = false) => overwrite ? a.add_(b, One) : a.add(b, One);

    /// <summary>a + b for a number b.</summary>
    public static Tensor Add(Tensor a, double b, bool overwrite = false) => With(b, s => overwrite ? a.add_(s, One) : a.add(s, One));

    /// <summary>a + b for an integer b (an int64 tensor stays int64).</summary>
    public static Tensor Add(Tensor a, long b, bool overwrite = false) => With(b, s => overwrite ? a.add_(s, One) : a.add(s, One));

    /// <summary>a clamped into [min, max], integer bounds (an int64 tensor stays int64).</summary>
    public static Tensor Clamp(Tensor a, long min, long max) => With(min, lo => With(max, hi => a.clamp(lo, hi)));

    /// <summary>a · b for a number b.</summary>
    public static Tensor Mul(Tensor a, double b, bool overwrite = false) => With(b, s => overwrite ? a.mul_(s) : a.mul(s));

    /// <summary>a / b for a number b.</summary>
    public static Tensor Div(Tensor a, double b, bool overwrite = false) => With(b, s => overwrite ? a.div_(s) : a.div(s));

    /// <summary>A tensor of <paramref name="shape"/> filled with <paramref name="value"/>.</summary>
    public static Tensor Full(long[] shape, double value, ScalarType dtype, Device device) => With(value, s => torch.full(shape, s, dtype, device));

    /// <summary>Where <paramref name="mask"/> is true, <paramref name="value"/>; elsewhere <paramref name="t"/>.</summary>
    public static Tensor MaskedFill(Tensor t, Tensor mask, double value, bool overwrite = false)
        => With(value, s => overwrite ? t.masked_fill_(mask, s) : t.masked_fill(mask, s));

    /// <summary>0, 1, …, <paramref name="count"/> − 1 as int64.</summary>
    public static Tensor Arange(long count, Device device)
        => With(0L, start => With(count, stop => torch.arange(start, stop, One, ScalarType.Int64, device)));
}
