using System.Collections.Generic;
using System.Linq;
using LossDsl.Generator.Model;
using LossDsl.Generator.Parse;
using Xunit;
using static LossDsl.Generator.Tests.Stages.Stage;

namespace LossDsl.Generator.Tests.Stages;

/// <summary>
/// The declaration half of the parse stage on its own: <see cref="SignatureParser"/> decides a loss's axes once, from
/// <c>[Loss(Shape = …, Sets = …)]</c>, the parameters and <c>[Softmax]</c>, and every question the later stages ask
/// is answered by that declaration.
/// </summary>
public class SignatureParserTests
{
    private static (LossSignature? Signature, List<DiagnosticInfo> Diagnostics) Signature(string members)
    {
        var d = Declare(members);
        var diagnostics = new List<DiagnosticInfo>();
        var signature = SignatureParser.Parse(d.Syntax, d.Method, d.Attribute, diagnostics, out _);
        return (signature, diagnostics);
    }

    private static AxesDeclaration Axes(string members)
    {
        var (signature, diagnostics) = Signature(members);
        Assert.True(signature is not null, "no signature: " + string.Join("; ", diagnostics.Select(d => d.Id + " " + string.Join(",", d.Arguments))));
        Assert.Empty(diagnostics);
        return signature!.Axes;
    }

    private const string Elementwise = "[Loss] public static partial float F(float x, float y) => x * y;";
    private const string ClassRow = "[Loss] public static partial float F(ReadOnlySpan<float> z, int t) => -LogSoftmax(z, t);";
    private const string PairRow = "[Loss] public static partial float F(ReadOnlySpan<float> s, [Positives] ReadOnlySpan<float> p, [Negatives] ReadOnlySpan<float> n) => Sum(s, p, (a, b) => a * b);";
    private const string SetBody = "(ReadOnlySpan<float> p, ReadOnlySpan<float> y) => 1 - Sum(p, y, (a, b) => a * b) / Max(Sum(p) + Sum(y), 1e-7f);";
    private const string MulticlassBody = "([Softmax] ReadOnlySpan<float> p, ReadOnlySpan<float> y) => 1 - Sum(p, y, (a, b) => a * b) / Max(Sum(p) + Sum(y), 1e-7f);";

    public static TheoryData<string, SegmentAxis, MemberAxis, Model.LossSets?, bool, string> Declarations => new()
    {
        { Elementwise, SegmentAxis.Element, MemberAxis.None, null, false, "global::LossDsl.Runtime.LossLayouts.Elements" },
        { ClassRow, SegmentAxis.Row, MemberAxis.Classes, null, false, "global::LossDsl.Runtime.LossLayouts.ClassRows" },
        { PairRow, SegmentAxis.Row, MemberAxis.Batch, null, false, "global::LossDsl.Runtime.LossLayouts.PairRows" },
        { "[Loss(Shape = LossShape.ChannelSet)] public static partial float F" + SetBody, SegmentAxis.Set, MemberAxis.SetElements, Model.LossSets.PerChannel, false,
            "global::LossDsl.Runtime.LossLayouts.Sets(global::LossDsl.LossSets.PerChannel, multiclass: false)" },
        { "[Loss(Sets = LossSets.PerImage)] public static partial float F" + SetBody, SegmentAxis.Set, MemberAxis.SetElements, Model.LossSets.PerImage, false,
            "global::LossDsl.Runtime.LossLayouts.Sets(global::LossDsl.LossSets.PerImage, multiclass: false)" },
        { "[Loss(Sets = LossSets.Whole)] public static partial float F" + SetBody, SegmentAxis.Set, MemberAxis.SetElements, Model.LossSets.Whole, false,
            "global::LossDsl.Runtime.LossLayouts.Sets(global::LossDsl.LossSets.Whole, multiclass: false)" },
        { "[Loss] public static partial float F" + MulticlassBody, SegmentAxis.Set, MemberAxis.SetElements, Model.LossSets.PerChannel, true,
            "global::LossDsl.Runtime.LossLayouts.Sets(global::LossDsl.LossSets.PerChannel, multiclass: true)" },
        { "[Loss(Sets = LossSets.PerImage)] public static partial float F" + MulticlassBody, SegmentAxis.Set, MemberAxis.SetElements, Model.LossSets.PerImage, true,
            "global::LossDsl.Runtime.LossLayouts.Sets(global::LossDsl.LossSets.PerImage, multiclass: true)" },
    };

    [Theory]
    [MemberData(nameof(Declarations))]
    public void EachDeclarationKindGetsItsAxesAndRuntimeLayout(string members, SegmentAxis segment, MemberAxis memberAxis, Model.LossSets? sets, bool pixelClasses, string layout)
    {
        var axes = Axes(members);
        Assert.Equal(segment, axes.Segment);
        Assert.Equal(memberAxis, axes.Members);
        Assert.Equal(sets, axes.Sets);
        Assert.Equal(pixelClasses, axes.PixelClasses);
        Assert.Equal(layout, axes.LayoutFactory);
        // The kernel plan follows from the segment: elements and rows are fused, sets are chunked.
        Assert.Equal(segment == SegmentAxis.Set, axes.Chunked);
        Assert.Equal(segment == SegmentAxis.Row, axes.FusedRows);
        Assert.Equal(segment != SegmentAxis.Element, axes.HasMembers);
    }

