using System;
using System.Globalization;
using LossDsl.Generator.IR;
using LossDsl.Generator.Model;

namespace LossDsl.Generator.Emit;

/// <summary>
/// Renders IR nodes as scalar C# in double precision: one local per node (<c>v12</c>), leaves by their
/// parameter names prefixed with '_' (generated names never start with '_', so they cannot collide), reductions
/// as <c>R7</c>. Shared by the ILGPU kernels and the CPU path's scalar parts.
/// </summary>
public sealed class ScalarCode
{
    private readonly Graph _g;
    private readonly MathPrinter _printer;
    private readonly Func<Node, string, string> _at;

    /// <param name="at">Renders a row entry span[index] given the node and the rendered index.</param>
    public ScalarCode(Graph g, MathPrinter printer, Func<Node, string, string> at)
    {
        _g = g;
        _printer = printer;
        _at = at;
    }

    /// <summary>Declares a local for every non-leaf node of the list, in order.</summary>
    /// <param name="replace">An expression to use instead of a node's own, or null to keep it.</param>
    public void EmitNodes(IndentedWriter w, EquatableArray<int> nodes, Func<int, string?>? replace = null)
    {
        foreach (int i in nodes)
        {
            var n = _g[i];
            if (n.Op.IsLeaf() && n.Op != Op.At) continue;
            if (n.Op.IsReduction() || n.Op == Op.ArgMax) continue;
            w.Line($"{TypeOf(n.Op)} {Local(i)} = {replace?.Invoke(i) ?? Expression(n)};");
        }
    }

    public static string TypeOf(Op op) => op.KindOf() switch { ValueKind.Boolean => "bool", ValueKind.Integer => "long", _ => "double" };

    public string Expression(Node n) => n.Op switch
    {
        Op.At => _at(n, Ref(n.A)),
        Op.Neg => $"-{Ref(n.A)}",
        Op.Not => $"!{Ref(n.A)}",
        Op.Add => $"{Ref(n.A)} + {Ref(n.B)}",
        Op.Sub => $"{Ref(n.A)} - {Ref(n.B)}",
        Op.Mul => $"{Ref(n.A)} * {Ref(n.B)}",
        Op.Div => $"{Ref(n.A)} / {Ref(n.B)}",
        Op.Lt => $"{Ref(n.A)} < {Ref(n.B)}",
        Op.Le => $"{Ref(n.A)} <= {Ref(n.B)}",
        Op.Gt => $"{Ref(n.A)} > {Ref(n.B)}",
        Op.Ge => $"{Ref(n.A)} >= {Ref(n.B)}",
        Op.Eq => $"{Ref(n.A)} == {Ref(n.B)}",
        Op.Ne => $"{Ref(n.A)} != {Ref(n.B)}",
        Op.And => $"{Ref(n.A)} && {Ref(n.B)}",
        Op.Or => $"{Ref(n.A)} || {Ref(n.B)}",
        Op.Select => $"{Ref(n.A)} ? {Ref(n.B)} : {Ref(n.C)}",
        _ when OpTable.Binary(n.Op) is { } f => $"{f.Name}({Ref(n.A)}, {Ref(n.B)})",
        _ => $"{n.Op}({Ref(n.A)})",
    };

    public static string Local(int i) => "v" + i.ToString(CultureInfo.InvariantCulture);

    /// <summary>How code refers to a node's value.</summary>
    public string Ref(int i)
    {
        var n = _g[i];
        return n.Op switch
        {
            Op.Const => Literal(n.Value),
            Op.Hyper => _printer.CodeName(ParameterKind.Hyper, n.Slot),
            Op.Input => _printer.CodeName(ParameterKind.Input, n.Slot),
            Op.Target => _printer.CodeName(ParameterKind.Target, n.Slot),
            Op.Elem => _printer.CodeName(ParameterKind.Span, n.Slot) + "_j",
            Op.ElemIndex => "j",
            Op.Length => "n",
            Op.Classes => "classes",
            Op.ArgMax => MathPrinter.ReductionName(n.A) + "_arg",
            _ when n.Op.IsReduction() => MathPrinter.ReductionName(i),
            _ => Local(i),
        };
    }

    public static string Literal(double v)
    {
        if (double.IsNaN(v)) return "double.NaN";
        if (double.IsPositiveInfinity(v)) return "double.PositiveInfinity";
        if (double.IsNegativeInfinity(v)) return "double.NegativeInfinity";
        string s = v.ToString("R", CultureInfo.InvariantCulture);
        if (!s.Contains(".") && !s.Contains("E")) s += ".0";
        return v < 0 ? "(" + s + ")" : s;
    }
}
