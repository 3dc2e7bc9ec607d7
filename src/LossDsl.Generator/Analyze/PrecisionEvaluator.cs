using System;
using System.Collections.Generic;
using LossDsl.Generator.IR;

namespace LossDsl.Generator.Analyze;

/// <summary>The arithmetic a <see cref="PrecisionEvaluator"/> emulates.</summary>
public enum Precision
{
    /// <summary>float32: every operation's result rounded to float, as a float kernel rounds it.</summary>
    Single,
    /// <summary>float64: every operation's result rounded to double.</summary>
    Double,
    /// <summary>double-double (about 106 bits): the ground truth.</summary>
    DoubleDouble,
}

/// <summary>
/// Interprets a loss <see cref="Graph"/> in float32, float64 or double-double arithmetic, for the rewrite stage's accuracy
/// measurement (Herbie's method: the same expression in the working precision and in a much higher one). Each operation
/// is computed in double-double and rounded to the working precision: a correctly rounded operation, which the kernels'
/// functions approach to within 2 ulp (docs/accuracy.md). Sums round after every addition, as a kernel's running sum does;
/// a log-sum-exp is computed stably (max, then the sum of e^(x − max)), as the kernels compute it.
/// <para>
/// A node listed in <see cref="Holes"/> takes the given value (per element for an element-scope hole) instead of its own:
/// the rewrite stage measures a sub-expression as a function of its pattern variables.
/// </para>
/// </summary>
public sealed class PrecisionEvaluator
{
    private readonly Graph _g;
    private readonly bool[] _scope;
    private readonly Dictionary<(int Node, int J), DoubleDouble> _memo = new();

    public PrecisionEvaluator(Graph graph)
    {
        _g = graph;
        _scope = graph.ElementScope();
    }

    public Precision Precision { get; set; } = Precision.DoubleDouble;

    /// <summary>Hyperparameter values by slot.</summary>
    public double[] Hypers { get; set; } = Array.Empty<double>();

    /// <summary>Scalar data values by slot.</summary>
    public double[] Inputs { get; set; } = Array.Empty<double>();

    /// <summary>Class indices by slot.</summary>
    public double[] Targets { get; set; } = Array.Empty<double>();

    /// <summary>Rows or sets by span slot, all of one length.</summary>
    public double[][] Spans { get; set; } = Array.Empty<double[]>();

    /// <summary>Nodes replaced by given values: for an outer-scope node index 0, for an element-scope one per element.</summary>
    public Dictionary<int, double[]> Holes { get; } = new();

    /// <summary>The row length; with no spans, <see cref="HoleLength"/>.</summary>
    public int Length => Spans.Length > 0 ? Spans[0].Length : HoleLength;

    /// <summary>The number of elements of a row made of element-scope holes only.</summary>
    public int HoleLength { get; set; } = 4;

    /// <summary>Forgets every value computed so far (call after changing the data).</summary>
    public void Reset() => _memo.Clear();

    /// <summary>The value of an outer-scope node, or of an element-scope node at element <paramref name="j"/>.</summary>
    public DoubleDouble Value(int node, int j = 0) => Eval(node, _scope[node] ? j : -1);

    private DoubleDouble Round(DoubleDouble v) => Precision switch
    {
        Precision.Single => (double)(float)(v.Hi + v.Lo),
        Precision.Double => v.Hi + v.Lo,
        _ => v,
    };

    private static double Slot(double[] a, int slot) => slot >= 0 && slot < a.Length ? a[slot] : double.NaN;

    private DoubleDouble Eval(int i, int j)
    {
        if (_memo.TryGetValue((i, j), out var memo)) return memo;
        DoubleDouble v;
        if (Holes.TryGetValue(i, out var hole)) v = Round(hole[Math.Max(j, 0) % hole.Length]);
        else v = Compute(i, j);
        _memo[(i, j)] = v;
        return v;
    }

    private DoubleDouble Compute(int i, int j)
    {
        var n = _g[i];
        DoubleDouble A() => Eval(n.A, _scope[n.A] ? j : -1);
        DoubleDouble B() => Eval(n.B, _scope[n.B] ? j : -1);
        DoubleDouble C() => Eval(n.C, _scope[n.C] ? j : -1);
        DoubleDouble Bool(bool b) => b ? 1.0 : 0.0;
        switch (n.Op)
        {
            case Op.Const: return Round(n.Value);
            case Op.Hyper: return Round(Slot(Hypers, n.Slot));
            case Op.Input: return Round(Slot(Inputs, n.Slot));
            case Op.Target: return Slot(Targets, n.Slot);
            case Op.Elem: return n.Slot < Spans.Length && j >= 0 && j < Spans[n.Slot].Length ? Round(Spans[n.Slot][j]) : double.NaN;
            case Op.ElemIndex: return j;
            case Op.Length: return Length;
            case Op.At:
                {
                    double t = A().ToDouble();
                    if (n.Slot >= Spans.Length || double.IsNaN(t)) return double.NaN;
                    var s = Spans[n.Slot];
                    return t >= 0 && t < s.Length && t == Math.Floor(t) ? Round(s[(int)t]) : double.NaN;
                }
            case Op.Select: return A().Hi != 0 ? B() : C();
            case Op.Lt: return Bool(A() < B());
            case Op.Le: return Bool(A() <= B());
            case Op.Gt: return Bool(A() > B());
            case Op.Ge: return Bool(A() >= B());
            case Op.Eq: return Bool(A().CompareTo(B()) == 0);
            case Op.Ne: return Bool(A().CompareTo(B()) != 0);
            case Op.And: return Bool(A().Hi != 0 && B().Hi != 0);
            case Op.Or: return Bool(A().Hi != 0 || B().Hi != 0);
            case Op.Not: return Bool(A().Hi == 0);
            case var op when Reductions.Of(op) is { } row:
                return Reduce(row, n.A);
        }
        if (n.OperandCount == 1) return Round(Unary(n.Op, A()));
        if (n.OperandCount == 2) return Round(Binary(n.Op, A(), B()));
        return double.NaN;   // an op this evaluator does not know
    }

