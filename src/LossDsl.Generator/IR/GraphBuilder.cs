using System;
using System.Collections.Generic;

namespace LossDsl.Generator.IR;

/// <summary>
/// Builds a <see cref="Graph"/> with hash-consing (common subexpressions are shared by construction) and
/// local simplification: constant folding and the identities of 0 and 1.
/// </summary>
public sealed class GraphBuilder
{
    private readonly List<Node> _nodes = new();
    private readonly Dictionary<Node, int> _index = new();

    public GraphBuilder() { }

    /// <summary>Starts from an existing graph, keeping its node indices.</summary>
    public GraphBuilder(Graph graph)
    {
        foreach (var n in graph.Nodes) Intern(n);
    }

    public Node this[int index] => _nodes[index];

    public int Count => _nodes.Count;

    public Graph ToGraph() => new(_nodes.ToEquatableArray());

    public int Const(double v) => Intern(new Node(Op.Const, Value: v));

    public int Leaf(Op op, int slot = 0) => Intern(new Node(op, Slot: slot));

    public int At(int span, int index) => Intern(new Node(Op.At, index, Slot: span));

    public int Reduce(Op op, int body) => Intern(new Node(op, body));

    /// <summary>Σ_j body: the reduction that the differentiator's adjoints and the parser's Mean build.</summary>
    public int Sum(int body) => Reduce(Op.ReduceSum, body);

    /// <summary>log Σ_j e^body: the reduction under the parser's Softmax and LogSoftmax.</summary>
    public int LogSumExp(int body) => Reduce(Op.ReduceLogSumExp, body);

    /// <summary>The position of the element a selecting reduction (<see cref="Accumulator.Selecting"/>) chose.</summary>
    public int Arg(int reduction) => Intern(new Node(Op.Arg, reduction));

    /// <summary>
    /// The running sum of <paramref name="value"/> over the elements ranked at or before the current one, sorted by
    /// <paramref name="key"/> descending (ties in element order): an element-scope node, whatever its operands are.
    /// </summary>
    public int CumSum(int value, int key) => IsConst(value, 0) ? Const(0) : Intern(new Node(Op.CumSum, value, key));

    /// <summary>Σ_k body over the row, per outer element: a reduction inside an element function (<see cref="Op.NestedSum"/>).</summary>
    public int NestedSum(int body) => IsConst(body, 0) ? Const(0) : Intern(new Node(Op.NestedSum, body));

    /// <summary>⊕_c body across the segments (a set loss's classes, a pair loss's anchors), ⊕ the reduction <paramref name="reduction"/> (<see cref="Op.Across"/>).</summary>
    public int Across(Op reduction, int body) => Intern(new Node(Op.Across, body, Slot: (int)reduction));

    /// <summary>Σ_c body across the segments: what the differentiator passes between reductions across them, and the parser's Mean.</summary>
    public int SumAcross(int body) => Across(Op.ReduceSum, body);

    /// <summary>
    /// <paramref name="node"/> with the inner and the outer element exchanged (Elem ↔ OuterElem, ElemIndex ↔ OuterIndex),
    /// not entering reductions or nested sums: what a nested body reads from the other side of the pair.
    /// </summary>
    public int Swap(int node) => Swap(node, new Dictionary<int, int>());

    private int Swap(int i, Dictionary<int, int> memo)
    {
        if (memo.TryGetValue(i, out int done)) return done;
        var n = _nodes[i];
        int result = n.Op switch
        {
            Op.Elem => Leaf(Op.OuterElem, n.Slot),
            Op.OuterElem => Leaf(Op.Elem, n.Slot),
            Op.ElemIndex => Leaf(Op.OuterIndex),
            Op.OuterIndex => Leaf(Op.ElemIndex),
            _ when n.Op.IsLeaf() || n.Op.IsReduction() || n.Op is Op.Arg or Op.NestedSum or Op.CumSum => i,
            Op.Select => Select(Swap(n.A, memo), Swap(n.B, memo), Swap(n.C, memo)),
            _ when n.B >= 0 => Binary(n.Op, Swap(n.A, memo), Swap(n.B, memo)),
            _ => Unary(n.Op, Swap(n.A, memo)),
        };
        memo[i] = result;
        return result;
    }