    [Fact]
    public void ASoftmaxSpanAloneIsAMulticlassSetLossWithoutAMask()
    {
        const string loss = "[Loss] public static partial float F([Softmax] ReadOnlySpan<float> p) => Mean(p, a => a * Log(a + 1e-5f));";
        var (signature, diagnostics) = Signature(loss);
        Assert.Empty(diagnostics);
        Assert.True(signature!.Multiclass);
        Assert.False(signature.TakesClassMask);
        Assert.False(signature.Axes.TakesSetIgnore);   // no mask: nothing to ignore
        Assert.Equal(2, signature.LogSoftmaxSlot);     // the kernel ABI's slots, mask or not
        Assert.Equal("classes", signature.SpanName(1));
        string source = LossDsl.Generator.Emit.LossSourceEmitter.Emit(LossDsl.Generator.Schedule.Scheduler.Run(LossDsl.Generator.Differentiate.Differentiator.Run(ParseOk(loss))));
        Assert.Contains("roles: new[] { TensorRole.Span }", source);
        Assert.Contains("F(global::TorchSharp.torch.Tensor p, ", source);
        Assert.True(Signature(MulticlassBody.Replace("([Softmax]", "[Loss] public static partial float F([Softmax]")).Signature!.TakesClassMask);
    }

    [Fact]
    public void NamingTheSetsAloneMakesASetLossEvenPerChannel()
    {
        // LossAttribute.Sets: setting it makes the loss a set loss; PerChannel is its default value, but naming it counts.
        var named = Axes("[Loss(Sets = LossSets.PerChannel)] public static partial float F" + SetBody);
        var declared = Axes("[Loss(Shape = LossShape.ChannelSet)] public static partial float F" + SetBody);
        Assert.Equal(declared, named);
        Assert.Equal(SegmentAxis.Row, Axes("[Loss] public static partial float F" + SetBody).Segment);   // without it, spans are class rows
    }

    [Fact]
    public void SetsOnAnotherShapeIsAShapeMismatch()
    {
        var (signature, diagnostics) = Signature("[Loss(Shape = LossShape.ClassRow, Sets = LossSets.PerChannel)] public static partial float F" + SetBody);
        Assert.Null(signature);
        var d = Assert.Single(diagnostics);
        Assert.Equal("LOSS0005", d.Id);
        Assert.Equal(new[] { "F", "ClassRow", "Sets applies to set losses only" }, d.Arguments.ToArray());
    }

    [Fact]
    public void TheOptionsFollowFromTheAxesAndTheParameters()
    {
        var elementwise = Axes(Elementwise);
        Assert.True(elementwise.TakesWeight);
        Assert.False(elementwise.TakesIgnoreIndex);
        Assert.False(elementwise.TakesSetIgnore);

        var classRow = Axes(ClassRow);
        Assert.True(classRow.TakesWeight);          // class weights, indexed by the target
        Assert.True(classRow.TakesIgnoreIndex);
        Assert.True(classRow.LinearRows);           // logits a Linear head computes: a fused linear form

        var distillation = Axes("[Loss] public static partial float F(ReadOnlySpan<float> s, ReadOnlySpan<float> t) => LogSumExp(s) - Sum(s, t, (a, b) => a * b);");
        Assert.False(distillation.TakesWeight);     // no target to index class weights by
        Assert.False(distillation.TakesIgnoreIndex);

        var pairs = Axes(PairRow);
        Assert.True(pairs.MeanOverPositive);
        Assert.False(pairs.TakesWeight || pairs.TakesIgnoreIndex || pairs.LinearRows);

        Assert.True(Axes("[Loss(Sets = LossSets.Whole)] public static partial float F" + SetBody).TakesSetIgnore);   // a target set
        Assert.False(Axes("[Loss(Sets = LossSets.Whole)] public static partial float F(ReadOnlySpan<float> p) => Sum(p, v => v * v);").TakesSetIgnore);
        Assert.False(Axes(ClassRow).MeanOverPositive);
    }

    [Theory]
    [InlineData("[Loss] public static partial float F(float v) => Softplus(-v);", Model.LossTask.Margin)]
    [InlineData(Elementwise, Model.LossTask.None)]
    [InlineData(ClassRow, Model.LossTask.Multiclass)]
    [InlineData("[Loss] public static partial float F(ReadOnlySpan<float> z, int t, float w) => -w * LogSoftmax(z, t);", Model.LossTask.None)]
    [InlineData(PairRow, Model.LossTask.None)]
    [InlineData("[Loss(Shape = LossShape.ChannelSet)] public static partial float F" + SetBody, Model.LossTask.Segmentation)]
    public void TheAxesSuggestTheCalibrationTask(string members, Model.LossTask task) => Assert.Equal(task, Axes(members).SuggestedTask);

    [Fact]
    public void ContainingTypesAreStructured()
    {
        var (signature, _) = Signature(ClassRow);
        Assert.Equal(new[] { new ContainingType("static partial", "class", "L") }, signature!.ContainingTypes.ToArray());
    }

    [Fact]
    public void TheDecisionNeedsNoSyntax()
    {
        // AxesDecision reads plain parameters: the same rules, without a compilation.
        static LossParameter P(string name, ParameterKind kind, int slot, bool softmax = false) => new(name, kind, slot, "float", 0, Softmax: softmax);
        var row = AxesDecision.Decide(Model.LossShape.Auto, null, new[] { P("z", ParameterKind.Span, 0), P("t", ParameterKind.Target, 0) });
        Assert.Equal(SegmentAxis.Row, row.Axes!.Segment);
        Assert.Equal("ClassRow", row.ShapeName);

        var multiclass = AxesDecision.Decide(Model.LossShape.Auto, Model.LossSets.Whole, new[] { P("p", ParameterKind.Span, 0, softmax: true), P("y", ParameterKind.Span, 1) });
        Assert.Null(multiclass.Axes);
        Assert.StartsWith("a multiclass set loss has one set per class", multiclass.Problem);
    }
}
