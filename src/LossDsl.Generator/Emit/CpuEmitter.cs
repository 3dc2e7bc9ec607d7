using System;
using System.Collections.Generic;
using System.Linq;
using LossDsl.Generator.IR;
using LossDsl.Generator.Model;
using LossDsl.Generator.Schedule;

namespace LossDsl.Generator.Emit;

/// <summary>
/// Emits the fast CPU path of one loss for one element type: the same schedule as the ILGPU kernels, but each
/// sweep over a row or set is vectorized with <c>Vector512&lt;T&gt;</c> (plus a scalar tail), reads the tensors'
/// memory in place and writes the gradient in place. Element math runs in T; reductions accumulate in double
/// (float vectors are widened before they are summed); row-level math runs in double.
/// LogSumExp takes two sweeps on this path, a max sweep and a sum-exp sweep, so that each element costs one exp.
/// </summary>
public sealed class CpuEmitter
{
    private readonly KernelPlan _plan;
    private readonly Graph _g;
    private readonly LossSignature _sig;
    private readonly string _t;
    private readonly IndentedWriter _w;
    private readonly MathPrinter _printer;
    private readonly ScalarCode _scalar;
    private readonly bool[] _scope;

    public CpuEmitter(KernelPlan plan, string elementType, IndentedWriter writer)
    {
        _plan = plan;
        _g = plan.Loss.Graph;
        _sig = plan.Loss.Signature;
        _t = elementType;
        _w = writer;
        _printer = new MathPrinter(_g, _sig);
        _scalar = new ScalarCode(_g, _printer, (n, index) => $"Unsafe.Add(ref {SpanRef(n.Slot)}, (nint)shape.Offset(s, {index}))");
        _scope = _g.ElementScope();
        _cached = FindCachedWeight(plan);
    }

    /// <summary>
    /// In a fused row kernel, the softmax weight e^(f_j − R) of one LogSumExp R that the gradient reads: R's sum
    /// sweep computes e^(f_j − max) anyway and parks it in the gradient buffer, and the gradient sweep reads it back
    /// times 1/Σ instead of computing another exp (e^(f_j − R) = e^(f_j − max) / Σ). The buffer is free until the
    /// gradient sweep overwrites the same elements.
    /// </summary>
    private readonly (int Reduction, int Weight)? _cached;

    private static (int, int)? FindCachedWeight(KernelPlan plan)
    {
        if (plan.Chunked || !plan.Loss.Signature.Shape.HasRows()) return null;
        var g = plan.Loss.Graph;
        foreach (var pass in plan.Passes)
            foreach (int r in pass.Reductions.Where(r => g[r].Op == Op.ReduceLogSumExp))
                foreach (int w in plan.GradientElements)
                    if (g[w].Op == Op.Exp && g[g[w].A] is { Op: Op.Sub } d && d.A == g[r].A && d.B == r)
                        return (r, w);
        return null;
    }

    private string Suffix => _t == "float" ? "F32" : "F64";
    private string V => $"Vector512<{_t}>";
    private bool Widen => _t == "float";
    private bool Elementwise => _sig.Shape == LossShape.Elementwise;

    public static IEnumerable<string> KernelNames(KernelPlan plan, string suffix)
        => plan.Chunked
            ? plan.Passes.Select(p => $"CpuPass{p.Level}{suffix}").Concat(new[] { "CpuGradient" + suffix })
            : new[] { "CpuFused" + suffix };

    public void EmitAll()
    {
        if (Elementwise) EmitElementwise();
        else if (!_plan.Chunked) EmitFusedRows();
        else
        {
            foreach (var pass in _plan.Passes) EmitChunkedPass(pass);
            EmitChunkedGradient();
        }
    }

    private string SpanRef(int slot) => _printer.CodeName(ParameterKind.Span, slot) + "_0";

