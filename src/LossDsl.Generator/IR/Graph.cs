namespace LossDsl.Generator.IR;

/// <summary>An immutable, value-equatable loss DAG in topological order.</summary>
public sealed record Graph(EquatableArray<Node> Nodes)
{
    public Node this[int index] => Nodes[index];

    public int Count => Nodes.Count;

    /// <summary>
    /// Whether each node is evaluated per element (inside a reduction body) rather than once per row, set or
    /// element-of-an-elementwise-loss ("outer" scope). Element scope is contagious; a reduction closes it.
    /// </summary>
    public bool[] ElementScope()
    {
        var scope = new bool[Count];
        for (int i = 0; i < Count; i++)
        {
            var n = Nodes[i];
            // A running sum and a nested sum differ per element; the outer element of a nested body is an element too.
            if (n.Op is Op.Elem or Op.ElemIndex or Op.CumSum or Op.NestedSum or Op.OuterElem or Op.OuterIndex) { scope[i] = true; continue; }
            if (n.Op.IsReduction() || n.Op == Op.Arg) continue;
            for (int k = 0; k < n.OperandCount; k++) scope[i] |= scope[n.Operand(k)];
        }
        return scope;
    }

    /// <summary>
    /// Whether each node is evaluated per (outer, inner) pair of elements inside a nested reduction's body: it reads the
    /// outer element (<see cref="Op.OuterElem"/>, <see cref="Op.OuterIndex"/>) other than through a nested reduction.
    /// </summary>
    public bool[] PairScope()
    {
        var scope = new bool[Count];
        for (int i = 0; i < Count; i++)
        {
            var n = Nodes[i];
            if (n.Op is Op.OuterElem or Op.OuterIndex) { scope[i] = true; continue; }
            if (n.Op.IsReduction() || n.Op is Op.Arg or Op.NestedSum) continue;
            for (int k = 0; k < n.OperandCount; k++) scope[i] |= scope[n.Operand(k)];
        }
        return scope;
    }
}