    public bool IsConst(int i, out double v)
    {
        var n = _nodes[i];
        v = n.Value;
        return n.Op == Op.Const;
    }

    private bool IsConst(int i, double v) => IsConst(i, out var c) && c.Equals(v);

    public int Unary(Op op, int a)
    {
        if (IsConst(a, out var c))
        {
            double? folded = op == Op.Neg ? -c
                : OpTable.Unary(op) is { } function && function.Folds(c) ? function.Eval(c)
                : null;
            if (folded is double f && !double.IsNaN(f) && !double.IsInfinity(f)) return Const(f);
        }
        var n = _nodes[a];
        if (op == Op.Neg && n.Op == Op.Neg) return n.A;                 // --x = x
        if (op == Op.Not && n.Op == Op.Not) return n.A;
        if (op == Op.Log && n.Op == Op.Exp) return n.A;                 // log(exp x) = x
        return Intern(new Node(op, a));
    }

    public int Binary(Op op, int a, int b)
    {
        if (IsConst(a, out var ca) && IsConst(b, out var cb))
        {
            double? folded = op switch
            {
                Op.Add => ca + cb,
                Op.Sub => ca - cb,
                Op.Mul => ca * cb,
                Op.Div when cb != 0 => ca / cb,
                _ when OpTable.Binary(op) is { } function => function.Eval(ca, cb),
                _ => null,
            };
            if (folded is double f && !double.IsNaN(f) && !double.IsInfinity(f)) return Const(f);
        }

        switch (op)
        {
            case Op.Add:
                if (IsConst(a, 0)) return b;
                if (IsConst(b, 0)) return a;
                if (IsConst(b, out var nb) && nb < 0) return Binary(Op.Sub, a, Const(-nb));   // a + (−c) = a − c
                if (IsConst(a, out var na) && na < 0) return Binary(Op.Sub, b, Const(-na));
                if (_nodes[b].Op == Op.Neg) return Binary(Op.Sub, a, _nodes[b].A);
                if (_nodes[a].Op == Op.Neg) return Binary(Op.Sub, b, _nodes[a].A);
                break;
            case Op.Sub:
                if (IsConst(b, 0)) return a;
                if (IsConst(a, 0)) return Unary(Op.Neg, b);
                if (a == b) return Const(0);
                if (IsConst(b, out var sb) && sb < 0) return Binary(Op.Add, a, Const(-sb));   // a − (−c) = a + c
                if (_nodes[b].Op == Op.Neg) return Binary(Op.Add, a, _nodes[b].A);
                break;
            case Op.Mul:
                if (IsConst(a, 0) || IsConst(b, 0)) return Const(0);
                if (IsConst(a, 1)) return b;
                if (IsConst(b, 1)) return a;
                if (IsConst(a, -1)) return Unary(Op.Neg, b);
                if (IsConst(b, -1)) return Unary(Op.Neg, a);
                if (_nodes[a].Op == Op.Neg && _nodes[b].Op == Op.Neg) return Binary(Op.Mul, _nodes[a].A, _nodes[b].A);
                if (_nodes[a].Op == Op.Neg) return Unary(Op.Neg, Binary(Op.Mul, _nodes[a].A, b));
                if (_nodes[b].Op == Op.Neg) return Unary(Op.Neg, Binary(Op.Mul, a, _nodes[b].A));
                break;
            case Op.Div:
                if (IsConst(a, 0)) return Const(0);
                if (IsConst(b, 1)) return a;
                if (_nodes[a].Op == Op.Neg) return Unary(Op.Neg, Binary(Op.Div, _nodes[a].A, b));
                break;
            case Op.Pow:
                if (IsConst(b, 1)) return a;
                if (IsConst(b, 0)) return Const(1);
                break;
        }

        if (op.IsCommutative() && a > b) (a, b) = (b, a);
        return Intern(new Node(op, a, b));
    }