    private void EmitCommonHeader()
    {
        _w.Line("KernelShape shape = a.Shape;");
        foreach (var p in _sig.Parameters)
        {
            switch (p.Kind)
            {
                case ParameterKind.Span: _w.Line($"ref {_t} _{p.Name}_0 = ref a.Span<{_t}>({p.Slot});"); break;
                case ParameterKind.Input when Elementwise: _w.Line($"ref {_t} _{p.Name}_0 = ref a.Input<{_t}>({p.Slot});"); break;
                case ParameterKind.Hyper when _g.Nodes.Contains(new Node(Op.Hyper, Slot: p.Slot)): _w.Line($"double _{p.Name} = a.Hyper[{p.Slot}];"); break;
            }
        }
        if (_sig.Multiclass)
        {
            _w.Comment($"Multiclass sets: span 0 holds the logits [N, C, *spatial]; per pixel, span 1 holds the class ({_t}; −1 where ignored), span 2 log Σ_c e^z.");
            _w.Line($"ref {_t} lse_0 = ref a.Span<{_t}>(2);");
        }
        _w.Line($"ref {_t} loss_0 = ref a.Loss<{_t}>();");
        _w.Line($"ref {_t} grad_0 = ref a.Grad<{_t}>();");
        // A multiclass set's length counts the pixels that are not ignored.
        if (_g.Nodes.Any(n => n.Op == Op.Length)) _w.Line(_sig.Multiclass ? "double n = shape.Count;" : "double n = shape.Length;");
        if (_g.Nodes.Any(n => n.Op == Op.Classes)) _w.Line("double classes = shape.Classes;");
    }

    /// <summary>Per-row targets and inputs of segment s.</summary>
    private void EmitSegmentData()
    {
        foreach (var p in _sig.Parameters)
        {
            if (p.Kind == ParameterKind.Target) _w.Line($"long _{p.Name} = a.Target({p.Slot}, s);");
            if (p.Kind == ParameterKind.Input && _g.Nodes.Contains(new Node(Op.Input, Slot: p.Slot)))
                _w.Line($"double _{p.Name} = Unsafe.Add(ref a.Input<{_t}>({p.Slot}), s);");
        }
    }

    // ---------------------------------------------------------------- elementwise

    private void EmitElementwise()
    {
        _w.Line($"/// <summary>Fast CPU path: loss and gradient for elements [begin, end), in 512-bit vectors plus a scalar tail.</summary>");
        using (_w.Block($"public static void CpuFused{Suffix}(CpuArgs a, int begin, int end)"))
        {
            EmitCommonHeader();
            var nodes = _plan.Prologue;
            int loss = _plan.Loss.Loss, grad = _plan.Loss.Gradient;
            EmitBroadcasts(nodes, new[] { loss, grad }, elementwise: true);
            _w.Line("int s = begin;");
            using (_w.Block($"for (; s <= end - {V}.Count; s += {V}.Count)"))
            {
                foreach (var p in _sig.Parameters.Where(p => p.Kind == ParameterKind.Input))
                    if (_g.Nodes.Contains(new Node(Op.Input, Slot: p.Slot)))
                        _w.Line($"var _{p.Name}_v = Vector512.LoadUnsafe(ref _{p.Name}_0, (nuint)s);");
                EmitVectorNodes(nodes, elementwise: true);
                _w.Line($"Vector512.StoreUnsafe({VRef(loss, true)}, ref loss_0, (nuint)s);");
                _w.Line($"Vector512.StoreUnsafe({VRef(grad, true)} * scale_v, ref grad_0, (nuint)s);");
            }
            using (_w.Block("for (; s < end; s++)"))
            {
                foreach (var p in _sig.Parameters.Where(p => p.Kind == ParameterKind.Input))
                    if (_g.Nodes.Contains(new Node(Op.Input, Slot: p.Slot)))
                        _w.Line($"double _{p.Name} = Unsafe.Add(ref _{p.Name}_0, s);");
                _scalar.EmitNodes(_w, nodes);
                _w.Line($"Unsafe.Add(ref loss_0, s) = ({_t}){_scalar.Ref(loss)};");
                _w.Line($"Unsafe.Add(ref grad_0, s) = ({_t})({_scalar.Ref(grad)} * shape.GradScale);");
            }
        }
        _w.Line();
    }

    // ---------------------------------------------------------------- rows (fused)

