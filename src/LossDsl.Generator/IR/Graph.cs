using System.Collections.Generic;
using LossDsl.Generator.Model;

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
            if (n.Op is Op.Elem or Op.ElemIndex) { scope[i] = true; continue; }
            if (n.Op.IsReduction() || n.Op == Op.ArgMax) continue;
            for (int k = 0; k < n.OperandCount; k++) scope[i] |= scope[n.Operand(k)];
        }
        return scope;
    }

    /// <summary>The outer-scope nodes that a reduction's body reads (its free variables), transitively.</summary>
    public List<int> FreeOuterNodes(int reduction, bool[] elementScope)
    {
        var result = new List<int>();
        var seen = new HashSet<int>();
        var stack = new Stack<int>();
        stack.Push(Nodes[reduction].A);
        while (stack.Count > 0)
        {
            int i = stack.Pop();
            if (!seen.Add(i)) continue;
            if (!elementScope[i]) { result.Add(i); continue; }
            var n = Nodes[i];
            for (int k = 0; k < n.OperandCount; k++) stack.Push(n.Operand(k));
        }
        result.Sort();
        return result;
    }

    /// <summary>The operands a node depends on for scheduling: its operands, or a reduction's free outer nodes.</summary>
    public IEnumerable<int> Dependencies(int i, bool[] elementScope)
    {
        var n = Nodes[i];
        if (n.Op.IsReduction()) return FreeOuterNodes(i, elementScope);
        var deps = new List<int>(3);
        for (int k = 0; k < n.OperandCount; k++) deps.Add(n.Operand(k));
        return deps;
    }
}
