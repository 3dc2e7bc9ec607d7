using System;
using System.Collections.Generic;
using System.Linq;
using LossDsl.Generator.Common;
using LossDsl.Generator.IR;
using LossDsl.Generator.Model;
using LossDsl.Generator.Schedule;

namespace LossDsl.Generator.Emit.Kernels;

/// <summary>
/// The CPU dialect, the fast CPU path: the same skeleton as the ILGPU kernels, but each sweep over a row or set is
/// vectorized with <c>Vector512&lt;T&gt;</c> (plus a scalar tail), reads the tensors' memory in place and writes the
/// gradient in place. A kernel takes a range of work items (rows, elements or (set, chunk) items) and loops over them.
/// Element math runs in T; reductions accumulate in double (float vectors are widened before they are summed); row-level
/// math runs in double. A LogSumExp takes two sweeps on this path, a max sweep and a sum-exp sweep, so that each element
/// costs one exp.
/// </summary>
public sealed class CpuDialect : KernelDialect
{
    private readonly ScalarCode _scalar;

    public CpuDialect(KernelSkeleton skeleton, string real, IndentedWriter writer) : base(skeleton, real, writer)
    {
        _scalar = new ScalarCode(G, K.Printer, (n, index) => $"Unsafe.Add(ref {SpanRef(n.Slot)}, (nint)shape.Offset(s, {index}))");
        _cached = FindCachedWeight();
    }

    protected override string Prefix => "Cpu";
    public override string ScalarType => "double";
    public override string AccumulatorType => "double";
    public override string Partials => "a.Partials";

    private IndentedWriter W => Writer;
    private string V => $"Vector512<{Real}>";
    private bool Widen => Real == "float";

    /// <summary>
    /// In a fused row kernel, the softmax weight e^(f_j − R) of one LogSumExp R that the gradient reads: R's sum
    /// sweep computes e^(f_j − max) anyway and parks it in the gradient buffer, and the gradient sweep reads it back
    /// times 1/Σ instead of computing another exp (e^(f_j − R) = e^(f_j − max) / Σ). The buffer is free until the
    /// gradient sweep overwrites the same elements.
    /// </summary>
    private readonly (int Reduction, int Weight)? _cached;

    private (int, int)? FindCachedWeight()
    {
        if (Plan.Chunked || K.Elementwise) return null;
        foreach (var pass in Plan.Passes)
            foreach (int r in pass.Reductions.Where(r => G[r].Row().Accumulator == Accumulator.LogSumExp))
                foreach (int w in Plan.GradientElements)
                    if (G[w].Op == Op.Exp && G[G[w].A] is { Op: Op.Sub } d && d.A == G[r].A && d.B == r)
                        return (r, w);
        return null;
    }

    private string SpanRef(int slot) => K.Printer.CodeName(ParameterKind.Span, slot) + "_0";

    // ---------------------------------------------------------------- entry points and work items

    public override IDisposable Entry(string method, EntryKind kind, Pass? pass)
    {
        string items = "int begin, int end";
        switch (kind)
        {
            case EntryKind.Elements:
                W.Line("/// <summary>Fast CPU path: loss and gradient for elements [begin, end), in 512-bit vectors plus a scalar tail.</summary>");
                break;
            case EntryKind.Rows:
                W.Line($"/// <summary>Fast CPU path: rows [begin, end), each in {Names.Passes(Plan.Passes.Count)} and one gradient pass.</summary>");
                break;
            case EntryKind.Pass:
                W.Line($"/// <summary>Fast CPU path, reduction pass {pass!.Level}: partial {string.Join(", ", pass.Reductions.Select(MathPrinter.ReductionName))} of work items (set, chunk) [first, last).</summary>");
                items = "int first, int last";
                break;
            default:
                W.Line("/// <summary>Fast CPU path, final pass: combines the partials, computes the loss and writes the gradient of work items [first, last).</summary>");
                items = "int first, int last";
                break;
        }
        return W.Block($"public static void {method}(CpuArgs a, {items})");
    }

