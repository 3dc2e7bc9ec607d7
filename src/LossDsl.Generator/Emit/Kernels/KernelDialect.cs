using System;
using System.Collections.Generic;
using LossDsl.Generator.IR;
using LossDsl.Generator.Model;
using LossDsl.Generator.Schedule;

namespace LossDsl.Generator.Emit.Kernels;

/// <summary>
/// How one backend spells the steps of the <see cref="KernelSkeleton"/>, for one compute type: its kernels' signature and
/// work items, how they load values, sweep over the elements of a segment, and accumulate and merge each kind of
/// reduction. The skeleton decides what is written and in which order; a dialect only how.
/// </summary>
public abstract class KernelDialect
{
    /// <param name="skeleton">The loss's kernel skeleton.</param>
    /// <param name="real">The element and compute type of these kernels: "float" or "double".</param>
    /// <param name="writer">Where the kernels go.</param>
    protected KernelDialect(KernelSkeleton skeleton, string real, IndentedWriter writer)
    {
        K = skeleton;
        Real = real;
        Writer = writer;
    }

    protected KernelSkeleton K { get; }
    protected Graph G => K.Graph;
    protected LossSignature Sig => K.Signature;
    protected KernelPlan Plan => K.Plan;

    public IndentedWriter Writer { get; }

    /// <summary>The kernels' element type: "float" or "double".</summary>
    public string Real { get; }

    /// <summary>What this backend's kernel names start with.</summary>
    protected abstract string Prefix { get; }

    /// <summary>The method that implements entry point <paramref name="entry"/> of the kernel ABI in this dialect and type.</summary>
    public string MethodName(string entry) => Prefix + entry + KernelAbi.Suffix(Real);

    /// <summary>The type of scalar (row-level and scalar element) code.</summary>
    public abstract string ScalarType { get; }

    /// <summary>The type of a work item's reduction accumulators.</summary>
    public abstract string AccumulatorType { get; }

    /// <summary>The per-(set, chunk) partials, a double array or view.</summary>
    public abstract string Partials { get; }

    // ---- Entry points and work items

    /// <summary>Writes the documentation and signature of an entry point and opens its body.</summary>
    public abstract IDisposable Entry(string method, EntryKind kind, Pass? pass);

    /// <summary>Declares what the dialect itself needs in every work item of an entry point (views of the tensors, outputs).</summary>
    public abstract void KernelValues(EntryKind kind);

    /// <summary>Declares hyperparameter <paramref name="p"/> as <c>_name</c>.</summary>
    public abstract void LoadHyper(LossParameter p);

    /// <summary>Declares <paramref name="local"/> from the kernel shape's <paramref name="field"/>, as a real.</summary>
    public abstract void ShapeValue(string local, string field);

    /// <summary>Opens the work items of a row or chunked entry point: declares s (and chunk, begin and end for a chunk).</summary>
    public abstract IDisposable WorkItems(EntryKind kind);

    /// <summary>Declares target <paramref name="p"/> of segment s as <c>_name</c> (a long).</summary>
    public abstract void LoadTarget(LossParameter p);

    /// <summary>Declares per-row input <paramref name="p"/> of segment s as <c>_name</c>.</summary>
    public abstract void LoadRowInput(LossParameter p);

    /// <summary>When <paramref name="condition"/> holds, writes loss 0 and gradient 0 for segment s and goes to the next one.</summary>
    public abstract void SkipRow(string condition);

    /// <summary>The body of an elementwise entry point, after the kernel values: loss and gradient of its elements.</summary>
    public abstract void Elementwise();

    // ---- Values

    /// <summary>Declares the scalar locals of <paramref name="nodes"/> in order.</summary>
    public abstract void Nodes(EquatableArray<int> nodes);

    /// <summary>How element or row code refers to node <paramref name="i"/>'s value.</summary>
    public abstract string Ref(int i, Lane lane);

    /// <summary>Writes the loss of segment s; for a <paramref name="chunked"/> one, from its first chunk only.</summary>
    public abstract void WriteLoss(string value, bool chunked);

    /// <summary>Stores this work item's accumulators of <paramref name="pass"/> in the partials.</summary>
    public abstract void WritePartials(Pass pass);

    // ---- Sweeps

    /// <summary>
    /// One sweep over elements [from, to) of segment s that evaluates <paramref name="elements"/> (the element code
    /// <paramref name="roots"/> read) and then <paramref name="body"/>, once per lane the dialect has.
    /// </summary>
    /// <param name="needIndex">Whether body reads the element index j.</param>
    public abstract void Sweep(string from, string to, EquatableArray<int> elements, IReadOnlyList<int> roots, Action<Lane> body, bool needIndex);

    /// <summary>The sweep that writes the gradient of segment s over elements [from, to).</summary>
    public abstract void GradientSweep(string from, string to);

    // ---- Reductions, per accumulator of the reduction table

    /// <summary>Before a pass's accumulators are declared: a dialect's extra sweeps (the CPU path's max sweep of a LogSumExp).</summary>
    public virtual void BeforeAccumulators(Pass pass, string from, string to)
    {
    }

    /// <summary>Declares the accumulators of an additive reduction (the row's <see cref="Reduction.Identity"/>).</summary>
    public abstract void DeclareAdditive(string name, Reduction row);

    /// <summary>Declares the running extreme (the row's <see cref="Reduction.Identity"/>) and its index of a selecting reduction.</summary>
    public abstract void DeclareSelecting(string name, Reduction row);

    /// <summary>Declares the accumulators of a log-sum-exp reduction.</summary>
    public abstract void DeclareLogSumExp(string name, Reduction row);

    /// <summary>Adds <paramref name="body"/> to the running sum.</summary>
    public virtual void AccumulateAdditive(Lane lane, string name, string body) => Writer.Line($"{name}_acc += {body};");

    /// <summary>
    /// Replaces the running extreme and its index when <paramref name="body"/> beats it under the row's
    /// <see cref="Reduction.Compare"/>. Strictly: a thread or lane sees its elements in increasing j, so on ties the
    /// first stays. A NaN element wins and stays, as Math.Max and Math.Min do.
    /// </summary>
    public virtual void AccumulateSelecting(Lane lane, string name, string body, Reduction row)
    {
        string t = ScalarType;
        Writer.Line($"if ({body} {Compare(row)} {name}_acc || ({t}.IsNaN({body}) && !{t}.IsNaN({name}_acc))) {{ {name}_acc = {body}; {name}_arg = j; }}");
    }

    /// <summary>Accumulates e^(body − max) of reduction <paramref name="r"/>.</summary>
    public abstract void AccumulateLogSumExp(Lane lane, int r, string name, string body);

    /// <summary>Merges the partial sums of the work item (lanes, threads).</summary>
    public abstract void MergeAdditive(string name, Reduction row);

    /// <summary>Merges the partial (extreme, index) pairs of the work item: the runtime's merge of the row's <see cref="Reduction.Name"/>.</summary>
    public abstract void MergeSelecting(string name, Reduction row);

    /// <summary>Merges the partial (max, sum) pairs of the work item.</summary>
    public abstract void MergeLogSumExp(string name, Reduction row);

    /// <summary>The C# operator of a selecting reduction's comparison.</summary>
    protected static string Compare(Reduction row) => PartialsCode.Compare(row);
}
