using System;
using System.Globalization;
using LossDsl.Generator.IR;
using LossDsl.Generator.Model;

namespace LossDsl.Generator.Emit;

/// <summary>
/// Renders IR nodes as scalar C# in one real type (double, or float for the float32 ILGPU kernels): one local per node
/// (<c>v12</c>), leaves by their parameter names prefixed with '_' (generated names never start with '_', so they cannot
/// collide), reductions as <c>R7</c>. Shared by the ILGPU kernels and the CPU path's scalar parts.
/// </summary>
public sealed class ScalarCode
{
    private readonly Graph _g;
    private readonly MathPrinter _printer;
    private readonly Func<Node, string, string> _at;

    /// <param name="at">Renders a row entry span[index] given the node and the rendered index.</param>
    /// <param name="real">The C# type real values are computed in: "double" or "float".</param>
    public ScalarCode(Graph g, MathPrinter printer, Func<Node, string, string> at, string real = "double")
    {
        _g = g;
        _printer = printer;
        _at = at;
        Real = real;
    }

    /// <summary>The C# type real values are computed in.</summary>
    public string Real { get; }

    /// <summary>Declares a local for every non-leaf node of the list, in order.</summary>
    /// <param name="replace">An expression to use instead of a node's own, or null to keep it.</param>
    public void EmitNodes(IndentedWriter w, EquatableArray<int> nodes, Func<int, string?>? replace = null)
    {
        foreach (int i in nodes)
        {
            var n = _g[i];
            if (n.Op.IsLeaf() && n.Op != Op.At) continue;
            if (n.Op.IsReduction() || n.Op == Op.Arg) continue;
            w.Line($"{TypeOf(n.Op, Real)} {Local(i)} = {replace?.Invoke(i) ?? Expression(n)};");
        }
    }

    public static string TypeOf(Op op, string real = "double") => op.KindOf() switch { ValueKind.Boolean => "bool", ValueKind.Integer => "long", _ => real };

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
            Op.Const => Literal(n.Value, Real),
            Op.Hyper => _printer.CodeName(ParameterKind.Hyper, n.Slot),
            Op.Input => _printer.CodeName(ParameterKind.Input, n.Slot),
            Op.Target => _printer.CodeName(ParameterKind.Target, n.Slot),
            Op.Elem => _printer.CodeName(ParameterKind.Span, n.Slot) + "_j",
            Op.ElemIndex => "j",
            Op.Length => "n",
            Op.Classes => "classes",
            Op.Arg => _printer.Reduction(n.A) + "_arg",
            _ when n.Op.IsReduction() => _printer.Reduction(i),
            _ => Local(i),
        };
    }

    /// <summary>A C# literal of type <paramref name="real"/> ("double" or "float") for <paramref name="v"/>.</summary>
    public static string Literal(double v, string real = "double")
    {
        if (double.IsNaN(v)) return real + ".NaN";
        if (double.IsPositiveInfinity(v)) return real + ".PositiveInfinity";
        if (double.IsNegativeInfinity(v)) return real + ".NegativeInfinity";
        string s = v.ToString("R", CultureInfo.InvariantCulture);
        if (!s.Contains(".") && !s.Contains("E")) s += ".0";
        if (real == "float") s += "f";
        return v < 0 ? "(" + s + ")" : s;
    }
}
