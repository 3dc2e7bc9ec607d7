namespace LossDsl.Generator.Model;

/// <summary>What one evaluation of the loss body runs over: the segment that <c>reduction: None</c> returns one loss per.</summary>
public enum SegmentAxis
{
    /// <summary>One element of same-shape tensors: no member axis, one thread per element.</summary>
    Element,
    /// <summary>One row, whose members one thread (group) holds: forward and backward fuse into one launch.</summary>
    Row,
    /// <summary>One set, whose members are split into chunks over several threads: a launch per reduction pass.</summary>
    Set,
}

/// <summary>The axis a segment's spans run over.</summary>
public enum MemberAxis
{
    /// <summary>No member axis: an elementwise loss takes no span.</summary>
    None,
    /// <summary>The class axis of a <c>[N, C]</c> row (the last axis, or axis 1 of <c>[N, C, d1, …]</c>).</summary>
    Classes,
    /// <summary>The batch, as the pair axis of an <c>[N, N]</c> pair matrix: anchor <c>i</c>'s pairs with every item <c>j</c>.</summary>
    Batch,
    /// <summary>The elements of a set: batch and spatial positions, spatial positions, or the whole tensor (<see cref="AxesDeclaration.Sets"/>).</summary>
    SetElements,
}

/// <summary>
/// A loss's tensors described as axes, decided once by the parser from <c>[Loss(Shape = …, Sets = …)]</c>, the
/// parameters and <c>[Softmax]</c> (<c>Parse/AxesDecision.cs</c>). Every stage asks it, never the shape enum: whether
/// there are members, whether a segment is fused or chunked, how Mean averages, which options apply, and how the
/// generated file describes the tensors.
/// </summary>
/// <param name="Segment">What one evaluation of the body runs over.</param>
/// <param name="Members">The axis the segment's spans run over.</param>
/// <param name="Sets">For a set loss, which axes one set spans (its scope); null otherwise.</param>
/// <param name="PixelClasses">
/// The nesting of multiclass sets (<c>[Softmax]</c>): a class axis inside each member (pixel) of a set. Span 0 is the
/// softmax across a pixel's classes, span 1 the one-hot of the class mask, and one set per class gathers the pixels.
/// </param>
/// <param name="ClassTargets">A class row indexed by int class targets: it takes <c>ignore_index</c> and class weights.</param>
/// <param name="TargetSets">A set loss with target sets besides the prediction: it takes a set <c>ignore_index</c>.</param>
/// <param name="SuggestedTask">The calibration task the axes and parameters suggest when <c>[Loss(Task = …)]</c> names none.</param>
public sealed record AxesDeclaration(
    SegmentAxis Segment,
    MemberAxis Members,
    LossSets? Sets,
    bool PixelClasses,
    bool ClassTargets,
    bool TargetSets,
    LossTask SuggestedTask)
{
    /// <summary>Whether the body's spans have members to run over (every loss but an elementwise one).</summary>
    public bool HasMembers => Members != MemberAxis.None;

    /// <summary>One evaluation per element of same-shape tensors.</summary>
    public bool IsElementwise => Segment == SegmentAxis.Element;

    /// <summary>A segment is a row that one thread (group) holds: forward and backward are one launch.</summary>
    public bool FusedRows => Segment == SegmentAxis.Row;

    /// <summary>A segment is a set split into chunks over threads: each pass is a launch that writes partials.</summary>
    public bool Chunked => Segment == SegmentAxis.Set;

    /// <summary>A multiclass set loss: the class axis nested inside a pixel set (<see cref="PixelClasses"/>).</summary>
    public bool Multiclass => PixelClasses;

    /// <summary>Whether <c>Reduction.Mean</c> averages only the segments whose loss is positive (pair rows, as pytorch-metric-learning's AvgNonZeroReducer).</summary>
    public bool MeanOverPositive => Members == MemberAxis.Batch;

    /// <summary>
    /// Whether the overloads take PyTorch-style weights: per element, per class of a class row with targets, or per channel
    /// (class) of a set loss with sets per channel or per image (as cross_entropy's class weights: Mean divides by their sum).
    /// </summary>
    public bool TakesWeight => IsElementwise || ClassTargets || (Chunked && Sets != LossSets.Whole);

    /// <summary>Whether the overloads take a class <c>ignore_index</c> (rows with that target drop out).</summary>
    public bool TakesIgnoreIndex => ClassTargets;

    /// <summary>Whether the overloads take a set <c>ignore_index</c> (elements where a target set holds it drop out).</summary>
    public bool TakesSetIgnore => TargetSets;

    /// <summary>Whether the loss gets a fused linear form: its rows are logits over classes, which a Linear head computes.</summary>
    public bool LinearRows => FusedRows && Members == MemberAxis.Classes;

    /// <summary>
    /// The runtime layout the generated <c>LossDefinition</c> calls for these axes (the System.Text.Json pattern: the kind
    /// is decided here once, and the runtime's factory owns validation, segments, the torch-ops frame and the Mean count).
    /// </summary>
    public string LayoutFactory => LayoutFactoryFor(reducesAcross: false);

    /// <summary>
    /// The layout factory for a loss whose body does or does not reduce across its segments (a set loss's classes, a pair
    /// loss's anchors): the body decides that, the axes how the runtime is told.
    /// </summary>
    public string LayoutFactoryFor(bool reducesAcross) => "global::LossDsl.Runtime.LossLayouts." + (Segment, Members) switch
    {
        (SegmentAxis.Element, _) => "Elements",
        (SegmentAxis.Row, MemberAxis.Batch) => reducesAcross ? "PairRowsAcrossAnchors" : "PairRows",
        (SegmentAxis.Row, _) => "ClassRows",
        _ => $"Sets(global::LossDsl.LossSets.{Sets}, multiclass: {(PixelClasses ? "true" : "false")}" + (reducesAcross ? ", acrossClasses: true)" : ")"),
    };

    /// <summary>What <c>reduction: None</c> returns one loss per, as the generated documentation says it.</summary>
    public string SegmentText => (Segment, Members) switch
    {
        (SegmentAxis.Element, _) => "element",
        (SegmentAxis.Row, MemberAxis.Batch) => "anchor row ([N])",
        (SegmentAxis.Row, _) => "row ([N], or [N, d1, …])",
        _ when PixelClasses => Sets == LossSets.PerImage ? "image and class ([N, C])" : "class ([C])",
        _ => Sets switch { LossSets.PerImage => "image and channel ([N, C])", LossSets.Whole => "tensor (a scalar)", _ => "channel" },
    };

    /// <summary>The plan these axes give, as the generated file names it.</summary>
    public string PlanName => (Segment, Members) switch
    {
        _ when PixelClasses => (Sets == LossSets.PerImage ? "multiclass sets per image and class" : "multiclass sets per class")
            + " (pixel rows inside class sets: per pixel, a softmax across the classes; per class, reductions over the pixels, chunked;"
            + " the runtime applies the softmax's Jacobian per pixel)",
        (SegmentAxis.Element, _) => "elements (one evaluation per element of same-shape tensors)",
        (SegmentAxis.Row, MemberAxis.Batch) => "pair rows (one evaluation per anchor row of the [N, N] pair matrix, reductions over the batch; masks from the labels)",
        (SegmentAxis.Row, _) => "class rows (one evaluation per row, reductions over its classes)",
        _ => Sets switch
        {
            LossSets.PerImage => "sets per image and channel (reductions over the pixels, chunked)",
            LossSets.Whole => "one set over the whole tensor (reductions over every element, chunked)",
            _ => "sets per channel (reductions over batch and pixels, chunked)",
        },
    };

    /// <summary>The tensor a data parameter takes, as the generated overload documents it.</summary>
    public string TensorDescription(LossParameter p) => (Segment, Members, p.Kind) switch
    {
        _ when PixelClasses && p.Softmax => "[N, C, *spatial] float logits (float32, float64, float16 or bfloat16); the loss sees their softmax across the class axis 1, "
            + (Sets == LossSets.PerImage ? "one set per image and class over the spatial positions" : "one set per class over batch and spatial positions"),
        _ when PixelClasses => "[N, *spatial] int64 class mask, values in [0, C) or ignore_index; the loss sees its one-hot",
        (SegmentAxis.Element, _, _) => "any shape; every data tensor has the same shape",
        (SegmentAxis.Row, MemberAxis.Batch, _) => "[N, N] float pair matrix over the batch (e.g. similarities or distances); row i holds item i's pairs",
        (SegmentAxis.Row, _, ParameterKind.Span) => "[N, C], or [N, C, d1, …] as cross_entropy takes it; float (float32, float64, float16 or bfloat16)",
        (SegmentAxis.Row, _, ParameterKind.Target) => "[N] (or [N, d1, …]) int64 class indices in [0, C), or ignore_index",
        (SegmentAxis.Row, _, _) => "[N] (or [N, d1, …]) float, one value per row",
        _ => Sets switch
        {
            LossSets.PerImage => "[N, C, *spatial] float (float32, float64, float16 or bfloat16); one set per image and channel over the spatial positions",
            LossSets.Whole => "any shape, float (float32, float64, float16 or bfloat16); one set over the whole tensor",
            _ => "[N, C, *spatial] float (float32, float64, float16 or bfloat16); one set per channel over batch and spatial positions",
        },
    };
}
