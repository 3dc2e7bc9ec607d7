using System;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace LossDsl.Runtime;

/// <summary>
/// The scalar functions generated kernels call, in double and in float precision. Exp, Log, Log1P, Expm1, Tanh and Pow
/// (and the Sigmoid, Softplus and LogSigmoid built on them) are LossDsl's own: range reduction (Cody–Waite for exp, the
/// exponent and √2 split for log) and polynomials fitted by <c>eng/kernel-math/fit.py</c>, written in plain arithmetic and
/// bit manipulation only. An ILGPU kernel therefore runs the same code on every accelerator: on ILGPU's CPU accelerator,
/// where the tests run it, and in the PTX a GPU runs (no <c>XMath</c> software routine, no <c>ex2.approx</c>/<c>lg2.approx</c>).
/// <para>
/// Accuracy, measured by <c>KernelMathAccuracyTests</c> over the whole domain (docs/accuracy.md): within 2 ulp in float
/// and 4 ulp in double of the correctly rounded result, ±∞, NaN, signed zeros and subnormals as <see cref="Math"/>.
/// Float Pow is computed in double and rounded once. On a GPU, ptxas may fuse a multiply and an add into one FMA (ILGPU
/// emits <c>mul</c>/<c>add</c> without a rounding modifier); the algorithms only round less there: every product whose
/// rounding matters is exact (split operands, powers of two, constants with trailing zero bits).
/// </para>
/// </summary>
public static class LossKernelMath
{
    // The functions that are the same arithmetic in every precision are written once, over the IEEE floating-point
    // types (ILGPU compiles static abstract interface members: a call is bound to float's or double's own operator).
    // Those with a precision of their own (Exp, Log, Log1P, Expm1, Tanh, Pow: their own polynomial degrees and
    // coefficients, both fitted by eng/kernel-math/fit.py) and those built on them stay a float and a double method.

    public static T Sqrt<T>(T x) where T : IFloatingPointIeee754<T> => T.Sqrt(x);

    public static T Abs<T>(T x) where T : IFloatingPointIeee754<T> => x < T.Zero ? -x : x;

    /// <summary>a where a ≥ b, else b: ties (and a NaN b) go to a, a NaN a gives b.</summary>
    public static T Max<T>(T a, T b) where T : IFloatingPointIeee754<T> => a >= b ? a : b;

    /// <summary>a where a ≤ b, else b.</summary>
    public static T Min<T>(T a, T b) where T : IFloatingPointIeee754<T> => a <= b ? a : b;

    /// <summary>The value itself; the derived gradient treats it as a constant.</summary>
    public static T StopGradient<T>(T x) where T : IFloatingPointIeee754<T> => x;

    /// <summary>1 / (1 + e^-x) without overflow for large |x|.</summary>
    public static float Sigmoid(float x)
    {
        if (x >= -8f) return 1f / (1f + Exp(-x));
        float e = Exp(x);
        return e / (1f + e);
    }

    /// <summary>log(1 + e^x) = max(x, 0) + log1p(e^-|x|).</summary>
    public static float Softplus(float x) => Max(x, 0f) + Log1P(Exp(-Abs(x)));

    /// <summary>log σ(x) = −softplus(−x).</summary>
    public static float LogSigmoid(float x) => -Softplus(-x);

    /// <summary>1 / (1 + e^-x) without overflow for large |x|.</summary>
    public static double Sigmoid(double x)
    {
        if (x >= 0) return 1.0 / (1.0 + Exp(-x));
        double e = Exp(x);
        return e / (1.0 + e);
    }

    /// <summary>log(1 + e^x) = max(x, 0) + log1p(e^-|x|).</summary>
    public static double Softplus(double x) => Max(x, 0.0) + Log1P(Exp(-Abs(x)));

    /// <summary>log σ(x) = −softplus(−x).</summary>
    public static double LogSigmoid(double x) => -Softplus(-x);

    /// <summary>erf x, computed in double and rounded once.</summary>
    public static float Erf(float x) => (float)Erf((double)x);

    /// <summary>cos x, computed in double and rounded once.</summary>
    public static float Cos(float x) => (float)Cos((double)x);

    /// <summary>sin x, computed in double and rounded once.</summary>
    public static float Sin(float x) => (float)Sin((double)x);

