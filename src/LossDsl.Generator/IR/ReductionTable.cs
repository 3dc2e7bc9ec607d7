using System;
using System.Collections.Generic;
using System.Linq;

namespace LossDsl.Generator.IR;

/// <summary>How a reduction accumulates its elements: decides the code each kernel dialect writes for it.</summary>
public enum Accumulator
{
    /// <summary>One running value; elements and partials combine by addition (Sum).</summary>
    Additive,

    /// <summary>
    /// A running extreme and the index of the element that holds it (Max, Min). An element replaces it when it compares
    /// <see cref="Reduction.Compare"/> to it (strictly: on ties the earlier element stays); a NaN element wins and stays.
    /// </summary>
    Selecting,

    /// <summary>A running max and Σ e^(x − max), rescaled whenever the max grows (online log-sum-exp).</summary>
    LogSumExp,
}

/// <summary>
/// One reduction over the elements of a row or set, described once for every stage (the reduction table, beside
/// <see cref="OpTable"/>). The kernels' accumulate and merge code comes from <see cref="Accumulator"/>; the runtime
/// implements the cross-thread and cross-lane merges under <see cref="Name"/> (<c>GroupReduce.{Name}</c>,
/// <c>LossVectorMath.MergeArg{Name}</c> for a selecting one) and the torch-ops form as <c>TorchFrame.{Name}</c>
/// (and <c>TorchFrame.Arg{Name}</c>).
/// </summary>
/// <param name="Op">Its IR op.</param>
/// <param name="Name">Its name in a loss body (a <c>LossDsl.LossMath</c> method over spans), in the runtime's kernel math and
/// in the torch-ops frame.</param>
/// <param name="Symbol">How derivation comments print it, e.g. <c>Σ_j</c>.</param>
/// <param name="Accumulator">How it accumulates.</param>
/// <param name="Identity">The value of its accumulator before the first element (a selecting or log-sum-exp one: the running
/// extreme; the sum of a log-sum-exp starts at 0).</param>
/// <param name="Compare">For a selecting reduction, the comparison (<see cref="Op.Gt"/> or <see cref="Op.Lt"/>) by which an
/// element replaces the running extreme; <see cref="Op.Const"/> otherwise.</param>
/// <param name="Evaluate">Its value over element values, and for a selecting reduction the index it chose (−1 otherwise):
/// the analyzers' evaluator.</param>
/// <param name="Weight">Its derivative weight w_R(j) = ∂R/∂f_j, as a node of element scope, given the builder and the
/// reduction node (docs/architecture.md, "Differentiation").</param>
/// <param name="Range">Its interval rule: a sound image of the element function's interval, given the least number of
/// elements a row or set has.</param>
/// <param name="TorchOfConstant">The torch-ops closed form of the reduction of a row constant <c>{0}</c> (a scalar, not a
/// tensor), with <c>f.Length</c> the number of elements.</param>
public sealed record Reduction(
    Op Op,
    string Name,
    string Symbol,
    Accumulator Accumulator,
    double Identity,
    Op Compare,
    Func<IReadOnlyList<double>, (double Value, int Arg)> Evaluate,
    Func<GraphBuilder, int, int> Weight,
    Func<Interval, double, Interval> Range,
    string TorchOfConstant)
{
    /// <summary>How many doubles one (set, chunk) partial of it takes: a Sum one; a pair otherwise.</summary>
    public int Slots => Accumulator == Accumulator.Additive ? 1 : 2;

    /// <summary>Whether it chooses one element, whose position <see cref="Op.Arg"/> reads.</summary>
    public bool Selects => Accumulator == Accumulator.Selecting;

    /// <summary>
    /// Its derivative weight across the segments, ∂(⊕_c v_c)/∂v_c for the segment being evaluated, given the
    /// <see cref="Op.Across"/> node: 1 for a sum, e^(v_c − R) for a log-sum-exp (its element weight), and [v_c = R] for a
    /// selecting one (every tied segment gets the whole gradient: no element index orders them).
    /// </summary>
    public int AcrossWeight(GraphBuilder b, int node) => Accumulator switch
    {
        Accumulator.Selecting => b.Select(b.Binary(Op.Eq, b[node].A, node), b.Const(1), b.Const(0)),
        _ => Weight(b, node),
    };

    /// <summary>Its name across the segments in the torch-ops frame: <c>f.SumAcross</c>, …</summary>
    public string AcrossName => Name + "Across";
}