    private void EmitFusedRows()
    {
        _w.Line($"/// <summary>Fast CPU path: rows [begin, end), each in {LossSourceEmitter.Passes(_plan.Passes.Count)} and one gradient pass.</summary>");
        using (_w.Block($"public static void CpuFused{Suffix}(CpuArgs a, int begin, int end)"))
        {
            EmitCommonHeader();
            using (_w.Block("for (int s = begin; s < end; s++)"))
            {
                EmitSegmentData();
                var targets = _sig.Parameters.Where(p => p.Kind == ParameterKind.Target).ToList();
                if (targets.Count > 0)
                    using (_w.Block($"if ({string.Join(" || ", targets.Select(t => $"_{t.Name} == shape.IgnoreIndex"))})"))
                    {
                        _w.Line("Unsafe.Add(ref loss_0, s) = 0;");
                        _w.Line("for (long j = 0; j < shape.Length; j++) Unsafe.Add(ref grad_0, (nint)shape.Offset(s, j)) = 0;");
                        _w.Line("continue;");
                    }
                _scalar.EmitNodes(_w, _plan.Prologue);
                foreach (var pass in _plan.Passes)
                {
                    EmitPassSweeps(pass, "0", "shape.Length");
                    EmitFinalize(pass);
                    _scalar.EmitNodes(_w, pass.Epilogue);
                }
                _w.Line($"Unsafe.Add(ref loss_0, s) = ({_t}){_scalar.Ref(_plan.Loss.Loss)};");
                EmitGradientSweep("0", "shape.Length");
            }
        }
        _w.Line();
    }

    // ---------------------------------------------------------------- sets (chunked)

    private void EmitChunkHeader()
    {
        _w.Line("int s = item / shape.Chunks;");
        _w.Line("int chunk = item % shape.Chunks;");
        _w.Line("long begin = chunk * shape.ChunkLength;");
        _w.Line("long end = Math.Min(begin + shape.ChunkLength, shape.Length);");
        EmitSegmentData();
    }

    private void EmitChunkedPass(Pass pass)
    {
        _w.Line($"/// <summary>Fast CPU path, reduction pass {pass.Level}: partial {string.Join(", ", pass.Reductions.Select(MathPrinter.ReductionName))} of work items (set, chunk) [first, last).</summary>");
        using (_w.Block($"public static void CpuPass{pass.Level}{Suffix}(CpuArgs a, int first, int last)"))
        {
            EmitCommonHeader();
            using (_w.Block("for (int item = first; item < last; item++)"))
            {
                EmitChunkHeader();
                _scalar.EmitNodes(_w, _plan.Prologue);
                foreach (var earlier in _plan.Passes.TakeWhile(p => p.Level < pass.Level))
                {
                    EmitCombine(earlier);
                    _scalar.EmitNodes(_w, earlier.Epilogue);
                }
                EmitPassSweeps(pass, "begin", "end");
                _w.Line("long slot = (long)item * shape.PartialSlots;");
                PartialsCode.Write(_w, _g, pass, "a.Partials");
            }
        }
        _w.Line();
    }

    private void EmitChunkedGradient()
    {
        _w.Line("/// <summary>Fast CPU path, final pass: combines the partials, computes the loss and writes the gradient of work items [first, last).</summary>");
        using (_w.Block($"public static void CpuGradient{Suffix}(CpuArgs a, int first, int last)"))
        {
            EmitCommonHeader();
            using (_w.Block("for (int item = first; item < last; item++)"))
            {
                EmitChunkHeader();
                _scalar.EmitNodes(_w, _plan.Prologue);
                foreach (var pass in _plan.Passes)
                {
                    EmitCombine(pass);
                    _scalar.EmitNodes(_w, pass.Epilogue);
                }
                _w.Line($"if (chunk == 0) Unsafe.Add(ref loss_0, s) = ({_t}){_scalar.Ref(_plan.Loss.Loss)};");
                EmitGradientSweep("begin", "end");
            }
        }
        _w.Line();
    }

    private void EmitCombine(Pass pass) => PartialsCode.Combine(_w, _g, pass, "a.Partials");

    // ---------------------------------------------------------------- sweeps