    /// <summary>atan x, computed in double and rounded once.</summary>
    public static float Atan(float x) => (float)Atan((double)x);

    private const double TwoOverSqrtPi = 1.1283791670955126;

    /// <summary>
    /// erf x = 2/√π · e^(−x²) · Σ_n (2x²)^n·x / (1·3·…·(2n+1)): every term positive, so the sum has no cancellation;
    /// x² is carried exactly (a double-double) into e^(−x²). ±1 from |x| = 6 on (1 − erf 6 &lt; 2^-55).
    /// </summary>
    public static double Erf(double x)
    {
        if (double.IsNaN(x)) return x;
        double a = Abs(x);
        double r = 1.0;
        if (a < 6.0)
        {
            var xx = TwoProd(a, a);
            double z = xx.Hi + xx.Hi, t = a, s = a;
            for (int n = 1; n < 300 && t > s * 1e-18; n++)
            {
                t *= z / (2 * n + 1);
                s += t;
            }
            r = Min(1.0, TwoOverSqrtPi * Exp(-xx.Hi, -xx.Lo) * s);
        }
        return x < 0 ? -r : r;
    }

    // π/2 in three pieces for Cody–Waite reduction (each of the first two has 33 significant bits, so n·piece is exact
    // for |n| < 2^20).
    private const double TwoOverPi = 0.63661977236758134308;
    private const double PiO2A = 1.57079632673412561417e+00;
    private const double PiO2B = 6.07710050630396597660e-11;
    private const double PiO2C = 2.02226624879595063154e-21;

    /// <summary>x = n·π/2 + (rh + rl), |rh| ≤ π/4 (exact reduction for |x| &lt; 2^20·π/2; beyond it the reduction loses
    /// bits as n·π/2's own rounding grows, up to |x| = 2^30, and ±∞, NaN and larger |x| give NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int ReduceHalfPi(double x, out double rh, out double rl)
    {
        int n = RoundToInt(x * TwoOverPi);
        double r1 = x - n * PiO2A;   // exact: n·PiO2A is exact and close to x
        double w = n * PiO2B;
        rh = r1 - w;
        rl = ((r1 - rh) - w) - n * PiO2C;
        return n;
    }

    /// <summary>sin r for |r| ≤ π/4: Taylor to r^17 (the next term is below 2^-63 relative).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double SinPoly(double r)
    {
        double z = r * r;
        return r + r * z * (-1.0 / 6 + z * (1.0 / 120 + z * (-1.0 / 5040 + z * (1.0 / 362880 + z * (-1.0 / 39916800
            + z * (1.0 / 6227020800 + z * (-1.0 / 1307674368000 + z * (1.0 / 355687428096000))))))));
    }

    /// <summary>cos r for |r| ≤ π/4: Taylor to r^18.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double CosPoly(double r)
    {
        double z = r * r;
        return 1.0 - z * 0.5 + z * z * (1.0 / 24 + z * (-1.0 / 720 + z * (1.0 / 40320 + z * (-1.0 / 3628800
            + z * (1.0 / 479001600 + z * (-1.0 / 87178291200 + z * (1.0 / 20922789888000 + z * (-1.0 / 6402373705728000))))))));
    }

    /// <summary>sin x: Cody–Waite reduction by π/2, then the quadrant's Taylor polynomial; the reduction's low part enters
    /// as sin(rh + rl) = sin rh + rl·cos rh.</summary>
    public static double Sin(double x)
    {
        if (!(Abs(x) < 1073741824.0)) return double.NaN;   // ±∞, NaN, and |x| ≥ 2^30
        if (Abs(x) < 1e-8) return x;   // sin x = x − x³/6 rounds to x
        int n = ReduceHalfPi(x, out double rh, out double rl);
        return Quadrant(n, rh, rl);
    }

