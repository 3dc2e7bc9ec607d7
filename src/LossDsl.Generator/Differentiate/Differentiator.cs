using System.Collections.Generic;
using System.Linq;
using LossDsl.Generator.IR;
using LossDsl.Generator.Model;

namespace LossDsl.Generator.Differentiate;

/// <summary>
/// Differentiate stage: symbolic reverse mode through reductions, with no runtime tape.
/// <para>
/// The loss L is an outer expression over "variables": reductions R = ⊕_j f(x_j, …) and row entries z[t].
/// First each variable's total adjoint ∂L/∂V is accumulated in reverse topological order; a reduction whose
/// element function reads another variable V passes ∂L/∂R · Σ_j w_j ∂f/∂V back to it, itself a new Sum
/// reduction. Then the element gradient is the broadcast
/// ∂L/∂x_j = Σ_R ∂L/∂R · w_R(j) · ∂f_R/∂x_j + Σ_t [j = t] · ∂L/∂z[t],
/// with w = 1 for Sum, e^(f_j − R) for LogSumExp and [j = argmax] for Max.
/// </para>
/// <para>
/// A reduction across the segments (a set loss's classes, a pair loss's anchors), A = ⊕_c a(R_c), is one value that every
/// segment reads, and a variable too: the adjoint of segment c's own reductions is ∂L/∂A · ∂A/∂a_c · ∂a_c/∂R_c, the same
/// expression in every segment, read with its R_c and the shared A (<see cref="AcrossSegments"/>); the rest of the derivation is the per-set one.
/// </para>
/// All derivative nodes go through the same hash-consing builder, so they share subexpressions with the
/// forward pass (CSE) and are simplified as they are built.
/// </summary>
public static class Differentiator
{
    public static DerivedLoss Run(LossModel model)
    {
        var graph = model.Forward!;
        var b = new GraphBuilder(graph);
        var d = new Partials(b);
        int root = model.Root;
        var signature = model.Signature!;

        if (signature.Axes.IsElementwise)
        {
            int x = b.Leaf(Op.Input, 0);
            int dx = d.Of(root, x);
            var others = OtherParameters(signature).Select(p => (p.Index, d.Of(root, b.Leaf(Op.Input, p.Slot)))).ToList();
            return new DerivedLoss(signature, b.ToGraph(), root, dx, EquatableArray<Adjoint>.Empty, Gradients(signature, dx, others));
        }

        // Variables of the loss: every reduction it uses (also inside other reductions' element functions), and
        // the entries of the differentiated span (slot 0).
        var all = Transitive(b, root);
        var reductions = all.Where(i => b[i].Op.IsReduction()).ToList();
        var adjoint = new Dictionary<int, int>();
        foreach (var v in all.Where(i => b[i].Op.IsReduction() || (b[i].Op == Op.At && b[i].Slot == 0)))
            adjoint[v] = d.Of(root, v);
        // Reductions across the segments read the segments' reductions (never the reverse): theirs pass on first.
        var across = AcrossSegments(b, d, root, all, adjoint);

        // Reverse topological order: a reduction's element function reads only lower-numbered variables, so
        // each adjoint is complete before it is passed on.
        for (int k = reductions.Count - 1; k >= 0; k--)
        {
            int r = reductions[k];
            int a = adjoint[r];
            if (b.IsConst(a, out var c) && c == 0) continue;
            int weight = Weight(b, r);
            foreach (var v in Reachable(b, b[r].A).Where(i => adjoint.ContainsKey(i)))
            {
                int inner = d.Of(b[r].A, v);
                if (b.IsConst(inner, out var ic) && ic == 0) continue;
                adjoint[v] = b.Add(adjoint[v], b.Mul(a, b.Sum(b.Mul(weight, inner))));
            }
        }

        // Running sums over a sort (CumSum): their per-element adjoints, summed back over the elements ranked after.
        var running = RunningSums(b, d, all, reductions, adjoint);
        // Nested sums (a reduction inside an element function): their per-element adjoints, for both sides of each pair.
        running.AddRange(NestedSums(b, d, all, reductions, adjoint));

        // The broadcast back to every element of the differentiated row or set.
        int elem = b.Leaf(Op.Elem, 0);
        int gradient = RunningTerms(b, d, running, elem);
        foreach (var pair in adjoint.OrderBy(p => p.Key))
        {
            int v = pair.Key, a = pair.Value;
            if (b.IsConst(a, out var c) && c == 0) continue;
            int term;
            if (b[v].Op == Op.At)
                term = b.Select(b.Binary(Op.Eq, b.Leaf(Op.ElemIndex), b[v].A), a, b.Const(0));
            else
            {
                int inner = d.Of(b[v].A, elem);
                if (b.IsConst(inner, out var ic) && ic == 0) continue;
                term = b.Mul(a, b.Mul(Weight(b, v), inner));
            }
            gradient = b.Add(gradient, term);
        }

        if (signature.Multiclass)
        {
            // Span 0 holds p = softmax(z) and the log-softmax span ℓ = log p, both functions of the logits z. Per
            // element, the kernels hand a = p·∂L/∂p + ∂L/∂ℓ to the runtime, which applies the softmax's Jacobian across
            // the classes of each pixel: ∂L/∂z_c = a_c − p_c·Σ_k a_k (after any upstream gradient, which it must precede).
            int logSoftmax = b.Add(SpanGradient(b, d, reductions, adjoint, signature.LogSoftmaxSlot), RunningTerms(b, d, running, b.Leaf(Op.Elem, signature.LogSoftmaxSlot)));
            gradient = b.Add(b.Mul(elem, gradient), logSoftmax);
        }

        var adjoints = adjoint.OrderBy(p => p.Key).Select(p => new Adjoint(p.Key, p.Value)).ToEquatableArray();
        var otherGradients = OtherGradients(b, d, signature, root, all, reductions, adjoint, running, across);
        return new DerivedLoss(signature, b.ToGraph(), root, gradient, adjoints, Gradients(signature, gradient, otherGradients));
    }