    /// <summary>The shape, references to the first element of each tensor, and the outputs.</summary>
    public override void KernelValues(EntryKind kind)
    {
        W.Line("KernelShape shape = a.Shape;");
        foreach (var p in K.Spans) W.Line($"ref {Real} _{p.Name}_0 = ref a.Span<{Real}>({p.Slot});");
        if (kind == EntryKind.Elements)
            foreach (var p in K.UsedInputs) W.Line($"ref {Real} _{p.Name}_0 = ref a.Input<{Real}>({p.Slot});");
        if (K.Multiclass)
        {
            W.Comment($"Multiclass sets: span {KernelAbi.MulticlassSpans.Logits} holds the logits [N, C, *spatial]; per pixel, span {KernelAbi.MulticlassSpans.Classes} holds the class ({Real}; −1 where ignored), span {KernelAbi.MulticlassSpans.LogSumExp} log Σ_c e^z.");
            W.Line($"ref {Real} lse_0 = ref a.Span<{Real}>({KernelAbi.MulticlassSpans.LogSumExp});");
            // A loss without a class mask declares no span at the classes' slot: the kernels still read the (all-kept) classes.
            if (!Sig.TakesClassMask) W.Line($"ref {Real} _{Sig.SpanName(KernelAbi.MulticlassSpans.Classes)}_0 = ref a.Span<{Real}>({KernelAbi.MulticlassSpans.Classes});");
        }
        W.Line($"ref {Real} loss_0 = ref a.Loss<{Real}>();");
        W.Line($"ref {Real} grad_0 = ref a.Grad<{Real}>();");
    }

    public override void LoadHyper(LossParameter p) => W.Line($"double _{p.Name} = a.Hyper[{p.Slot}];");

    public override void ShapeValue(string local, string field) => W.Line($"double {local} = shape.{field};");

    public override IDisposable WorkItems(EntryKind kind)
    {
        if (kind == EntryKind.Rows) return W.Block("for (int s = begin; s < end; s++)");
        var block = W.Block("for (int item = first; item < last; item++)");
        W.Line("int s = item / shape.Chunks;");
        W.Line("int chunk = item % shape.Chunks;");
        W.Line("long begin = chunk * shape.ChunkLength;");
        W.Line("long end = Math.Min(begin + shape.ChunkLength, shape.Length);");
        return block;
    }

    public override void LoadTarget(LossParameter p) => W.Line($"long _{p.Name} = a.Target({p.Slot}, s);");

    public override void LoadRowInput(LossParameter p) => W.Line($"double _{p.Name} = Unsafe.Add(ref a.Input<{Real}>({p.Slot}), s);");

    public override void SkipRow(string condition)
    {
        using (W.Block($"if ({condition})"))
        {
            W.Line("Unsafe.Add(ref loss_0, s) = 0;");
            W.Line("for (long j = 0; j < shape.Length; j++) Unsafe.Add(ref grad_0, (nint)shape.Offset(s, j)) = 0;");
            W.Line("continue;");
        }
    }

    public override void Elementwise()
    {
        var nodes = Plan.Prologue;
        int loss = Plan.Loss.Loss, grad = Plan.Loss.Gradient;
        EmitBroadcasts(nodes, new[] { loss, grad }, elementwise: true);
        W.Line("int s = begin;");
        using (W.Block($"for (; s <= end - {V}.Count; s += {V}.Count)"))
        {
            foreach (var p in K.UsedInputs) W.Line($"var _{p.Name}_v = Vector512.LoadUnsafe(ref _{p.Name}_0, (nuint)s);");
            EmitVectorNodes(nodes, elementwise: true);
            W.Line($"Vector512.StoreUnsafe({VRef(loss, true)}, ref loss_0, (nuint)s);");
            W.Line($"Vector512.StoreUnsafe({VRef(grad, true)} * scale_v, ref grad_0, (nuint)s);");
        }
        using (W.Block("for (; s < end; s++)"))
        {
            foreach (var p in K.UsedInputs) W.Line($"double _{p.Name} = Unsafe.Add(ref _{p.Name}_0, s);");
            _scalar.EmitNodes(W, nodes);
            W.Line($"Unsafe.Add(ref loss_0, s) = ({Real}){_scalar.Ref(loss)};");
            W.Line($"Unsafe.Add(ref grad_0, s) = ({Real})({_scalar.Ref(grad)} * shape.GradScale);");
        }
    }

