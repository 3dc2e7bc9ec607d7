using System;
using System.Collections.Generic;
using System.Linq;
using LossDsl.Generator.IR;

namespace LossDsl.Generator.Analyze;

/// <summary>
/// Interprets a loss <see cref="Graph"/> in double precision for given data, targets and hyperparameters:
/// outer-scope nodes once, reduction bodies once per element, and element-scope results (the per-element
/// gradient of a span loss) on request. Only the nodes that the requested roots need are evaluated.
/// </summary>
/// <remarks>
/// Semantics follow the generated kernels: predicates are 1 or 0, <c>Select</c> takes the branch its condition
/// picks, <c>Arg</c> is the position a Max or Min chose (the first on ties; −1 over no element), <c>At</c> out of range is NaN. Nothing throws on odd input;
/// the worst outcome is NaN or infinity.
/// </remarks>
public sealed class IrEvaluator
{
    private readonly Graph _g;
    private readonly bool[] _scope;
    private readonly int[] _outer;                       // needed outer-scope nodes, topological order
    private readonly Dictionary<int, int[]> _bodies = new(); // reduction or element root -> element-scope nodes in order
    private readonly double[] _val;
    private readonly int[] _arg;
    private double[] _scratch = new double[16];
    private int _j;

    /// <summary>Hyperparameter values by slot.</summary>
    public double[] Hypers { get; set; } = Array.Empty<double>();

    /// <summary>Scalar data values (<c>Input</c> leaves) by slot.</summary>
    public double[] Inputs { get; set; } = Array.Empty<double>();

    /// <summary>Class indices (<c>Target</c> leaves) by slot.</summary>
    public double[] Targets { get; set; } = Array.Empty<double>();

    /// <summary>The class count a multiclass set loss's <c>Classes</c> reads.</summary>
    public int Classes { get; set; } = 3;

    /// <summary>Rows or sets by span slot; all of the same length.</summary>
    public double[][] Spans { get; set; } = Array.Empty<double[]>();

    /// <summary>How many node values have been computed so far (the unit of the analysis budget).</summary>
    public long NodeEvaluations { get; private set; }

    public Graph Graph => _g;

    public IrEvaluator(Graph graph, params int[] roots)
    {
        _g = graph;
        _scope = graph.ElementScope();
        _val = new double[graph.Count];
        _arg = new int[graph.Count];

        var neededOuter = new SortedSet<int>();
        var work = new Stack<int>();
        foreach (var r in roots)
        {
            if (r < 0 || r >= graph.Count) continue;
            if (_scope[r]) { if (!_bodies.ContainsKey(r)) _bodies[r] = ElementClosure(r, work); }
            else work.Push(r);
        }
        while (work.Count > 0)
        {
            int i = work.Pop();
            if (!neededOuter.Add(i)) continue;
            var n = graph[i];
            if (n.Op.IsReduction()) { _bodies[i] = ElementClosure(n.A, work); continue; }
            for (int k = 0; k < n.OperandCount; k++) work.Push(n.Operand(k));
        }
        _outer = new int[neededOuter.Count];
        neededOuter.CopyTo(_outer);
    }

