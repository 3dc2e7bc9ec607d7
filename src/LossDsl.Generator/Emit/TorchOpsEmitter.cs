using System.Collections.Generic;
using System.Linq;
using LossDsl.Generator.IR;
using LossDsl.Generator.Model;
using LossDsl.Generator.Schedule;

namespace LossDsl.Generator.Emit;

/// <summary>
/// Emits a loss's torch-ops form: the loss and its derived gradients (the prediction's, and each other float
/// parameter's when its tensor requires grad) as TorchSharp tensor operations, from the same derived IR the kernels
/// come from. Every node becomes one statement. A node that depends on the data is a
/// tensor on the element axes (inside a reduction body) or the segment axes (one value per row or set, kept as
/// size-1 dimensions); a node that depends only on constants and hyperparameters stays a C# scalar.
/// <list type="bullet">
/// <item>A reduction is the frame's function of its name in the reduction table (<c>f.Sum</c>, <c>f.Max</c>, …: <c>sum</c>,
/// <c>amax</c>, … over the element axes with keepdim; <c>LossDsl.Runtime.TorchFrame</c> knows the axes of each shape).</item>
/// <item><c>row[target]</c> is <c>gather</c>; a condition is <c>where</c>; the index <c>j</c> is an <c>arange</c>;
/// the position a <c>Max</c> or <c>Min</c> chose is an <c>argmax</c> or <c>argmin</c>, compared with <c>j</c> to make the mask; a one-hot gradient
/// term added to a row is <c>scatter_add</c>; x − LogSumExp goes through the frame, which keeps its precision.</item>
/// <item>A running sum over a sort (<c>CumSum</c>) is <c>f.CumSum(value, key)</c>: a stable descending sort of the key,
/// <c>gather</c>, <c>cumsum</c> and <c>scatter</c> back, so autograd carries the gradient back through the permutation.</item>
/// <item>A reduction across the segments (a set loss's classes, a pair loss's anchors) is the frame's <c>f.SumAcross</c>, …
/// over that axis of the per-segment tensors, keepdim: one value per call or per image, which broadcasts back.</item>
/// <item>Without a graph to build, a temporary is overwritten at its last use (<c>f.InPlace</c>).</item>
/// </list>
/// The code runs on any device and dtype, and under grad mode it is differentiable again, which is how every
/// backend answers <c>backward(create_graph: true)</c>.
/// </summary>
public sealed class TorchOpsEmitter
{
    public const string MethodName = "TorchOps";

    private readonly KernelPlan _plan;
    private readonly Graph _g;
    private readonly MathPrinter _printer;
    private readonly ScalarCode _scalar;
    private readonly bool[] _tensor;
    private readonly IndentedWriter _w;

    /// <summary>Whether a node is evaluated per element (its tensor is on the element axes) rather than per segment.</summary>
    private readonly bool[] _element;

    /// <summary>Whether a node's tensor certainly has the full shape of its axes (so an op on it in place keeps the result's shape).</summary>
    private readonly bool[] _exact;

    /// <summary>Whether a node's tensor is a float temporary that this method made, so that its last reader may overwrite it.</summary>
    private readonly bool[] _owned;