    /// <summary>The float data parameters after the prediction: (index among the data parameters, kind, slot).</summary>
    private static IEnumerable<(int Index, ParameterKind Kind, int Slot)> OtherParameters(LossSignature signature)
        => signature.Multiclass ? Enumerable.Empty<(int, ParameterKind, int)>()   // a class mask's one-hot has no gradient
        : signature.Parameters.Where(p => p.Kind != ParameterKind.Hyper)
            .Select((p, i) => (i, p.Kind, p.Slot))
            .Skip(1)
            .Where(p => p.Kind is ParameterKind.Span or ParameterKind.Input);

    /// <summary>One gradient node per data parameter, in declaration order: the prediction's, the others', −1 for targets.</summary>
    private static EquatableArray<int> Gradients(LossSignature signature, int prediction, List<(int Index, int Gradient)> others)
    {
        int count = signature.Parameters.Count(p => p.Kind != ParameterKind.Hyper);
        var result = Enumerable.Repeat(-1, count).ToArray();
        result[0] = prediction;
        foreach (var (index, gradient) in others) result[index] = gradient;
        return result.ToEquatableArray();
    }

    /// <summary>
    /// The gradients of the float data parameters after the prediction, built after the prediction's gradient (so that
    /// the prediction's code does not change). The reductions' adjoints are complete: each one passes
    /// ∂L/∂R · Σ_j w_j ∂f/∂V to a per-row input V its element function reads, and a second span's elements get the
    /// same broadcast as the prediction's, plus the adjoints of that span's row entries.
    /// </summary>
    private static List<(int Index, int Gradient)> OtherGradients(GraphBuilder b, Partials d, LossSignature signature, int root,
        List<int> all, List<int> reductions, Dictionary<int, int> adjoint, List<(int CumSum, int Suffix)> running, Dictionary<int, int> across)
    {
        var result = new List<(int, int)>();
        foreach (var (index, kind, slot) in OtherParameters(signature))
        {
            int gradient;
            if (kind == ParameterKind.Input)
            {
                // A per-row (or per-set) value: its direct partial plus what every reduction that reads it passes back.
                int v = b.Leaf(Op.Input, slot);
                gradient = d.Of(root, v);
                foreach (var x in across)
                    gradient = b.Add(gradient, b.Mul(x.Value, b.Mul(b[x.Key].AcrossReduction().AcrossWeight(b, x.Key), d.Of(b[x.Key].A, v))));
                foreach (int r in reductions)
                {
                    int a = adjoint[r];
                    if (b.IsConst(a, out var c) && c == 0) continue;
                    int inner = d.Of(b[r].A, v);
                    if (b.IsConst(inner, out var ic) && ic == 0) continue;
                    gradient = b.Add(gradient, b.Mul(a, b.Sum(b.Mul(Weight(b, r), inner))));
                }
                foreach (var (c, suffix) in running.Where(r => b[r.CumSum].Op == Op.CumSum))   // a nested body reads no per-row input
                {
                    int inner = d.Of(b[c].A, v);
                    if (!(b.IsConst(inner, out var ic) && ic == 0)) gradient = b.Add(gradient, b.Sum(b.Mul(suffix, inner)));
                }
            }
            else
            {
                gradient = b.Add(SpanGradient(b, d, reductions, adjoint, slot), RunningTerms(b, d, running, b.Leaf(Op.Elem, slot)));
                foreach (int at in all.Where(i => b[i].Op == Op.At && b[i].Slot == slot))
                {
                    int a = d.Of(root, at);
                    foreach (int r in reductions)
                    {
                        int ar = adjoint[r];
                        int inner = d.Of(b[r].A, at);
                        if (b.IsConst(ar, out var c) && c == 0 || b.IsConst(inner, out var ic) && ic == 0) continue;
                        a = b.Add(a, b.Mul(ar, b.Sum(b.Mul(Weight(b, r), inner))));
                    }
                    if (b.IsConst(a, out var ac) && ac == 0) continue;
                    gradient = b.Add(gradient, b.Select(b.Binary(Op.Eq, b.Leaf(Op.ElemIndex), b[at].A), a, b.Const(0)));
                }
            }
            result.Add((index, gradient));
        }
        return result;
    }