    /// <summary>The sweeps of one pass: a max sweep if it has LogSumExp reductions, then the accumulation sweep.</summary>
    private void EmitPassSweeps(Pass pass, string from, string to)
    {
        _w.Comment($"Pass {pass.Level}: " + string.Join("; ", pass.Reductions.Select(r => $"{MathPrinter.ReductionName(r)} = {_printer.DescribeReduction(r)}")));
        var lse = pass.Reductions.Where(r => _g[r].Op == Op.ReduceLogSumExp).ToList();
        if (lse.Count > 0)
        {
            foreach (int r in lse)
            {
                string name = MathPrinter.ReductionName(r);
                _w.Line($"double {name}_max = double.NegativeInfinity;");
                _w.Line($"var {name}_mv = Vector512.Create({_t}.NegativeInfinity);");
            }
            EmitSweep(from, to, lse.Select(r => _g[r].A).ToList(),
                vector: () => { foreach (int r in lse) _w.Line($"{MathPrinter.ReductionName(r)}_mv = Vector512.Max({MathPrinter.ReductionName(r)}_mv, {VRef(_g[r].A, false)});"); },
                scalar: () => { foreach (int r in lse) _w.Line($"{MathPrinter.ReductionName(r)}_max = Math.Max({MathPrinter.ReductionName(r)}_max, {_scalar.Ref(_g[r].A)});"); });
            foreach (int r in lse)
            {
                string name = MathPrinter.ReductionName(r);
                _w.Line($"{name}_max = Math.Max({name}_max, LossVectorMath.HorizontalMax({name}_mv));");
                // Every element −∞ (a mask that keeps nothing): shift by a finite value, so e^(−∞ − shift) = 0 and the sum is 0.
                _w.Line($"if ({name}_max == double.NegativeInfinity) {name}_max = {_t}.MinValue;");
                _w.Line($"var {name}_maxv = Vector512.Create(({_t}){name}_max);");
            }
        }

        foreach (int r in pass.Reductions)
        {
            string name = MathPrinter.ReductionName(r);
            switch (_g[r].Op)
            {
                case Op.ReduceMax:
                    _w.Line($"double {name}_acc = double.NegativeInfinity; long {name}_arg = -1;");
                    _w.Line($"var {name}_mv = Vector512.Create({_t}.NegativeInfinity); var {name}_iv = {V}.Zero;");
                    break;
                case Op.ReduceSum:
                    _w.Line($"double {name}_acc = 0;");
                    _w.Line(Widen ? $"var {name}_lo = Vector512<double>.Zero; var {name}_hi = Vector512<double>.Zero;" : $"var {name}_v = {V}.Zero;");
                    break;
                default:
                    _w.Line($"double {name}_sum = 0;");
                    _w.Line(Widen ? $"var {name}_lo = Vector512<double>.Zero; var {name}_hi = Vector512<double>.Zero;" : $"var {name}_v = {V}.Zero;");
                    break;
            }
        }
        var roots = pass.Reductions.Select(r => _g[r].A).ToList();
        EmitSweep(from, to, roots,
            vector: () =>
            {
                foreach (int r in pass.Reductions)
                {
                    string name = MathPrinter.ReductionName(r), body = VRef(_g[r].A, false);
                    switch (_g[r].Op)
                    {
                        case Op.ReduceMax:
                            _w.Line($"var {name}_gt = Vector512.GreaterThan({body}, {name}_mv) | (~Vector512.Equals({body}, {body}) & Vector512.Equals({name}_mv, {name}_mv));");
                            _w.Line($"{name}_mv = Vector512.ConditionalSelect({name}_gt, {body}, {name}_mv);");
                            _w.Line($"{name}_iv = Vector512.ConditionalSelect({name}_gt, idx_v, {name}_iv);");
                            break;
                        case Op.ReduceSum:
                            EmitVectorAdd(name, body);
                            break;
                        default:
                            if (_cached?.Reduction == r)
                            {
                                _w.Line($"var {name}_e = LossVectorMath.Exp({body} - {name}_maxv);");
                                _w.Line($"Vector512.StoreUnsafe({name}_e, ref grad_0, (nuint)(off + k));   // parked for the gradient sweep");
                                EmitVectorAdd(name, $"{name}_e");
                            }
                            else EmitVectorAdd(name, $"LossVectorMath.Exp({body} - {name}_maxv)");
                            break;
                    }
                }
            },
            scalar: () =>
            {
                foreach (int r in pass.Reductions)
                {
                    string name = MathPrinter.ReductionName(r), body = _scalar.Ref(_g[r].A);
                    if (_cached?.Reduction == r)
                    {
                        _w.Line($"double {name}_e = Exp({body} - {name}_max);");
                        _w.Line($"Unsafe.Add(ref grad_0, (nint)(off + k)) = ({_t}){name}_e;");
                        _w.Line($"{name}_sum += {name}_e;");
                        continue;
                    }
                    _w.Line(_g[r].Op switch
                    {
                        Op.ReduceMax => $"if ({body} > {name}_acc || ({body} == {name}_acc && j < {name}_arg) || (double.IsNaN({body}) && !double.IsNaN({name}_acc))) {{ {name}_acc = {body}; {name}_arg = j; }}",
                        Op.ReduceSum => $"{name}_acc += {body};",
                        _ => $"{name}_sum += Exp({body} - {name}_max);",
                    });
                }
            },
            needIndex: pass.Reductions.Any(r => _g[r].Op == Op.ReduceMax));

        foreach (int r in pass.Reductions)
        {
            string name = MathPrinter.ReductionName(r);
            switch (_g[r].Op)
            {
                case Op.ReduceMax: _w.Line($"LossVectorMath.MergeArgMax({name}_mv, {name}_iv, ref {name}_acc, ref {name}_arg);"); break;
                case Op.ReduceSum: _w.Line($"{name}_acc += {VectorTotal(name)};"); break;
                default: _w.Line($"{name}_sum += {VectorTotal(name)};"); break;
            }
        }
    }

