using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using LossDsl.Runtime;
using Xunit;
using Xunit.Abstractions;

namespace LossDsl.Tests;

/// <summary>
/// The accuracy of <see cref="LossKernelMath"/>, measured in ulps of the exact result, on the code path a GPU runs: every
/// value is computed by an ILGPU kernel on ILGPU's CPU accelerator, which executes the same methods the PTX backend
/// compiles. The truth is <see cref="Math"/> (glibc's exp, log, pow, tanh: within 1 ulp) and glibc's log1p and expm1,
/// in double; for float the double truth is not rounded, so the figure is the float result's distance from the real value.
/// Inputs cover each function's whole domain: random bit patterns, the tails up to overflow and underflow, values near 0
/// and 1, subnormals, ±0, ±∞ and NaN. Targets: 2 ulp in float, 4 ulp in double.
/// </summary>
public class KernelMathAccuracyTests
{
    private readonly ITestOutputHelper _out;

    public KernelMathAccuracyTests(ITestOutputHelper output) => _out = output;

    public enum Fn { Exp, Expm1, Log, Log1P, Tanh, Pow, Sigmoid, Softplus, LogSigmoid }

    [DllImport("libm.so.6", EntryPoint = "log1p")]
    private static extern double LibmLog1P(double x);

    [DllImport("libm.so.6", EntryPoint = "expm1")]
    private static extern double LibmExpm1(double x);

    private static double Truth(Fn fn, double x, double y) => fn switch
    {
        Fn.Exp => Math.Exp(x),
        Fn.Expm1 => LibmExpm1(x),
        Fn.Log => Math.Log(x),
        Fn.Log1P => LibmLog1P(x),
        Fn.Tanh => Math.Tanh(x),
        Fn.Pow => Math.Pow(x, y),
        Fn.Sigmoid => x >= 0 ? 1 / (1 + Math.Exp(-x)) : Math.Exp(x) / (1 + Math.Exp(x)),
        Fn.Softplus => Math.Max(x, 0) + LibmLog1P(Math.Exp(-Math.Abs(x))),
        _ => -(Math.Max(-x, 0) + LibmLog1P(Math.Exp(-Math.Abs(x)))),
    };

    private static float EvalF(int fn, float x, float y) => fn switch
    {
        0 => LossKernelMath.Exp(x),
        1 => LossKernelMath.Expm1(x),
        2 => LossKernelMath.Log(x),
        3 => LossKernelMath.Log1P(x),
        4 => LossKernelMath.Tanh(x),
        5 => LossKernelMath.Pow(x, y),
        6 => LossKernelMath.Sigmoid(x),
        7 => LossKernelMath.Softplus(x),
        _ => LossKernelMath.LogSigmoid(x),
    };

    private static double EvalD(int fn, double x, double y) => fn switch
    {
        0 => LossKernelMath.Exp(x),
        1 => LossKernelMath.Expm1(x),
        2 => LossKernelMath.Log(x),
        3 => LossKernelMath.Log1P(x),
        4 => LossKernelMath.Tanh(x),
        5 => LossKernelMath.Pow(x, y),
        6 => LossKernelMath.Sigmoid(x),
        7 => LossKernelMath.Softplus(x),
        _ => LossKernelMath.LogSigmoid(x),
    };

    private static void KernelF(Index1D i, ArrayView<float> x, ArrayView<float> y, ArrayView<float> result, int fn)
        => result[i] = EvalF(fn, x[i], y[i]);

    private static void KernelD(Index1D i, ArrayView<double> x, ArrayView<double> y, ArrayView<double> result, int fn)
        => result[i] = EvalD(fn, x[i], y[i]);

    private static readonly Lazy<(Context Context, Accelerator Accelerator)> s_cpu = new(() =>
    {
        var context = Context.Create(b => b.Default().EnableAlgorithms());
        return (context, context.GetCPUDevice(0).CreateAccelerator(context));
    });

    private static T[] Run<T>(Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, int> kernel, Fn fn, T[] x, T[] y) where T : unmanaged
    {
        var acc = s_cpu.Value.Accelerator;
        lock (s_cpu)
        {
            var launch = acc.LoadAutoGroupedStreamKernel(kernel);
            using var bx = acc.Allocate1D(x);
            using var by = acc.Allocate1D(y);
            using var br = acc.Allocate1D<T>(x.Length);
            launch(x.Length, bx.View, by.View, br.View, (int)fn);
            acc.Synchronize();
            return br.GetAsArray1D();
        }
    }

