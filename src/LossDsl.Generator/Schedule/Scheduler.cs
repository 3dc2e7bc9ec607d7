using System;
using System.Collections.Generic;
using System.Linq;
using LossDsl.Generator.Differentiate;
using LossDsl.Generator.IR;
using LossDsl.Generator.Model;

namespace LossDsl.Generator.Schedule;

/// <summary>
/// Schedule stage: assigns every reduction to the earliest pass its inputs allow. A reduction's level is one
/// more than the highest level of the outer values its element function reads, so independent reductions
/// (TP, FP and FN of Tversky; the max and sum-exp of an online LogSumExp) share one pass.
/// </summary>
public static class Scheduler
{
    public static KernelPlan Run(DerivedLoss loss)
    {
        var g = loss.Graph;
        var scope = g.ElementScope();
        var needed = Needed(g, loss.Loss, loss.Gradient);

        // Levels of outer nodes, in topological (index) order.
        var level = new int[g.Count];
        for (int i = 0; i < g.Count; i++)
        {
            if (scope[i]) continue;
            var n = g[i];
            if (n.Op.IsReduction())
                level[i] = 1 + OuterReads(g, n.A, scope).Select(j => level[j]).DefaultIfEmpty(0).Max();
            else if (n.Op == Op.ArgMax)
                level[i] = level[n.A];
            else
                for (int k = 0; k < n.OperandCount; k++) level[i] = Math.Max(level[i], level[n.Operand(k)]);
        }

        var outer = Enumerable.Range(0, g.Count).Where(i => needed[i] && !scope[i]).ToList();
        int passCount = outer.Where(i => g[i].Op.IsReduction()).Select(i => level[i]).DefaultIfEmpty(0).Max();

        var prologue = outer.Where(i => level[i] == 0).ToEquatableArray();
        var passes = new List<Pass>();
        int slots = 0;
        for (int p = 1; p <= passCount; p++)
        {
            var reductions = outer.Where(i => g[i].Op.IsReduction() && level[i] == p).ToList();
            var offsets = new List<int>();
            foreach (var r in reductions)
            {
                offsets.Add(slots);
                slots += g[r].Op == Op.ReduceSum ? 1 : 2;
            }
            var elements = ElementNodes(g, reductions.Select(r => g[r].A), scope);
            var epilogue = outer.Where(i => level[i] == p && !g[i].Op.IsReduction()).ToEquatableArray();
            passes.Add(new Pass(p, reductions.ToEquatableArray(), offsets.ToEquatableArray(), elements, epilogue));
        }

        bool elementwise = loss.Signature.Shape == Shape.Elementwise;
        var gradientElements = elementwise ? EquatableArray<int>.Empty : ElementNodes(g, new[] { loss.Gradient }, scope);
        bool chunked = loss.Signature.Shape == Shape.ChannelSet;
        return new KernelPlan(loss, prologue, passes.ToEquatableArray(), gradientElements, slots, chunked);
    }

    /// <summary>Outer-scope nodes read by an element function, without entering nested reduction bodies.</summary>
    private static IEnumerable<int> OuterReads(Graph g, int body, bool[] scope)
    {
        var seen = new HashSet<int>();
        var stack = new Stack<int>();
        stack.Push(body);
        while (stack.Count > 0)
        {
            int i = stack.Pop();
            if (!seen.Add(i)) continue;
            if (!scope[i]) { yield return i; continue; }
            var n = g[i];
            for (int k = 0; k < n.OperandCount; k++) stack.Push(n.Operand(k));
        }
    }

    /// <summary>The element-scope nodes needed to evaluate the given roots, in evaluation order.</summary>
    private static EquatableArray<int> ElementNodes(Graph g, IEnumerable<int> roots, bool[] scope)
    {
        var seen = new HashSet<int>();
        var stack = new Stack<int>(roots);
        while (stack.Count > 0)
        {
            int i = stack.Pop();
            if (!scope[i] || !seen.Add(i)) continue;
            var n = g[i];
            for (int k = 0; k < n.OperandCount; k++) stack.Push(n.Operand(k));
        }
        return seen.OrderBy(i => i).ToEquatableArray();
    }

    /// <summary>Every node the outputs depend on, through reduction bodies.</summary>
    private static bool[] Needed(Graph g, params int[] roots)
    {
        var needed = new bool[g.Count];
        var stack = new Stack<int>(roots);
        while (stack.Count > 0)
        {
            int i = stack.Pop();
            if (needed[i]) continue;
            needed[i] = true;
            var n = g[i];
            for (int k = 0; k < n.OperandCount; k++) stack.Push(n.Operand(k));
        }
        return needed;
    }
}
