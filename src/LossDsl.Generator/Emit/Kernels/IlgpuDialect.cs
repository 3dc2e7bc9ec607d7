using System;
using System.Collections.Generic;
using System.Linq;
using LossDsl.Generator.Common;
using LossDsl.Generator.IR;
using LossDsl.Generator.Model;
using LossDsl.Generator.Schedule;

namespace LossDsl.Generator.Emit.Kernels;

/// <summary>
/// The ILGPU dialect: kernels shaped for a GPU, explicitly grouped, with the threads of a group striding over a row or
/// chunk so that loads are coalesced, and reductions merged across the group (<c>GroupReduce</c>: warp shuffles, then
/// shared memory). The float32 kernels compute in float; partials that cross groups, and their combination, are double.
/// The float64 kernels compute in double.
/// <para>
/// Every kernel has the signature LossDsl.Runtime expects, <c>(KernelShape shape, LossViews&lt;TIn, T&gt; v)</c>: the views
/// are the tensors' own memory (spans, per-row inputs, targets, in <see cref="KernelAbi"/>'s slots), the hyperparameters,
/// the loss, the gradient and the partials. The float32 kernels are generic over the inputs' storage TIn (float32,
/// bfloat16 or float16, loaded as float).
/// </para>
/// <list type="bullet">
/// <item>Rows: one group per row. Each pass is one strided sweep accumulating all of its reductions, merged across the
/// group; the gradient sweep reuses the merged values. Forward and backward are one launch.</item>
/// <item>Elementwise: one launch, grid-stride over elements. With <c>shape.SumLoss</c> set (Sum or Mean without weights),
/// each group writes one partial sum of the loss instead of a loss per element.</item>
/// <item>Sets: one group per (set, chunk). Each pass is a launch that writes per-(set, chunk) partials; the last launch
/// combines them in double and writes the gradient.</item>
/// </list>
/// </summary>
public sealed class IlgpuDialect : KernelDialect
{
    private readonly ScalarCode _code;

    public IlgpuDialect(KernelSkeleton skeleton, string real, IndentedWriter writer) : base(skeleton, real, writer)
        => _code = new ScalarCode(G, K.Printer, (n, index) => Load($"v.Span{n.Slot}[shape.Offset(s, {index})]"), real);

    protected override string Prefix => "";
    public override string ScalarType => Real;
    public override string AccumulatorType => Real;
    public override string Partials => "v.Partials";

    /// <summary>
    /// The float32 kernels are generic over how inputs are stored (F32, BF16 or F16: <c>IKernelReal.Value</c> loads them
    /// as float); the float64 kernels read doubles.
    /// </summary>
    private bool Generic => Real == "float";

    /// <summary>An input element, as the compute type.</summary>
    private string Load(string element) => Generic ? element + ".Value" : element;

    /// <summary>A double of the kernel shape or hyperparameters, in the compute type.</summary>
    private string FromDouble(string e) => Real == "double" ? e : $"({Real}){e}";

    private IndentedWriter W => Writer;

    public override IDisposable Entry(string method, EntryKind kind, Pass? pass)
    {
        switch (kind)
        {
            case EntryKind.Elements:
                W.Line("/// <summary>");
                W.Line("/// Forward and backward fused, one launch: a grid-stride loop over the elements. With shape.SumLoss (Sum or Mean");
                W.Line("/// without weights) the loss is summed per group into partials[group] (in double), and no per-element loss is written.");
                W.Line("/// </summary>");
                break;
            case EntryKind.Rows:
                W.Line($"/// <summary>Forward and backward fused, one group per row, its threads striding over the row: {Names.Passes(Plan.Passes.Count)} merged across the group, then the gradient pass.</summary>");
                break;
            case EntryKind.Pass:
                W.Line($"/// <summary>Reduction pass {pass!.Level}: one group per (set, chunk), merged across the group, writes partial {string.Join(", ", pass.Reductions.Select(MathPrinter.ReductionName))}.</summary>");
                break;
            default:
                W.Line("/// <summary>One group per (set, chunk): combines the partials of every pass, computes the loss and its adjoints, and writes this chunk's gradient.</summary>");
                break;
        }
        return W.Block(Generic
            ? $"public static void {method}<TIn>(KernelShape shape, LossViews<TIn, float> v) where TIn : unmanaged, IKernelReal"
            : $"public static void {method}(KernelShape shape, LossViews<double, double> v)");
    }

    public override void KernelValues(EntryKind kind)
    {
        // The views are the kernel's parameters.
    }

    public override void LoadHyper(LossParameter p) => W.Line($"{Real} _{p.Name} = {FromDouble($"v.Hyper[{p.Slot}]")};");

    public override void ShapeValue(string local, string field) => W.Line($"{Real} {local} = {FromDouble("shape." + field)};");

    public override IDisposable WorkItems(EntryKind kind)
    {
        if (kind == EntryKind.Rows) W.Line("int s = Grid.IdxX;");
        else
        {
            W.Line("int s = Grid.IdxX / shape.Chunks;");
            W.Line("int chunk = Grid.IdxX % shape.Chunks;");
            W.Line("long begin = chunk * shape.ChunkLength;");
            W.Line("long end = begin + shape.ChunkLength < shape.Length ? begin + shape.ChunkLength : shape.Length;");
        }
        return NoBlock.Instance;
    }

    public override void LoadTarget(LossParameter p) => W.Line($"long _{p.Name} = v.Target{p.Slot}[s];");

    public override void LoadRowInput(LossParameter p) => W.Line($"{Real} _{p.Name} = {Load($"v.Input{p.Slot}[s]")};");

