using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LossDsl.Runtime;

/// <summary>
/// Vectorized counterparts of <see cref="LossKernelMath"/> for the generated CPU path, on 512-bit vectors
/// (the JIT lowers them to two 256-bit halves where AVX-512 is missing). Same stability guards as the scalar
/// versions; Pow falls back to scalar lanes where a base is not positive.
/// </summary>
public static class LossVectorMath
{
    /// <summary>
    /// e^x on float lanes, within 2 ulp of the correctly rounded result (the float kernels' hot path: .NET 10's
    /// <see cref="Vector512.Exp(Vector512{float})"/> computes in double and is about 10× slower, which made
    /// exp throughput, not memory, the bound of every softmax and sigmoid kernel).
    /// Cody–Waite reduction x = n·ln2 + r, |r| ≤ ln2/2, Cephes' expf polynomial for e^r, and 2^n applied as
    /// two factors 2^⌊n/2⌋·2^(n−⌊n/2⌋) so that results near overflow stay finite and tiny results underflow
    /// gradually. Overflow gives +∞, x ≤ −104 gives 0, NaN stays NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x)
    {
        // Beyond these bounds e^x is +∞ (overflow) or rounds to 0; clamping keeps n in [−150, 128].
        var xc = Vector512.MinNative(Vector512.MaxNative(x, Vector512.Create(-104f)), Vector512.Create(89f));
        var n = Vector512.Round(xc * Vector512.Create(1.44269504088896341f));
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-0.693359375f), xc);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(2.12194440e-4f), r);
        var p = Vector512.Create(1.9875691500e-4f);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.3981999507e-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(8.3334519073e-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(4.1665795894e-2f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.6666665459e-1f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(5.0000001201e-1f));
        p = Vector512.FusedMultiplyAdd(p, r * r, r) + Vector512<float>.One;
        var ni = Vector512.ConvertToInt32(n);
        var half = ni >> 1;
        var s1 = ((half + Vector512.Create(127)) << 23).AsSingle();
        var s2 = ((ni - half + Vector512.Create(127)) << 23).AsSingle();
        var y = p * s1 * s2;
        return Vector512.ConditionalSelect(Vector512.Equals(x, x), y, x);
    }

    public static Vector512<double> Exp(Vector512<double> x) => Vector512.Exp(x);

    /// <summary>
    /// ln x on float lanes, within 2 ulp (again about 10× faster than .NET 10's double-based
    /// <see cref="Vector512.Log(Vector512{float})"/>). x = m·2^e with m in [√½, √2), Cephes' logf polynomial in
    /// m − 1; subnormal x is scaled by 2^23 first. ln 0 = −∞, ln x&lt;0 = NaN, ln +∞ = +∞, NaN stays NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Log(Vector512<float> x)
    {
        var subnormal = Vector512.LessThan(x, Vector512.Create(1.17549435e-38f));
        var xs = Vector512.ConditionalSelect(subnormal, x * Vector512.Create(8388608f), x);
        var bits = xs.AsInt32();
        var e = ((bits >> 23) & Vector512.Create(0xFF)) - Vector512.Create(127)
              - (Vector512.Create(23) & subnormal.AsInt32());
        var m = ((bits & Vector512.Create(0x007FFFFF)) | Vector512.Create(0x3F800000)).AsSingle();   // [1, 2)
        var big = Vector512.GreaterThan(m, Vector512.Create(1.41421356237f));
        m = Vector512.ConditionalSelect(big, m * Vector512.Create(0.5f), m);
        e -= big.AsInt32();   // AllBitsSet is −1
        var f = m - Vector512<float>.One;
        var z = f * f;
        var p = Vector512.Create(7.0376836292e-2f);
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(-1.1514610310e-1f));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(1.1676998740e-1f));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(-1.2420140846e-1f));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(1.4249322787e-1f));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(-1.6668057665e-1f));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(2.0000714765e-1f));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(-2.4999993993e-1f));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(3.3333331174e-1f));
        var ef = Vector512.ConvertToSingle(e);
        var y = p * f * z;
        y = Vector512.FusedMultiplyAdd(ef, Vector512.Create(-2.12194440e-4f), y);
        y = Vector512.FusedMultiplyAdd(z, Vector512.Create(-0.5f), y);
        var r = Vector512.FusedMultiplyAdd(ef, Vector512.Create(0.693359375f), f + y);
        // Special values: 0 → −∞, negative → NaN, +∞ → +∞, NaN → NaN.
        r = Vector512.ConditionalSelect(Vector512.Equals(x, Vector512<float>.Zero), Vector512.Create(float.NegativeInfinity), r);
        r = Vector512.ConditionalSelect(Vector512.Equals(x, Vector512.Create(float.PositiveInfinity)), x, r);
        return Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512<float>.Zero) | ~Vector512.Equals(x, x), Vector512.Create(float.NaN), r);
    }

    public static Vector512<double> Log(Vector512<double> x) => Vector512.Log(x);
    // Written once for float and double lanes where the arithmetic is the same (as in LossKernelMath).
    public static Vector512<T> Sqrt<T>(Vector512<T> x) => Vector512.Sqrt(x);
    public static Vector512<T> Abs<T>(Vector512<T> x) => Vector512.Abs(x);

    /// <summary>a where a ≥ b, else b (ties to a, as the scalar Max).</summary>
    public static Vector512<T> Max<T>(Vector512<T> a, Vector512<T> b) => Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(a, b), a, b);

    /// <summary>a where a ≤ b, else b (ties to a, as the scalar Min).</summary>
    public static Vector512<T> Min<T>(Vector512<T> a, Vector512<T> b) => Vector512.ConditionalSelect(Vector512.LessThanOrEqual(a, b), a, b);

    public static Vector512<float> Sigmoid(Vector512<float> x)
    {
        // e = e^-|x| ≤ 1 never overflows; σ(x) = 1/(1+e) for x ≥ 0 and e/(1+e) otherwise.
        var e = Exp(-Vector512.Abs(x));
        var r = Vector512<float>.One / (Vector512<float>.One + e);
        return Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(x, Vector512<float>.Zero), r, e * r);
    }

    public static Vector512<double> Sigmoid(Vector512<double> x)
    {
        var e = Vector512.Exp(-Vector512.Abs(x));
        var r = Vector512<double>.One / (Vector512<double>.One + e);
        return Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(x, Vector512<double>.Zero), r, e * r);
    }

    /// <summary>softplus(x) = max(x, 0) + log1p(e^-|x|).</summary>
    public static Vector512<float> Softplus(Vector512<float> x)
        => Vector512.Max(x, Vector512<float>.Zero) + Log1P(Exp(-Vector512.Abs(x)));

    public static Vector512<double> Softplus(Vector512<double> x)
        => Vector512.Max(x, Vector512<double>.Zero) + Log1P(Vector512.Exp(-Vector512.Abs(x)));

    public static Vector512<float> LogSigmoid(Vector512<float> x) => -Softplus(-x);
    public static Vector512<double> LogSigmoid(Vector512<double> x) => -Softplus(-x);

    /// <summary>The value itself; the derived gradient treats it as a constant.</summary>
    public static Vector512<T> StopGradient<T>(Vector512<T> x) => x;

    /// <summary>tanh per lane, in double and rounded once: within 0.51 ulp (MathF.Tanh was 2.1 ulps; docs/accuracy.md).</summary>
    public static Vector512<float> Tanh(Vector512<float> x) => Lanes(x, v => (float)Math.Tanh(v));
    public static Vector512<double> Tanh(Vector512<double> x) => Lanes(x, Math.Tanh);

    /// <summary>
    /// a^b. An exponent that is the same small whole number 0..4 in every lane (a hyperparameter such as focal's
    /// γ = 2, or γ − 1) is done by multiplication: exact for 0, 1 and 2, and for any sign of a. Otherwise
    /// e^(b·ln a), with scalar lanes where a base is not positive.
    /// </summary>
    public static Vector512<float> Pow(Vector512<float> a, Vector512<float> b)
    {
        float b0 = b.ToScalar();
        if (b0 is 0f or 1f or 2f or 3f or 4f && Vector512.EqualsAll(b, Vector512.Create(b0)))
            return SmallPower(a, (int)b0);
        return !Vector512.GreaterThanAll(a, Vector512<float>.Zero)
            ? Lanes(a, b, MathF.Pow)
            : Exp(b * Log(a));
    }

    public static Vector512<double> Pow(Vector512<double> a, Vector512<double> b)
    {
        double b0 = b.ToScalar();
        if (b0 is 0d or 1d or 2d or 3d or 4d && Vector512.EqualsAll(b, Vector512.Create(b0)))
            return SmallPower(a, (int)b0);
        return !Vector512.GreaterThanAll(a, Vector512<double>.Zero)
            ? Lanes(a, b, Math.Pow)
            : Vector512.Exp(b * Vector512.Log(a));
    }

    private static Vector512<T> SmallPower<T>(Vector512<T> a, int n) => n switch
    {
        0 => Vector512<T>.One,   // as Math.Pow: x^0 = 1 for every x, NaN included
        1 => a,
        2 => a * a,
        3 => a * a * a,
        _ => (a * a) * (a * a),
    };

    /// <summary>The largest lane.</summary>
    public static double HorizontalMax<T>(Vector512<T> v) where T : unmanaged, IConvertible
    {
        double m = double.NegativeInfinity;
        for (int i = 0; i < Vector512<T>.Count; i++) m = Math.Max(m, v[i].ToDouble(null));
        return m;
    }

    /// <summary>Merges per-lane maxima and their element indices into (max, first index of the max).</summary>
    public static void MergeArgMax<T>(Vector512<T> values, Vector512<T> indices, ref double max, ref long arg) where T : unmanaged, IConvertible
        => MergeArg(values, indices, ref max, ref arg, greater: true);

    /// <summary>Merges per-lane minima and their element indices into (min, first index of the min).</summary>
    public static void MergeArgMin<T>(Vector512<T> values, Vector512<T> indices, ref double min, ref long arg) where T : unmanaged, IConvertible
        => MergeArg(values, indices, ref min, ref arg, greater: false);

    private static void MergeArg<T>(Vector512<T> values, Vector512<T> indices, ref double extreme, ref long arg, bool greater) where T : unmanaged, IConvertible
    {
        for (int i = 0; i < Vector512<T>.Count; i++)
        {
            double v = values[i].ToDouble(null);
            long j = (long)indices[i].ToDouble(null);
            // The first extreme element wins; a NaN wins and stays, as in the scalar code.
            if ((greater ? v > extreme : v < extreme) || (v == extreme && j < arg) || (double.IsNaN(v) && !double.IsNaN(extreme))) { extreme = v; arg = j; }
        }
    }

    /// <summary>All bits set where <paramref name="b"/> is true: a scalar condition as a lane mask.</summary>
    public static Vector512<T> Mask<T>(bool b) => b ? Vector512<T>.AllBitsSet : Vector512<T>.Zero;

    /// <summary>
    /// log(1 + u), accurate for small u: log(w)·u/(w − 1) with w = 1 + u (Goldberg's correction of the rounding of
    /// 1 + u); +∞ stays +∞, −1 gives −∞, below −1 NaN.
    /// </summary>
    public static Vector512<float> Log1P(Vector512<float> u)
    {
        var w = Vector512<float>.One + u;
        var d = w - Vector512<float>.One;
        var r = Vector512.ConditionalSelect(Vector512.Equals(d, Vector512<float>.Zero), u, Log(w) * u / d);
        return Vector512.ConditionalSelect(Vector512.Equals(u, Vector512.Create(float.PositiveInfinity)), u, r);
    }

    public static Vector512<double> Log1P(Vector512<double> u)
    {
        var w = Vector512<double>.One + u;
        var d = w - Vector512<double>.One;
        var r = Vector512.ConditionalSelect(Vector512.Equals(d, Vector512<double>.Zero), u, Vector512.Log(w) * u / d);
        return Vector512.ConditionalSelect(Vector512.Equals(u, Vector512.Create(double.PositiveInfinity)), u, r);
    }

    /// <summary>
    /// e^x − 1, accurate near 0: (w − 1)·x / log w with w = e^x (Kahan's correction); x where w rounds to 1, −1 where
    /// w − 1 rounds to −1, +∞ where w overflows.
    /// </summary>
    public static Vector512<float> Expm1(Vector512<float> x)
    {
        var w = Exp(x);
        var d = w - Vector512<float>.One;
        var r = d * x / Log(w);
        r = Vector512.ConditionalSelect(Vector512.Equals(d, Vector512<float>.Zero) | ~Vector512.Equals(x, x), x, r);
        r = Vector512.ConditionalSelect(Vector512.Equals(d, Vector512.Create(-1f)), d, r);
        return Vector512.ConditionalSelect(Vector512.Equals(w, Vector512.Create(float.PositiveInfinity)), w, r);
    }

    public static Vector512<double> Expm1(Vector512<double> x) => Lanes(x, LossKernelMath.Expm1);

    /// <summary>erf, cos, sin and atan per lane, by the scalar kernel math (computed in double, rounded once for float).</summary>
    public static Vector512<float> Erf(Vector512<float> x) => Lanes(x, LossKernelMath.Erf);
    public static Vector512<double> Erf(Vector512<double> x) => Lanes(x, LossKernelMath.Erf);
    public static Vector512<float> Cos(Vector512<float> x) => Lanes(x, LossKernelMath.Cos);
    public static Vector512<double> Cos(Vector512<double> x) => Lanes(x, LossKernelMath.Cos);
    public static Vector512<float> Sin(Vector512<float> x) => Lanes(x, LossKernelMath.Sin);
    public static Vector512<double> Sin(Vector512<double> x) => Lanes(x, LossKernelMath.Sin);
    public static Vector512<float> Atan(Vector512<float> x) => Lanes(x, LossKernelMath.Atan);
    public static Vector512<double> Atan(Vector512<double> x) => Lanes(x, LossKernelMath.Atan);

    /// <summary>f applied lane by lane (no allocation: the lanes are staged on the stack).</summary>
    private static Vector512<T> Lanes<T>(Vector512<T> x, Func<T, T> f) where T : unmanaged
    {
        Span<T> r = stackalloc T[Vector512<T>.Count];
        for (int i = 0; i < r.Length; i++) r[i] = f(x[i]);
        return Vector512.Create<T>(r);
    }

    private static Vector512<T> Lanes<T>(Vector512<T> a, Vector512<T> b, Func<T, T, T> f) where T : unmanaged
    {
        Span<T> r = stackalloc T[Vector512<T>.Count];
        for (int i = 0; i < r.Length; i++) r[i] = f(a[i], b[i]);
        return Vector512.Create<T>(r);
    }
}