    private void EmitVectorAdd(string name, string value)
    {
        if (!Widen)
        {
            _w.Line($"{name}_v += {value};");
            return;
        }
        _w.Line($"var {name}_x = {value};");
        _w.Line($"{name}_lo += Vector512.WidenLower({name}_x);");
        _w.Line($"{name}_hi += Vector512.WidenUpper({name}_x);");
    }

    private string VectorTotal(string name) => Widen ? $"Vector512.Sum({name}_lo) + Vector512.Sum({name}_hi)" : $"Vector512.Sum({name}_v)";

    private void EmitFinalize(Pass pass) => PartialsCode.Finalize(_w, _g, pass);

    private void EmitGradientSweep(string from, string to)
    {
        int grad = _plan.Loss.Gradient;
        _w.Comment($"Gradient pass: ∂L/∂{_sig.Parameters[0].Name}_j = {_printer.Print(grad)}");
        _w.Line($"var scale_v = Vector512.Create(({_t})shape.GradScale);");
        Func<int, bool, string?>? parked = null;
        if (_cached is var (r, weight))
        {
            string name = MathPrinter.ReductionName(r);
            _w.Line($"double {name}_inv = {name}_sum == 0 ? 0 : 1.0 / {name}_sum;");
            _w.Line($"var {name}_inv_v = Vector512.Create(({_t}){name}_inv);");
            parked = (i, vector) => i != weight ? null
                : vector ? $"Vector512.LoadUnsafe(ref grad_0, (nuint)(off + k)) * {name}_inv_v"
                : $"Unsafe.Add(ref grad_0, (nint)(off + k)) * {name}_inv";
        }
        EmitSweep(from, to, new List<int> { grad },
            vector: () => _w.Line($"Vector512.StoreUnsafe({VRef(grad, false)} * scale_v, ref grad_0, (nuint)(off + k));"),
            scalar: () => _w.Line($"Unsafe.Add(ref grad_0, (nint)(off + k)) = ({_t})({_scalar.Ref(grad)} * shape.GradScale);"),
            replace: parked);
    }

