using System;
using System.Collections.Generic;
using System.Linq;

namespace LossDsl.Generator.IR;

/// <summary>
/// A bottom-up rebuild of a graph, shared by the stages that replace nodes (the rewrite stage, the kernel lowering): each
/// node is rebuilt over its operands' new nodes, then handed to a visitor that may replace it; the result is compacted
/// to the nodes the roots need.
/// </summary>
public static class GraphTransform
{
    /// <summary>
    /// Rebuilds <paramref name="graph"/>. <paramref name="visit"/> gets the builder, the input node's index and its rebuilt
    /// node, and the map so far (input index → new node, for the earlier nodes), and returns the node that stands for it.
    /// </summary>
    /// <returns>The compacted graph, and per input node its node there (−1 where the roots do not need it).</returns>
    public static (Graph Graph, EquatableArray<int> Map) Run(Graph graph, IReadOnlyList<int> roots, Func<GraphBuilder, int, int, int[], int> visit)
    {
        var b = new GraphBuilder();
        var map = new int[graph.Count];
        for (int i = 0; i < graph.Count; i++) map[i] = visit(b, i, b.Rebuild(graph[i], map), map);

        var rebuilt = b.ToGraph();
        var needed = GraphWalk.Reach(k => rebuilt[k], roots.Where(x => x >= 0).Select(x => map[x]), _ => true);
        var c = new GraphBuilder();
        var compact = Enumerable.Repeat(-1, rebuilt.Count).ToArray();
        foreach (int k in needed) compact[k] = c.Rebuild(rebuilt[k], compact);
        return (c.ToGraph(), map.Select(k => compact[k]).ToEquatableArray());
    }
}