    /// <summary>The condition is uniform across the row's group, so the whole group returns.</summary>
    public override void SkipRow(string condition)
    {
        using (W.Block($"if ({condition})"))
        {
            W.Line("if (Group.IsFirstThread) v.Loss[s] = 0;");
            W.Line("for (long j = Group.IdxX; j < shape.Length; j += Group.DimX) v.Grad[shape.Offset(s, j)] = 0;");
            W.Line("return;");
        }
    }

    public override void Elementwise()
    {
        W.Line($"{Real} loss_acc = 0;");
        using (W.Block("for (long e = Grid.GlobalIndex.X; e < shape.Segments; e += (long)Grid.DimX * Group.DimX)"))
        {
            W.Line("int s = (int)e;");
            foreach (var p in K.UsedInputs) LoadRowInput(p);
            Nodes(Plan.Prologue);
            W.Line($"{Real} loss_s = {_code.Ref(Plan.Loss.Loss)};");
            W.Line("if (shape.SumLoss != 0) loss_acc += loss_s;");
            W.Line("else v.Loss[s] = loss_s;");
            W.Comment($"∂L/∂{Sig.Parameters[0].Name} = {K.Printer.Print(Plan.Loss.Gradient)}");
            W.Line($"v.Grad[s] = {_code.Ref(Plan.Loss.Gradient)} * {FromDouble("shape.GradScale")};");
        }
        using (W.Block("if (shape.SumLoss != 0)"))
        {
            W.Line("loss_acc = GroupReduce.Sum(loss_acc);");
            W.Line("if (Group.IsFirstThread) v.Partials[Grid.IdxX] = loss_acc;");
        }
    }

    public override void Nodes(EquatableArray<int> nodes) => _code.EmitNodes(W, nodes);

    public override string Ref(int i, Lane lane) => _code.Ref(i);

    public override void WriteLoss(string value, bool chunked)
        => W.Line($"if ({(chunked ? "chunk == 0 && " : "")}Group.IsFirstThread) v.Loss[s] = {value};");

    public override void WritePartials(Pass pass)
    {
        using (W.Block("if (Group.IsFirstThread)"))
        {
            W.Line("long slot = ((long)s * shape.Chunks + chunk) * shape.PartialSlots;");
            PartialsCode.Write(W, G, pass, Partials);
        }
    }

    /// <summary>The group's threads sweep elements [from, to) of segment s, each taking every Group.DimX-th.</summary>
    public override void Sweep(string from, string to, EquatableArray<int> elements, IReadOnlyList<int> roots, Action<Lane> body, bool needIndex)
    {
        using (W.Block($"for (long j = {(from == "0" ? "" : from + " + ")}Group.IdxX; j < {to}; j += Group.DimX)"))
        {
            W.Line("long o = shape.Offset(s, j);");
            if (K.Multiclass)
            {
                if (MulticlassCode.Used(G, Sig, elements) != (false, false, false))
                    W.Line("long px = o / (shape.Inner * shape.Classes) * shape.Inner + o % shape.Inner;");
                MulticlassCode.Scalar(W, G, Sig, elements, Load($"v.Span{KernelAbi.MulticlassSpans.Logits}[o]"),
                    Load($"v.Span{KernelAbi.MulticlassSpans.LogSumExp}[px]"), Load($"v.Span{KernelAbi.MulticlassSpans.Classes}[px]"),
                    "o / shape.Inner % shape.Classes", Real);
            }
            else
                foreach (var p in K.Spans)
                    if (elements.Any(i => G[i].Op == Op.Elem && G[i].Slot == p.Slot))
                        W.Line($"{Real} _{p.Name}_j = {Load($"v.Span{p.Slot}[o]")};");
            Nodes(elements);
            body(Lane.Scalar);
        }
    }

    public override void GradientSweep(string from, string to)
        => Sweep(from, to, Plan.GradientElements, new[] { Plan.Loss.Gradient },
            _ => W.Line($"v.Grad[o] = {_code.Ref(Plan.Loss.Gradient)} * {FromDouble("shape.GradScale")};"), needIndex: false);

    public override void DeclareAdditive(string name, Reduction row) => PartialsCode.Declare(W, name, row, Real);

    public override void DeclareSelecting(string name, Reduction row) => PartialsCode.Declare(W, name, row, Real);

    public override void DeclareLogSumExp(string name, Reduction row) => PartialsCode.Declare(W, name, row, Real);

    /// <summary>
    /// Online log-sum-exp: rescale the running sum whenever the running max grows; elements at −∞ (masked logits) add
    /// e^−∞ = 0 and are skipped, so that −∞ − (−∞) never makes a NaN.
    /// </summary>
    public override void AccumulateLogSumExp(Lane lane, int r, string name, string body)
    {
        W.Line($"if ({body} > {name}_max) {{ {name}_sum = {name}_sum * Exp({name}_max - {body}) + 1; {name}_max = {body}; }}");
        W.Line($"else if ({body} != {Real}.NegativeInfinity) {name}_sum += Exp({body} - {name}_max);");
    }

    /// <summary>Every thread gets the group's sum.</summary>
    public override void MergeAdditive(string name, Reduction row) => W.Line($"{name}_acc = GroupReduce.{row.Name}({name}_acc);");

    public override void MergeSelecting(string name, Reduction row) => W.Line($"GroupReduce.{row.Name}(ref {name}_acc, ref {name}_arg);");

    public override void MergeLogSumExp(string name, Reduction row) => W.Line($"GroupReduce.{row.Name}(ref {name}_max, ref {name}_sum);");

    /// <summary>A work item that opens no block (one group is one work item).</summary>
    private sealed class NoBlock : IDisposable
    {
        public static readonly NoBlock Instance = new();

        public void Dispose()
        {
        }
    }
}