    public TorchOpsEmitter(KernelPlan plan, IndentedWriter w)
    {
        _plan = plan;
        _g = plan.Source.Graph;
        _w = w;
        _printer = new MathPrinter(_g, plan.Source.Signature, reductionNumber: plan.KernelNode);
        _scalar = new ScalarCode(_g, _printer, at: (_, _) => "");
        _tensor = new bool[_g.Count];
        for (int i = 0; i < _g.Count; i++)
        {
            var n = _g[i];
            _tensor[i] = n.Op switch
            {
                Op.Const or Op.Hyper or Op.Length or Op.Classes => false,
                Op.Input or Op.Target or Op.Elem or Op.ElemIndex or Op.At or Op.CumSum or Op.OuterElem or Op.OuterIndex or Op.Across => true,
                Op.Arg => _tensor[_g[n.A].A],
                _ => Enumerable.Range(0, n.OperandCount).Any(k => _tensor[n.Operand(k)]),
            };
        }
        _element = _g.ElementScope();
        _pair = _g.PairScope();
        _exact = new bool[_g.Count];
        _owned = new bool[_g.Count];
        for (int i = 0; i < _g.Count; i++)
        {
            var n = _g[i];
            bool scalarChoice = n.Op == Op.Select && !_tensor[n.A];   // c ? a : b with a constant condition may alias a or b
            _exact[i] = _tensor[i] && !scalarChoice && n.Op switch
            {
                Op.ElemIndex => false,   // an arange that broadcasts over the other element axes
                Op.Input or Op.Target or Op.Elem or Op.At or Op.Arg or Op.CumSum => true,
                _ when n.Op.IsReduction() => true,   // keepdim: the segment shape
                Op.NestedSum => _pair[n.A],   // [rows, N]; the row's sum otherwise
                Op.Across => false,   // one value per call or image, not per set
                _ => Enumerable.Range(0, n.OperandCount).Any(k => _exact[n.Operand(k)] && _element[n.Operand(k)] == _element[i]),
            };
            if (_pair[i]) { _exact[i] = false; continue; }   // [rows, block, N] inside a nested sum's block: never in place
            bool view = OpTable.Unary(n.Op) is { TorchAliases: true };   // shares its operand's storage
            _owned[i] = _exact[i] && n.Op.KindOf() == ValueKind.Real && !n.Op.IsLeaf() && !scalarChoice && !view || n.Op == Op.At;
        }
    }

    public void Emit()
    {
        var d = _plan.Source;
        var sig = d.Signature;
        var data = sig.Parameters.Where(p => p.Kind != ParameterKind.Hyper).ToList();
        // The other parameters' gradients: computed only when their tensor requires grad (f.Wants).
        var others = Enumerable.Range(1, data.Count - 1).Where(p => d.Gradients[p] >= 0).Select(p => (Parameter: p, Node: d.Gradients[p])).ToList();

        var mainRoots = new[] { d.Loss, d.Gradient };
        var allRoots = mainRoots.Concat(others.Select(o => o.Node)).ToArray();
        _oneHotAdds = OneHotAdds(Needed(allRoots), allRoots);
        var needed = Needed(mainRoots);
        var blocks = others.Select(o => Needed(new[] { o.Node }).Except(needed).ToList()).ToList();

        // A temporary may be overwritten at its last use in the main part, unless a gradient block reads it (blocks run
        // only when wanted, so their own ops are never in place) or it is a result.
        var lastUse = allRoots.Distinct().ToDictionary(r => r, _ => int.MaxValue);
        foreach (int i in needed)
            foreach (int k in Operands(i))
                if (!lastUse.TryGetValue(k, out int last) || last < i) lastUse[k] = i;
        foreach (int k in blocks.SelectMany(b => b).SelectMany(Operands)) lastUse[k] = int.MaxValue;
        // A nested sum's block reads the row's tensors when the nested sum runs, after its pair nodes' places: keep them.
        foreach (int k in needed.Where(i => _pair[i]).SelectMany(Operands)) lastUse[k] = int.MaxValue;
        // A node that may be its operand itself (c ? a : b with a scalar c; a view such as detach()) keeps that operand
        // alive as long as it lives: overwriting the operand would overwrite it too.
        foreach (int i in needed.Concat(blocks.SelectMany(b => b)).Distinct().OrderByDescending(i => i))
        {
            var n = _g[i];
            bool alias = n.Op == Op.Select && !_tensor[n.A] || OpTable.Unary(n.Op) is { TorchAliases: true };
            if (!alias || !lastUse.TryGetValue(i, out int until)) continue;
            foreach (int k in Operands(i).Where(k => lastUse.ContainsKey(k)))
                lastUse[k] = System.Math.Max(lastUse[k], until);
        }
        var adjointOf = d.Adjoints.ToLookup(a => a.Value, a => a.Variable);
        string x = sig.Parameters[0].Name;

        _w.Line($"/// <summary>");
        _w.Line($"/// {sig.Name} and its gradients as TorchSharp ops on the loss's axes (see <see cref=\"TorchFrame\"/>): the");
        _w.Line($"/// torch-ops backend, on any device and dtype, and every backend's backward under <c>create_graph</c>.");
        _w.Line($"/// </summary>");
        using (_w.Block($"public static Tensor {MethodName}(TorchFrame f)"))
        {
            foreach (int i in needed) Statement(i, adjointOf, lastUse);
            _w.Line(GradientLine(0, d.Gradient, allRoots) + $"   // ∂L/∂{x}" + (sig.Axes.IsElementwise ? "" : "_j"));
            for (int k = 0; k < others.Count; k++)
            {
                var (parameter, node) = others[k];
                using (_w.Block($"if (f.Wants({parameter}))"))
                {
                    foreach (int i in blocks[k]) Statement(i, adjointOf, lastUse: null);
                    _w.Line(GradientLine(parameter, node, allRoots) + $"   // ∂L/∂{data[parameter].Name}" + (data[parameter].Kind == ParameterKind.Span ? "_j" : ""));
                }
            }
            _w.Line($"return f.Loss({Ref(d.Loss)});");
        }
    }

