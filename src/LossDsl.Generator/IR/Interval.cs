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

    public static Interval Neg(Interval a) => new(-a.Hi, -a.Lo, a.HiOpen, a.LoOpen);

    /// <summary>The image of <paramref name="a"/> under an increasing <paramref name="f"/> with the given limits at ±∞.</summary>
    public static Interval Monotone(Interval a, Func<double, double> f, double atMinusInf, double atPlusInf)
    {
        double lo = double.IsNegativeInfinity(a.Lo) ? atMinusInf : f(a.Lo);
        double hi = double.IsPositiveInfinity(a.Hi) ? atPlusInf : f(a.Hi);
        return new Interval(lo, hi, a.LoOpen, a.HiOpen);
    }

    private static string Fmt(double v) => double.IsPositiveInfinity(v) ? "∞" : double.IsNegativeInfinity(v) ? "−∞" : v.ToString("G4", CultureInfo.InvariantCulture);
}