    /// <summary>The elements of a row or set other than the prediction's: the broadcast through the reductions.</summary>
    private static int SpanGradient(GraphBuilder b, Partials d, List<int> reductions, Dictionary<int, int> adjoint, int slot)
    {
        int elem = b.Leaf(Op.Elem, slot);
        int gradient = b.Const(0);
        foreach (int r in reductions)
        {
            int a = adjoint[r];
            if (b.IsConst(a, out var c) && c == 0) continue;
            int inner = d.Of(b[r].A, elem);
            if (b.IsConst(inner, out var ic) && ic == 0) continue;
            gradient = b.Add(gradient, b.Mul(a, b.Mul(Weight(b, r), inner)));
        }
        return gradient;
    }

    /// <summary>
    /// The reductions across the segments of the loss, X = ⊕_c a_c (<see cref="Op.Across"/>), with their adjoints
    /// ∂L/∂X, one value per call or image. In reverse order (a body reads only lower-numbered ones), each passes
    /// ∂L/∂X · w_X(c) · ∂a_c/∂V on: to a segment's reduction V, per segment (its adjoint, the same expression in every
    /// segment); to another reduction across the segments V, summed across them, Σ_c ∂L/∂X · w_X(c) · ∂a_c/∂V. w_X is the
    /// table's weight across the segments (<see cref="Reduction.AcrossWeight"/>). A reduction's element function reads none
    /// of them (the parser refuses it), so the segments' adjoints are complete before the reductions pass theirs on.
    /// (Per-set inputs they read get theirs in <see cref="OtherGradients"/>.)
    /// </summary>
    private static Dictionary<int, int> AcrossSegments(GraphBuilder b, Partials d, int root, List<int> all, Dictionary<int, int> adjoint)
    {
        var across = all.Where(i => b[i].Op == Op.Across).ToList();
        var result = across.ToDictionary(x => x, x => d.Of(root, x));
        for (int k = across.Count - 1; k >= 0; k--)
        {
            int x = across[k], a = result[x];
            if (b.IsConst(a, out var c) && c == 0) continue;
            int weight = b[x].AcrossReduction().AcrossWeight(b, x);
            foreach (int v in Reachable(b, b[x].A).Where(i => result.ContainsKey(i) || adjoint.ContainsKey(i)))
            {
                int inner = d.Of(b[x].A, v);
                if (b.IsConst(inner, out var ic) && ic == 0) continue;
                int passed = b.Mul(a, b.Mul(weight, inner));
                if (result.ContainsKey(v)) result[v] = b.Add(result[v], b.SumAcross(passed));
                else adjoint[v] = b.Add(adjoint[v], passed);
            }
        }
        return result;
    }

