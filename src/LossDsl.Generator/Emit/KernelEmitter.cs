using System.Collections.Generic;
using System.Linq;
using LossDsl.Generator.IR;
using LossDsl.Generator.Model;
using LossDsl.Generator.Schedule;

namespace LossDsl.Generator.Emit;

/// <summary>
/// Emits the ILGPU kernels of one loss for one element type, shaped for a GPU: explicitly grouped, with the threads of a
/// group striding over a row or chunk so that loads are coalesced, and reductions merged across the group
/// (<c>GroupReduce</c>: warp shuffles, then shared memory). The float32 kernels compute in float; partials that cross
/// groups, and their combination, are double. The float64 kernels compute in double.
/// <para>
/// Every kernel has the signature LossDsl.Runtime expects, <c>(KernelShape shape, LossViews&lt;TIn, T&gt; v)</c>: the views
/// are the tensors' own memory (spans, per-row inputs, targets), the hyperparameters, the loss, the gradient and the partials.
/// The float32 kernels are generic over the inputs' storage TIn (float32, bfloat16 or float16, loaded as float).
/// </para>
/// <list type="bullet">
/// <item>Class rows: one group per row. Each pass is one strided sweep accumulating all of its reductions, merged across
/// the group; the gradient sweep reuses the merged values. Forward and backward are one launch.</item>
/// <item>Elementwise: one launch, grid-stride over elements. With <c>shape.SumLoss</c> set (Sum or Mean without
/// weights), each group writes one partial sum of the loss instead of a loss per element.</item>
/// <item>Sets: one group per (set, chunk). Each pass is a launch that writes per-(set, chunk) partials; the last launch
/// combines them in double and writes the gradient.</item>
/// </list>
/// </summary>
public sealed class KernelEmitter
{
    private readonly KernelPlan _plan;
    private readonly Graph _g;
    private readonly LossSignature _sig;
    private readonly string _t;
    private readonly IndentedWriter _w;

    public KernelEmitter(KernelPlan plan, string elementType, IndentedWriter writer)
    {
        _plan = plan;
        _g = plan.Loss.Graph;
        _sig = plan.Loss.Signature;
        _t = elementType;
        _w = writer;
    }

    private string Suffix => _t == "float" ? "F32" : "F64";

    /// <summary>The type values are computed in: the element type (float for float32, double for float64).</summary>
    private string Real => _t;

    /// <summary>A double of the kernel shape or hyperparameters, in the compute type.</summary>
    private string FromDouble(string e) => Real == "double" ? e : $"({Real}){e}";

    /// <summary>
    /// The float32 kernels are generic over how inputs are stored (F32, BF16 or F16: <c>IKernelReal.Value</c> loads them
    /// as float); the float64 kernels read doubles.
    /// </summary>
    private bool Generic => _t == "float";

    private string Signature(string name) => Generic
        ? $"public static void {name}<TIn>(KernelShape shape, LossViews<TIn, float> v) where TIn : unmanaged, IKernelReal"
        : $"public static void {name}(KernelShape shape, LossViews<double, double> v)";

    /// <summary>An input element, as the compute type.</summary>
    private string Load(string element) => Generic ? element + ".Value" : element;

    /// <summary>The kernel method names in launch order, instantiated for inputs stored as <paramref name="input"/> (float32 kernels).</summary>
    public static IEnumerable<string> KernelNames(KernelPlan plan, string suffix, string? input = null)
        => (plan.Chunked
            ? plan.Passes.Select(p => $"Pass{p.Level}{suffix}").Concat(new[] { "Gradient" + suffix })
            : new[] { "Fused" + suffix }).Select(name => input is null ? name : $"{name}<{input}>");

    public void EmitAll()
    {
        if (_sig.Shape == LossShape.Elementwise) EmitElementwise();
        else if (!_plan.Chunked) EmitRows();
        else
        {
            foreach (var pass in _plan.Passes) EmitChunkedPass(pass);
            EmitChunkedGradient();
        }
    }