    /// <summary>The element-scope nodes under <paramref name="root"/>, in order; free outer nodes go to <paramref name="outerStack"/>.</summary>
    private int[] ElementClosure(int root, Stack<int> outerStack)
    {
        var seen = new HashSet<int>();
        var list = new List<int>();
        var stack = new Stack<int>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            int i = stack.Pop();
            if (!seen.Add(i)) continue;
            if (!_scope[i]) { outerStack.Push(i); continue; }
            list.Add(i);
            var n = _g[i];
            if (n.Op is Op.CumSum or Op.NestedSum)
            {
                // Computed over the whole row by its own routine: only the outer values its operands read are needed here.
                for (int k = 0; k < n.OperandCount; k++) ElementClosure(n.Operand(k), outerStack);
                continue;
            }
            for (int k = 0; k < n.OperandCount; k++) stack.Push(n.Operand(k));
        }
        list.Sort();
        return list.ToArray();
    }

    private int Length => Spans.Length > 0 ? Spans[0].Length : 0;

    /// <summary>Evaluates every needed outer-scope node for the current data.</summary>
    public void Run()
    {
        foreach (int i in _outer)
        {
            var n = _g[i];
            if (n.Op.IsReduction()) _val[i] = Reduce(i, n);
            else _val[i] = Compute(i, n);
        }
    }

    /// <summary>The value of an outer-scope node after <see cref="Run"/>.</summary>
    public double Value(int node) => _val[node];

    /// <summary>
    /// The values of an element-scope root (registered in the constructor) for every element, after <see cref="Run"/>.
    /// An outer-scope root is broadcast.
    /// </summary>
    public void ElementValues(int root, double[] destination)
    {
        int n = Math.Min(destination.Length, Length);
        if (!_bodies.TryGetValue(root, out var body) || !_scope[root])
        {
            for (int j = 0; j < destination.Length; j++) destination[j] = _val[root];
            return;
        }
        for (int j = 0; j < n; j++)
        {
            EvalBody(body, j);
            destination[j] = _val[root];
        }
    }

    private void EvalBody(int[] body, int j)
    {
        _j = j;
        foreach (int k in body) _val[k] = Compute(k, _g[k]);
    }

    /// <summary>Evaluates the body for every element, then the reduction's row over the values (and keeps its choice for <c>Arg</c>).</summary>
    private double Reduce(int i, Node n)
    {
        var body = _bodies[i];
        int len = Length;
        if (_scratch.Length < len) _scratch = new double[Math.Max(len, 2 * _scratch.Length)];
        for (int j = 0; j < len; j++)
        {
            EvalBody(body, j);
            _scratch[j] = _val[n.A];
        }
        var (value, arg) = n.Row().Evaluate(new ArraySegment<double>(_scratch, 0, len));
        _arg[i] = arg;
        return value;
    }

    private static double B(bool b) => b ? 1 : 0;

    /// <summary>The outer element j while a nested sum's body runs over the inner elements k (−1 outside).</summary>
    private int _outerJ = -1;

    /// <summary>
    /// A nested sum at the current element j: Σ_k of its body with the inner element k and the outer element j. Then the
    /// body's nodes again at k = j, whose values the nodes after it read (those that do not read the outer element).
    /// </summary>
    private double NestedSum(Node n)
    {
        if (!_running.TryGetValue(n, out var closure))
            _running[n] = closure = ElementClosure(n.A, new Stack<int>());
        int j = _j, outer = _outerJ;
        _outerJ = j;
        double s = 0;
        for (int k = 0; k < Length; k++)
        {
            EvalBody(closure, k);
            s += _val[n.A];
        }
        // Back in the caller's context (element j, its own outer element), for the nodes the body shares with it.
        _outerJ = outer;
        EvalBody(closure, j);
        return s;
    }

    /// <summary>The element nodes under each running sum's summand and key.</summary>
    private readonly Dictionary<Node, int[]> _running = new();

    /// <summary>
    /// CumSum at the current element j: Σ A over the elements ranked at or before j by B descending (ties in element
    /// order; a NaN key first). Evaluates A and B at every element, then again at j, whose values later nodes read.
    /// </summary>
    private double RunningSum(Node n)
    {
        if (!_running.TryGetValue(n, out var closure))
            _running[n] = closure = ElementClosure(n.A, new Stack<int>()).Concat(ElementClosure(n.B, new Stack<int>())).Distinct().OrderBy(k => k).ToArray();
        int j = _j, len = Length;
        var value = new double[len];
        var key = new double[len];
        for (int k = 0; k < len; k++)
        {
            EvalBody(closure, k);
            value[k] = _val[n.A];
            key[k] = double.IsNaN(_val[n.B]) ? double.PositiveInfinity : _val[n.B];
        }
        EvalBody(closure, j);
        double s = 0;
        for (int k = 0; k < len; k++)
            if (key[k] > key[j] || key[k] == key[j] && k <= j) s += value[k];
        return s;
    }

    /// <summary>Parameter value <paramref name="slot"/>, NaN when the probe supplied none.</summary>
    private static double Slot(double[] array, int slot) => slot >= 0 && slot < array.Length ? array[slot] : double.NaN;

    private double Compute(int i, Node n)
    {
        NodeEvaluations++;
        double a = n.A >= 0 ? _val[n.A] : 0;
        double b = n.B >= 0 ? _val[n.B] : 0;
        switch (n.Op)
        {
            case Op.Const: return n.Value;
            case Op.Hyper: return Slot(Hypers, n.Slot);
            case Op.Input: return Slot(Inputs, n.Slot);
            case Op.Target: return Slot(Targets, n.Slot);
            case Op.Elem:
                {
                    if (n.Slot < 0 || n.Slot >= Spans.Length) return double.NaN;
                    var s = Spans[n.Slot];
                    return _j < s.Length ? s[_j] : double.NaN;
                }
            case Op.ElemIndex: return _j;
            case Op.Length: return Length;
            case Op.Classes: return Classes;
            case Op.At:
                {
                    if (n.Slot < 0 || n.Slot >= Spans.Length || double.IsNaN(a)) return double.NaN;
                    var s = Spans[n.Slot];
                    int t = (int)a;
                    return t >= 0 && t < s.Length && t == a ? s[t] : double.NaN;
                }
            case Op.Neg: return -a;
            case var op when OpTable.Unary(op) is { } f: return f.Eval(a);
            case Op.Add: return a + b;
            case Op.Sub: return a - b;
            case Op.Mul: return a * b;
            case Op.Div: return a / b;
            case var op when OpTable.Binary(op) is { } f: return f.Eval(a, b);
            case Op.Lt: return B(a < b);
            case Op.Le: return B(a <= b);
            case Op.Gt: return B(a > b);
            case Op.Ge: return B(a >= b);
            case Op.Eq: return B(a == b);
            case Op.Ne: return B(a != b);
            case Op.And: return B(a != 0 && b != 0);
            case Op.Or: return B(a != 0 || b != 0);
            case Op.Not: return B(a == 0);
            case Op.Select: return a != 0 ? b : _val[n.C];
            case Op.Arg: return n.A >= 0 ? _arg[n.A] : double.NaN;
            case Op.CumSum: return RunningSum(n);
            case Op.NestedSum: return NestedSum(n);
            // The probe is one set or row, which stands for each of Classes segments.
            case Op.Across: return n.AcrossReduction().Evaluate(Enumerable.Repeat(a, Math.Max(1, Classes)).ToList()).Value;
            case Op.OuterElem:
                {
                    if (n.Slot < 0 || n.Slot >= Spans.Length) return double.NaN;
                    var s = Spans[n.Slot];
                    return _outerJ >= 0 && _outerJ < s.Length ? s[_outerJ] : double.NaN;
                }
            case Op.OuterIndex: return _outerJ;
            default: return double.NaN; // reductions are computed by Reduce
        }
    }
}
