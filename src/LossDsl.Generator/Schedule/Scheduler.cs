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
    public static KernelPlan Run(DerivedLoss source)
    {
        var (loss, lowered, map) = KernelLowering.Run(source);
        var g = loss.Graph;
        var scope = g.ElementScope();
        var needed = new bool[g.Count];
        foreach (int i in GraphWalk.Reach(j => g[j], new[] { loss.Loss, loss.Gradient }, _ => true)) needed[i] = true;

        // Levels of outer nodes, in topological (index) order.
        var level = new int[g.Count];
        for (int i = 0; i < g.Count; i++)
        {
            if (scope[i]) continue;
            var n = g[i];
            if (n.Op.IsReduction())
                level[i] = 1 + GraphWalk.Reach(j => g[j], new[] { n.A }, j => scope[j]).Where(j => !scope[j]).Select(j => level[j]).DefaultIfEmpty(0).Max();
            else if (n.Op == Op.Arg)
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
                slots += g[r].Row().Slots;
            }
            var elements = GraphWalk.ElementNodes(g, reductions.Select(r => g[r].A), scope).ToEquatableArray();
            var epilogue = outer.Where(i => level[i] == p && !g[i].Op.IsReduction()).ToEquatableArray();
            passes.Add(new Pass(p, reductions.ToEquatableArray(), offsets.ToEquatableArray(), elements, epilogue));
        }

        bool elementwise = loss.Signature.Axes.IsElementwise;
        var gradientElements = elementwise ? EquatableArray<int>.Empty : GraphWalk.ElementNodes(g, new[] { loss.Gradient }, scope).ToEquatableArray();
        bool chunked = loss.Signature.Axes.Chunked;
        return new KernelPlan(loss, prologue, passes.ToEquatableArray(), gradientElements, slots, chunked, source, lowered) { SourceMap = map };
    }
}