    /// <summary>|a − t| in units of the last place of t in a format with <paramref name="mantissa"/> stored bits.</summary>
    private static double Ulps(double a, double t, int mantissa, int minExponent)
    {
        if (double.IsNaN(a) && double.IsNaN(t)) return 0;
        if (a == t) return 0;
        if (double.IsNaN(a) || double.IsNaN(t) || double.IsInfinity(a) || double.IsInfinity(t)) return double.PositiveInfinity;
        int e = t == 0 ? minExponent : Math.Max(Math.ILogB(t), minExponent);
        return Math.Abs(a - t) / Math.ScaleB(1.0, e - mantissa);
    }

    private static double UlpsF(float a, double t)
    {
        // Past float's range the correctly rounded result is ±∞.
        if (Math.Abs(t) > float.MaxValue && double.IsFinite(t) && Math.Abs(t) >= (double)float.MaxValue + Math.ScaleB(1.0, 127 - 24))
            t = t > 0 ? double.PositiveInfinity : double.NegativeInfinity;
        return Ulps(a, t, 23, -126);
    }

    /// <summary>Inputs over the whole domain, as doubles (for float: each one a float).</summary>
    private static (double[] X, double[] Y) Inputs(Fn fn, bool single)
    {
        var rng = new Random(26 + (int)fn + (single ? 100 : 0));
        var xs = new List<double>();
        var ys = new List<double>();
        double overflow = single ? 88.8 : 709.9, underflow = single ? -104.5 : -745.5;
        double Round(double v) => single ? (float)v : v;
        void Add(double x, double y = 0) { xs.Add(Round(x)); ys.Add(Round(y)); }
        double Bits()
        {
            // A uniformly random bit pattern: every binade equally often, subnormals, both signs.
            if (single) return BitConverter.Int32BitsToSingle(rng.Next() ^ (rng.Next(2) << 31));
            return BitConverter.Int64BitsToDouble(rng.NextInt64() ^ ((long)rng.Next(2) << 63));
        }
        void Uniform(double lo, double hi, int count) { for (int i = 0; i < count; i++) Add(lo + (hi - lo) * rng.NextDouble()); }

        double[] special = { 0.0, -0.0, double.PositiveInfinity, double.NegativeInfinity, double.NaN, 1, -1, 2, 0.5,
            single ? float.Epsilon : double.Epsilon, single ? -float.Epsilon : -double.Epsilon,
            single ? float.MaxValue : double.MaxValue, single ? -float.MaxValue : -double.MaxValue,
            single ? 1.17549435e-38 : 2.2250738585072014e-308, 1e-30, -1e-30, overflow, underflow,
            single ? 88.7228317 : 709.782712893384, single ? 88.7228394 : 709.7827128933841, Math.Log(2) / 2, -Math.Log(2) / 2 };
        int n = 60_000;
        if (fn == Fn.Pow)
        {
            foreach (double a in special)
                foreach (double b in new[] { 0.0, -0.0, 1, -1, 2, -2, 3, -3, 0.5, -0.5, double.PositiveInfinity, double.NegativeInfinity, double.NaN, 1e300, -1e300 })
                    Add(a, b);
            for (int i = 0; i < n; i++)
            {
                // Bases over every binade, exponents that keep |y·log x| within the range where the result is finite
                // (and a little past it), integers for negative bases.
                double x = Math.Abs(Bits());
                if (double.IsNaN(x) || double.IsInfinity(x) || x == 0) continue;
                double lx = Math.Log(x);
                double limit = (single ? 110.0 : 760.0) / Math.Max(Math.Abs(lx), 1e-300);
                double y = (2 * rng.NextDouble() - 1) * Math.Min(limit, single ? 1e6 : 1e17);
                if (i % 4 == 0) { y = Math.Round(y); x = -x; }
                if (i % 8 == 1) y = rng.Next(-8, 9) + (rng.Next(3) - 1) * 0.5;
                Add(x, y);
            }
            for (int i = 0; i < n / 4; i++) Add(1 + (2 * rng.NextDouble() - 1) * 1e-6, (2 * rng.NextDouble() - 1) * (single ? 1e7 : 1e9));
            return (xs.ToArray(), ys.ToArray());
        }
        foreach (double s in special) Add(s);
        for (int i = 0; i < n; i++) Add(Bits());
        // Near 0 (every binade from subnormals up), the tails, and the ordinary range.
        for (int i = 0; i < n / 2; i++) Add((rng.Next(2) * 2 - 1) * Math.Pow(2, -rng.NextDouble() * (single ? 149 : 1074)));
        Uniform(-40, 40, n / 2);
        Uniform(-1, 1, n / 4);
        switch (fn)
        {
            case Fn.Exp:
            case Fn.Expm1:
                Uniform(overflow - 2, overflow, n / 4);
                Uniform(underflow, underflow + 20, n / 4);   // subnormal results
                break;
            case Fn.Log:
            case Fn.Log1P:
                Uniform(0.99, 1.01, n / 4);
                Uniform(-1, -0.99, n / 4);
                Uniform(1 - 1e-6, 1 + 1e-6, n / 4);
                Uniform(0, 1e6, n / 4);
                break;
            default:
                Uniform(-120, 120, n / 4);
                Uniform(single ? -110 : -760, single ? -80 : -700, n / 4);   // sigmoid and softplus tails
                break;
        }
        return (xs.ToArray(), ys.ToArray());
    }

