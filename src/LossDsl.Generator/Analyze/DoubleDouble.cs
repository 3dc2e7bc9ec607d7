using System;

namespace LossDsl.Generator.Analyze;

/// <summary>
/// A double-double number: the unevaluated sum <see cref="Hi"/> + <see cref="Lo"/>, about 106 significant bits (Dekker
/// 1971; Hida, Li and Bailey's QD library describes the same algorithms). The ground truth that the rewrite stage's
/// accuracy measurement judges float32 and float64 results against: 2^-104 relative is far below a float64 ulp.
/// Exp, Log and the functions built on them carry about 100 bits (Exp's higher Taylor terms use 1/n in double, 2^-64
/// relative at worst); Erf is a series of positive terms in double-double;
/// Cos, Sin and Atan are the double results only (53 bits, enough to judge float32, and named as such in docs/accuracy.md).
/// </summary>
public readonly struct DoubleDouble : IComparable<DoubleDouble>
{
    public readonly double Hi, Lo;

    public DoubleDouble(double hi, double lo = 0)
    {
        Hi = hi;
        Lo = lo;
    }

    public static implicit operator DoubleDouble(double v) => new(v);

    public double ToDouble() => Hi + Lo;

    public bool IsFinite => !double.IsNaN(Hi) && !double.IsInfinity(Hi);

    public int CompareTo(DoubleDouble other) => Hi != other.Hi ? Hi.CompareTo(other.Hi) : Lo.CompareTo(other.Lo);

    public override string ToString() => Hi.ToString("R") + (Lo >= 0 ? "+" : "") + Lo.ToString("R");

    private static DoubleDouble TwoSum(double a, double b)
    {
        double s = a + b, bb = s - a;
        return new DoubleDouble(s, (a - (s - bb)) + (b - bb));
    }

    private static DoubleDouble QuickTwoSum(double a, double b)
    {
        double s = a + b;
        return new DoubleDouble(s, b - (s - a));
    }

    private static double Upper(double a)
    {
        const double split = 134217729.0;   // 2^27 + 1
        double t = split * a;
        return t - (t - a);
    }

    private static DoubleDouble TwoProd(double a, double b)
    {
        double p = a * b;
        if (double.IsInfinity(p) || double.IsNaN(p) || Math.Abs(a) > 1e290 || Math.Abs(b) > 1e290) return new DoubleDouble(p);
        double ah = Upper(a), al = a - ah, bh = Upper(b), bl = b - bh;
        return new DoubleDouble(p, ((ah * bh - p) + ah * bl + al * bh) + al * bl);
    }

    private static DoubleDouble Norm(double hi, double lo)
        => double.IsInfinity(hi) || double.IsNaN(hi) ? new DoubleDouble(hi) : QuickTwoSum(hi, lo);

    public static DoubleDouble operator -(DoubleDouble a) => new(-a.Hi, -a.Lo);

    public static DoubleDouble operator +(DoubleDouble a, DoubleDouble b)
    {
        var s = TwoSum(a.Hi, b.Hi);
        if (double.IsInfinity(s.Hi) || double.IsNaN(s.Hi)) return new DoubleDouble(a.Hi + b.Hi);
        var t = TwoSum(a.Lo, b.Lo);
        var u = QuickTwoSum(s.Hi, s.Lo + t.Hi);
        return Norm(u.Hi, u.Lo + t.Lo);
    }

    public static DoubleDouble operator -(DoubleDouble a, DoubleDouble b) => a + -b;

    public static DoubleDouble operator *(DoubleDouble a, DoubleDouble b)
    {
        var p = TwoProd(a.Hi, b.Hi);
        if (double.IsInfinity(p.Hi) || double.IsNaN(p.Hi)) return p;
        return Norm(p.Hi, p.Lo + (a.Hi * b.Lo + a.Lo * b.Hi));
    }

    public static DoubleDouble operator /(DoubleDouble a, DoubleDouble b)
    {
        double q1 = a.Hi / b.Hi;
        if (double.IsInfinity(q1) || double.IsNaN(q1) || b.Hi == 0 || double.IsInfinity(b.Hi)) return new DoubleDouble(q1);
        var r = a - b * q1;
        double q2 = r.Hi / b.Hi;
        r -= b * q2;
        double q3 = r.Hi / b.Hi;
        var q = QuickTwoSum(q1, q2);
        return q + q3;
    }

    public static bool operator <(DoubleDouble a, DoubleDouble b) => a.CompareTo(b) < 0;
    public static bool operator >(DoubleDouble a, DoubleDouble b) => a.CompareTo(b) > 0;
    public static bool operator <=(DoubleDouble a, DoubleDouble b) => a.CompareTo(b) <= 0;
    public static bool operator >=(DoubleDouble a, DoubleDouble b) => a.CompareTo(b) >= 0;

    public static readonly DoubleDouble Ln2 = new(0.6931471805599453, 2.3190468138462996e-17);
    public static readonly DoubleDouble Pi = new(3.141592653589793, 1.2246467991473532e-16);

    public static DoubleDouble Abs(DoubleDouble a) => a.Hi < 0 || (a.Hi == 0 && a.Lo < 0) ? -a : a;

    public static DoubleDouble Sqrt(DoubleDouble a)
    {
        if (!(a.Hi > 0) || double.IsInfinity(a.Hi)) return new DoubleDouble(Math.Sqrt(a.Hi));
        double x = Math.Sqrt(a.Hi);
        // One Newton step: x + (a − x²) / 2x.
        return x + (a - TwoProd(x, x)) / (2 * x);
    }

    /// <summary>e^a: a = k·ln2 + r, e^(r/1024) by its Taylor series, squared ten times.</summary>
    public static DoubleDouble Exp(DoubleDouble a)
    {
        if (double.IsNaN(a.Hi)) return a;
        if (a.Hi > 709.78) return new DoubleDouble(double.PositiveInfinity);
        if (a.Hi < -745.2) return 0;
        double k = Math.Round(a.Hi / Ln2.Hi);
        var r = (a - Ln2 * k) * (1.0 / 1024);
        DoubleDouble term = r, sum = r;
        // |r| ≤ ln2/2048: the terms fall by 2^-11 each; from the third on, 1/n in double (its rounding, 2^-53 of a term
        // below 2^-23 of the sum, is far under the 2^-64 the measurement needs).
        term = r * r * 0.5;
        sum += term;
        for (int n = 3; n < 20; n++)
        {
            term = term * r * (1.0 / n);
            sum += term;
            if (Math.Abs(term.Hi) < 1e-34 * Math.Abs(sum.Hi)) break;
        }
        // e^r − 1 carried as s, squared by (1 + s)² − 1 = s(2 + s) to keep the small part's bits.
        for (int i = 0; i < 10; i++) sum = sum * (sum + 2.0);
        var e = sum + 1.0;
        return Scale(e, (int)k);
    }

    private static DoubleDouble Scale(DoubleDouble a, int k)
    {
        // Two steps so that 2^k itself never overflows or underflows.
        int h = k / 2;
        double f1 = Math.Pow(2, h), f2 = Math.Pow(2, k - h);
        return new DoubleDouble(a.Hi * f1 * f2, a.Lo * f1 * f2);
    }

    /// <summary>e^a − 1, keeping the bits of a small a.</summary>
    public static DoubleDouble Expm1(DoubleDouble a)
    {
        if (Math.Abs(a.Hi) < 1e-9)
            return a + a * a * 0.5 + a * a * a * (1.0 / 6) + a * a * a * a * (1.0 / 24);
        return Exp(a) - 1.0;
    }

    /// <summary>log a: Newton's step y + a·e^(−y) − 1 from the double logarithm.</summary>
    public static DoubleDouble Log(DoubleDouble a)
    {
        if (a.Hi == 0) return new DoubleDouble(double.NegativeInfinity);
        if (!(a.Hi > 0)) return new DoubleDouble(double.NaN);
        if (double.IsInfinity(a.Hi)) return a;
        // One step from the double logarithm's 53 bits gives about 106 (Newton's method converges quadratically).
        DoubleDouble y = Math.Log(a.Hi);
        return y + a * Exp(-y) - 1.0;
    }

    /// <summary>log(1 + a), keeping the bits of a small a.</summary>
    public static DoubleDouble Log1P(DoubleDouble a)
    {
        if (Math.Abs(a.Hi) < 1e-9)
            return a - a * a * 0.5 + a * a * a * (1.0 / 3) - a * a * a * a * 0.25;
        return Log(a + 1.0);
    }

    public static DoubleDouble Sigmoid(DoubleDouble a)
        => a.Hi >= 0 ? 1.0 / (Exp(-a) + 1.0) : Exp(a) / (Exp(a) + 1.0);

    /// <summary>log(1 + e^a) = max(a, 0) + log1p(e^−|a|).</summary>
    public static DoubleDouble Softplus(DoubleDouble a)
        => (a.Hi > 0 ? a : 0) + Log1P(Exp(-Abs(a)));

    public static DoubleDouble LogSigmoid(DoubleDouble a) => -Softplus(-a);

    public static DoubleDouble Tanh(DoubleDouble a)
    {
        // tanh a = expm1(2a) / (expm1(2a) + 2), odd.
        if (Math.Abs(a.Hi) > 40) return a.Hi > 0 ? 1.0 : -1.0;
        var t = Expm1(Abs(a) * 2.0);
        var r = t / (t + 2.0);
        return a.Hi < 0 ? -r : r;
    }

    /// <summary>erf a = 2/√π · e^(−a²) · Σ_n (2a²)^n·a / (1·3·…·(2n+1)), positive terms, in double-double.</summary>
    public static DoubleDouble Erf(DoubleDouble a)
    {
        if (double.IsNaN(a.Hi)) return a;
        var x = Abs(a);
        if (x.Hi >= 9) return a.Hi > 0 ? 1.0 : -1.0;   // 1 − erf 9 < 2^-120
        var z = x * x * 2.0;
        DoubleDouble t = x, s = x;
        for (int n = 1; n < 400; n++)
        {
            t = t * z / (2 * n + 1);
            s += t;
            if (t.Hi < s.Hi * 1e-34) break;
        }
        var r = s * Exp(-(x * x)) * 2.0 / Sqrt(Pi);
        if (r.Hi > 1) r = 1.0;
        return a.Hi < 0 ? -r : r;
    }

    public static DoubleDouble Pow(DoubleDouble a, DoubleDouble b)
    {
        if (b.Hi == 0) return 1.0;
        if (a.Hi > 0) return Exp(b * Log(a));
        if (a.Hi == 0) return b.Hi > 0 ? 0.0 : double.PositiveInfinity;
        // A negative base: only an integer exponent.
        double n = b.ToDouble();
        if (n != Math.Floor(n)) return double.NaN;
        var r = Exp(b * Log(-a));
        return Math.Abs(n % 2) == 1 ? -r : r;
    }
}