    // ---------------------------------------------------------------- values

    public override void Nodes(EquatableArray<int> nodes) => _scalar.EmitNodes(W, nodes);

    public override string Ref(int i, Lane lane) => lane == Lane.Vector ? VRef(i, false) : _scalar.Ref(i);

    public override void WriteLoss(string value, bool chunked)
        => W.Line($"{(chunked ? "if (chunk == 0) " : "")}Unsafe.Add(ref loss_0, s) = ({Real}){value};");

    public override void WritePartials(Pass pass)
    {
        W.Line("long slot = (long)item * shape.PartialSlots;");
        PartialsCode.Write(W, G, pass, Partials);
    }

    // ---------------------------------------------------------------- reductions

    /// <summary>The max sweep of the pass's LogSumExp reductions: their shift, so that the sum sweep costs one exp per element.</summary>
    public override void BeforeAccumulators(Pass pass, string from, string to)
    {
        var lse = pass.Reductions.Where(r => G[r].Row().Accumulator == Accumulator.LogSumExp).ToList();
        if (lse.Count == 0) return;
        foreach (int r in lse)
        {
            string name = MathPrinter.ReductionName(r);
            W.Line($"double {name}_max = double.NegativeInfinity;");
            W.Line($"var {name}_mv = Vector512.Create({Real}.NegativeInfinity);");
        }
        Sweep(from, to, lse.Select(r => G[r].A).ToList(), lane =>
        {
            foreach (int r in lse)
            {
                string name = MathPrinter.ReductionName(r);
                W.Line(lane == Lane.Vector
                    ? $"{name}_mv = Vector512.Max({name}_mv, {VRef(G[r].A, false)});"
                    : $"{name}_max = Math.Max({name}_max, {_scalar.Ref(G[r].A)});");
            }
        });
        foreach (int r in lse)
        {
            string name = MathPrinter.ReductionName(r);
            W.Line($"{name}_max = Math.Max({name}_max, LossVectorMath.HorizontalMax({name}_mv));");
            // Every element −∞ (a mask that keeps nothing): shift by a finite value, so e^(−∞ − shift) = 0 and the sum is 0.
            W.Line($"if ({name}_max == double.NegativeInfinity) {name}_max = {Real}.MinValue;");
            W.Line($"var {name}_maxv = Vector512.Create(({Real}){name}_max);");
        }
    }

    /// <summary>A double sum, and per lane a sum in T (double) or two widened double halves (float).</summary>
    private void DeclareLanes(string name)
        => W.Line(Widen ? $"var {name}_lo = Vector512<double>.Zero; var {name}_hi = Vector512<double>.Zero;" : $"var {name}_v = {V}.Zero;");

    public override void DeclareAdditive(string name, Reduction row)
    {
        PartialsCode.Declare(W, name, row);
        DeclareLanes(name);
    }

    public override void DeclareSelecting(string name, Reduction row)
    {
        PartialsCode.Declare(W, name, row);
        W.Line($"var {name}_mv = Vector512.Create({ScalarCode.Literal(row.Identity, Real)}); var {name}_iv = {V}.Zero;");
    }

    /// <summary>The sum of e^(x − max); the max comes from <see cref="BeforeAccumulators"/>.</summary>
    public override void DeclareLogSumExp(string name, Reduction row)
    {
        W.Line($"double {name}_sum = 0;");
        DeclareLanes(name);
    }

    public override void AccumulateAdditive(Lane lane, string name, string body)
    {
        if (lane == Lane.Vector) VectorAdd(name, body);
        else base.AccumulateAdditive(lane, name, body);
    }

