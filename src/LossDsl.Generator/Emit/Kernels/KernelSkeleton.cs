using System.Collections.Generic;
using System.Linq;
using LossDsl.Generator.IR;
using LossDsl.Generator.Model;
using LossDsl.Generator.Schedule;

namespace LossDsl.Generator.Emit.Kernels;

/// <summary>What an entry point of the kernel ABI does for a loss's plan.</summary>
public enum EntryKind
{
    /// <summary>An elementwise loss: loss and gradient per element, one launch.</summary>
    Elements,

    /// <summary>A loss over rows that one work item owns (class rows, pair rows): every pass and the gradient, one launch.</summary>
    Rows,

    /// <summary>One reduction pass of a chunked (set) loss: per-(set, chunk) partials.</summary>
    Pass,

    /// <summary>The last launch of a chunked loss: combines the partials, writes the loss and the gradient.</summary>
    Gradient,
}

/// <summary>How element code is written in a sweep: one element at a time, or a vector of elements (a dialect that has vectors).</summary>
public enum Lane
{
    Scalar,
    Vector,
}

/// <summary>
/// The structure every backend's kernels share, written once: which entry points a plan has and what they are called
/// (from <see cref="KernelAbi"/>), which parameters they load, the order prologue → passes → loss → gradient, and per
/// reduction its accumulate, merge, partials, combine and finalize, chosen by the reduction table's
/// <see cref="Accumulator"/>. A <see cref="KernelDialect"/> says how each of those steps is spelled on its backend (the CPU
/// path's vectors, ILGPU's groups); a new backend is a new dialect and needs no edit here.
/// </summary>
public sealed class KernelSkeleton
{
    public KernelSkeleton(KernelPlan plan)
    {
        Plan = plan;
        Graph = plan.Loss.Graph;
        Signature = plan.Loss.Signature;
        Printer = new MathPrinter(Graph, Signature, plan.Lowered);
        Scope = Graph.ElementScope();
    }

    public KernelPlan Plan { get; }
    public Graph Graph { get; }
    public LossSignature Signature { get; }
    public MathPrinter Printer { get; }

    /// <summary>Per node, whether it is evaluated per element (<see cref="Graph.ElementScope"/>).</summary>
    public bool[] Scope { get; }

    // ---- The loss's axes, asked here only: the dialects ask these rather than the shape.

    /// <summary>One evaluation per element of same-shape tensors: no reductions.</summary>
    public bool Elementwise => Signature.Axes.IsElementwise;

    /// <summary>A multiclass set loss: a class axis (the logits' softmax, per pixel) nested in pixel sets.</summary>
    public bool Multiclass => Signature.Multiclass;

    /// <summary>Whether rows have class-index targets whose ignore_index skips the row.</summary>
    public bool IgnoresRows => !Elementwise && !Plan.Chunked && Targets.Any();

    // ---- The parameters the kernels load.

    /// <summary>The hyperparameters the graph reads.</summary>
    public IEnumerable<LossParameter> UsedHypers => Of(ParameterKind.Hyper).Where(p => Graph.Nodes.Contains(new Node(Op.Hyper, Slot: p.Slot)));

    /// <summary>The per-row (or, elementwise, per-element) float inputs the graph reads.</summary>
    public IEnumerable<LossParameter> UsedInputs => Of(ParameterKind.Input).Where(p => Graph.Nodes.Contains(new Node(Op.Input, Slot: p.Slot)));

    /// <summary>The class-index targets, every one (a row is skipped when any is ignore_index).</summary>
    public IEnumerable<LossParameter> Targets => Of(ParameterKind.Target);

    /// <summary>The span parameters.</summary>
    public IEnumerable<LossParameter> Spans => Of(ParameterKind.Span);

    private IEnumerable<LossParameter> Of(ParameterKind kind) => Signature.Parameters.Where(p => p.Kind == kind);

    /// <summary>The kernel ABI's entry points of this plan, in launch order, with what each does.</summary>
    public IEnumerable<(string Entry, EntryKind Kind, Pass? Pass)> EntryPoints()
    {
        var names = KernelAbi.EntryPoints(Plan.Chunked, Plan.Passes.Select(p => p.Level));
        for (int i = 0; i < names.Count; i++)
        {
            if (!Plan.Chunked) yield return (names[i], Elementwise ? EntryKind.Elements : EntryKind.Rows, null);
            else if (i < Plan.Passes.Count) yield return (names[i], EntryKind.Pass, Plan.Passes[i]);
            else yield return (names[i], EntryKind.Gradient, null);
        }
    }

    /// <summary>Writes every entry point of the plan in <paramref name="d"/>'s dialect.</summary>
    public void Emit(KernelDialect d)
    {
        foreach (var (entry, kind, pass) in EntryPoints())
        {
            using (d.Entry(d.MethodName(entry), kind, pass))
            {
                LoadKernelValues(d, kind);
                switch (kind)
                {
                    case EntryKind.Elements: d.Elementwise(); break;
                    case EntryKind.Rows: EmitRows(d); break;
                    case EntryKind.Pass: EmitChunkedPass(d, pass!); break;
                    default: EmitChunkedGradient(d); break;
                }
            }
            d.Writer.Line();
        }
    }