    /// <summary>
    /// The running sums C_i = Σ_{j ⪯ i} g_j of the loss (CumSum: j ⪯ i when j is ranked at or before i by the sort key),
    /// each with the suffix sum of its adjoint. C_i's adjoint is h_i = Σ_R ∂L/∂R · w_R(i) · ∂f_R/∂C_i over the reductions
    /// whose element function reads it; element m's g_m enters every C_i ranked at or after it, so it gets
    /// S_m = Σ_{i ⪰ m} h_i = Σ_i h_i − CumSum(h)_m + h_m: the gradient permuted back through the sort. The order is
    /// piecewise constant in the key, so the key passes no gradient, as torch.sort's indices pass none.
    /// </summary>
    private static List<(int CumSum, int Suffix)> RunningSums(GraphBuilder b, Partials d, List<int> all, List<int> reductions, Dictionary<int, int> adjoint)
    {
        var result = new List<(int, int)>();
        foreach (int c in all.Where(i => b[i].Op == Op.CumSum))
        {
            int h = b.Const(0);
            foreach (int r in reductions)
            {
                int a = adjoint[r];
                if (b.IsConst(a, out var ac) && ac == 0 || !Reachable(b, b[r].A).Contains(c)) continue;
                int inner = d.Of(b[r].A, c);
                if (b.IsConst(inner, out var ic) && ic == 0) continue;
                h = b.Add(h, b.Mul(a, b.Mul(Weight(b, r), inner)));
            }
            if (b.IsConst(h, out var hc) && hc == 0) continue;
            result.Add((c, b.Add(b.Sub(b.Sum(h), b.CumSum(h, b[c].B)), h)));
        }
        return result;
    }

    /// <summary>
    /// The nested sums of the loss, S_j = Σ_k f(x_j, x_k) (<see cref="Op.NestedSum"/>), each with its adjoint
    /// h_j = Σ_R ∂L/∂R · w_R(j) · ∂f_R/∂S_j over the reductions whose element function reads it (element scope, at j).
    /// </summary>
    private static List<(int, int)> NestedSums(GraphBuilder b, Partials d, List<int> all, List<int> reductions, Dictionary<int, int> adjoint)
    {
        var result = new List<(int, int)>();
        foreach (int s in all.Where(i => b[i].Op == Op.NestedSum))
        {
            int h = b.Const(0);
            foreach (int r in reductions)
            {
                int a = adjoint[r];
                if (b.IsConst(a, out var ac) && ac == 0 || !Reachable(b, b[r].A).Contains(s)) continue;
                int inner = d.Of(b[r].A, s);
                if (b.IsConst(inner, out var ic) && ic == 0) continue;
                h = b.Add(h, b.Mul(a, b.Mul(Weight(b, r), inner)));
            }
            if (!(b.IsConst(h, out var hc) && hc == 0)) result.Add((s, h));
        }
        return result;
    }