    /// <summary>
    /// One sweep over elements [from, to) of segment s: contiguous runs (a row, or one batch item's pixels of a
    /// channel set), each in vectors plus a scalar tail. Outer values the element code reads are broadcast first.
    /// </summary>
    /// <param name="replace">For a node and the dialect (vector or not), an expression to use instead of its own.</param>
    private void EmitSweep(string from, string to, List<int> roots, Action vector, Action scalar, bool needIndex = false, Func<int, bool, string?>? replace = null)
    {
        // A replaced node's operands are not needed (unless something else reads them).
        var elements = GraphWalk.Reach(i => _g[i], roots, i => _scope[i] && replace?.Invoke(i, true) is null)
            .Where(i => _scope[i]).ToEquatableArray();
        using var sweep = _w.Block("// Sweep: runs of contiguous elements, vectors then a scalar tail.");
        EmitBroadcasts(elements, roots, elementwise: false);
        bool usesIndex = needIndex || elements.Any(i => _g[i].Op == Op.ElemIndex);
        using (_w.Block($"for (long j0 = {from}; j0 < {to};)"))
        {
            _w.Line("long blk = j0 / shape.Inner, i0 = j0 - blk * shape.Inner;");
            _w.Line($"long run = Math.Min({to} - j0, shape.Inner - i0);");
            _w.Line("long off = blk * shape.OuterStride + s * shape.SegmentStride + i0;");
            if (_sig.Multiclass) MulticlassCode.RunHeader(_w, _t);
            _w.Line("long k = 0;");
            // Float lanes hold element indices exactly only below 2^24; past that, index code runs scalar.
            string exact = usesIndex && _t == "float" ? " && shape.Length <= (1L << 24)" : "";
            using (_w.Block($"for (; k <= run - {V}.Count{exact}; k += {V}.Count)"))
            {
                if (_sig.Multiclass) MulticlassCode.Vector(_w, _g, _sig, elements, _t);
                else
                    foreach (var p in _sig.Parameters.Where(p => p.Kind == ParameterKind.Span))
                        if (elements.Any(i => _g[i].Op == Op.Elem && _g[i].Slot == p.Slot))
                            _w.Line($"var _{p.Name}_v = Vector512.LoadUnsafe(ref _{p.Name}_0, (nuint)(off + k));");
                if (usesIndex) _w.Line($"var idx_v = Vector512.Create(({_t})(j0 + k)) + {V}.Indices;");
                EmitVectorNodes(elements, elementwise: false, replace is null ? null : i => replace(i, true));
                vector();
            }
            using (_w.Block("for (; k < run; k++)"))
            {
                if (usesIndex) _w.Line("long j = j0 + k;");
                if (_sig.Multiclass)
                    MulticlassCode.Scalar(_w, _g, _sig, elements, $"Unsafe.Add(ref {SpanRef(0)}, (nint)(off + k))", "Unsafe.Add(ref lse_0, (nint)(px + k))",
                        $"Unsafe.Add(ref {SpanRef(1)}, (nint)(px + k))", "setClass");
                else
                    foreach (var p in _sig.Parameters.Where(p => p.Kind == ParameterKind.Span))
                        if (elements.Any(i => _g[i].Op == Op.Elem && _g[i].Slot == p.Slot))
                            _w.Line($"double _{p.Name}_j = Unsafe.Add(ref _{p.Name}_0, (nint)(off + k));");
                _scalar.EmitNodes(_w, elements, replace is null ? null : i => replace(i, false));
                scalar();
            }
            _w.Line("j0 += run;");
        }
    }

    // ---------------------------------------------------------------- vector dialect

    /// <summary>Whether node i is computed per lane (element scope, or every computed node of an elementwise loss).</summary>
    private bool IsLane(int i, bool elementwise)
    {
        var n = _g[i];
        if (elementwise) return n.Op == Op.Input || (!n.Op.IsLeaf() && n.Op != Op.At);
        return _scope[i];
    }

    /// <summary>Declares vector broadcasts of the row-level values that lane code reads.</summary>
    private void EmitBroadcasts(IEnumerable<int> nodes, IEnumerable<int> roots, bool elementwise)
    {
        var outer = new SortedSet<int>();
        void Visit(int i)
        {
            if (!IsLane(i, elementwise) && _g[i].Op != Op.Const && _g[i].Op != Op.ElemIndex) outer.Add(i);
        }
        foreach (int i in nodes)
        {
            var n = _g[i];
            if (!IsLane(i, elementwise) || n.Op.IsLeaf()) continue;
            for (int k = 0; k < n.OperandCount; k++) Visit(n.Operand(k));
        }
        foreach (int r in roots) Visit(r);
        foreach (int i in outer)
        {
            string value = _g[i].Op.KindOf() == ValueKind.Boolean
                ? $"LossVectorMath.Mask<{_t}>({_scalar.Ref(i)})"
                : $"Vector512.Create(({_t}){_scalar.Ref(i)})";
            _w.Line($"var {Broadcast(i)} = {value};");
        }
        if (elementwise) _w.Line($"var scale_v = Vector512.Create(({_t})shape.GradScale);");
    }

    private static string Broadcast(int i) => "b" + ScalarCode.Local(i);

    private void EmitVectorNodes(EquatableArray<int> nodes, bool elementwise, Func<int, string?>? replace = null)
    {
        foreach (int i in nodes)
        {
            var n = _g[i];
            if (!IsLane(i, elementwise) || n.Op.IsLeaf()) continue;
            _w.Line($"var w{i} = {replace?.Invoke(i) ?? VExpression(n, elementwise)};");
        }
    }

    private string VRef(int i, bool elementwise)
    {
        var n = _g[i];
        if (n.Op == Op.Const) return $"Vector512.Create(({_t}){ScalarCode.Literal(n.Value)})";
        if (n.Op == Op.Elem) return _printer.CodeName(ParameterKind.Span, n.Slot) + "_v";
        if (n.Op == Op.ElemIndex) return "idx_v";
        if (elementwise && n.Op == Op.Input) return _printer.CodeName(ParameterKind.Input, n.Slot) + "_v";
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