    /// <summary>cos x = sin(x + π/2): the quadrant one further.</summary>
    public static double Cos(double x)
    {
        if (!(Abs(x) < 1073741824.0)) return double.NaN;
        int n = ReduceHalfPi(x, out double rh, out double rl);
        return Quadrant(n + 1, rh, rl);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double Quadrant(int n, double rh, double rl)
    {
        double s = SinPoly(rh), c = CosPoly(rh);
        return (n & 3) switch
        {
            0 => s + rl * c,
            1 => c - rl * s,
            2 => -(s + rl * c),
            _ => -(c - rl * s),
        };
    }

    private const double PiO4Hi = 0.78539816339744830962;
    private const double PiO4Lo = 3.061616997868383e-17;

    /// <summary>
    /// atan x: |x| &gt; 1 by atan x = π/2 − atan(1/x), then t in (tan π/8, 1] by atan t = π/4 + atan((t − 1)/(t + 1)),
    /// then the alternating Taylor series on |t| ≤ tan π/8 (23 terms, the next below 2^-60 relative).
    /// </summary>
    public static double Atan(double x)
    {
        if (double.IsNaN(x)) return x;
        double a = Abs(x);
        bool inverted = a > 1.0;
        if (inverted) a = 1.0 / a;
        bool shifted = a > 0.41421356237309503;
        if (shifted) a = (a - 1.0) / (a + 1.0);
        double z = a * a, p = 0;
        for (int k = 22; k >= 1; k--) p = p * z + ((k & 1) == 0 ? 1.0 : -1.0) / (2 * k + 1);
        double r = a + a * z * p;
        if (shifted) r = PiO4Hi + (r + PiO4Lo);
        if (inverted) r = (PiO4Hi + PiO4Hi) - (r - (PiO4Lo + PiO4Lo));
        return x < 0 ? -r : r;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // float

    private const float Log2EF = 1.44269504f;
    // ln 2 = Ln2HiF + Ln2LoF; Ln2HiF has 11 significant bits, so n · Ln2HiF is exact for |n| ≤ 2^13.
    private const float Ln2HiF = 0.693115234375f;
    private const float Ln2LoF = 3.19461849e-05f;
    private const float HalfLn2F = 0.346573591f;

    /// <summary>e^r = 1 + r + r²·P(r) for |r| ≤ ln2/2 (fit.py: relative error of P 2^-26.5).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ExpPoly(float r)
        => 0.5f + r * (0.166666672f + r * (0.0416664667f + r * (0.00833336078f + r * (0.00139335974f + r * 0.000198577953f))));

    /// <summary>p · 2^n for n in [-150, 128], rounded once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Scale(float p, int n)
    {
        if (n > 127) return p * 2f * Pow2(n - 1);
        if (n < -126) return p * Pow2(n + 64) * 5.42101086e-20f;   // 2^-64
        return p * Pow2(n);
    }

    /// <summary>2^n for n in [-126, 127].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Pow2(int n) => BitConverter.Int32BitsToSingle((n + 127) << 23);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int RoundToInt(float x) => (int)(x + (x >= 0 ? 0.5f : -0.5f));

    public static float Exp(float x)
    {
        if (float.IsNaN(x)) return x;
        if (x > 88.7228317f) return float.PositiveInfinity;   // e^x > float.MaxValue from the next float on
        if (x < -104f) return 0;
        int n = RoundToInt(x * Log2EF);
        float r = (x - n * Ln2HiF) - n * Ln2LoF;
        return Scale(1f + (r + r * r * ExpPoly(r)), n);
    }

    /// <summary>e^x − 1, accurate near 0.</summary>
    public static float Expm1(float x)
    {
        if (float.IsNaN(x)) return x;
        if (x > 88.7228317f) return float.PositiveInfinity;
        if (x < -18f) return -1f;   // e^x < 2^-25: −1 + e^x rounds to −1
        if (x == 0) return x;   // ±0
        if (Abs(x) <= HalfLn2F) return x + x * x * ExpPoly(x);
        int n = RoundToInt(x * Log2EF);
        float rh = x - n * Ln2HiF, r = rh - n * Ln2LoF, rc = (rh - r) - n * Ln2LoF;
        float em = r + (r * r * ExpPoly(r) + rc);
        if (n >= 26) return Scale(1f + em, n) - 1f;
        float t = Pow2(n);
        return t * em + (t - 1f);
    }

    public static float Log(float x)
    {
        if (!(x > 0)) return x == 0 ? float.NegativeInfinity : float.NaN;
        if (x == float.PositiveInfinity) return x;
        return LogReduced(x, 0);
    }

    /// <summary>log(1 + x), accurate for small x.</summary>
    public static float Log1P(float x)
    {
        if (float.IsNaN(x) || x == float.PositiveInfinity) return x;
        if (x <= -1f) return x == -1f ? float.NegativeInfinity : float.NaN;
        float u = 1f + x;
        if (u == 1f) return x;
        // The rounding error of 1 + x, exactly (Fast2Sum); log(u + c) = log u + c/u.
        float c = x > 1f ? (x - u) + 1f : (1f - u) + x;
        return LogReduced(u, c / u);
    }

    /// <summary>log(x) + c for a positive finite x: x = 2^k·m with m in [√½, √2), log m = 2 atanh(s), s = (m−1)/(m+1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float LogReduced(float x, float c)
    {
        int k = 0;
        if (x < 1.17549435e-38f)   // subnormal: scale by 2^25
        {
            x *= 33554432f;
            k = -25;
        }
        int bits = BitConverter.SingleToInt32Bits(x);
        k += (bits >> 23) - 127;
        bits = (bits & 0x007FFFFF) | 0x3F800000;
        if (bits > 0x3FB504F3)   // m > √2: halve it
        {
            bits -= 0x00800000;
            k++;
        }
        float f = BitConverter.Int32BitsToSingle(bits) - 1f;   // exact
        // log(1 + f) = 2s + s·z·Q(z) = f − (f²/2 − s·(f²/2 + z·Q(z))): f, exact, leads
        float s = f / (2f + f), z = s * s, hfsq = 0.5f * f * f;
        float q = 0.666666865f + z * (0.399887651f + z * 0.295805097f);
        return k * Ln2HiF + (f - (hfsq - (s * (hfsq + z * q) + (k * Ln2LoF + c))));
    }

    /// <summary>tanh x: an odd polynomial up to |x| = 0.55 (fit.py), then 1 − 2/(e^{2|x|} + 1); its sign copied from x.</summary>
    public static float Tanh(float x)
    {
        if (float.IsNaN(x)) return x;
        float a = Abs(x);
        float r = 1f;   // tanh rounds to 1 from 9.1 on
        if (a < 0.55f)
        {
            float z = a * a;
            r = a + a * z * (-0.333333313f + z * (0.133331135f + z * (-0.053909447f + z * (0.0213094782f + z * -0.00661037583f))));
        }
        else if (a < 9.1f) r = 1f - 2f / (Exp(a + a) + 1f);
        return BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(r) | (BitConverter.SingleToInt32Bits(x) & unchecked((int)0x80000000)));
    }

    /// <summary>x^y as <see cref="MathF.Pow"/> defines it, computed in double and rounded once.</summary>
    public static float Pow(float x, float y) => (float)Pow((double)x, (double)y);

    // ---------------------------------------------------------------------------------------------------------------
    // double

    private const double Log2E = 1.4426950408889634;
    // ln 2 = Ln2Hi + Ln2Lo; Ln2Hi has 32 significant bits, so n · Ln2Hi is exact for |n| ≤ 2^21.
    private const double Ln2Hi = 0.6931471803691238;
    private const double Ln2Lo = 1.9082149292705877e-10;
    private const double HalfLn2 = 0.34657359027997264;
    private const double TwoThirdsHi = 0.6666666666666666;
    private const double TwoThirdsLo = 3.700743415417188e-17;

    /// <summary>e^r = 1 + r + r²·P(r) for |r| ≤ ln2/2 (fit.py: relative error of P 2^-57.2).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double ExpPoly(double r)
        => 0.5 + r * (0.1666666666666667 + r * (0.041666666666666616 + r * (0.008333333333326167 + r * (0.001388888888891796
            + r * (0.00019841269874720812 + r * (2.4801587245738984e-05 + r * (2.7557255514225417e-06 + r * (2.7557349622968373e-07
            + r * (2.5105173626464864e-08 + r * 2.0889372702656437e-09)))))))));

    /// <summary>p · 2^n for n in [-1076, 1024], rounded once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double Scale(double p, int n)
    {
        if (n > 1023) return p * 2.0 * Pow2D(n - 1);
        if (n < -1022) return p * Pow2D(n + 54) * 5.551115123125783e-17;   // 2^-54
        return p * Pow2D(n);
    }

    /// <summary>2^n for n in [-1022, 1023].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double Pow2D(int n) => BitConverter.Int64BitsToDouble((long)(n + 1023) << 52);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int RoundToInt(double x) => (int)(x + (x >= 0 ? 0.5 : -0.5));

    public static double Exp(double x) => Exp(x, 0);

    /// <summary>e^(x + xlo) for a small correction xlo.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double Exp(double x, double xlo)
    {
        if (double.IsNaN(x)) return x;
        if (x > 709.782712893384) return double.PositiveInfinity;   // e^x > double.MaxValue from the next double on
        if (x < -745.2) return 0;
        int n = RoundToInt(x * Log2E);
        double rh = x - n * Ln2Hi, r = rh - n * Ln2Lo, rc = ((rh - r) - n * Ln2Lo) + xlo;
        double em = r + r * r * ExpPoly(r);
        // e^(r + rc) = e^r · (1 + rc) to within rc²
        return Scale(1.0 + (em + (rc + rc * em)), n);
    }

    /// <summary>e^x − 1, accurate near 0.</summary>
    public static double Expm1(double x)
    {
        if (double.IsNaN(x)) return x;
        if (x > 709.782712893384) return double.PositiveInfinity;
        if (x < -38.0) return -1.0;   // e^x < 2^-54: −1 + e^x rounds to −1
        if (x == 0) return x;   // ±0
        if (Abs(x) <= HalfLn2) return x + x * x * ExpPoly(x);
        int n = RoundToInt(x * Log2E);
        double rh = x - n * Ln2Hi, r = rh - n * Ln2Lo, rc = (rh - r) - n * Ln2Lo;
        double em = r + r * r * ExpPoly(r);
        em += rc + rc * em;
        if (n >= 55) return Scale(1.0 + em, n) - 1.0;
        double t = Pow2D(n);
        return t * em + (t - 1.0);
    }

    public static double Log(double x)
    {
        if (!(x > 0)) return x == 0 ? double.NegativeInfinity : double.NaN;
        if (x == double.PositiveInfinity) return x;
        return LogDD(x).Hi;
    }

    /// <summary>log(1 + x), accurate for small x.</summary>
    public static double Log1P(double x)
    {
        if (double.IsNaN(x) || x == double.PositiveInfinity) return x;
        if (x <= -1.0) return x == -1.0 ? double.NegativeInfinity : double.NaN;
        double u = 1.0 + x;
        if (u == 1.0) return x;
        // The rounding error of 1 + x, exactly (Fast2Sum); log(u + c) = log u + c/u.
        double c = x > 1.0 ? (x - u) + 1.0 : (1.0 - u) + x;
        var l = LogDD(u);
        return l.Hi + (l.Lo + c / u);
    }

    /// <summary>tanh x = t / (t + 2) with t = e^{2|x|} − 1, its sign copied from x.</summary>
    public static double Tanh(double x)
    {
        if (double.IsNaN(x)) return x;
        double a = Abs(x);
        double r = 1.0;   // tanh rounds to 1 from 19.1 on
        if (a < 19.1)
        {
            double t = Expm1(a + a);
            r = t / (t + 2.0);
        }
        return BitConverter.Int64BitsToDouble(BitConverter.DoubleToInt64Bits(r) | (BitConverter.DoubleToInt64Bits(x) & long.MinValue));
    }

    /// <summary>
    /// x^y as <see cref="Math.Pow"/> defines it (IEEE 754 pow: x^0 = 1 and 1^y = 1 even for NaN, a negative x only with
    /// an integer y). |x|^y = e^(y·log|x|), with log|x| and the product carried in double-double so that the exponent's
    /// error stays below 2^-60 relative up to the overflow threshold.
    /// </summary>
    public static double Pow(double x, double y)
    {
        if (y == 0 || x == 1.0) return 1.0;
        if (double.IsNaN(x) || double.IsNaN(y)) return double.NaN;
        double ax = Abs(x), ay = Abs(y);
        bool yInteger = ay >= 9007199254740992.0 || (long)y == y;   // from 2^53 on every double is an even integer
        bool yOdd = ay < 9007199254740992.0 && yInteger && ((long)y & 1) != 0;
        bool negative = BitConverter.DoubleToInt64Bits(x) < 0 && yOdd;
        double r;
        if (ay == double.PositiveInfinity)
            r = ax == 1.0 ? 1.0 : (ax > 1.0) == (y > 0) ? double.PositiveInfinity : 0;
        else if (ax == 0 || ax == double.PositiveInfinity)
            r = (ax == 0) == (y < 0) ? double.PositiveInfinity : 0;
        else if (x < 0 && !yInteger)
            return double.NaN;
        else
        {
            var l = LogDD(ax);
            var t = TwoProd(y, l.Hi);
            double tl = t.Lo + y * l.Lo;
            double th = t.Hi + tl;
            tl = (t.Hi - th) + tl;
            r = th > 710.0 ? double.PositiveInfinity : th < -746.0 ? 0 : Exp(th, tl);
        }
        return negative ? -r : r;
    }

    /// <summary>A double-double: the unevaluated sum Hi + Lo, |Lo| ≤ ulp(Hi).</summary>
    private readonly struct DD
    {
        public readonly double Hi, Lo;

        public DD(double hi, double lo)
        {
            Hi = hi;
            Lo = lo;
        }
    }

    /// <summary>a with its low 27 significand bits cleared: its upper 26 bits, so that products of halves are exact.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double Upper(double a) => BitConverter.Int64BitsToDouble(BitConverter.DoubleToInt64Bits(a) & ~0x7FFFFFFL);

    /// <summary>a·b = Hi + Lo to about 2^-77 relative (Dekker's product on split halves; exact products, so FMA-safe).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static DD TwoProd(double a, double b)
    {
        double p = a * b;
        double ah = Upper(a), al = a - ah, bh = Upper(b), bl = b - bh;
        return new DD(p, (((ah * bh - p) + ah * bl) + al * bh) + al * bl);
    }

    /// <summary>
    /// log x for a positive finite x as a double-double, to about 2^-64 relative: x = 2^k·m with m in [√½, √2),
    /// f = m − 1 (exact), s = f/(2+f) in double-double, log m = 2 atanh s = 2s + ⅔s³ + s⁵·R(s²).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static DD LogDD(double x)
    {
        int k = 0;
        if (x < 2.2250738585072014e-308)   // subnormal: scale by 2^54
        {
            x *= 18014398509481984.0;
            k = -54;
        }
        long bits = BitConverter.DoubleToInt64Bits(x);
        k += (int)(bits >> 52) - 1023;
        bits = (bits & 0x000FFFFFFFFFFFFFL) | 0x3FF0000000000000L;
        if (bits > 0x3FF6A09E667F3BCDL)   // m > √2: halve it
        {
            bits -= 1L << 52;
            k++;
        }
        double f = BitConverter.Int64BitsToDouble(bits) - 1.0;   // exact
        // s = f / (2 + f) = sh + sl
        double d = 2.0 + f, dl = (2.0 - d) + f;
        double sh = f / d;
        var q = TwoProd(sh, d);
        double sl = (((f - q.Hi) - q.Lo) - sh * dl) / d;
        // s³ = c3 (double-double), then ⅔s³
        var z2 = TwoProd(sh, sh);
        double zl = z2.Lo + 2.0 * sh * sl;
        var c3 = TwoProd(z2.Hi, sh);
        double c3l = c3.Lo + (z2.Hi * sl + zl * sh);
        var t3 = TwoProd(c3.Hi, TwoThirdsHi);
        double t3l = t3.Lo + (c3.Hi * TwoThirdsLo + c3l * TwoThirdsHi);
        double z = z2.Hi;
        double tail = c3.Hi * z * (0.4 + z * (0.2857142857142937 + z * (0.22222222221655236 + z * (0.18181818335517685
            + z * (0.15384594951140976 + z * (0.13334805223453136 + z * (0.11706224179594053 + z * 0.11723287644055318)))))));
        // 2s + ⅔s³ + tail, then + k·ln2 (k·Ln2Hi exact; each sum by Fast2Sum, the larger term first)
        double hi = (sh + sh) + t3.Hi;
        double lo = (((sh + sh) - hi) + t3.Hi) + (((sl + sl) + t3l) + tail);
        double kh = k * Ln2Hi;
        double hi2 = kh + hi;
        double lo2 = ((kh - hi2) + hi) + (lo + k * Ln2Lo);
        double h = hi2 + lo2;
        return new DD(h, (hi2 - h) + lo2);
    }
}