    public int Select(int cond, int then, int @else)
    {
        if (then == @else) return then;
        if (IsConst(cond, out var known)) return known != 0 ? then : @else;
        var c = _nodes[cond];
        if (c.Op == Op.Not) return Select(c.A, @else, then);
        return Intern(new Node(Op.Select, cond, then, @else));
    }

    /// <summary>
    /// Node <paramref name="n"/> of another graph rebuilt here over its operands' new nodes (<paramref name="map"/>: their
    /// index there → here), simplified as the builders simplify.
    /// </summary>
    public int Rebuild(Node n, int[] map)
    {
        int A() => map[n.A];
        int B() => map[n.B];
        int C() => map[n.C];
        return n.Op switch
        {
            Op.Const => Const(n.Value),
            Op.At => At(n.Slot, A()),
            Op.Select => Select(A(), B(), C()),
            Op.Arg => Arg(A()),
            _ when n.OperandCount == 0 => Copy(n),
            _ when n.Op.IsReduction() => Reduce(n.Op, A()),
            _ when n.Op == Op.Neg || n.Op == Op.Not || (OpTable.Unary(n.Op) is not null && n.OperandCount == 1) => Unary(n.Op, A()),
            _ when n.OperandCount == 2 && (n.Op is >= Op.Add and <= Op.Min || n.Op.IsPredicate()) => Binary(n.Op, A(), B()),
            _ => Copy(n with { A = n.A >= 0 ? A() : -1, B = n.B >= 0 ? B() : -1, C = n.C >= 0 ? C() : -1 }),
        };
    }

    /// <summary>
    /// Whether the product <paramref name="product"/> (a tree of Mul and Neg) has <paramref name="factor"/> as a factor, and
    /// the product of the rest: a·r → r, (a·s)·t → s·t, −(a·s) → −s.
    /// </summary>
    public bool TryDivideOut(int product, int factor, out int rest)
    {
        rest = -1;
        var n = _nodes[product];
        if (n.Op == Op.Neg)
        {
            if (!TryDivideOut(n.A, factor, out int inner)) return false;
            rest = Neg(inner);
            return true;
        }
        if (n.Op != Op.Mul) return false;
        if (n.A == factor) { rest = n.B; return true; }
        if (n.B == factor) { rest = n.A; return true; }
        if (TryDivideOut(n.A, factor, out int left)) { rest = Mul(left, n.B); return true; }
        if (TryDivideOut(n.B, factor, out int right)) { rest = Mul(n.A, right); return true; }
        return false;
    }

    /// <summary>Interns <paramref name="node"/> as it is, with no simplification (its operands must be earlier nodes).</summary>
    public int Copy(Node node) => Intern(node);

    public int Add(int a, int b) => Binary(Op.Add, a, b);
    public int Sub(int a, int b) => Binary(Op.Sub, a, b);
    public int Mul(int a, int b) => Binary(Op.Mul, a, b);
    public int Div(int a, int b) => Binary(Op.Div, a, b);
    public int Neg(int a) => Unary(Op.Neg, a);

    private int Intern(Node node)
    {
        if (_index.TryGetValue(node, out var i)) return i;
        for (int k = 0; k < node.OperandCount; k++)
        {
            int operand = node.Operand(k);
            if (operand < 0 || operand >= _nodes.Count)
                throw new InvalidOperationException($"Operand {operand} of {node.Op} is not an earlier node.");
        }
        _nodes.Add(node);
        _index[node] = _nodes.Count - 1;
        return _nodes.Count - 1;
    }
}
