using System;
using LossDsl.Generator.IR;

namespace LossDsl.Generator.Rewrite;

/// <summary>
/// One rewrite of the loss IR into a more accurate equal form, stated once.
/// </summary>
/// <param name="Name">Its name in diagnostics and derivation comments, e.g. <c>log σ(x) → logσ(x)</c>.</param>
/// <param name="Why">What the naive form loses, in a few words (the diagnostic's reason).</param>
/// <param name="Apply">Given the builder and a node of it, the node of the rewritten form, or null when the rule does not
/// match. It builds only with the builder, so the result is hash-consed and simplified like any other node.</param>
public sealed record RewriteRule(string Name, string Why, Func<GraphBuilder, int, int?> Apply);

/// <summary>
/// The rewrite table: the unstable forms papers write and the stable forms LossDsl computes instead (Herbie's rule
/// database, for the forms losses use). The rewrite stage tries the rules in this order at every node, bottom-up, so the
/// first rule that matches wins; an earlier rule prepares a later one: log(1 − σ(x)) is rewritten as its operand 1 − σ(x)
/// becomes σ(−x), whose log is then logσ(−x), and (1 − σ(x))^γ likewise becomes exp(γ·logσ(−x)). Each result is cheaper or no dearer than a library call away, and is kept only where the accuracy
/// measurement finds that it loses no bits anywhere sampled (<see cref="Rewriter"/>).
/// </summary>
public static class RewriteRules
{
    private static bool IsConst(GraphBuilder b, int i, double v) => b.IsConst(i, out var c) && c == v;

    /// <summary>σ(x), or the hand-written 1 / (1 + e^−x).</summary>
    private static bool Sigmoid(GraphBuilder b, int i, out int x)
    {
        x = -1;
        var n = b[i];
        if (n.Op == Op.Sigmoid) { x = n.A; return true; }
        if (n.Op == Op.Div && IsConst(b, n.A, 1) && b[n.B].Op == Op.Add)
        {
            var add = b[n.B];
            int other = IsConst(b, add.A, 1) ? add.B : IsConst(b, add.B, 1) ? add.A : -1;
            if (other >= 0 && b[other].Op == Op.Exp)
            {
                x = b.Neg(b[other].A);   // 1 / (1 + e^u) = σ(−u)
                return true;
            }
        }
        return false;
    }

    /// <summary>Whether node <paramref name="i"/> is a whole number 1..4: a power the kernels compute by multiplication.</summary>
    private static bool SmallWholePower(GraphBuilder b, int i) => b.IsConst(i, out var c) && c is 1 or 2 or 3 or 4;

    public static readonly RewriteRule[] All =
    {
        new("1 / (1 + e^−x) → σ(x)", "e^−x overflows for x < −88 in float32",
            (b, i) => b[i].Op == Op.Div && Sigmoid(b, i, out int x) ? b.Unary(Op.Sigmoid, x) : null),

        new("1 − σ(x) → σ(−x)", "1 − σ(x) cancels to 0 for x > 17 in float32",
            (b, i) => b[i] is { Op: Op.Sub } n && IsConst(b, n.A, 1) && b[n.B].Op == Op.Sigmoid ? b.Unary(Op.Sigmoid, b.Neg(b[n.B].A)) : null),

        new("log σ(x) → logσ(x)", "σ(x) underflows to 0 for x < −88 in float32",
            (b, i) => b[i] is { Op: Op.Log } n && b[n.A].Op == Op.Sigmoid ? b.Unary(Op.LogSigmoid, b[n.A].A) : null),

        new("σ(x)^γ → exp(γ·logσ(x))", "σ(x)^γ underflows in σ(x) before the power for a fractional γ",
            (b, i) => b[i] is { Op: Op.Pow } n && b[n.A].Op == Op.Sigmoid && !SmallWholePower(b, n.B)
                ? b.Unary(Op.Exp, b.Mul(n.B, b.Unary(Op.LogSigmoid, b[n.A].A))) : null),

        new("log(e^a / Σ e^b) → a − logΣexp(b)", "e^a overflows for a > 88 in float32, and the ratio loses its small terms",
            (b, i) => b[i] is { Op: Op.Log } n && b[n.A] is { Op: Op.Div } d && b[d.A].Op == Op.Exp && b[d.B] is { Op: Op.ReduceSum } s
                && b[s.A].Op == Op.Exp
                ? b.Sub(b[d.A].A, b.LogSumExp(b[s.A].A)) : null),

        new("log Σ e^b → logΣexp(b)", "e^b overflows for b > 88 in float32",
            (b, i) => b[i] is { Op: Op.Log } n && b[n.A] is { Op: Op.ReduceSum } s && b[s.A].Op == Op.Exp ? b.LogSumExp(b[s.A].A) : null),

        new("log(1 + u) → log1p(u)", "1 + u rounds away the bits of a small u",
            (b, i) => b[i] is { Op: Op.Log } n && b[n.A] is { Op: Op.Add } a
                ? IsConst(b, a.A, 1) ? b.Unary(Op.Log1P, a.B) : IsConst(b, a.B, 1) ? b.Unary(Op.Log1P, a.A) : null
                : null),

        new("log(1 − u) → log1p(−u)", "1 − u rounds away the bits of a small u",
            (b, i) => b[i] is { Op: Op.Log } n && b[n.A] is { Op: Op.Sub } s && IsConst(b, s.A, 1) ? b.Unary(Op.Log1P, b.Neg(s.B)) : null),

        new("e^u − 1 → expm1(u)", "e^u − 1 cancels for a small u",
            (b, i) => b[i] is { Op: Op.Sub } n && IsConst(b, n.B, 1) && b[n.A].Op == Op.Exp ? b.Unary(Op.Expm1, b[n.A].A) : null),

        new("1 − e^u → −expm1(u)", "1 − e^u cancels for a small u",
            (b, i) => b[i] is { Op: Op.Sub } n && IsConst(b, n.A, 1) && b[n.B].Op == Op.Exp ? b.Neg(b.Unary(Op.Expm1, b[n.B].A)) : null),

        new("√(a² + b²) → hypot(a, b)", "a² + b² overflows for |a| > 1.8e19 and underflows for |a| < 1e-19 in float32",
            (b, i) => b[i] is { Op: Op.Sqrt } n && b[n.A] is { Op: Op.Add } s && Square(b, s.A, out int x) && Square(b, s.B, out int y)
                ? Hypot(b, x, y) : null),
    };

    private static bool Square(GraphBuilder b, int i, out int x)
    {
        x = -1;
        var n = b[i];
        if (n.Op == Op.Mul && n.A == n.B) { x = n.A; return true; }
        if (n.Op == Op.Pow && IsConst(b, n.B, 2)) { x = n.A; return true; }
        return false;
    }

    /// <summary>hypot(x, y) = m·√(1 + (s/m)²) with m = max(|x|, |y|), s = min(|x|, |y|); 0 where both are 0.</summary>
    private static int Hypot(GraphBuilder b, int x, int y)
    {
        int ax = b.Unary(Op.Abs, x), ay = b.Unary(Op.Abs, y);
        int m = b.Binary(Op.Max, ax, ay), s = b.Binary(Op.Min, ax, ay);
        int q = b.Div(s, m);
        int h = b.Mul(m, b.Unary(Op.Sqrt, b.Add(b.Const(1), b.Mul(q, q))));
        return b.Select(b.Binary(Op.Eq, m, b.Const(0)), b.Const(0), h);
    }
}