    public override void AccumulateSelecting(Lane lane, string name, string body, Reduction row)
    {
        if (lane == Lane.Scalar)
        {
            base.AccumulateSelecting(lane, name, body, row);
            return;
        }
        string compare = row.Compare == Op.Gt ? "GreaterThan" : "LessThan";
        W.Line($"var {name}_gt = Vector512.{compare}({body}, {name}_mv) | (~Vector512.Equals({body}, {body}) & Vector512.Equals({name}_mv, {name}_mv));");
        W.Line($"{name}_mv = Vector512.ConditionalSelect({name}_gt, {body}, {name}_mv);");
        W.Line($"{name}_iv = Vector512.ConditionalSelect({name}_gt, idx_v, {name}_iv);");
    }

    public override void AccumulateLogSumExp(Lane lane, int r, string name, string body)
    {
        bool parked = _cached?.Reduction == r;
        if (lane == Lane.Vector)
        {
            if (!parked)
            {
                VectorAdd(name, $"LossVectorMath.Exp({body} - {name}_maxv)");
                return;
            }
            W.Line($"var {name}_e = LossVectorMath.Exp({body} - {name}_maxv);");
            W.Line($"Vector512.StoreUnsafe({name}_e, ref grad_0, (nuint)(off + k));   // parked for the gradient sweep");
            VectorAdd(name, $"{name}_e");
            return;
        }
        if (!parked)
        {
            W.Line($"{name}_sum += Exp({body} - {name}_max);");
            return;
        }
        W.Line($"double {name}_e = Exp({body} - {name}_max);");
        W.Line($"Unsafe.Add(ref grad_0, (nint)(off + k)) = ({Real}){name}_e;");
        W.Line($"{name}_sum += {name}_e;");
    }

    public override void MergeAdditive(string name, Reduction row) => W.Line($"{name}_acc += {VectorTotal(name)};");

    public override void MergeSelecting(string name, Reduction row)
        => W.Line($"LossVectorMath.MergeArg{row.Name}({name}_mv, {name}_iv, ref {name}_acc, ref {name}_arg);");

    public override void MergeLogSumExp(string name, Reduction row) => W.Line($"{name}_sum += {VectorTotal(name)};");

    private void VectorAdd(string name, string value)
    {
        if (!Widen)
        {
            W.Line($"{name}_v += {value};");
            return;
        }
        W.Line($"var {name}_x = {value};");
        W.Line($"{name}_lo += Vector512.WidenLower({name}_x);");
        W.Line($"{name}_hi += Vector512.WidenUpper({name}_x);");
    }

    private string VectorTotal(string name) => Widen ? $"Vector512.Sum({name}_lo) + Vector512.Sum({name}_hi)" : $"Vector512.Sum({name}_v)";

    // ---------------------------------------------------------------- sweeps

    /// <summary>The element code comes from the roots here (see the overload), so that a parked weight's operands can be left out.</summary>
    public override void Sweep(string from, string to, EquatableArray<int> elements, IReadOnlyList<int> roots, Action<Lane> body, bool needIndex)
        => Sweep(from, to, roots, body, needIndex);

    public override void GradientSweep(string from, string to)
    {
        int grad = Plan.Loss.Gradient;
        W.Line($"var scale_v = Vector512.Create(({Real})shape.GradScale);");
        Func<int, Lane, string?>? parked = null;
        if (_cached is var (r, weight))
        {
            string name = MathPrinter.ReductionName(r);
            W.Line($"double {name}_inv = {name}_sum == 0 ? 0 : 1.0 / {name}_sum;");
            W.Line($"var {name}_inv_v = Vector512.Create(({Real}){name}_inv);");
            parked = (i, lane) => i != weight ? null
                : lane == Lane.Vector ? $"Vector512.LoadUnsafe(ref grad_0, (nuint)(off + k)) * {name}_inv_v"
                : $"Unsafe.Add(ref grad_0, (nint)(off + k)) * {name}_inv";
        }
        Sweep(from, to, new[] { grad }, lane => W.Line(lane == Lane.Vector
                ? $"Vector512.StoreUnsafe({VRef(grad, false)} * scale_v, ref grad_0, (nuint)(off + k));"
                : $"Unsafe.Add(ref grad_0, (nint)(off + k)) = ({Real})({_scalar.Ref(grad)} * shape.GradScale);"),
            replace: parked);
    }

