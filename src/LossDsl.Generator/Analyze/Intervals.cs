using System;
using System.Globalization;
using LossDsl.Generator.IR;

namespace LossDsl.Generator.Analyze;

/// <summary>The ranges the leaves of a loss graph can take, from the loss's task (docs/calibration.md).</summary>
public sealed class LeafDomains
{
    public Interval[] Inputs { get; set; } = Array.Empty<Interval>();
    public Interval[] Spans { get; set; } = Array.Empty<Interval>();
    public double[] Hypers { get; set; } = Array.Empty<double>();
    public double MinLength { get; set; } = 1;
}

/// <summary>Interval arithmetic over a loss graph: a sound over-approximation of each node's range.</summary>
public static class IntervalAnalysis
{
    public static Interval[] Run(Graph g, LeafDomains d)
    {
        var r = new Interval[g.Count];
        for (int i = 0; i < g.Count; i++)
        {
            try { r[i] = Node(g, r, i, d); }
            catch (ArithmeticException) { r[i] = Interval.Real; }
        }
        return r;
    }

    private static Interval Node(Graph g, Interval[] r, int i, LeafDomains d)
    {
        var n = g[i];
        Interval A() => r[n.A];
        Interval Bv() => r[n.B];
        switch (n.Op)
        {
            case Op.Const: return Interval.Point(n.Value);
            case Op.Hyper: return n.Slot < d.Hypers.Length ? Interval.Point(d.Hypers[n.Slot]) : Interval.Real;
            case Op.Input: return n.Slot < d.Inputs.Length ? d.Inputs[n.Slot] : Interval.Real;
            case Op.Elem: case Op.At: return n.Slot < d.Spans.Length ? d.Spans[n.Slot] : Interval.Real;
            case Op.Target: case Op.ElemIndex: case Op.Arg: case Op.OuterIndex: return new Interval(0, double.PositiveInfinity);
            case Op.OuterElem: return n.Slot < d.Spans.Length ? d.Spans[n.Slot] : Interval.Real;
            case Op.NestedSum: return Reductions.SumRow.Range(A(), d.MinLength);
            // A running sum adds up one element (the current one) or more.
            case Op.CumSum: return Reductions.SumRow.Range(A(), 1);
            case Op.Length: return new Interval(d.MinLength, double.PositiveInfinity);
            case Op.Classes: return new Interval(1, double.PositiveInfinity);
            case Op.Across: return n.AcrossReduction().Range(A(), 1);   // one segment or more
            case Op.Neg: return Neg(A());
            case var op when OpTable.Unary(op) is { } f: return f.Range(A());
            case Op.Add: return Add(A(), Bv());
            case Op.Sub:
                // z_j − LogSumExp(z) is a log-probability: ≤ 0, and < 0 when the row has two or more elements.
                if (Patterns.IsLogSoftmax(g, i))
                    return new Interval(double.NegativeInfinity, 0, true, d.MinLength >= 2);
                return Add(A(), Neg(Bv()));
            case Op.Mul: return n.A == n.B ? Interval.PowEven(Interval.Abs(A()), 2) : Mul(A(), Bv());   // x·x is a square, never negative
            // Σ_j f_j / n is a mean: it stays within the range of f (Mean(a, x => σ(x)) is in (0, 1), so Log(1 − it) is safe).
            case Op.Div when Patterns.IsMean(g, i, out int body): return r[body];
            case Op.Div: return Div(A(), Bv());
            case var op when OpTable.Binary(op) is { } f: return f.Range(A(), Bv());
            case Op.Lt: case Op.Le: case Op.Gt: case Op.Ge: case Op.Eq: case Op.Ne: case Op.And: case Op.Or: case Op.Not:
                return Interval.Unit;
            case Op.Select: return Union(Bv(), r[n.C]);
            case var op when Reductions.Of(op) is { } reduction: return reduction.Range(A(), d.MinLength);
            default: return Interval.Real;
        }
    }

    private static Interval Neg(Interval a) => Interval.Neg(a);


    private static Interval Add(Interval a, Interval b)
        => new(a.Lo + b.Lo, a.Hi + b.Hi, a.LoOpen || b.LoOpen, a.HiOpen || b.HiOpen);

    private static Interval Union(Interval a, Interval b)
    {
        double lo = Math.Min(a.Lo, b.Lo), hi = Math.Max(a.Hi, b.Hi);
        bool loOpen = (a.Lo == lo ? a.LoOpen : true) && (b.Lo == lo ? b.LoOpen : true);
        bool hiOpen = (a.Hi == hi ? a.HiOpen : true) && (b.Hi == hi ? b.HiOpen : true);
        return new Interval(lo, hi, loOpen, hiOpen);
    }

    private static double Prod(double x, double y) => x == 0 || y == 0 ? 0 : x * y;

    private static Interval Mul(Interval a, Interval b)
    {
        // Each candidate end is (value, attained): a product is attained if both factors are, or one is an attained 0.
        var xs = new[] { (a.Lo, !a.LoOpen), (a.Hi, !a.HiOpen) };
        var ys = new[] { (b.Lo, !b.LoOpen), (b.Hi, !b.HiOpen) };
        double lo = double.PositiveInfinity, hi = double.NegativeInfinity;
        bool loAtt = false, hiAtt = false;
        foreach (var (x, xa) in xs)
            foreach (var (y, ya) in ys)
            {
                double p = Prod(x, y);
                bool att = (xa && ya) || (x == 0 && xa) || (y == 0 && ya);
                if (p < lo || (p == lo && att && !loAtt)) { if (p < lo) loAtt = att; else loAtt = true; lo = p; }
                if (p > hi || (p == hi && att && !hiAtt)) { if (p > hi) hiAtt = att; else hiAtt = true; hi = p; }
            }
        // An interior zero of a factor makes 0 attainable in the product.
        if (lo == 0 && !loAtt && (a.Contains(0) || b.Contains(0))) loAtt = true;
        if (hi == 0 && !hiAtt && (a.Contains(0) || b.Contains(0))) hiAtt = true;
        return new Interval(lo, hi, !loAtt, !hiAtt);
    }

    private static Interval Div(Interval a, Interval b)
    {
        if (b.Contains(0) || (b.Lo < 0 && b.Hi > 0)) return Interval.Real;
        // 1/b for b on one side of 0 (possibly touching it openly).
        Interval inv;
        if (b.Lo >= 0)
            inv = new Interval(double.IsPositiveInfinity(b.Hi) ? 0 : 1 / b.Hi, b.Lo == 0 ? double.PositiveInfinity : 1 / b.Lo, b.HiOpen, b.LoOpen);
        else
            inv = new Interval(b.Hi == 0 ? double.NegativeInfinity : 1 / b.Hi, double.IsNegativeInfinity(b.Lo) ? 0 : 1 / b.Lo, b.HiOpen, b.LoOpen);
        return Mul(a, inv);
    }
}
