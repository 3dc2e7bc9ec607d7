using System.Collections.Generic;
using System.Linq;
using LossDsl.Generator.Differentiate;
using LossDsl.Generator.IR;

namespace LossDsl.Generator.Schedule;

/// <summary>
/// Kernel lowering: where a fused kernel would call two or more of σ(±x), logσ(±x) and softplus(±x) on the same x, they are
/// computed from shared parts instead, e = e^(−|x|), ℓ = log1p(e) and r = 1/(1 + e):
/// <code>
///   σ(x) = x ≥ 0 ? r : e·r      σ(−x) = x ≥ 0 ? e·r : r
///   logσ(x) = min(x, 0) − ℓ     logσ(−x) = min(−x, 0) − ℓ
///   softplus(x) = max(x, 0) + ℓ softplus(−x) = max(−x, 0) + ℓ
/// </code>
/// the arithmetic the intrinsics do inside (LossKernelMath, LossVectorMath), so the values are the same, with one
/// exponential and one log1p per x where the intrinsics took one each per call. A stable binary cross-entropy needs
/// logσ(x) and logσ(−x) for its value and σ(−x) and σ(x) for its gradient: four exponentials and two log1p become one
/// of each. A lone intrinsic stays a call. The torch-ops form keeps the unlowered graph: there each part would be a
/// tensor op of its own.
/// </summary>
public static class KernelLowering
{
    private static bool IsFamily(Op op) => op is Op.Sigmoid or Op.LogSigmoid or Op.Softplus;

    /// <summary>x of an argument ±x, and whether it is −x.</summary>
    private static (int X, bool Negated) Base(Graph g, int argument)
        => g[argument].Op == Op.Neg ? (g[argument].A, true) : (argument, false);

    /// <summary>
    /// The loss with its shared forms lowered (itself where nothing is shared), and the call each lowered node computes, so
    /// that derivation comments still print σ(x) where the kernel computes it by parts.
    /// </summary>
    /// <returns>Also the map from the input's nodes to the output's (null where nothing is shared).</returns>
    public static (DerivedLoss Loss, EquatableArray<LoweredCall> Calls, EquatableArray<int>? Map) Run(DerivedLoss loss)
    {
        var g = loss.Graph;
        var roots = loss.Roots();
        var needed = GraphWalk.Reach(i => g[i], roots, _ => true);
        var shared = new HashSet<int>(needed.Where(i => IsFamily(g[i].Op))
            .GroupBy(i => Base(g, g[i].A).X)
            .Where(calls => calls.Select(i => (g[i].Op, Base(g, g[i].A).Negated)).Distinct().Count() >= 2)
            .Select(calls => calls.Key));
        if (shared.Count == 0) return (loss, EquatableArray<LoweredCall>.Empty, null);

        var parts = new Dictionary<int, (int E, int L, int R)>();
        var lowered = new List<(int Source, Op Op, int X, bool Negated)>();
        var (graph, map) = GraphTransform.Run(g, roots, (b, i, r, m) =>
        {
            var n = g[i];
            if (!IsFamily(n.Op)) return r;
            var (x, negated) = Base(g, n.A);
            if (!shared.Contains(x)) return r;
            int nx = m[x];
            if (!parts.TryGetValue(nx, out var p))
            {
                int e = b.Unary(Op.Exp, b.Neg(b.Unary(Op.Abs, nx)));
                p = (e, b.Unary(Op.Log1P, e), b.Div(b.Const(1), b.Add(b.Const(1), e)));
                parts[nx] = p;
            }
            lowered.Add((i, n.Op, x, negated));
            int arg = negated ? b.Neg(nx) : nx;
            switch (n.Op)
            {
                case Op.Sigmoid:
                    int er = b.Mul(p.E, p.R);
                    int nonNegative = b.Binary(Op.Ge, nx, b.Const(0));
                    return negated ? b.Select(nonNegative, er, p.R) : b.Select(nonNegative, p.R, er);
                case Op.LogSigmoid:
                    return b.Sub(b.Binary(Op.Min, arg, b.Const(0)), p.L);
                default:
                    return b.Add(b.Binary(Op.Max, arg, b.Const(0)), p.L);
            }
        });
        var calls = lowered.Where(c => map[c.Source] >= 0)
            .Select(c => new LoweredCall(map[c.Source], c.Op, map[c.X], c.Negated))
            .ToEquatableArray();
        return (loss.Remapped(graph, map), calls, map);
    }
}

/// <summary>Node <paramref name="Node"/> of a lowered graph computes <paramref name="Op"/>(±<paramref name="X"/>) by parts.</summary>
public sealed record LoweredCall(int Node, Op Op, int X, bool Negated);