    /// <summary>
    /// One sweep over elements [from, to) of segment s: contiguous runs (a row, or one batch item's pixels of a
    /// channel set), each in vectors plus a scalar tail. Outer values the element code reads are broadcast first.
    /// </summary>
    /// <param name="replace">For a node and a lane, an expression to use instead of its own.</param>
    private void Sweep(string from, string to, IReadOnlyList<int> roots, Action<Lane> body, bool needIndex = false, Func<int, Lane, string?>? replace = null)
    {
        var scope = K.Scope;
        // A replaced node's operands are not needed (unless something else reads them).
        var elements = GraphWalk.Reach(i => G[i], roots, i => scope[i] && replace?.Invoke(i, Lane.Vector) is null)
            .Where(i => scope[i]).ToEquatableArray();
        using var sweep = W.Block("// Sweep: runs of contiguous elements, vectors then a scalar tail.");
        EmitBroadcasts(elements, roots, elementwise: false);
        bool usesIndex = needIndex || elements.Any(i => G[i].Op == Op.ElemIndex);
        using (W.Block($"for (long j0 = {from}; j0 < {to};)"))
        {
            W.Line("long blk = j0 / shape.Inner, i0 = j0 - blk * shape.Inner;");
            W.Line($"long run = Math.Min({to} - j0, shape.Inner - i0);");
            W.Line("long off = blk * shape.OuterStride + s * shape.SegmentStride + i0;");
            if (K.Multiclass) MulticlassCode.RunHeader(W, Real);
            W.Line("long k = 0;");
            // Float lanes hold element indices exactly only below 2^24; past that, index code runs scalar.
            string exact = usesIndex && Real == "float" ? " && shape.Length <= (1L << 24)" : "";
            using (W.Block($"for (; k <= run - {V}.Count{exact}; k += {V}.Count)"))
            {
                if (K.Multiclass) MulticlassCode.Vector(W, G, Sig, elements, Real);
                else
                    foreach (var p in K.Spans)
                        if (elements.Any(i => G[i].Op == Op.Elem && G[i].Slot == p.Slot))
                            W.Line($"var _{p.Name}_v = Vector512.LoadUnsafe(ref _{p.Name}_0, (nuint)(off + k));");
                if (usesIndex) W.Line($"var idx_v = Vector512.Create(({Real})(j0 + k)) + {V}.Indices;");
                EmitVectorNodes(elements, elementwise: false, replace is null ? null : i => replace(i, Lane.Vector));
                body(Lane.Vector);
            }
            using (W.Block("for (; k < run; k++)"))
            {
                if (usesIndex) W.Line("long j = j0 + k;");
                if (K.Multiclass)
                    MulticlassCode.Scalar(W, G, Sig, elements, $"Unsafe.Add(ref {SpanRef(KernelAbi.MulticlassSpans.Logits)}, (nint)(off + k))",
                        "Unsafe.Add(ref lse_0, (nint)(px + k))", $"Unsafe.Add(ref {SpanRef(KernelAbi.MulticlassSpans.Classes)}, (nint)(px + k))", "setClass");
                else
                    foreach (var p in K.Spans)
                        if (elements.Any(i => G[i].Op == Op.Elem && G[i].Slot == p.Slot))
                            W.Line($"double _{p.Name}_j = Unsafe.Add(ref _{p.Name}_0, (nint)(off + k));");
                _scalar.EmitNodes(W, elements, replace is null ? null : i => replace(i, Lane.Scalar));
                body(Lane.Scalar);
            }
            W.Line("j0 += run;");
        }
    }

    // ---------------------------------------------------------------- vector code

    /// <summary>Whether node i is computed per lane (element scope, or every computed node of an elementwise loss).</summary>
    private bool IsLane(int i, bool elementwise)
    {
        var n = G[i];
        if (elementwise) return n.Op == Op.Input || (!n.Op.IsLeaf() && n.Op != Op.At);
        return K.Scope[i];
    }

