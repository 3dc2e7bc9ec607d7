using System;
using LossDsl.Generator.IR;
using LossDsl.Generator.Schedule;

namespace LossDsl.Generator.Emit;

/// <summary>
/// The reduction bookkeeping every kernel dialect shares, by the reduction table's <see cref="Accumulator"/>: accumulator
/// locals, per-(set, chunk) partials, their combination and each reduction's final value. An additive reduction keeps one
/// value; a selecting one keeps (extreme, first index); a log-sum-exp one keeps (max, Σ e^(x − max)). Accumulators have the
/// kernel's real type within a work item; partials and their combination are always double.
/// </summary>
internal static class PartialsCode
{
    /// <summary>The C# operator by which an element replaces a selecting reduction's running extreme.</summary>
    public static string Compare(Reduction row) => row.Compare switch
    {
        Op.Gt => ">",
        Op.Lt => "<",
        _ => throw new InvalidOperationException($"{row.Name} does not select."),
    };

    /// <summary>The names of a reduction's accumulator locals (and partial slots, in order).</summary>
    private static (string First, string? Second) Locals(string name, Reduction row) => row.Accumulator switch
    {
        Accumulator.Additive => ($"{name}_acc", null),
        Accumulator.Selecting => ($"{name}_acc", $"{name}_arg"),
        _ => ($"{name}_max", $"{name}_sum"),
    };

    /// <summary>Declares the accumulators of reduction <paramref name="name"/>, empty, of type <paramref name="acc"/>.</summary>
    public static void Declare(IndentedWriter w, string name, Reduction row, string acc = "double")
        => w.Line(row.Accumulator switch
        {
            Accumulator.Additive => $"{acc} {name}_acc = {ScalarCode.Literal(row.Identity, acc)};",
            Accumulator.Selecting => $"{acc} {name}_acc = {ScalarCode.Literal(row.Identity, acc)}; long {name}_arg = -1;",
            _ => $"{acc} {name}_max = {ScalarCode.Literal(row.Identity, acc)}, {name}_sum = 0;",
        });

    /// <summary>Stores this work item's accumulators at <c>{partials}[slot + offset]</c>.</summary>
    public static void Write(IndentedWriter w, Graph g, Pass pass, string partials)
    {
        for (int k = 0; k < pass.Reductions.Count; k++)
        {
            int r = pass.Reductions[k], off = pass.SlotOffsets[k];
            var (first, second) = Locals(MathPrinter.ReductionName(r), g[r].Row());
            w.Line($"{partials}[slot + {off}] = {first};");
            if (second is not null) w.Line($"{partials}[slot + {off + 1}] = {second};");
        }
    }

    /// <summary>Combines the partials of every chunk of set s, in chunk order and in double, into the pass's reductions of type <paramref name="real"/>.</summary>
    public static void Combine(IndentedWriter w, Graph g, Pass pass, string partials, string real = "double")
    {
        foreach (int r in pass.Reductions) Declare(w, MathPrinter.ReductionName(r), g[r].Row());
        using (w.Block("for (int c = 0; c < shape.Chunks; c++)"))
        {
            w.Line("long slot = ((long)s * shape.Chunks + c) * shape.PartialSlots;");
            for (int k = 0; k < pass.Reductions.Count; k++)
            {
                int r = pass.Reductions[k], off = pass.SlotOffsets[k];
                string name = MathPrinter.ReductionName(r);
                var row = g[r].Row();
                switch (row.Accumulator)
                {
                    case Accumulator.Additive:
                        w.Line($"{name}_acc += {partials}[slot + {off}];");
                        break;
                    case Accumulator.Selecting:
                        // Strictly: on ties the earlier chunk, so the first extreme element, wins; a NaN wins and stays.
                        w.Line($"if ({partials}[slot + {off}] {Compare(row)} {name}_acc || (double.IsNaN({partials}[slot + {off}]) && !double.IsNaN({name}_acc))) {{ {name}_acc = {partials}[slot + {off}]; {name}_arg = (long){partials}[slot + {off + 1}]; }}");
                        break;
                    default:
                        w.Line($"double {name}_m = {partials}[slot + {off}], {name}_s = {partials}[slot + {off + 1}];");
                        // An empty chunk (sum 0) adds nothing; a NaN sum propagates.
                        w.Line($"if ({name}_s != 0 && {name}_m > {name}_max) {{ {name}_sum = {name}_sum * Exp({name}_max - {name}_m) + {name}_s; {name}_max = {name}_m; }}");
                        w.Line($"else if ({name}_s != 0) {name}_sum += {name}_s * Exp({name}_m - {name}_max);");
                        break;
                }
            }
        }
        Finalize(w, g, pass, "double", real);
    }

    /// <summary>
    /// Declares each reduction's value from its accumulators. A LogSumExp over elements that are all −∞ (a mask that keeps
    /// nothing) is the lowest finite double rather than −∞, so that the weights e^(x − R) of its −∞ elements are 0, not
    /// e^(−∞ + ∞) = NaN: such a reduction passes no gradient. One over a +∞ element is NaN, as libtorch's log_softmax and
    /// cross_entropy make it (e^(x − max) is e^(∞ − ∞)), and as the fused CPU path computes it.
    /// </summary>
    /// <param name="acc">The accumulators' type.</param>
    /// <param name="real">The reductions' type: the kernel's real type.</param>
    public static void Finalize(IndentedWriter w, Graph g, Pass pass, string acc = "double", string real = "double")
    {
        string Cast(string e) => acc == real ? e : $"({real})({e})";
        foreach (int r in pass.Reductions)
        {
            string name = MathPrinter.ReductionName(r);
            w.Line(g[r].Row().Accumulator == Accumulator.LogSumExp
                ? $"{real} {name} = {name}_sum == 0 ? {real}.MinValue : {name}_max == {acc}.PositiveInfinity ? {real}.NaN : {Cast($"{name}_max + Log({name}_sum)")};"
                : $"{real} {name} = {Cast($"{name}_acc")};");
        }
    }
}