/// <summary>The reduction table: every reduction the IR knows, and the look-ups the stages use.</summary>
public static class Reductions
{
    /// <summary>Every reduction, in <see cref="Op"/> order.</summary>
    public static readonly IReadOnlyList<Reduction> All = new[]
    {
        new Reduction(Op.ReduceSum, "Sum", "Σ_j", Accumulator.Additive, 0, Op.Const,
            v => (Sum(v), -1),
            (b, r) => b.Const(1),
            SumRange,
            "{0} * f.Length"),
        Selecting(Op.ReduceMax, "Max", "max_j", double.NegativeInfinity, Op.Gt),
        new Reduction(Op.ReduceLogSumExp, "LogSumExp", "LogSumExp_j", Accumulator.LogSumExp, double.NegativeInfinity, Op.Const,
            v => (LogSumExp(v), -1),
            // The softmax weight e^(f_j − R).
            (b, r) => b.Unary(Op.Exp, b.Sub(b[r].A, r)),
            (a, _) => new Interval(a.Lo, double.PositiveInfinity, a.LoOpen, true),
            "{0} + Log(f.Length)"),
        Selecting(Op.ReduceMin, "Min", "min_j", double.PositiveInfinity, Op.Lt),
    };

    private static readonly Dictionary<Op, Reduction> s_byOp = All.ToDictionary(r => r.Op);
    private static readonly Dictionary<string, Reduction> s_byName = All.ToDictionary(r => r.Name, StringComparer.Ordinal);

    /// <summary>The sum's row: what a running sum and a nested sum add up like.</summary>
    public static Reduction SumRow => s_byOp[Op.ReduceSum];

    /// <summary>The row of a reduction op, or null when <paramref name="op"/> is not a reduction.</summary>
    public static Reduction? Of(Op op) => s_byOp.TryGetValue(op, out var r) ? r : null;

    /// <summary>What names a reduction across the classes of a set loss in a body: <c>SumOverClasses</c>, …</summary>
    public const string OverClassesSuffix = "OverClasses";

    /// <summary>What names a reduction across the anchors of a pair loss in a body: <c>SumOverAnchors</c>, …</summary>
    public const string OverAnchorsSuffix = "OverAnchors";

    /// <summary>The row a loss body names (<c>LossMath.Sum</c>, …), or null.</summary>
    public static Reduction? Named(string name) => s_byName.TryGetValue(name, out var r) ? r : null;

    /// <summary>The row of a reduction node's op; throws for any other node (a bug in the caller).</summary>
    public static Reduction Row(this Node n)
        => Of(n.Op) ?? throw new InvalidOperationException($"{n.Op} is not a reduction.");

    /// <summary>
    /// A reduction that chooses one element: its value is that element's, its weight is [j = the chosen position], and
    /// its range is the element function's.
    /// </summary>
    private static Reduction Selecting(Op op, string name, string symbol, double identity, Op compare)
        => new(op, name, symbol, Accumulator.Selecting, identity, compare,
            v => Select(v, compare),
            (b, r) => b.Select(b.Binary(Op.Eq, b.Leaf(Op.ElemIndex), b.Arg(r)), b.Const(1), b.Const(0)),
            (a, _) => a,
            "{0}");

    /// <summary>The first element that no later element beats under <paramref name="compare"/>; a NaN wins and stays. NaN over no element.</summary>
    private static (double, int) Select(IReadOnlyList<double> v, Op compare)
    {
        if (v.Count == 0) return (double.NaN, -1);
        int arg = 0;
        for (int j = 1; j < v.Count; j++)
        {
            double x = v[j], m = v[arg];
            if (double.IsNaN(m)) break;
            if (double.IsNaN(x) || (compare == Op.Gt ? x > m : x < m)) arg = j;
        }
        return (v[arg], arg);
    }

    /// <summary>Σ_j f_j over at least <paramref name="minLength"/> elements: unbounded on a side where f may have that sign.</summary>
    private static Interval SumRange(Interval a, double minLength)
    {
        double lo = a.Lo < 0 ? double.NegativeInfinity : a.Lo * minLength;
        double hi = a.Hi > 0 ? double.PositiveInfinity : a.Hi * minLength;
        bool loOpen = a.Lo < 0 || (minLength > 0 && a.LoOpen);
        bool hiOpen = a.Hi > 0 || (minLength > 0 && a.HiOpen);
        return new Interval(lo, hi, loOpen, hiOpen);
    }

    /// <summary>Σ v in element order (a vectorized sum would round differently).</summary>
    private static double Sum(IReadOnlyList<double> v)
    {
        double s = 0;
        for (int j = 0; j < v.Count; j++) s += v[j];
        return s;
    }

    /// <summary>log Σ e^x, shifted by the max: the exact value, ±∞ included (−∞ over no element), NaN when an element is NaN.</summary>
    private static double LogSumExp(IReadOnlyList<double> v)
    {
        double m = double.NegativeInfinity;
        foreach (double x in v) if (x > m || double.IsNaN(x)) m = x;
        if (double.IsNaN(m) || double.IsInfinity(m)) return m;
        double s = 0;
        foreach (double x in v) s += Math.Exp(x - m);
        return m + Math.Log(s);
    }
}
