using System;
using System.Globalization;

namespace LossDsl.Generator.IR;

/// <summary>
/// A real interval with open or closed ends (infinite ends are open). "Reaches" a value means the value is in it:
/// <c>Exp(x)</c> is (0, ∞) and never reaches 0; <c>p</c> in [0, 1] does.
/// </summary>
public readonly struct Interval
{
    public readonly double Lo, Hi;
    public readonly bool LoOpen, HiOpen;

    public Interval(double lo, double hi, bool loOpen = false, bool hiOpen = false)
    {
        if (double.IsNaN(lo) || double.IsNaN(hi)) { lo = double.NegativeInfinity; hi = double.PositiveInfinity; }
        Lo = lo; Hi = hi;
        LoOpen = loOpen || double.IsInfinity(lo);
        HiOpen = hiOpen || double.IsInfinity(hi);
    }

    public static Interval Real => new(double.NegativeInfinity, double.PositiveInfinity);
    public static Interval Point(double v) => new(v, v);
    public static readonly Interval Unit = new(0, 1);

    public bool Contains(double v)
        => (v > Lo || (v == Lo && !LoOpen)) && (v < Hi || (v == Hi && !HiOpen));

    /// <summary>Whether some value ≤ <paramref name="v"/> is in the interval.</summary>
    public bool ReachesAtOrBelow(double v) => Lo < v || (Lo == v && !LoOpen);

    public bool IsPoint => Lo == Hi && !LoOpen && !HiOpen;

    public override string ToString()
        => (LoOpen ? "(" : "[") + Fmt(Lo) + ", " + Fmt(Hi) + (HiOpen ? ")" : "]");

    /// <summary>The values in both <paramref name="a"/> and <paramref name="b"/>; null when there are none.</summary>
    public static Interval? Intersect(Interval a, Interval b)
    {
        double lo = Math.Max(a.Lo, b.Lo), hi = Math.Min(a.Hi, b.Hi);
        bool loOpen = (a.Lo == lo && a.LoOpen) || (b.Lo == lo && b.LoOpen);
        bool hiOpen = (a.Hi == hi && a.HiOpen) || (b.Hi == hi && b.HiOpen);
        if (lo > hi || (lo == hi && (loOpen || hiOpen))) return null;
        return new Interval(lo, hi, loOpen, hiOpen);
    }

    public static Interval Neg(Interval a) => new(-a.Hi, -a.Lo, a.HiOpen, a.LoOpen);

    /// <summary>The image of <paramref name="a"/> under an increasing <paramref name="f"/> with the given limits at ±∞.</summary>
    public static Interval Monotone(Interval a, Func<double, double> f, double atMinusInf, double atPlusInf)
    {
        double lo = double.IsNegativeInfinity(a.Lo) ? atMinusInf : f(a.Lo);
        double hi = double.IsPositiveInfinity(a.Hi) ? atPlusInf : f(a.Hi);
        return new Interval(lo, hi, a.LoOpen, a.HiOpen);
    }

    /// <summary>a^b: exact for a constant exponent; for a varying one, (0, ∞) over a positive base.</summary>
    public static Interval Pow(Interval a, Interval b)
    {
        if (!b.IsPoint) return a.Lo > 0 ? new Interval(0, double.PositiveInfinity, true, true) : Real;
        double c = b.Lo;
        if (c == 0) return Point(1);
        if (a.Lo >= 0)
        {
            if (c > 0) return new Interval(Math.Pow(a.Lo, c), Math.Pow(a.Hi, c), a.LoOpen, a.HiOpen);
            return new Interval(Math.Pow(a.Hi, c), a.Lo == 0 ? double.PositiveInfinity : Math.Pow(a.Lo, c), a.HiOpen, a.LoOpen);
        }
        if (c == Math.Floor(c) && c > 0)
        {
            if (c % 2 == 0) return PowEven(Abs(a), c);
            return new Interval(Math.Pow(a.Lo, c), Math.Pow(a.Hi, c), a.LoOpen, a.HiOpen);
        }
        return Real;
    }

    public static Interval Abs(Interval a)
    {
        if (a.Lo >= 0) return a;
        if (a.Hi <= 0) return Neg(a);
        double hi = Math.Max(-a.Lo, a.Hi);
        return new Interval(0, hi, false, double.IsInfinity(hi));
    }

    public static Interval PowEven(Interval abs, double c) => new(Math.Pow(abs.Lo, c), Math.Pow(abs.Hi, c), abs.LoOpen, abs.HiOpen);

    public static Interval MaxMin(Interval a, Interval b, bool max)
    {
        if (max)
        {
            double lo = Math.Max(a.Lo, b.Lo), hi = Math.Max(a.Hi, b.Hi);
            bool loOpen = a.Lo == b.Lo ? a.LoOpen && b.LoOpen : (a.Lo > b.Lo ? a.LoOpen : b.LoOpen);
            bool hiOpen = a.Hi == b.Hi ? a.HiOpen && b.HiOpen : (a.Hi > b.Hi ? a.HiOpen : b.HiOpen);
            return new Interval(lo, hi, loOpen, hiOpen);
        }
        return Neg(MaxMin(Neg(a), Neg(b), max: true));
    }

    private static string Fmt(double v) => double.IsPositiveInfinity(v) ? "∞" : double.IsNegativeInfinity(v) ? "−∞" : v.ToString("G4", CultureInfo.InvariantCulture);
}