    private void Statement(int i, ILookup<int, int> adjointOf, Dictionary<int, int>? lastUse)
    {
        var n = _g[i];
        if (_pair[i]) return;   // written inside its nested sum's block
        string comment = Comment(i, n, adjointOf);
        if (n.Op == Op.NestedSum && _pair[n.A])
        {
            NestedSum(i, n, comment);
            return;
        }
        string? line = n.Op switch
        {
            Op.Hyper => $"double {Ref(i)} = f.Hyper({n.Slot});",
            Op.Input => $"Tensor {Ref(i)} = f.Input({n.Slot});",
            Op.Target => $"Tensor {Ref(i)} = f.Target({n.Slot});",
            Op.Elem => $"Tensor {Ref(i)} = f.Span({n.Slot});",
            Op.ElemIndex => $"Tensor {Ref(i)} = f.Index;",
            Op.Length => $"double {Ref(i)} = f.Length;",
            Op.Classes => $"double {Ref(i)} = f.Classes;",
            Op.Const => null,
            _ => $"{TypeOf(i)} {Ref(i)} = {WithReuse(i, n, lastUse)};",
        };
        if (line is not null) _w.Line(comment.Length > 0 ? $"{line}   // {comment}" : line);
    }

    /// <summary>
    /// Hands a gradient to the frame. A tensor the method made, that is no other result, is marked temporary: the
    /// backend may then scale and mask it in place.
    /// </summary>
    private string GradientLine(int parameter, int node, int[] roots)
    {
        if (!_tensor[node]) return $"f.Gradient({parameter}, {Ref(node)});";
        bool temporary = _owned[node] && roots.Count(r => r == node) == 1;
        return $"f.Gradient({parameter}, {Ref(node)}, temporary: {(temporary ? "true" : "false")});";
    }

    /// <summary>The nodes the loss and the gradient depend on, in topological (index) order.</summary>
    private List<int> Needed(IEnumerable<int> roots)
    {
        var seen = new bool[_g.Count];
        var stack = new Stack<int>(roots);
        while (stack.Count > 0)
        {
            int i = stack.Pop();
            if (i < 0 || seen[i]) continue;
            seen[i] = true;
            foreach (int k in Operands(i)) stack.Push(k);
        }
        return Enumerable.Range(0, _g.Count).Where(i => seen[i]).ToList();
    }

    /// <summary>The nodes a node's statement reads: its operands, or (y, index, value) for a one-hot add.</summary>
    private IEnumerable<int> Operands(int i)
    {
        if (_oneHotAdds.TryGetValue(i, out var fused)) return new[] { fused.Y, fused.Index, fused.Value };
        var n = _g[i];
        return Enumerable.Range(0, n.OperandCount).Select(n.Operand);
    }

    /// <summary>Class rows: Add nodes y + (j == index ? value : 0) whose one-hot term nothing else reads.</summary>
    private Dictionary<int, (int Y, int Index, int Value)> _oneHotAdds = new();

