using System;
using System.Runtime.Intrinsics;

namespace LossDsl.Runtime;

/// <summary>
/// Vectorized counterparts of <see cref="LossKernelMath"/> for the generated CPU path, on 512-bit vectors
/// (the JIT lowers them to two 256-bit halves where AVX-512 is missing). Same stability guards as the scalar
/// versions; Pow falls back to scalar lanes where a base is not positive.
/// </summary>
public static class LossVectorMath
{
    public static Vector512<float> Exp(Vector512<float> x) => Vector512.Exp(x);
    public static Vector512<double> Exp(Vector512<double> x) => Vector512.Exp(x);
    public static Vector512<float> Log(Vector512<float> x) => Vector512.Log(x);
    public static Vector512<double> Log(Vector512<double> x) => Vector512.Log(x);
    public static Vector512<float> Sqrt(Vector512<float> x) => Vector512.Sqrt(x);
    public static Vector512<double> Sqrt(Vector512<double> x) => Vector512.Sqrt(x);
    public static Vector512<float> Abs(Vector512<float> x) => Vector512.Abs(x);
    public static Vector512<double> Abs(Vector512<double> x) => Vector512.Abs(x);

    /// <summary>a where a ≥ b, else b (ties to a, as the scalar Max).</summary>
    public static Vector512<float> Max(Vector512<float> a, Vector512<float> b) => Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(a, b), a, b);
    public static Vector512<double> Max(Vector512<double> a, Vector512<double> b) => Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(a, b), a, b);
    public static Vector512<float> Min(Vector512<float> a, Vector512<float> b) => Vector512.ConditionalSelect(Vector512.LessThanOrEqual(a, b), a, b);
    public static Vector512<double> Min(Vector512<double> a, Vector512<double> b) => Vector512.ConditionalSelect(Vector512.LessThanOrEqual(a, b), a, b);

    public static Vector512<float> Sigmoid(Vector512<float> x)
    {
        // e = e^-|x| ≤ 1 never overflows; σ(x) = 1/(1+e) for x ≥ 0 and e/(1+e) otherwise.
        var e = Vector512.Exp(-Vector512.Abs(x));
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
        => Vector512.Max(x, Vector512<float>.Zero) + Log1P(Vector512.Exp(-Vector512.Abs(x)));

    public static Vector512<double> Softplus(Vector512<double> x)
        => Vector512.Max(x, Vector512<double>.Zero) + Log1P(Vector512.Exp(-Vector512.Abs(x)));

    public static Vector512<float> LogSigmoid(Vector512<float> x) => -Softplus(-x);
    public static Vector512<double> LogSigmoid(Vector512<double> x) => -Softplus(-x);

    public static Vector512<float> Tanh(Vector512<float> x) => Vector512.Create(Lanes(x, MathF.Tanh));
    public static Vector512<double> Tanh(Vector512<double> x) => Vector512.Create(Lanes(x, Math.Tanh));

    public static Vector512<float> Pow(Vector512<float> a, Vector512<float> b)
        => !Vector512.GreaterThanAll(a, Vector512<float>.Zero)
            ? Vector512.Create(Lanes(a, b, MathF.Pow))
            : Vector512.Exp(b * Vector512.Log(a));

    public static Vector512<double> Pow(Vector512<double> a, Vector512<double> b)
        => !Vector512.GreaterThanAll(a, Vector512<double>.Zero)
            ? Vector512.Create(Lanes(a, b, Math.Pow))
            : Vector512.Exp(b * Vector512.Log(a));

    /// <summary>The largest lane.</summary>
    public static double HorizontalMax<T>(Vector512<T> v) where T : unmanaged, IConvertible
    {
        double m = double.NegativeInfinity;
        for (int i = 0; i < Vector512<T>.Count; i++) m = Math.Max(m, v[i].ToDouble(null));
        return m;
    }

    /// <summary>Merges per-lane maxima and their element indices into (max, first index of the max).</summary>
    public static void MergeArgMax<T>(Vector512<T> values, Vector512<T> indices, ref double max, ref long arg) where T : unmanaged, IConvertible
    {
        for (int i = 0; i < Vector512<T>.Count; i++)
        {
            double v = values[i].ToDouble(null);
            long j = (long)indices[i].ToDouble(null);
            if (v > max || (v == max && j < arg)) { max = v; arg = j; }
        }
    }

    /// <summary>All bits set where <paramref name="b"/> is true: a scalar condition as a lane mask.</summary>
    public static Vector512<T> Mask<T>(bool b) => b ? Vector512<T>.AllBitsSet : Vector512<T>.Zero;

    /// <summary>log(1 + u) for u in [0, 1], accurate for small u: log(w)·u/(w − 1) with w = 1 + u.</summary>
    private static Vector512<float> Log1P(Vector512<float> u)
    {
        var w = Vector512<float>.One + u;
        var d = w - Vector512<float>.One;
        return Vector512.ConditionalSelect(Vector512.Equals(d, Vector512<float>.Zero), u, Vector512.Log(w) * u / d);
    }

    private static Vector512<double> Log1P(Vector512<double> u)
    {
        var w = Vector512<double>.One + u;
        var d = w - Vector512<double>.One;
        return Vector512.ConditionalSelect(Vector512.Equals(d, Vector512<double>.Zero), u, Vector512.Log(w) * u / d);
    }

    private static T[] Lanes<T>(Vector512<T> x, Func<T, T> f)
    {
        var r = new T[Vector512<T>.Count];
        for (int i = 0; i < r.Length; i++) r[i] = f(x[i]);
        return r;
    }

    private static T[] Lanes<T>(Vector512<T> a, Vector512<T> b, Func<T, T, T> f)
    {
        var r = new T[Vector512<T>.Count];
        for (int i = 0; i < r.Length; i++) r[i] = f(a[i], b[i]);
        return r;
    }
}