    private void EmitElementwise()
    {
        _w.Line("/// <summary>");
        _w.Line("/// Forward and backward fused, one launch: a grid-stride loop over the elements. With shape.SumLoss (Sum or Mean");
        _w.Line("/// without weights) the loss is summed per group into partials[group] (in double), and no per-element loss is written.");
        _w.Line("/// </summary>");
        using (_w.Block(Signature($"Fused{Suffix}")))
        {
            _w.Line($"{Real} loss_acc = 0;");
            using (_w.Block("for (long e = Grid.GlobalIndex.X; e < shape.Segments; e += (long)Grid.DimX * Group.DimX)"))
            {
                _w.Line("int s = (int)e;");
                EmitSegmentHeader();
                EmitNodes(_plan.Prologue);
                _w.Line($"{Real} loss_s = {Ref(_plan.Loss.Loss)};");
                _w.Line("if (shape.SumLoss != 0) loss_acc += loss_s;");
                _w.Line("else v.Loss[s] = loss_s;");
                _w.Comment($"∂L/∂{_sig.Parameters[0].Name} = {Printer.Print(_plan.Loss.Gradient)}");
                _w.Line($"v.Grad[s] = {Ref(_plan.Loss.Gradient)} * {FromDouble("shape.GradScale")};");
            }
            using (_w.Block("if (shape.SumLoss != 0)"))
            {
                _w.Line("loss_acc = GroupReduce.Sum(loss_acc);");
                _w.Line("if (Group.IsFirstThread) v.Partials[Grid.IdxX] = loss_acc;");
            }
        }
        _w.Line();
    }

    private void EmitRows()
    {
        _w.Line($"/// <summary>Forward and backward fused, one group per row, its threads striding over the row: {LossSourceEmitter.Passes(_plan.Passes.Count)} merged across the group, then the gradient pass.</summary>");
        using (_w.Block(Signature($"Fused{Suffix}")))
        {
            _w.Line("int s = Grid.IdxX;");
            EmitSegmentHeader();
            EmitIgnoreGuard();
            EmitNodes(_plan.Prologue);
            foreach (var pass in _plan.Passes)
            {
                EmitAccumulators(pass);
                EmitLoop(pass.ElementNodes, "0", "shape.Length", () => EmitAccumulate(pass));
                EmitGroupMerge(pass);
                PartialsCode.Finalize(_w, _g, pass, Real, Real);
                EmitNodes(pass.Epilogue);
            }
            _w.Line($"if (Group.IsFirstThread) v.Loss[s] = {Ref(_plan.Loss.Loss)};");
            EmitGradient("0", "shape.Length");
        }
        _w.Line();
    }

    private void EmitChunkedPass(Pass pass)
    {
        _w.Line($"/// <summary>Reduction pass {pass.Level}: one group per (set, chunk), merged across the group, writes partial {string.Join(", ", pass.Reductions.Select(MathPrinter.ReductionName))}.</summary>");
        using (_w.Block(Signature($"Pass{pass.Level}{Suffix}")))
        {
            EmitChunkHeader();
            EmitNodes(_plan.Prologue);
            foreach (var earlier in _plan.Passes.TakeWhile(p => p.Level < pass.Level))
            {
                EmitCombine(earlier);
                EmitNodes(earlier.Epilogue);
            }
            EmitAccumulators(pass);
            EmitLoop(pass.ElementNodes, "begin", "end", () => EmitAccumulate(pass));
            EmitGroupMerge(pass);
            using (_w.Block("if (Group.IsFirstThread)"))
            {
                _w.Line("long slot = ((long)s * shape.Chunks + chunk) * shape.PartialSlots;");
                PartialsCode.Write(_w, _g, pass, "v.Partials");
            }
        }
        _w.Line();
    }

