using System;
using System.Collections.Generic;
using System.Linq;
using LossDsl.Generator.IR;

namespace LossDsl.Generator.Rewrite;

/// <summary>
/// One rewrite of the loss IR into a more accurate equal form, stated once.
/// </summary>
/// <param name="Name">Its name in diagnostics and derivation comments, e.g. <c>log σ(x) → logσ(x)</c>.</param>
/// <param name="Why">What the naive form loses, in a few words (the diagnostic's reason).</param>
/// <param name="Apply">Given the builder and a node of it, the node of the rewritten form, or null when the rule does not
/// match. It builds only with the builder, so the result is hash-consed and simplified like any other node.</param>
/// <param name="Produced">For a rule whose output keeps the matched node (a regime split keeps the naive form as one
/// side): the nodes of a graph that are already that side of its output, which the rule must not rewrite again.</param>
public sealed record RewriteRule(string Name, string Why, Func<GraphBuilder, int, int?> Apply, Func<Graph, IEnumerable<int>>? Produced = null);

/// <summary>
/// The rewrite table: the unstable forms papers write and the stable forms LossDsl computes instead (Herbie's rule
/// database, for the forms losses use). The rewrite stage tries the rules in this order at every node, bottom-up, so the
/// first rule that matches wins; an earlier rule prepares a later one: log(1 − σ(x)) is rewritten as its operand 1 − σ(x)
/// becomes σ(−x), whose log is then logσ(−x), and (1 − σ(x))^γ likewise becomes σ(−x)^γ, computed as exp(γ·logσ(−x))
/// where σ(−x) underflows and γ &lt; 1. Each result is cheaper or no dearer than a library call away, and is kept only where the accuracy
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

    /// <summary>
    /// p_t of a binary label: w₁·σ(a) + w₂·σ(−a) with w₂ = 1 − w₁ (either way round), as focal losses write
    /// p·y + (1 − p)·(1 − y) once 1 − σ(x) is σ(−x). 1 − p_t is then w₁·σ(−a) + w₂·σ(a): the sigmoids swap.
    /// </summary>
    private static bool Blend(GraphBuilder b, int i, out int w1, out int s1, out int w2, out int s2)
    {
        w1 = s1 = w2 = s2 = -1;
        if (b[i].Op != Op.Add || !Weighted(b, b[i].A, out w1, out s1) || !Weighted(b, b[i].B, out w2, out s2)) return false;
        int a1 = b[s1].A, a2 = b[s2].A;
        bool opposite = b[a1].Op == Op.Neg && b[a1].A == a2 || b[a2].Op == Op.Neg && b[a2].A == a1;
        bool complementary = b[w2] is { Op: Op.Sub } c2 && IsConst(b, c2.A, 1) && c2.B == w1
            || b[w1] is { Op: Op.Sub } c1 && IsConst(b, c1.A, 1) && c1.B == w2;
        return opposite && complementary;
    }

    /// <summary>Node <paramref name="i"/> is w·σ(·) (either way round).</summary>
    private static bool Weighted(GraphBuilder b, int i, out int w, out int s)
    {
        w = s = -1;
        if (b[i] is not { Op: Op.Mul } m) return false;
        if (b[m.A].Op == Op.Sigmoid) (s, w) = (m.A, m.B);
        else if (b[m.B].Op == Op.Sigmoid) (s, w) = (m.B, m.A);
        return s >= 0;
    }

    /// <summary>Whether node <paramref name="i"/> is a whole number 1..4: a power the kernels compute by multiplication.</summary>
    private static bool SmallWholePower(GraphBuilder b, int i) => b.IsConst(i, out var c) && c is 1 or 2 or 3 or 4;

    public static readonly RewriteRule[] All =
    {
        new("1 / (1 + e^−x) → σ(x)", "e^−x overflows for x < −88 in float32",
            (b, i) => b[i].Op == Op.Div && Sigmoid(b, i, out int x) ? b.Unary(Op.Sigmoid, x) : null),

        new("1 − σ(x) → σ(−x)", "1 − σ(x) cancels to 0 for x > 17 in float32",
            (b, i) => b[i] is { Op: Op.Sub } n && IsConst(b, n.A, 1) && b[n.B].Op == Op.Sigmoid ? b.Unary(Op.Sigmoid, b.Neg(b[n.B].A)) : null),

        new("1 − (w·σ(x) + (1 − w)·σ(−x)) → w·σ(−x) + (1 − w)·σ(x)", "1 − p_t cancels to 0 for a confident p_t (|x| > 17 in float32)",
            (b, i) => b[i] is { Op: Op.Sub } n && IsConst(b, n.A, 1) && Blend(b, n.B, out var w1, out var s1, out var w2, out var s2)
                ? b.Add(b.Mul(w1, s2), b.Mul(w2, s1)) : null),

        new("softplus(x) − x·y → (1 − y)·softplus(x) + y·softplus(−x)", "softplus(x) − x cancels to 0 for x > 17 in float32 (BCE with logits of a confident right prediction)",
            (b, i) => b[i] is { Op: Op.Sub } n && b[n.A] is { Op: Op.Softplus } sp && b[n.B] is { Op: Op.Mul } m && (m.A == sp.A || m.B == sp.A)
                ? b.Add(b.Mul(b.Sub(b.Const(1), m.A == sp.A ? m.B : m.A), n.A), b.Mul(m.A == sp.A ? m.B : m.A, b.Unary(Op.Softplus, b.Neg(sp.A)))) : null),

        new("log σ(x) → logσ(x)", "σ(x) underflows to 0 for x < −88 in float32",
            (b, i) => b[i] is { Op: Op.Log } n && b[n.A].Op == Op.Sigmoid ? b.Unary(Op.LogSigmoid, b[n.A].A) : null),

        new("σ(x)^γ → exp(γ·logσ(x)) where σ(x) underflows", "σ(x) is subnormal or 0 for x < −88 in float32, so σ(x)^γ with γ < 1 loses its bits or is 0",
            // Only for γ < 1 (a uniform test, so a kernel with γ ≥ 1 skips the whole split): for γ ≥ 1 the result under
            // x < −92 is below float32's subnormals anyway, and the gradient is γσ^γ·σ(−x) (OpTable's Pow), finite.
            (b, i) => b[i] is { Op: Op.Pow } n && b[n.A].Op == Op.Sigmoid && !SmallWholePower(b, n.B)
                ? b.Select(b.Binary(Op.Lt, n.B, b.Const(1)), b.Select(b.Binary(Op.Lt, b[n.A].A, b.Const(SigmoidUnderflow)), SigmoidPowerByLog(b, b[n.A].A, n.B), i), i) : null,
            // The power a split keeps: the else side of a select on x < SigmoidUnderflow.
            g => g.Nodes.Where(n => n.Op == Op.Select && g[n.C].Op == Op.Pow && g[n.B] is { Op: Op.Select } inner && inner.C == n.C)
                .Select(n => n.C)),

        new("log(e^a / Σ e^b) → a − logΣexp(b)", "e^a overflows for a > 88 in float32, and the ratio loses its small terms",
            (b, i) => b[i] is { Op: Op.Log } n && b[n.A] is { Op: Op.Div } d && b[d.A].Op == Op.Exp && b[d.B] is var s && Patterns.IsSum(s)
                && b[s.A].Op == Op.Exp
                ? b.Sub(b[d.A].A, b.LogSumExp(b[s.A].A)) : null),

        new("log Σ e^b → logΣexp(b)", "e^b overflows for b > 88 in float32",
            (b, i) => b[i] is { Op: Op.Log } n && b[n.A] is var s && Patterns.IsSum(s) && b[s.A].Op == Op.Exp ? b.LogSumExp(b[s.A].A) : null),

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

    /// <summary>
    /// Below this x, σ(x) ≈ e^x is a subnormal float32 (under 2^−126 from x ≈ −87.3 on) that keeps fewer bits than
    /// e^(γ·logσ(x)) loses: that form multiplies logσ(x)'s rounding by |γ·logσ(x)|, log2 of which is about 5.5 bits at
    /// γ = ½, x = −92, where the subnormal σ(x) has about as many bits left. Herbie's regime split: each form where it is
    /// the accurate one. Above it the power is computed as written: the same node, on the σ(x) the loss computes anyway
    /// (which the kernel lowering shares), so the split adds a compare and a select, and the fused CPU kernel computes the
    /// exponential side only for a vector some lane of which takes it.
    /// </summary>
    public const double SigmoidUnderflow = -92;

    /// <summary>σ(x)^γ as exp(γ·logσ(x)).</summary>
    public static int SigmoidPowerByLog(GraphBuilder b, int x, int gamma) => b.Unary(Op.Exp, b.Mul(gamma, b.Unary(Op.LogSigmoid, x)));

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