    /// <summary>
    /// What a nested sum S_j = Σ_k f(x_j, x_k) with adjoint h_j passes to element m of span <paramref name="elem"/>: as the
    /// outer element, h_m · Σ_k ∂f/∂x_j(x_m, x_k); as the inner one, Σ_j h_j · ∂f/∂x_k(x_j, x_m), a nested sum over j of
    /// h times the derivative with the two elements exchanged (<see cref="GraphBuilder.Swap"/>).
    /// </summary>
    private static int NestedTerm(GraphBuilder b, Partials d, int s, int h, int elem)
    {
        int f = b[s].A, gradient = b.Const(0);
        int asOuter = d.Of(f, b.Leaf(Op.OuterElem, b[elem].Slot));
        if (!(b.IsConst(asOuter, out var o) && o == 0)) gradient = b.Add(gradient, b.Mul(h, b.NestedSum(asOuter)));
        int asInner = d.Of(f, elem);
        if (!(b.IsConst(asInner, out var i) && i == 0)) gradient = b.Add(gradient, b.NestedSum(b.Mul(h, b.Swap(asInner))));
        return gradient;
    }

    /// <summary>
    /// What the running sums pass to the elements of span <paramref name="elem"/>: Σ_C S_m · ∂g_C/∂x_m; and the nested sums
    /// (<see cref="NestedTerm"/>).
    /// </summary>
    private static int RunningTerms(GraphBuilder b, Partials d, List<(int CumSum, int Suffix)> running, int elem)
    {
        int gradient = b.Const(0);
        foreach (var (c, suffix) in running)
        {
            if (b[c].Op == Op.NestedSum)
            {
                gradient = b.Add(gradient, NestedTerm(b, d, c, suffix, elem));
                continue;
            }
            int inner = d.Of(b[c].A, elem);
            if (b.IsConst(inner, out var ic) && ic == 0) continue;
            gradient = b.Add(gradient, b.Mul(suffix, inner));
        }
        return gradient;
    }

    /// <summary>∂R/∂f_j for one element: the reduction's weight w_R (ReductionTable.cs).</summary>
    private static int Weight(GraphBuilder b, int r) => b[r].Row().Weight(b, r);

    /// <summary>Nodes reachable from <paramref name="root"/> without entering reduction bodies.</summary>
    private static List<int> Reachable(GraphBuilder b, int root)
        => GraphWalk.Reach(i => b[i], new[] { root }, i => !b[i].Op.IsReduction() && b[i].Op is not (Op.Arg or Op.CumSum or Op.NestedSum or Op.Across));

    /// <summary>Every node the loss reads, inside reduction bodies too, in index order.</summary>
    private static List<int> Transitive(GraphBuilder b, int root) => GraphWalk.Reach(i => b[i], new[] { root }, _ => true);

    /// <summary>Memoized symbolic partial derivatives that treat reductions, row entries and leaves as variables.</summary>
    private sealed class Partials
    {
        private readonly GraphBuilder _b;
        private readonly Dictionary<(int, int), int> _memo = new();

        public Partials(GraphBuilder b) => _b = b;

        public int Of(int n, int v)
        {
            if (n == v) return _b.Const(1);
            if (_memo.TryGetValue((n, v), out var done)) return done;
            int result = Compute(n, v);
            _memo[(n, v)] = result;
            return result;
        }

        private int Compute(int i, int v)
        {
            var b = _b;
            var n = b[i];
            if (n.Op.IsLeaf() || n.Op.IsReduction() || n.Op.IsPredicate() || n.Op is Op.Arg or Op.CumSum or Op.NestedSum or Op.Across) return b.Const(0);   // CumSum, NestedSum, Across: variables (RunningSums, NestedSums, AcrossSegments)
            int a = n.A;
            int da = Of(a, v);
            switch (n.Op)
            {
                case Op.Neg: return b.Neg(da);
                case var op when OpTable.Unary(op) is { } f: return f.Derivative(b, i, a, da);
                case Op.Select: return b.Select(a, Of(n.B, v), Of(n.C, v));
            }
            int c = n.B;
            int dc = Of(c, v);
            switch (n.Op)
            {
                case Op.Add: return b.Add(da, dc);
                case Op.Sub: return b.Sub(da, dc);
                case Op.Mul: return b.Add(b.Mul(da, c), b.Mul(a, dc));
                case Op.Div: return b.Sub(b.Div(da, c), b.Mul(i, b.Div(dc, c)));
                case var op when OpTable.Binary(op) is { } f: return f.Derivative(b, i, a, c, da, dc);
            }
            return b.Const(0);
        }
    }
}