    /// <summary>A reduction over the row's elements, in double-double, by its row of the reduction table.</summary>
    private DoubleDouble Reduce(Reduction row, int body)
    {
        switch (row.Accumulator)
        {
            case Accumulator.Additive:
                {
                    DoubleDouble s = 0;
                    for (int k = 0; k < Length; k++) s = Round(s + Eval(body, k));
                    return s;
                }
            case Accumulator.Selecting:
                {
                    DoubleDouble m = row.Identity;
                    for (int k = 0; k < Length; k++)
                    {
                        var e = Eval(body, k);
                        if (double.IsNaN(e.Hi)) return e;
                        if (row.Compare == Op.Gt ? e > m : e < m) m = e;
                    }
                    return m;
                }
            default:
                {
                    DoubleDouble m = double.NegativeInfinity;
                    for (int k = 0; k < Length; k++) { var e = Eval(body, k); if (e > m) m = e; }
                    if (double.IsInfinity(m.Hi)) return m;
                    DoubleDouble s = 0;
                    for (int k = 0; k < Length; k++) s = Round(s + Round(DoubleDouble.Exp(Eval(body, k) - m)));
                    return Round(m + Round(DoubleDouble.Log(s)));
                }
        }
    }

    private static DoubleDouble Unary(Op op, DoubleDouble a) => op switch
    {
        Op.Neg => -a,
        Op.Exp => DoubleDouble.Exp(a),
        Op.Log => DoubleDouble.Log(a),
        Op.Sqrt => DoubleDouble.Sqrt(a),
        Op.Abs => DoubleDouble.Abs(a),
        Op.Tanh => DoubleDouble.Tanh(a),
        Op.Sigmoid => DoubleDouble.Sigmoid(a),
        Op.Softplus => DoubleDouble.Softplus(a),
        Op.LogSigmoid => DoubleDouble.LogSigmoid(a),
        Op.StopGradient => a,
        Op.Erf => DoubleDouble.Erf(a),
        Op.Log1P => DoubleDouble.Log1P(a),
        Op.Expm1 => DoubleDouble.Expm1(a),
        _ when OpTable.Unary(op) is { } f => f.Eval(a.ToDouble()),   // Cos, Sin, Atan: the double result
        _ => double.NaN,
    };

    private static DoubleDouble Binary(Op op, DoubleDouble a, DoubleDouble b) => op switch
    {
        Op.Add => a + b,
        Op.Sub => a - b,
        Op.Mul => a * b,
        Op.Div => a / b,
        Op.Pow => DoubleDouble.Pow(a, b),
        Op.Max => double.IsNaN(b.Hi) || a >= b ? a : b,
        Op.Min => double.IsNaN(b.Hi) || a <= b ? a : b,
        _ => double.NaN,
    };

    /// <summary>
    /// Bits of error of <paramref name="approx"/> against <paramref name="truth"/> in <paramref name="precision"/>:
    /// log2(1 + the number of floats between them), Herbie's measure; 0 when equal, the precision's width when one is
    /// NaN or infinite and the other is not.
    /// </summary>
    public static double BitsOfError(double approx, DoubleDouble truth, Precision precision)
    {
        double t = truth.ToDouble();
        if (precision == Precision.Single)
        {
            float a = (float)approx, tf = (float)t;
            if (float.IsNaN(a) || float.IsNaN(tf)) return float.IsNaN(a) && float.IsNaN(tf) ? 0 : 32;
            long d = Math.Abs(Ordered(a) - Ordered(tf));
            return Math.Log(1 + (double)d, 2);
        }
        else
        {
            if (double.IsNaN(approx) || double.IsNaN(t)) return double.IsNaN(approx) && double.IsNaN(t) ? 0 : 64;
            double d = Math.Abs((double)Ordered(approx) - Ordered(t));
            return Math.Log(1 + d, 2);
        }
    }

    private static long Ordered(float f)
    {
        int bits = BitConverter.ToInt32(BitConverter.GetBytes(f), 0);
        return bits < 0 ? (long)int.MinValue - bits : bits;
    }

    private static long Ordered(double f)
    {
        long bits = BitConverter.DoubleToInt64Bits(f);
        return bits < 0 ? long.MinValue - bits : bits;
    }
}