    /// <summary>Declares vector broadcasts of the row-level values that lane code reads.</summary>
    private void EmitBroadcasts(IEnumerable<int> nodes, IEnumerable<int> roots, bool elementwise)
    {
        var outer = new SortedSet<int>();
        void Visit(int i)
        {
            if (!IsLane(i, elementwise) && G[i].Op != Op.Const && G[i].Op != Op.ElemIndex) outer.Add(i);
        }
        foreach (int i in nodes)
        {
            var n = G[i];
            if (!IsLane(i, elementwise) || n.Op.IsLeaf()) continue;
            for (int k = 0; k < n.OperandCount; k++) Visit(n.Operand(k));
        }
        foreach (int r in roots) Visit(r);
        foreach (int i in outer)
        {
            string value = G[i].Op.KindOf() == ValueKind.Boolean
                ? $"LossVectorMath.Mask<{Real}>({_scalar.Ref(i)})"
                : $"Vector512.Create(({Real}){_scalar.Ref(i)})";
            W.Line($"var {Broadcast(i)} = {value};");
        }
        if (elementwise) W.Line($"var scale_v = Vector512.Create(({Real})shape.GradScale);");
    }

    private static string Broadcast(int i) => "b" + ScalarCode.Local(i);

    /// <summary>
    /// Emits the lane nodes of one vector sweep. A node that only a branch of selects on one condition needs (a regime
    /// split's rare side, such as e^(γ·logσ(x)) where σ(x) is subnormal) is computed only when some lane of the vector
    /// takes that branch: a vector select evaluates both sides, so without this every regime split would cost its rare
    /// side on every element.
    /// </summary>
    private void EmitVectorNodes(EquatableArray<int> nodes, bool elementwise, Func<int, string?>? replace = null)
    {
        var lanes = nodes.Where(i => IsLane(i, elementwise) && !G[i].Op.IsLeaf()).ToList();
        var inSweep = new HashSet<int>(lanes);
        var lazy = LazyBranches;
        var emitted = new HashSet<int>();

        // Emits node i, and first each lazy side of it that is not yet emitted, inside if on the condition's lane mask. A
        // dry run (into: a list) only lists the lazy nodes it would emit.
        void Emit(int i, HashSet<int> done, List<int>? into)
        {
            if (!done.Add(i)) return;
            if (lazy.ContainsKey(i)) into?.Add(i);
            var n = G[i];
            if (n.Op == Op.Select)
            {
                string mask = "m" + ScalarCode.Local(i);
                bool declared = false;
                foreach (var (branch, test) in new[] { (n.B, $"{mask} != 0"), (n.C, $"{mask} != (1UL << {V}.Count) - 1") })
                {
                    if (!lazy.TryGetValue(branch, out var key) || key.Condition != n.A) continue;   // lazy for an outer select, or not
                    var side = Closure(branch, key, lazy, inSweep).Where(k => !done.Contains(k)).ToList();
                    if (side.Count == 0) continue;
                    if (into is not null) { foreach (int k in side) Emit(k, done, into); continue; }
                    if (!declared) W.Line($"ulong {mask} = Vector512.ExtractMostSignificantBits({VRef(n.A, elementwise)});");
                    declared = true;
                    using (W.Block($"if ({test})"))
                        foreach (int k in side) Emit(k, done, null);
                }
            }
            if (into is null) W.Line($"{(lazy.ContainsKey(i) ? "" : "var ")}w{i} = {replace?.Invoke(i) ?? VExpression(n, elementwise)};");
        }

        foreach (int i in lanes.Where(i => !lazy.ContainsKey(i)))
        {
            // The lazy nodes this statement emits are declared just before it, not at the loop's top: a vector live across
            // the math library's calls is spilled around each, and the fewer live, the fewer spills. Zeroed, not
            // Unsafe.SkipInit: an out argument takes the local's address, and an address-exposed vector lives on the stack.
            var own = new List<int>();
            if (G[i].Op == Op.Select) Emit(i, new HashSet<int>(emitted), own);   // only a select emits lazy nodes before itself
            foreach (int k in own) W.Line($"{V} w{k} = default;");
            Emit(i, emitted, null);
        }
    }