    /// <summary>What holds for every work item: the dialect's own (views, outputs), the hyperparameters, Length and Classes.</summary>
    private void LoadKernelValues(KernelDialect d, EntryKind kind)
    {
        d.KernelValues(kind);
        foreach (var p in UsedHypers) d.LoadHyper(p);
        // A multiclass set's length counts the pixels that are not ignored.
        if (Graph.Nodes.Any(n => n.Op == Op.Length)) d.ShapeValue("n", Multiclass ? "Count" : "Length");
        if (Graph.Nodes.Any(n => n.Op == Op.Classes)) d.ShapeValue("classes", "Classes");
    }

    /// <summary>The per-row values of segment s: targets and inputs.</summary>
    private void LoadRowValues(KernelDialect d)
    {
        foreach (var p in Targets) d.LoadTarget(p);
        foreach (var p in UsedInputs) d.LoadRowInput(p);
    }

    private void EmitRows(KernelDialect d)
    {
        using (d.WorkItems(EntryKind.Rows))
        {
            LoadRowValues(d);
            // Rows whose class index equals ignore_index get loss 0 and gradient 0.
            if (IgnoresRows) d.SkipRow(string.Join(" || ", Targets.Select(t => $"_{t.Name} == shape.IgnoreIndex")));
            d.Nodes(Plan.Prologue);
            foreach (var pass in Plan.Passes)
            {
                Accumulate(d, pass, "0", "shape.Length");
                PartialsCode.Finalize(d.Writer, Graph, pass, d.AccumulatorType, d.ScalarType);
                d.Nodes(pass.Epilogue);
            }
            d.WriteLoss(d.Ref(Plan.Loss.Loss, Lane.Scalar), chunked: false);
            Gradient(d, "0", "shape.Length");
        }
    }

    private void EmitChunkedPass(KernelDialect d, Pass pass)
    {
        using (d.WorkItems(EntryKind.Pass))
        {
            LoadRowValues(d);
            d.Nodes(Plan.Prologue);
            foreach (var earlier in Plan.Passes.TakeWhile(p => p.Level < pass.Level))
            {
                Combine(d, earlier);
                d.Nodes(earlier.Epilogue);
            }
            Accumulate(d, pass, "begin", "end");
            d.WritePartials(pass);
        }
    }

    private void EmitChunkedGradient(KernelDialect d)
    {
        using (d.WorkItems(EntryKind.Gradient))
        {
            LoadRowValues(d);
            d.Nodes(Plan.Prologue);
            foreach (var pass in Plan.Passes)
            {
                Combine(d, pass);
                d.Nodes(pass.Epilogue);
            }
            d.WriteLoss(d.Ref(Plan.Loss.Loss, Lane.Scalar), chunked: true);
            Gradient(d, "begin", "end");
        }
    }

    /// <summary>Combines the per-chunk partials of a pass into the set's reductions.</summary>
    private void Combine(KernelDialect d, Pass pass)
    {
        d.Writer.Comment($"Pass {pass.Level}, combined over chunks: " + Describe(pass));
        PartialsCode.Combine(d.Writer, Graph, pass, d.Partials, d.ScalarType);
    }

    private string Describe(Pass pass) => string.Join("; ", pass.Reductions.Select(r => $"{MathPrinter.ReductionName(r)} = {Printer.DescribeReduction(r)}"));

    /// <summary>
    /// One pass over elements [from, to) of segment s: each reduction's accumulators, one sweep that accumulates every
    /// reduction of the pass, and the merge of the partial accumulators (lanes, threads) into one value per work item.
    /// </summary>
    private void Accumulate(KernelDialect d, Pass pass, string from, string to)
    {
        d.Writer.Comment($"Pass {pass.Level}: " + Describe(pass));
        d.BeforeAccumulators(pass, from, to);
        foreach (int r in pass.Reductions)
        {
            string name = MathPrinter.ReductionName(r);
            var row = Graph[r].Row();
            switch (row.Accumulator)
            {
                case Accumulator.Additive: d.DeclareAdditive(name, row); break;
                case Accumulator.Selecting: d.DeclareSelecting(name, row); break;
                default: d.DeclareLogSumExp(name, row); break;
            }
        }
        d.Sweep(from, to, pass.ElementNodes, pass.Reductions.Select(r => Graph[r].A).ToList(), lane =>
        {
            foreach (int r in pass.Reductions)
            {
                string name = MathPrinter.ReductionName(r), body = d.Ref(Graph[r].A, lane);
                var row = Graph[r].Row();
                switch (row.Accumulator)
                {
                    case Accumulator.Additive: d.AccumulateAdditive(lane, name, body); break;
                    case Accumulator.Selecting: d.AccumulateSelecting(lane, name, body, row); break;
                    default: d.AccumulateLogSumExp(lane, r, name, body); break;
                }
            }
        }, needIndex: pass.Reductions.Any(r => Graph[r].Row().Selects));
        foreach (int r in pass.Reductions)
        {
            string name = MathPrinter.ReductionName(r);
            var row = Graph[r].Row();
            switch (row.Accumulator)
            {
                case Accumulator.Additive: d.MergeAdditive(name, row); break;
                case Accumulator.Selecting: d.MergeSelecting(name, row); break;
                default: d.MergeLogSumExp(name, row); break;
            }
        }
    }

    /// <summary>The gradient sweep, under the derivative it computes.</summary>
    private void Gradient(KernelDialect d, string from, string to)
    {
        d.Writer.Comment($"Gradient pass: ∂L/∂{Signature.Parameters[0].Name}_j = {Printer.Print(Plan.Loss.Gradient)}");
        d.GradientSweep(from, to);
    }
}
