using System;
using System.Collections.Generic;
using System.Linq;

namespace LossDsl.Generator.IR;

/// <summary>Reachability over operands, shared by the stages that walk the DAG.</summary>
public static class GraphWalk
{
    /// <summary>
    /// The nodes reachable from <paramref name="roots"/> through operands, in index (topological) order.
    /// A node for which <paramref name="enter"/> is false is included but its operands are not followed.
    /// </summary>
    public static List<int> Reach(Func<int, Node> node, IEnumerable<int> roots, Func<int, bool> enter)
    {
        var seen = new HashSet<int>();
        var stack = new Stack<int>(roots);
        while (stack.Count > 0)
        {
            int i = stack.Pop();
            if (!seen.Add(i) || !enter(i)) continue;
            var n = node(i);
            for (int k = 0; k < n.OperandCount; k++) stack.Push(n.Operand(k));
        }
        return seen.OrderBy(i => i).ToList();
    }

    /// <summary>The element-scope nodes needed to evaluate <paramref name="roots"/>, in evaluation order.</summary>
    public static List<int> ElementNodes(Graph g, IEnumerable<int> roots, bool[] elementScope)
        => Reach(i => g[i], roots, i => elementScope[i]).Where(i => elementScope[i]).ToList();
}