    /// <summary>The lazy nodes of one branch under <paramref name="root"/>, in evaluation order (empty when root is not lazy).</summary>
    private List<int> Closure(int root, (int Condition, bool Then) branch, Dictionary<int, (int Condition, bool Then)> lazy, HashSet<int> inSweep)
    {
        var found = new SortedSet<int>();
        var stack = new Stack<int>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            int j = stack.Pop();
            if (!inSweep.Contains(j) || !lazy.TryGetValue(j, out var b) || b != branch || !found.Add(j)) continue;
            for (int k = 0; k < G[j].OperandCount; k++) stack.Push(G[j].Operand(k));
        }
        return found.ToList();
    }

    private Dictionary<int, (int Condition, bool Then)>? _lazyBranches;

    /// <summary>
    /// The nodes every use of which is, directly or through other such nodes, the then (or else) operand of selects on one
    /// condition: node → (condition, then). Found from the last node back, so a node's users are decided before it. The
    /// kernel's roots (loss, gradients, adjoints) and the reductions' bodies have other users and are never lazy, nor is a
    /// condition.
    /// </summary>
    private Dictionary<int, (int Condition, bool Then)> LazyBranches => _lazyBranches ??= FindLazyBranches();

    private Dictionary<int, (int Condition, bool Then)> FindLazyBranches()
    {
        var users = Enumerable.Range(0, G.Count).Select(_ => new List<int>()).ToArray();
        for (int i = 0; i < G.Count; i++)
            for (int k = 0; k < G[i].OperandCount; k++) users[G[i].Operand(k)].Add(i);
        var roots = new HashSet<int>(Plan.Loss.Roots());
        var lazy = new Dictionary<int, (int Condition, bool Then)>();
        for (int j = G.Count - 1; j >= 0; j--)
        {
            if (roots.Contains(j) || users[j].Count == 0 || G[j].Op.IsLeaf()) continue;
            (int Condition, bool Then)? branch = null;
            foreach (int u in users[j])
            {
                var n = G[u];
                (int, bool)? via = lazy.TryGetValue(u, out var b) ? b
                    : n.Op == Op.Select && n.A != j && (n.B == j) != (n.C == j) ? (n.A, n.B == j) : null;
                if (via is null || (branch is not null && branch != via)) { branch = null; break; }
                branch = via;
            }
            if (branch is { } found) lazy[j] = found;
        }
        return lazy;
    }

    private string VRef(int i, bool elementwise)
    {
        var n = G[i];
        if (n.Op == Op.Const) return $"Vector512.Create(({Real}){ScalarCode.Literal(n.Value)})";
        if (n.Op == Op.Elem) return K.Printer.CodeName(ParameterKind.Span, n.Slot) + "_v";
        if (n.Op == Op.ElemIndex) return "idx_v";
        if (elementwise && n.Op == Op.Input) return K.Printer.CodeName(ParameterKind.Input, n.Slot) + "_v";
        return IsLane(i, elementwise) ? $"w{i}" : Broadcast(i);
    }

    private string VExpression(Node n, bool e)
    {
        string A() => VRef(n.A, e);
        string B() => VRef(n.B, e);
        return n.Op switch
        {
            Op.Neg => $"-{A()}",
            Op.Not => $"~{A()}",
            Op.Add => $"{A()} + {B()}",
            Op.Sub => $"{A()} - {B()}",
            Op.Mul => $"{A()} * {B()}",
            Op.Div => $"{A()} / {B()}",
            Op.Lt => $"Vector512.LessThan({A()}, {B()})",
            Op.Le => $"Vector512.LessThanOrEqual({A()}, {B()})",
            Op.Gt => $"Vector512.GreaterThan({A()}, {B()})",
            Op.Ge => $"Vector512.GreaterThanOrEqual({A()}, {B()})",
            Op.Eq => $"Vector512.Equals({A()}, {B()})",
            Op.Ne => $"~Vector512.Equals({A()}, {B()})",
            Op.And => $"{A()} & {B()}",
            Op.Or => $"{A()} | {B()}",
            Op.Select => $"Vector512.ConditionalSelect({A()}, {B()}, {VRef(n.C, e)})",
            _ when OpTable.Binary(n.Op) is { } f => $"LossVectorMath.{f.Name}({A()}, {B()})",
            _ => $"LossVectorMath.{n.Op}({A()})",
        };
    }
}
