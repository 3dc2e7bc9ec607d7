using System.Collections.Generic;
using System.Linq;
using LossDsl.Generator.IR;
using LossDsl.Generator.Model;
using LossDsl.Generator.Schedule;

namespace LossDsl.Generator.Emit;

/// <summary>
/// Emits the ILGPU kernels of one loss for one element type. All arithmetic is in double: inputs are widened
/// on load, reductions accumulate in double, and only the loss and the gradient are narrowed on store.
/// <para>
/// Every kernel has the signature LossDsl.Runtime expects:
/// (Index1D, KernelShape, ArrayView&lt;T&gt; inputs, ArrayView&lt;long&gt; targets, ArrayView&lt;double&gt; hyper,
/// ArrayView&lt;T&gt; loss, ArrayView&lt;T&gt; grad, ArrayView&lt;double&gt; partials).
/// </para>
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

    private string Parameters =>
        $"Index1D index, KernelShape shape, ArrayView<{_t}> inputs, ArrayView<long> targets, ArrayView<double> hyper, ArrayView<{_t}> loss, ArrayView<{_t}> grad, ArrayView<double> partials";

    /// <summary>The kernel method names in launch order.</summary>
    public static IEnumerable<string> KernelNames(KernelPlan plan, string suffix)
        => plan.Chunked
            ? plan.Passes.Select(p => $"Pass{p.Level}{suffix}").Concat(new[] { "Gradient" + suffix })
            : new[] { "Fused" + suffix };

    public void EmitAll()
    {
        if (!_plan.Chunked)
        {
            EmitFused();
            return;
        }
        foreach (var pass in _plan.Passes) EmitChunkedPass(pass);
        EmitChunkedGradient();
    }

    private void EmitFused()
    {
        bool elementwise = _sig.Shape == LossShape.Elementwise;
        _w.Line(elementwise
            ? $"/// <summary>Forward and backward fused, one thread per element.</summary>"
            : $"/// <summary>Forward and backward fused, one thread per row: {LossSourceEmitter.Passes(_plan.Passes.Count)}, then the gradient pass.</summary>");
        using (_w.Block($"public static void Fused{Suffix}({Parameters})"))
        {
            _w.Line("int s = index;");
            EmitSegmentHeader();
            EmitIgnoreGuard(elementwise ? null : "0, shape.Length");
            EmitNodes(_plan.Prologue);
            foreach (var pass in _plan.Passes)
            {
                EmitAccumulators(pass);
                EmitLoop(pass.ElementNodes, "0", "shape.Length", () => EmitAccumulate(pass));
                EmitFinalize(pass);
                EmitNodes(pass.Epilogue);
            }
            EmitStoreLoss();
            EmitGradient(elementwise, "0", "shape.Length");
        }
        _w.Line();
    }

    private void EmitChunkedPass(Pass pass)
    {
        _w.Line($"/// <summary>Reduction pass {pass.Level}: one thread per (set, chunk) writes partial {string.Join(", ", pass.Reductions.Select(MathPrinter.ReductionName))}.</summary>");
        using (_w.Block($"public static void Pass{pass.Level}{Suffix}({Parameters})"))
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
            _w.Line("long slot = ((long)s * shape.Chunks + chunk) * shape.PartialSlots;");
            PartialsCode.Write(_w, _g, pass, "partials");
        }
        _w.Line();
    }

    private void EmitChunkedGradient()
    {
        _w.Line("/// <summary>Combines the partials of every pass, computes the loss and its adjoints, and writes this chunk's gradient.</summary>");
        using (_w.Block($"public static void Gradient{Suffix}({Parameters})"))
        {
            EmitChunkHeader();
            EmitNodes(_plan.Prologue);
            foreach (var pass in _plan.Passes)
            {
                EmitCombine(pass);
                EmitNodes(pass.Epilogue);
            }
            using (_w.Block("if (chunk == 0)")) EmitStoreLoss();
            EmitGradient(false, "begin", "end");
        }
        _w.Line();
    }

    private void EmitChunkHeader()
    {
        _w.Line("int s = index / shape.Chunks;");
        _w.Line("int chunk = index % shape.Chunks;");
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
                    _w.Line($"double _{p.Name} = hyper[{p.Slot}];");
                    break;
                case ParameterKind.Target:
                    _w.Line($"long _{p.Name} = targets[{p.Slot} * shape.Segments + s];");
                    break;
                case ParameterKind.Input when used.Contains((Op.Input, p.Slot)):
                    _w.Line($"double _{p.Name} = inputs[shape.InputBase + {p.Slot} * shape.Segments + s];");
                    break;
            }
        }
        // A multiclass set's length counts the pixels that are not ignored.
        if (_g.Nodes.Any(n => n.Op == Op.Length)) _w.Line(_sig.Multiclass ? "double n = shape.Count;" : "double n = shape.Length;");
        if (_g.Nodes.Any(n => n.Op == Op.Classes)) _w.Line("double classes = shape.Classes;");
    }

    /// <summary>Rows whose class index equals ignore_index get loss 0 and gradient 0.</summary>
    private void EmitIgnoreGuard(string? range)
    {
        var targets = _sig.Parameters.Where(p => p.Kind == ParameterKind.Target).ToList();
        if (targets.Count == 0 || range is null) return;
        using (_w.Block($"if ({string.Join(" || ", targets.Select(t => $"_{t.Name} == shape.IgnoreIndex"))})"))
        {
            _w.Line("loss[s] = 0;");
            _w.Line("for (long j = 0; j < shape.Length; j++) grad[shape.Offset(s, j)] = 0;");
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
                    // A NaN element wins and stays, as Math.Max does.
                    _w.Line($"if ({body} > {name}_acc || (double.IsNaN({body}) && !double.IsNaN({name}_acc))) {{ {name}_acc = {body}; {name}_arg = j; }}");
                    break;
                default:
                    // Online log-sum-exp: rescale the running sum whenever the running max grows; elements at −∞
                    // (masked logits) add e^−∞ = 0 and are skipped, so that −∞ − (−∞) never makes a NaN.
                    _w.Line($"if ({body} > {name}_max) {{ {name}_sum = {name}_sum * Exp({name}_max - {body}) + 1; {name}_max = {body}; }}");
                    _w.Line($"else if ({body} != double.NegativeInfinity) {name}_sum += Exp({body} - {name}_max);");
                    break;
            }
        }
    }

    private void EmitFinalize(Pass pass) => PartialsCode.Finalize(_w, _g, pass);

    /// <summary>Combines the per-chunk partials of a pass into the set's reductions.</summary>
    private void EmitCombine(Pass pass)
    {
        _w.Comment($"Pass {pass.Level}, combined over chunks: " + string.Join("; ", pass.Reductions.Select(r => $"{MathPrinter.ReductionName(r)} = {Printer.DescribeReduction(r)}")));
        PartialsCode.Combine(_w, _g, pass, "partials");
    }

    private void EmitAccumulators(Pass pass)
    {
        _w.Comment($"Pass {pass.Level}: " + string.Join("; ", pass.Reductions.Select(r => $"{MathPrinter.ReductionName(r)} = {Printer.DescribeReduction(r)}")));
        PartialsCode.DeclareAccumulators(_w, _g, pass);
    }

    private void EmitLoop(EquatableArray<int> elementNodes, string from, string to, System.Action body)
    {
        using (_w.Block($"for (long j = {from}; j < {to}; j++)"))
        {
            _w.Line("long o = shape.Offset(s, j);");
            if (_sig.Multiclass)
            {
                // The logits, then per pixel: log Σ_c e^z, then the class (−1 where ignored).
                if (MulticlassCode.Used(_g, _sig, elementNodes) != (false, false, false))
                    _w.Line("long px = o / (shape.Inner * shape.Classes) * shape.Inner + o % shape.Inner;");
                MulticlassCode.Scalar(_w, _g, _sig, elementNodes, "inputs[o]", "inputs[shape.SpanSize + px]",
                    "inputs[shape.SpanSize + shape.Pixels + px]", "o / shape.Inner % shape.Classes");
            }
            else
                foreach (var p in _sig.Parameters.Where(p => p.Kind == ParameterKind.Span))
                    if (elementNodes.Any(i => _g[i].Op == Op.Elem && _g[i].Slot == p.Slot))
                        _w.Line($"double _{p.Name}_j = inputs[{p.Slot} * shape.SpanSize + o];");
            EmitNodes(elementNodes);
            body();
        }
    }

    private void EmitStoreLoss() => _w.Line($"loss[s] = ({_t}){Ref(_plan.Loss.Loss)};");

    private void EmitGradient(bool elementwise, string from, string to)
    {
        var derived = _plan.Loss;
        string x = _sig.Parameters[0].Name;
        _w.Comment(elementwise
            ? $"∂L/∂{x} = {Printer.Print(derived.Gradient)}"
            : $"Gradient pass: ∂L/∂{x}_j = {Printer.Print(derived.Gradient)}");
        if (elementwise)
        {
            _w.Line($"grad[s] = ({_t})({Ref(derived.Gradient)} * shape.GradScale);");
            return;
        }
        EmitLoop(_plan.GradientElements, from, to, () => _w.Line($"grad[o] = ({_t})({Ref(derived.Gradient)} * shape.GradScale);"));
    }

    private MathPrinter? _printer;
    private MathPrinter Printer => _printer ??= new MathPrinter(_g, _sig);

    private ScalarCode? _code;
    private ScalarCode Code => _code ??= new ScalarCode(_g, Printer, (n, index) => $"inputs[{n.Slot} * shape.SpanSize + shape.Offset(s, {index})]");

    private void EmitNodes(EquatableArray<int> nodes) => Code.EmitNodes(_w, nodes);

    private string Ref(int i) => Code.Ref(i);

}