    private void EmitChunkedGradient()
    {
        _w.Line("/// <summary>One group per (set, chunk): combines the partials of every pass, computes the loss and its adjoints, and writes this chunk's gradient.</summary>");
        using (_w.Block(Signature($"Gradient{Suffix}")))
        {
            EmitChunkHeader();
            EmitNodes(_plan.Prologue);
            foreach (var pass in _plan.Passes)
            {
                EmitCombine(pass);
                EmitNodes(pass.Epilogue);
            }
            _w.Line($"if (chunk == 0 && Group.IsFirstThread) v.Loss[s] = {Ref(_plan.Loss.Loss)};");
            EmitGradient("begin", "end");
        }
        _w.Line();
    }

    private void EmitChunkHeader()
    {
        _w.Line("int s = Grid.IdxX / shape.Chunks;");
        _w.Line("int chunk = Grid.IdxX % shape.Chunks;");
        _w.Line("long begin = chunk * shape.ChunkLength;");
        _w.Line("long end = begin + shape.ChunkLength < shape.Length ? begin + shape.ChunkLength : shape.Length;");
        EmitSegmentHeader();
    }

    /// <summary>Loads hyperparameters, per-row or per-element data, and the row length.</summary>
    private void EmitSegmentHeader()
    {
        var used = new HashSet<(Op, int)>(_g.Nodes.Select(n => (n.Op, n.Slot)));
        foreach (var p in _sig.Parameters)
        {
            switch (p.Kind)
            {
                case ParameterKind.Hyper when used.Contains((Op.Hyper, p.Slot)):
                    _w.Line($"{Real} _{p.Name} = {FromDouble($"v.Hyper[{p.Slot}]")};");
                    break;
                case ParameterKind.Target:
                    _w.Line($"long _{p.Name} = v.Target{p.Slot}[s];");
                    break;
                case ParameterKind.Input when used.Contains((Op.Input, p.Slot)):
                    _w.Line($"{Real} _{p.Name} = {Load($"v.Input{p.Slot}[s]")};");
                    break;
            }
        }
        // A multiclass set's length counts the pixels that are not ignored.
        if (_g.Nodes.Any(n => n.Op == Op.Length)) _w.Line(_sig.Multiclass ? $"{Real} n = {FromDouble("shape.Count")};" : $"{Real} n = shape.Length;");
        if (_g.Nodes.Any(n => n.Op == Op.Classes)) _w.Line($"{Real} classes = shape.Classes;");
    }

    /// <summary>Rows whose class index equals ignore_index get loss 0 and gradient 0 (uniform across the row's group).</summary>
    private void EmitIgnoreGuard()
    {
        var targets = _sig.Parameters.Where(p => p.Kind == ParameterKind.Target).ToList();
        if (targets.Count == 0) return;
        using (_w.Block($"if ({string.Join(" || ", targets.Select(t => $"_{t.Name} == shape.IgnoreIndex"))})"))
        {
            _w.Line("if (Group.IsFirstThread) v.Loss[s] = 0;");
            _w.Line("for (long j = Group.IdxX; j < shape.Length; j += Group.DimX) v.Grad[shape.Offset(s, j)] = 0;");
            _w.Line("return;");
        }
    }

    private void EmitAccumulate(Pass pass)
    {
        foreach (int r in pass.Reductions)
        {
            string name = MathPrinter.ReductionName(r), body = Ref(_g[r].A);
            switch (_g[r].Op)
            {
                case Op.ReduceSum:
                    _w.Line($"{name}_acc += {body};");
                    break;
                case Op.ReduceMax:
                    // A NaN element wins and stays, as Math.Max does; a thread sees its elements in increasing j.
                    _w.Line($"if ({body} > {name}_acc || ({Real}.IsNaN({body}) && !{Real}.IsNaN({name}_acc))) {{ {name}_acc = {body}; {name}_arg = j; }}");
                    break;
                default:
                    // Online log-sum-exp: rescale the running sum whenever the running max grows; elements at −∞
                    // (masked logits) add e^−∞ = 0 and are skipped, so that −∞ − (−∞) never makes a NaN.
                    _w.Line($"if ({body} > {name}_max) {{ {name}_sum = {name}_sum * Exp({name}_max - {body}) + 1; {name}_max = {body}; }}");
                    _w.Line($"else if ({body} != {Real}.NegativeInfinity) {name}_sum += Exp({body} - {name}_max);");
                    break;
            }
        }
    }