    /// <summary>
    /// Finds the one-hot adds of a class-row loss: the gradient of <c>row[target]</c> (and of a Max through its argmax)
    /// reaches the row as <c>j == target ? a : 0</c>, added to the rest of the row's gradient. As
    /// <c>y.scatter_add(1, target, a)</c> it needs no mask and no one-hot tensor.
    /// </summary>
    private Dictionary<int, (int Y, int Index, int Value)> OneHotAdds(List<int> needed, int[] roots)
    {
        var fused = new Dictionary<int, (int, int, int)>();
        if (!_plan.Source.Signature.Axes.FusedRows) return fused;
        var uses = new int[_g.Count];
        foreach (int r in roots) uses[r]++;
        foreach (int i in needed)
            for (int k = 0; k < _g[i].OperandCount; k++) uses[_g[i].Operand(k)]++;
        foreach (int i in needed)
        {
            var n = _g[i];
            if (n.Op != Op.Add || !_exact[i] || !_element[i]) continue;
            foreach (var (x, y) in new[] { (n.A, n.B), (n.B, n.A) })
            {
                if (uses[x] == 1 && IsOneHot(x, out int index, out int value) && _exact[y] && _element[y] && _g[y].Op.KindOf() == ValueKind.Real)
                {
                    fused[i] = (y, index, value);
                    break;
                }
            }
        }
        return fused;
    }

    /// <summary>Whether node <paramref name="x"/> is <c>j == index ? value : 0</c> with a per-row index and value.</summary>
    private bool IsOneHot(int x, out int index, out int value)
    {
        index = value = -1;
        var n = _g[x];
        if (n.Op != Op.Select || _g[n.C] is not { Op: Op.Const, Value: 0 }) return false;
        var cond = _g[n.A];
        if (cond.Op != Op.Eq) return false;
        index = _g[cond.A].Op == Op.ElemIndex ? cond.B : _g[cond.B].Op == Op.ElemIndex ? cond.A : -1;
        value = n.B;
        bool PerRow(int k) => k >= 0 && _tensor[k] && _exact[k] && !_element[k];
        return PerRow(index) && _g[index].Op.KindOf() == ValueKind.Integer
            && (PerRow(value) || !_tensor[value]) && _g[value].Op.KindOf() == ValueKind.Real;
    }

    private string Comment(int i, Node n, ILookup<int, int> adjointOf)
    {
        var d = _plan.Source;
        var notes = new List<string>();
        if (_oneHotAdds.TryGetValue(i, out var oneHot))
            notes.Add($"{Ref(oneHot.Y)} + (j == {Ref(oneHot.Index)} ? {Ref(oneHot.Value)} : 0)");
        if (n.Op.IsReduction()) notes.Add($"{_printer.Reduction(i)} = {_printer.DescribeReduction(i)}");
        if (i == d.Loss) notes.Add("L");
        foreach (int v in adjointOf[i])
            notes.Add("∂L/∂" + (_g[v].Op == Op.At ? _printer.Print(v) : _printer.Reduction(v)));
        return string.Join("; ", notes);
    }

    private string TypeOf(int i)
        => _tensor[i] ? "Tensor" : ScalarCode.TypeOf(_g[i].Op);

    private string Ref(int i) => _alias.TryGetValue(i, out var alias) ? alias : _scalar.Ref(i);

    /// <summary>Inside a nested sum's block: the names of the row's tensors as the inner element's view (<c>nest.Inner</c>).</summary>
    private readonly Dictionary<int, string> _alias = new();

    /// <summary>Per node, whether it is evaluated per (outer, inner) pair inside a nested sum's body (<see cref="Graph.PairScope"/>).</summary>
    private readonly bool[] _pair;