    private (double Max, double X, double Y) Measure(Fn fn, bool single)
    {
        var (x, y) = Inputs(fn, single);
        double[] got = single
            ? Run<float>(KernelF, fn, x.Select(v => (float)v).ToArray(), y.Select(v => (float)v).ToArray()).Select(v => (double)v).ToArray()
            : Run<double>(KernelD, fn, x, y);
        (double Max, double X, double Y) worst = (0, 0, 0);
        for (int i = 0; i < x.Length; i++)
        {
            double t = Truth(fn, x[i], y[i]);
            double u = single ? UlpsF((float)got[i], t) : Ulps(got[i], t, 52, -1022);
            if (!(u <= worst.Max)) worst = (u, x[i], y[i]);
        }
        _out.WriteLine($"{fn} {(single ? "float" : "double")}: {x.Length} inputs, max {worst.Max:0.###} ulp at x = {worst.X:R}{(fn == Fn.Pow ? $", y = {worst.Y:R}" : "")}");
        return worst;
    }

    public static TheoryData<Fn> Functions => new(Enum.GetValues<Fn>());

    [Theory]
    [MemberData(nameof(Functions))]
    public void FloatIsWithinTwoUlpOverTheWholeDomain(Fn fn)
    {
        var worst = Measure(fn, single: true);
        Assert.True(worst.Max <= 2, $"{fn} float: {worst.Max} ulp at x = {worst.X:R}, y = {worst.Y:R}");
    }

    [Theory]
    [MemberData(nameof(Functions))]
    public void DoubleIsWithinFourUlpOverTheWholeDomain(Fn fn)
    {
        var worst = Measure(fn, single: false);
        Assert.True(worst.Max <= 4, $"{fn} double: {worst.Max} ulp at x = {worst.X:R}, y = {worst.Y:R}");
    }

    /// <summary>Signed zeros, and the special cases of IEEE pow bit for bit as Math.Pow (with x², x¹ and x⁻¹ exact too).</summary>
    [Fact]
    public void SpecialValuesAreMathsOwnBitForBit()
    {
        double[] v = { 0.0, -0.0, 1, -1, 2, -2, 3, -3, 0.5, -0.5, double.PositiveInfinity, double.NegativeInfinity, double.NaN, 1e-310 };
        var xs = v.SelectMany(a => v.Select(_ => a)).ToArray();
        var ys = v.SelectMany(_ => v).ToArray();
        var pow = Run<double>(KernelD, Fn.Pow, xs, ys);
        for (int i = 0; i < xs.Length; i++)
        {
            double expected = Math.Pow(xs[i], ys[i]);
            bool exact = !double.IsFinite(expected) || expected == 0 || Math.Abs(expected) == 1 || Math.Abs(ys[i]) == 1 || Math.Abs(ys[i]) == 2;
            if (exact)
                Assert.True(BitConverter.DoubleToInt64Bits(pow[i]) == BitConverter.DoubleToInt64Bits(expected) || (double.IsNaN(pow[i]) && double.IsNaN(expected)),
                    $"Pow({xs[i]}, {ys[i]}) = {pow[i]}, Math.Pow: {expected}");
            else Assert.True(Ulps(pow[i], expected, 52, -1022) <= 4, $"Pow({xs[i]}, {ys[i]}) = {pow[i]}, Math.Pow: {expected}");
        }
        var zeros = new[] { 0.0, -0.0 };
        foreach (var fn in new[] { Fn.Expm1, Fn.Log1P, Fn.Tanh })
        {
            var r = Run<double>(KernelD, fn, zeros, zeros);
            var rf = Run<float>(KernelF, fn, new[] { 0f, -0f }, new[] { 0f, 0f });
            Assert.Equal(BitConverter.DoubleToInt64Bits(0.0), BitConverter.DoubleToInt64Bits(r[0]));
            Assert.Equal(BitConverter.DoubleToInt64Bits(-0.0), BitConverter.DoubleToInt64Bits(r[1]));
            Assert.Equal(BitConverter.SingleToInt32Bits(-0f), BitConverter.SingleToInt32Bits(rf[1]));
        }
    }
}