    /// <summary>Merges each thread's accumulators across the group; every thread gets the group's values.</summary>
    private void EmitGroupMerge(Pass pass)
    {
        foreach (int r in pass.Reductions)
        {
            string name = MathPrinter.ReductionName(r);
            _w.Line(_g[r].Op switch
            {
                Op.ReduceSum => $"{name}_acc = GroupReduce.Sum({name}_acc);",
                Op.ReduceMax => $"GroupReduce.Max(ref {name}_acc, ref {name}_arg);",
                _ => $"GroupReduce.LogSumExp(ref {name}_max, ref {name}_sum);",
            });
        }
    }

    /// <summary>Combines the per-chunk partials of a pass into the set's reductions.</summary>
    private void EmitCombine(Pass pass)
    {
        _w.Comment($"Pass {pass.Level}, combined over chunks: " + string.Join("; ", pass.Reductions.Select(r => $"{MathPrinter.ReductionName(r)} = {Printer.DescribeReduction(r)}")));
        PartialsCode.Combine(_w, _g, pass, "v.Partials", Real);
    }

    private void EmitAccumulators(Pass pass)
    {
        _w.Comment($"Pass {pass.Level}: " + string.Join("; ", pass.Reductions.Select(r => $"{MathPrinter.ReductionName(r)} = {Printer.DescribeReduction(r)}")));
        PartialsCode.DeclareAccumulators(_w, _g, pass, Real);
    }

    /// <summary>A sweep of the group's threads over elements [from, to) of segment s, each thread taking every Group.DimX-th.</summary>
    private void EmitLoop(EquatableArray<int> elementNodes, string from, string to, System.Action body)
    {
        using (_w.Block($"for (long j = {(from == "0" ? "" : from + " + ")}Group.IdxX; j < {to}; j += Group.DimX)"))
        {
            _w.Line("long o = shape.Offset(s, j);");
            if (_sig.Multiclass)
            {
                // The logits, then per pixel: log Σ_c e^z, then the class (−1 where ignored).
                if (MulticlassCode.Used(_g, _sig, elementNodes) != (false, false, false))
                    _w.Line("long px = o / (shape.Inner * shape.Classes) * shape.Inner + o % shape.Inner;");
                MulticlassCode.Scalar(_w, _g, _sig, elementNodes, Load("v.Span0[o]"), Load("v.Span1[px]"), Load("v.Span2[px]"), "o / shape.Inner % shape.Classes", Real);
            }
            else
                foreach (var p in _sig.Parameters.Where(p => p.Kind == ParameterKind.Span))
                    if (elementNodes.Any(i => _g[i].Op == Op.Elem && _g[i].Slot == p.Slot))
                        _w.Line($"{Real} _{p.Name}_j = {Load($"v.Span{p.Slot}[o]")};");
            EmitNodes(elementNodes);
            body();
        }
    }

    private void EmitGradient(string from, string to)
    {
        var derived = _plan.Loss;
        _w.Comment($"Gradient pass: ∂L/∂{_sig.Parameters[0].Name}_j = {Printer.Print(derived.Gradient)}");
        EmitLoop(_plan.GradientElements, from, to, () => _w.Line($"v.Grad[o] = {Ref(derived.Gradient)} * {FromDouble("shape.GradScale")};"));
    }

    private MathPrinter? _printer;
    private MathPrinter Printer => _printer ??= new MathPrinter(_g, _sig);

    private ScalarCode? _code;
    private ScalarCode Code => _code ??= new ScalarCode(_g, Printer, (n, index) => Load($"v.Span{n.Slot}[shape.Offset(s, {index})]"), Real);

    private void EmitNodes(EquatableArray<int> nodes) => Code.EmitNodes(_w, nodes);

    private string Ref(int i) => Code.Ref(i);
}
