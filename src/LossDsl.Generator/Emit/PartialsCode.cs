using LossDsl.Generator.IR;
using LossDsl.Generator.Schedule;

namespace LossDsl.Generator.Emit;

/// <summary>
/// The reduction bookkeeping both kernel dialects share: accumulator locals, per-(set, chunk) partials and
/// their combination. A Sum keeps one double; Max keeps (value, first index); LogSumExp keeps (max, Σ e^(x − max)).
/// </summary>
internal static class PartialsCode
{
    /// <summary>Declares the accumulators of a pass's reductions, empty.</summary>
    public static void DeclareAccumulators(IndentedWriter w, Graph g, Pass pass)
    {
        foreach (int r in pass.Reductions)
        {
            string name = MathPrinter.ReductionName(r);
            w.Line(g[r].Op switch
            {
                Op.ReduceSum => $"double {name}_acc = 0;",
                Op.ReduceMax => $"double {name}_acc = double.NegativeInfinity; long {name}_arg = -1;",
                _ => $"double {name}_max = double.NegativeInfinity, {name}_sum = 0;",
            });
        }
    }

    /// <summary>Stores this work item's accumulators at <c>{partials}[slot + offset]</c>.</summary>
    public static void Write(IndentedWriter w, Graph g, Pass pass, string partials)
    {
        for (int k = 0; k < pass.Reductions.Count; k++)
        {
            int r = pass.Reductions[k], off = pass.SlotOffsets[k];
            string name = MathPrinter.ReductionName(r);
            (string first, string? second) = g[r].Op switch
            {
                Op.ReduceSum => ($"{name}_acc", (string?)null),
                Op.ReduceMax => ($"{name}_acc", $"{name}_arg"),
                _ => ($"{name}_max", $"{name}_sum"),
            };
            w.Line($"{partials}[slot + {off}] = {first};");
            if (second is not null) w.Line($"{partials}[slot + {off + 1}] = {second};");
        }
    }

    /// <summary>Combines the partials of every chunk of set s, in chunk order, into the pass's reductions.</summary>
    public static void Combine(IndentedWriter w, Graph g, Pass pass, string partials)
    {
        DeclareAccumulators(w, g, pass);
        using (w.Block("for (int c = 0; c < shape.Chunks; c++)"))
        {
            w.Line("long slot = ((long)s * shape.Chunks + c) * shape.PartialSlots;");
            for (int k = 0; k < pass.Reductions.Count; k++)
            {
                int r = pass.Reductions[k], off = pass.SlotOffsets[k];
                string name = MathPrinter.ReductionName(r);
                switch (g[r].Op)
                {
                    case Op.ReduceSum:
                        w.Line($"{name}_acc += {partials}[slot + {off}];");
                        break;
                    case Op.ReduceMax:
                        // Strictly greater: on ties the earlier chunk, so the first maximal element, wins; a NaN wins and stays.
                        w.Line($"if ({partials}[slot + {off}] > {name}_acc || (double.IsNaN({partials}[slot + {off}]) && !double.IsNaN({name}_acc))) {{ {name}_acc = {partials}[slot + {off}]; {name}_arg = (long){partials}[slot + {off + 1}]; }}");
                        break;
                    default:
                        w.Line($"double {name}_m = {partials}[slot + {off}], {name}_s = {partials}[slot + {off + 1}];");
                        w.Line($"if ({name}_s > 0 && {name}_m > {name}_max) {{ {name}_sum = {name}_sum * Exp({name}_max - {name}_m) + {name}_s; {name}_max = {name}_m; }}");
                        w.Line($"else if ({name}_s > 0) {name}_sum += {name}_s * Exp({name}_m - {name}_max);");
                        break;
                }
            }
        }
        Finalize(w, g, pass);
    }

    /// <summary>
    /// Declares each reduction's value from its accumulators. A LogSumExp over elements that are all −∞ (a mask that keeps
    /// nothing) is the lowest finite double rather than −∞, so that the weights e^(x − R) of its −∞ elements are 0, not
    /// e^(−∞ + ∞) = NaN: such a reduction passes no gradient. One over a +∞ element is NaN, as libtorch's log_softmax and
    /// cross_entropy make it (e^(x − max) is e^(∞ − ∞)), and as the fused CPU path computes it.
    /// </summary>
    public static void Finalize(IndentedWriter w, Graph g, Pass pass)
    {
        foreach (int r in pass.Reductions)
        {
            string name = MathPrinter.ReductionName(r);
            w.Line(g[r].Op == Op.ReduceLogSumExp
                ? $"double {name} = {name}_sum == 0 ? double.MinValue : {name}_max == double.PositiveInfinity ? double.NaN : {name}_max + Log({name}_sum);"
                : $"double {name} = {name}_acc;");
        }
    }
}