    /// <summary>
    /// A nested sum Σ_k f(x_j, x_k) per element j: f's pair nodes are written inside a lambda that <c>f.NestedSum</c> calls
    /// per block of outer elements, on [rows, block, N] tensors (the outer element <c>nest.Outer</c>, the inner one
    /// <c>nest.Inner</c>), so that no [rows, N, N] tensor is made. A body that does not read the outer element is the
    /// row's own sum.
    /// </summary>
    private void NestedSum(int i, Node n, string comment)
    {
        var body = GraphWalk.Reach(k => _g[k], new[] { n.A }, k => _pair[k]).Where(k => _pair[k]).ToList();
        using (_w.Block($"Tensor {Ref(i)} = f.NestedSum(nest =>" + (comment.Length > 0 ? $"   // {comment}" : ""), close: "});"))
        {
            foreach (int k in body.SelectMany(Operands).Where(k => k >= 0 && !_pair[k] && _tensor[k]).Distinct().OrderBy(k => k))
            {
                _w.Line($"Tensor {_scalar.Ref(k)}_in = nest.Inner({_scalar.Ref(k)});");
                _alias[k] = _scalar.Ref(k) + "_in";
            }
            foreach (int k in body)
            {
                var node = _g[k];
                if (node.Op == Op.OuterElem) _w.Line($"Tensor {Ref(k)} = nest.Outer(f.Span({node.Slot}));");
                else if (node.Op == Op.OuterIndex) _w.Line($"Tensor {Ref(k)} = nest.Outer(f.Index);");
                else _w.Line($"{TypeOf(k)} {Ref(k)} = {Expression(k, node)};");
            }
            _w.Line($"return {Ref(n.A)};");
            _alias.Clear();
        }
    }

    /// <summary>An operand in a real-valued tensor op: integer tensors (positions, class indices) become the compute dtype.</summary>
    private string Real(int i) => _tensor[i] && _g[i].Op.KindOf() == ValueKind.Integer ? $"f.Real({Ref(i)})" : Ref(i);

    /// <summary>An operand where a tensor is required.</summary>
    private string AsTensor(int i) => _tensor[i] ? Ref(i) : $"f.Constant({Ref(i)})";

    /// <summary>
    /// The node's expression; where an operand is a temporary read for the last time here, also the in-place form
    /// that overwrites it, taken when <c>f.InPlace</c> (no graph is being built): one allocation less per such op.
    /// </summary>
    private string WithReuse(int i, Node n, Dictionary<int, int>? lastUse)
    {
        bool Dies(int k) => lastUse is not null && k >= 0 && _owned[k] && _element[k] == _element[i] && lastUse[k] == i;
        if (_oneHotAdds.TryGetValue(i, out var oneHot))
        {
            string value = _tensor[oneHot.Value] ? Ref(oneHot.Value) : $"f.PerSegment({Ref(oneHot.Value)})";
            // Through the frame, which knows the class axis's layout (over sharded classes: only the owning rank adds).
            return $"f.AddAt({Ref(oneHot.Y)}, {Ref(oneHot.Index)}, {value}, overwrite: {(Dies(oneHot.Y) ? "f.InPlace" : "false")})";
        }
        if (n.Op == Op.Sub && _tensor[n.A] && Patterns.IsLogSumExp(_g[n.B]) && _tensor[n.B])
        {
            // x − R: through the frame, which subtracts R's max shift and log-sum separately (precision in float32).
            string x = Real(n.A);
            return Dies(n.A) && _exact[i]
                ? $"f.MinusLogSumExp({x}, {Ref(n.B)}, overwrite: f.InPlace)"
                : $"f.MinusLogSumExp({x}, {Ref(n.B)}, overwrite: false)";
        }
        string pure = Expression(i, n);
        if (!_exact[i] || n.Op.KindOf() != ValueKind.Real) return pure;
        string? inPlace = n.Op switch
        {
            Op.Neg when Dies(n.A) => $"{Ref(n.A)}.neg_()",
            _ when OpTable.Unary(n.Op) is { TorchInPlace: { } inPlaceForm } && Dies(n.A) => string.Format(inPlaceForm, Ref(n.A)),
            Op.Add or Op.Sub or Op.Mul or Op.Div when Dies(n.A) => $"f.{n.Op}({Ref(n.A)}, {Real(n.B)}, overwrite: f.InPlace)",
            Op.Add or Op.Mul when Dies(n.B) => $"f.{n.Op}({Ref(n.B)}, {Real(n.A)}, overwrite: f.InPlace)",
            Op.Sub when Dies(n.B) && !_tensor[n.A] => $"f.Sub({Real(n.A)}, {Ref(n.B)}, overwrite: f.InPlace)",   // −b + a in b
            Op.Sub when Dies(n.B) => $"f.InPlace ? f.Add({Ref(n.B)}.neg_(), {Real(n.A)}, overwrite: true) : {pure}",   // a − b as −b + a: the same rounding
            _ when OpTable.Binary(n.Op) is { TorchInPlace: { } binaryInPlace } && _tensor[n.A] && Dies(n.A) => string.Format(binaryInPlace, Ref(n.A), Real(n.B)),
            _ => null,
        };
        return inPlace is null ? pure : inPlace.Contains("f.InPlace") ? inPlace : $"f.InPlace ? {inPlace} : {pure}";
    }

