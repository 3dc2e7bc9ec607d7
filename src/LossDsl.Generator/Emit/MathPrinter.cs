using System.Globalization;
using System.Linq;
using LossDsl.Generator.IR;
using LossDsl.Generator.Model;
using LossDsl.Generator.Schedule;

namespace LossDsl.Generator.Emit;

/// <summary>Renders IR as the math it computes, for the derivation comments of generated code.</summary>
public sealed class MathPrinter
{
    private const int MaxLength = 400;
    private readonly Graph _g;
    private readonly LossSignature _sig;
    private readonly System.Collections.Generic.Dictionary<int, LoweredCall> _lowered;

    private readonly System.Func<int, int> _reductionNumber;

    /// <param name="lowered">Nodes that compute an intrinsic by parts (the kernel lowering): printed as the intrinsic.</param>
    /// <param name="reductionNumber">The number a reduction node is named by (its index, unless the graph is named after
    /// another's: the torch-ops form's comments name reductions as the kernels' do).</param>
    public MathPrinter(Graph g, LossSignature sig, EquatableArray<LoweredCall>? lowered = null, System.Func<int, int>? reductionNumber = null)
    {
        _g = g;
        _sig = sig;
        _reductionNumber = reductionNumber ?? (i => i);
        _lowered = (lowered ?? EquatableArray<LoweredCall>.Empty).ToDictionary(c => c.Node);
    }

    /// <summary>The name a reduction has in comments and code, e.g. R4.</summary>
    public static string ReductionName(int i) => "R" + i.ToString(CultureInfo.InvariantCulture);

    /// <summary>The name reduction node <paramref name="i"/> of this printer's graph has in comments.</summary>
    public string Reduction(int i) => ReductionName(_reductionNumber(i));

    private readonly System.Collections.Generic.Dictionary<(int, int), string> _memo = new();

    public string Print(int i)
    {
        string text = Render(i, 0);
        return text.Length <= MaxLength ? text : text.Substring(0, MaxLength) + " …";
    }

    /// <summary>
    /// Renders node i for a context of precedence <paramref name="parent"/>. A DAG printed as a tree can grow
    /// exponentially, so results are memoized and cut at <see cref="MaxLength"/> + 1 characters: every
    /// intermediate string stays short, and Print adds the ellipsis.
    /// </summary>
    private string Render(int i, int parent)
    {
        if (_memo.TryGetValue((i, parent), out var done)) return done;
        string text = RenderCore(i, parent);
        if (text.Length > MaxLength + 1) text = text.Substring(0, MaxLength + 1);
        _memo[(i, parent)] = text;
        return text;
    }

    /// <summary>E.g. "LogSumExp_j(logits_j)".</summary>
    public string DescribeReduction(int r)
    {
        var n = _g[r];
        return $"{n.Row().Symbol} {Render(n.A, 3)}";
    }

    public string ParamName(ParameterKind kind, int slot)
        => _sig.Parameters.First(p => p.Kind == kind && p.Slot == slot).Name;

    /// <summary>A parameter's name in generated code: '_' + name, which no generated local uses.</summary>
    public string CodeName(ParameterKind kind, int slot) => "_" + (kind == ParameterKind.Span ? _sig.SpanName(slot) : ParamName(kind, slot));

    private string RenderCore(int i, int parent)
    {
        if (_lowered.TryGetValue(i, out var call))
            return $"{FunctionName(call.Op)}({(call.Negated ? "−" + Render(call.X, 3) : Render(call.X, 0))})";
        var n = _g[i];
        (string text, int prec) = n.Op switch
        {
            Op.Const => (Number(n.Value), n.Value < 0 ? 2 : 9),
            Op.Hyper => (ParamName(ParameterKind.Hyper, n.Slot), 9),
            Op.Input => (ParamName(ParameterKind.Input, n.Slot), 9),
            Op.Target => (ParamName(ParameterKind.Target, n.Slot), 9),
            Op.Elem => (_sig.SpanName(n.Slot) + "_j", 9),
            Op.ElemIndex => ("j", 9),
            Op.Length => ("n", 9),
            Op.Classes => ("C", 9),
            Op.At => ($"{ParamName(ParameterKind.Span, n.Slot)}[{Render(n.A, 0)}]", 9),
            Op.Arg => ($"argmax({Reduction(n.A)})", 9),
            Op.OuterElem => (_sig.SpanName(n.Slot) + "_i", 9),   // in a nested body: the outer element i, the inner one is j
            Op.OuterIndex => ("i", 9),
            Op.NestedSum => ($"Σ_j[{Render(n.A, 0)}]", 9),
            Op.Across => ($"{n.AcrossReduction().Symbol.Replace("_j", "_c")}[{Render(n.A, 0)}]", 9),   // across the segments c (classes or anchors)
            Op.CumSum => ($"cumsum[by {Render(n.B, 0)} ↓]({Render(n.A, 0)})", 9),   // running sum over the sort
            _ when n.Op.IsReduction() => (Reduction(i), 9),
            Op.Neg => ("−" + Render(n.A, 3), 3),
            Op.Not => ("¬" + Render(n.A, 3), 3),
            Op.Add => ($"{Render(n.A, 1)} + {Render(n.B, 1)}", 1),
            Op.Sub => ($"{Render(n.A, 1)} − {Render(n.B, 2)}", 1),
            Op.Mul => ($"{Render(n.A, 2)}·{Render(n.B, 2)}", 2),
            Op.Div => ($"{Render(n.A, 2)} / {Render(n.B, 3)}", 2),
            _ when OpTable.Binary(n.Op) is { } f => (string.Format(f.Printed, Render(n.A, f.Precedence.Operands), Render(n.B, f.Precedence.Operands)), f.Precedence.Self),
            Op.Lt => (Cmp(n, "<"), 0),
            Op.Le => (Cmp(n, "≤"), 0),
            Op.Gt => (Cmp(n, ">"), 0),
            Op.Ge => (Cmp(n, "≥"), 0),
            Op.Eq => (Cmp(n, "="), 0),
            Op.Ne => (Cmp(n, "≠"), 0),
            Op.And => ($"{Render(n.A, 1)} ∧ {Render(n.B, 1)}", 0),
            Op.Or => ($"{Render(n.A, 1)} ∨ {Render(n.B, 1)}", 0),
            Op.Select => ($"[{Render(n.A, 0)} ? {Render(n.B, 0)} : {Render(n.C, 0)}]", 9),
            _ => ($"{FunctionName(n.Op)}({Render(n.A, 0)})", 9),
        };
        return prec < parent ? "(" + text + ")" : text;
    }

    private string Cmp(Node n, string op) => $"{Render(n.A, 1)} {op} {Render(n.B, 1)}";

    private static string FunctionName(Op op) => OpTable.Unary(op)?.Printed ?? op.ToString().ToLowerInvariant();

    public static string Number(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}