    /// <summary>
    /// A comparison: a tensor method for two tensors, else the frame's, with the tensor first (a number on the left
    /// flips the comparison).
    /// </summary>
    private static string Comparison(Op op, string a, bool ta, string b, bool tb)
    {
        if (!ta) (op, a, b) = (op switch { Op.Lt => Op.Gt, Op.Le => Op.Ge, Op.Gt => Op.Lt, Op.Ge => Op.Le, _ => op }, b, a);
        string name = op.ToString();
        return ta && tb ? $"{a}.{name.ToLowerInvariant()}({b})" : $"f.{name}({a}, {b})";
    }

    private string Expression(int i, Node n)
    {
        if (!_tensor[i])
        {
            // Constants and hyperparameters only: plain C# scalars (reductions of them are closed forms).
            return n.Op switch
            {
                _ when n.Op.IsReduction() => string.Format(n.Row().TorchOfConstant, Ref(n.A)),
                Op.NestedSum => $"{Ref(n.A)} * f.Length",
                Op.Arg => "0L",
                _ => _scalar.Expression(n),
            };
        }
        string a = n.A >= 0 ? Ref(n.A) : "", b = n.B >= 0 ? Ref(n.B) : "";
        bool ta = n.A >= 0 && _tensor[n.A], tb = n.B >= 0 && _tensor[n.B];
        return n.Op switch
        {
            Op.Neg => $"{a}.neg()",
            _ when OpTable.Unary(n.Op) is { } function => string.Format(function.Torch, a),
            // Through the frame, which holds a number operand's Scalar across the native call (TorchSharp 0.107).
            Op.Add or Op.Sub or Op.Mul or Op.Div => $"f.{n.Op}({Real(n.A)}, {Real(n.B)})",
            _ when OpTable.Binary(n.Op) is { } binary => string.Format(binary.Torch, Real(n.A), Real(n.B)),
            Op.Lt or Op.Le or Op.Gt or Op.Ge or Op.Eq or Op.Ne => Comparison(n.Op, a, ta, b, tb),
            Op.And => ta && tb ? $"{a}.logical_and({b})" : ta ? $"f.And({b}, {a})" : $"f.And({a}, {b})",
            Op.Or => ta && tb ? $"{a}.logical_or({b})" : ta ? $"f.Or({b}, {a})" : $"f.Or({a}, {b})",
            Op.Not => $"{a}.logical_not()",
            Op.Select => ta ? $"f.Where({a}, {Ref(n.B)}, {Ref(n.C)})" : $"{a} ? {AsTensor(n.B)} : {AsTensor(n.C)}",
            Op.At => $"f.At(f.Span({n.Slot}), {a})",
            _ when n.Op.IsReduction() => $"f.{n.Row().Name}({a})",
            Op.Arg => $"f.Arg{_g[n.A].Row().Name}({Ref(_g[n.A].A)})",
            Op.CumSum => $"f.CumSum({AsTensor(n.A)}, {AsTensor(n.B)})",
            Op.NestedSum => $"f.Sum({Ref(n.A)})",   // a body that does not read the outer element: the row's sum
            Op.Across => $"f.{n.AcrossReduction().AcrossName}({AsTensor(n.A)})",
            _ => throw new System.InvalidOperationException($"No torch-ops spelling for {n.Op}."),
        };
    }
}
