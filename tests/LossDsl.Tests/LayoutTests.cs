using System;
using System.Linq;
using LossDsl.Runtime;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LossDsl.Tests;

/// <summary>
/// The runtime layouts on their own, without a generated loss: for given dimensions, the kernels' segments, the
/// per-segment and broadcast shapes, the Mean count, the torch-ops axes and the caller-layout conversion, against values
/// worked out by hand from the layouts' documented meaning; and the validation errors each layout raises.
/// </summary>
public class LayoutTests
{
    /// <summary>A definition with no kernels: enough for a layout's validation, which names the loss and its tensors.</summary>
    private static LossDefinition Def(LossLayout layout, params (string Name, TensorRole Role)[] tensors)
        => new("T", layout, tensors.Select(t => t.Name).ToArray(), tensors.Select(t => t.Role).ToArray(),
            Array.Empty<string>(), partialSlots: 0, chunked: false, Array.Empty<BackendKernels>());

    private static void AssertKernel(KernelShape k, int segments, long length, long inner, long segmentStride, long outerStride)
    {
        Assert.Equal(segments, k.Segments);
        Assert.Equal(length, k.Length);
        Assert.Equal(inner, k.Inner);
        Assert.Equal(segmentStride, k.SegmentStride);
        Assert.Equal(outerStride, k.OuterStride);
        Assert.Equal(1, k.Chunks);
        Assert.Equal(length, k.ChunkLength);
    }

    // ---- elementwise ----

    [Fact]
    public void ElementsAreOneSegmentEach()
    {
        var layout = LossLayouts.Elements;
        var s = layout.Segments(new long[] { 2, 3 }, partialSlots: 0);
        AssertKernel(s.Shape, segments: 6, length: 1, inner: 1, segmentStride: 1, outerStride: 0);
        Assert.Equal(new long[] { 2, 3 }, s.PerSegment);
        Assert.Equal(new long[] { 2, 3 }, s.GradientBroadcast);
        Assert.Equal(6, s.Count);
        Assert.True(layout.PerElement);
        Assert.False(layout.RowTargets || layout.MeanOverPositive || layout.IgnoresElements || layout.Multiclass);

        var axes = layout.TorchAxes(new long[] { 2, 3 });
        Assert.Equal(new long[] { 2, 3 }, axes.Elements);
        Assert.Equal(new long[] { 2, 3 }, axes.Segments);
        Assert.Empty(axes.Reduce);
    }

    [Fact]
    public void ElementsTakeSameShapeTensorsOnly()
    {
        var def = Def(LossLayouts.Elements, ("x", TensorRole.Input), ("y", TensorRole.Input));
        def.Layout.Validate(def, new[] { torch.zeros(2, 3), torch.zeros(2, 3) });
        var e = Assert.Throws<ArgumentException>(() => def.Layout.Validate(def, new[] { torch.zeros(2, 3), torch.zeros(3, 2) }));
        Assert.Equal("y", e.ParamName);
        Assert.StartsWith("T: 'y' has shape [3, 2]; expected [2, 3] (same shape as 'x').", e.Message);
    }

    // ---- class rows ----

    [Fact]
    public void ClassRowsAreRowsOfTheLastAxis()
    {
        var s = LossLayouts.ClassRows.Segments(new long[] { 4, 5 }, partialSlots: 2);
        AssertKernel(s.Shape, segments: 4, length: 5, inner: 5, segmentStride: 5, outerStride: 0);
        Assert.Equal(2, s.Shape.PartialSlots);
        Assert.Equal(new long[] { 4 }, s.PerSegment);
        Assert.Equal(new long[] { 4, 1 }, s.GradientBroadcast);
        Assert.Equal(4, s.Count);

        var axes = LossLayouts.ClassRows.TorchAxes(new long[] { 4, 5 });
        Assert.Equal(new long[] { 4, 5 }, axes.Elements);
        Assert.Equal(new long[] { 4, 1 }, axes.Segments);
        Assert.Equal(new long[] { 1 }, axes.Reduce);
        Assert.True(LossLayouts.ClassRows.RowTargets);
        Assert.False(LossLayouts.ClassRows.MeanOverPositive);
    }

    [Fact]
    public void ClassAxisOneWithTrailingDimsIsARowPerPosition()
    {
        // [N=2, C=3, 4, 5]: 2·4·5 = 40 rows of 3 classes; the loss per position is [2, 4, 5] and broadcasts over axis 1.
        var s = LossLayouts.ClassRows.Segments(new long[] { 2, 3, 4, 5 }, partialSlots: 0);
        AssertKernel(s.Shape, segments: 40, length: 3, inner: 3, segmentStride: 3, outerStride: 0);
        Assert.Equal(new long[] { 2, 4, 5 }, s.PerSegment);
        Assert.Equal(new long[] { 2, 1, 4, 5 }, s.GradientBroadcast);
        Assert.Equal(40, s.Count);
    }

    [Fact]
    public void ClassAxisOneRoundTripsThroughRows()
    {
        var def = Def(LossLayouts.ClassRows, ("x", TensorRole.Span), ("target", TensorRole.Target));
        var x = torch.arange(24, ScalarType.Float32).view(2, 3, 4);
        var target = torch.arange(8, ScalarType.Int64).view(2, 4);
        var tensors = new[] { x, target };

        var caller = def.Layout.ToCallLayout(def, tensors);

        Assert.Equal(new long[] { 2, 3, 4 }, caller);
        Assert.Equal(new long[] { 8, 3 }, tensors[0].shape);
        Assert.Equal(new long[] { 8 }, tensors[1].shape);
        // x[n, c, d] = 12n + 4c + d sits in row 4n + d, column c: x[1, 2, 3] = 23 in row 7, column 2; x[0, 1, 2] = 6 in row 2.
        Assert.Equal(23f, tensors[0][7, 2].item<float>());
        Assert.Equal(6f, tensors[0][2, 1].item<float>());
        Assert.Equal(7L, tensors[1][7].item<long>());
        // A gradient on the rows goes back to [N, C, d…] with the class axis at 1.
        var back = def.Layout.ToCallerLayout(tensors[0], caller!);
        Assert.Equal(new long[] { 2, 3, 4 }, back.shape);
        Assert.Equal(x.data<float>().ToArray(), back.data<float>().ToArray());
    }

    [Fact]
    public void PlainRowsNeedNoConversion()
    {
        var def = Def(LossLayouts.ClassRows, ("x", TensorRole.Span), ("target", TensorRole.Target));
        var tensors = new[] { torch.zeros(3, 5), torch.zeros(3, dtype: ScalarType.Int64) };
        Assert.Null(def.Layout.ToCallLayout(def, tensors));
    }

    [Fact]
    public void ClassRowsRejectBadShapesByName()
    {
        var def = Def(LossLayouts.ClassRows, ("x", TensorRole.Span), ("target", TensorRole.Target));
        var e = Assert.Throws<ArgumentException>(() => def.Layout.Validate(def, new[] { torch.zeros(3, 5), torch.zeros(new long[] { 2 }, ScalarType.Int64) }));
        Assert.Equal("target", e.ParamName);
        Assert.StartsWith("T: 'target' has shape [2]; expected [3] (one per row).", e.Message);

        e = Assert.Throws<ArgumentException>(() => def.Layout.Validate(def, new[] { torch.zeros(3, 0), torch.zeros(new long[] { 3 }, ScalarType.Int64) }));
        Assert.Equal("x", e.ParamName);
        Assert.StartsWith("T: 'x' has shape [3, 0]; expected [N, C] with C ≥ 1.", e.Message);

        e = Assert.Throws<ArgumentException>(() => def.Layout.ToCallLayout(def, new[] { torch.zeros(2, 3, 4), torch.zeros(new long[] { 2, 3 }, ScalarType.Int64) }));
        Assert.Equal("target", e.ParamName);
        Assert.StartsWith("T: 'target' has shape [2, 3]; expected [2, 4] (one per row: 'x' without its class axis 1).", e.Message);
    }

    [Fact]
    public void ClassWeightsWeighRowsByTheirTarget()
    {
        var def = Def(LossLayouts.ClassRows, ("x", TensorRole.Span), ("target", TensorRole.Target));
        var tensors = new[] { torch.zeros(3, 3), torch.tensor(new long[] { 2, 0, -100 }) };
        // weight[2] = 3, weight[0] = 1, the ignored row 0: Mean divides by 3 + 1 = 4.
        var (perRow, count) = LossLayouts.ClassRows.Weigh(def, tensors, torch.tensor(new[] { 1f, 2f, 3f }), ScalarType.Float32, ignoreIndex: -100, targetClasses: 3);
        Assert.Equal(new[] { 3f, 1f, 0f }, perRow.data<float>().ToArray());
        Assert.Equal(4.0, count!.Value);

        var e = Assert.Throws<ArgumentException>(() => LossLayouts.ClassRows.Weigh(def, tensors, torch.ones(2), ScalarType.Float32, -100, targetClasses: 3));
        Assert.StartsWith("T: 'weight' has shape [2]; expected [3], one weight per class.", e.Message);
        // A sharded class axis: the weights are the whole axis's (targets index it), not the local rows' 3 classes.
        var sharded = Assert.Throws<ArgumentException>(() => LossLayouts.ClassRows.Weigh(def, tensors, torch.ones(3), ScalarType.Float32, -100, targetClasses: 7));
        Assert.StartsWith("T: 'weight' has shape [3]; expected [7], one weight per class of the whole (sharded) class axis.", sharded.Message);
    }

    // ---- pair rows ----

    [Fact]
    public void PairRowsAreRowsOfTheSquareMatrixAndAverageThePositive()
    {
        var layout = LossLayouts.PairRows;
        var s = layout.Segments(new long[] { 3, 3 }, partialSlots: 0);
        AssertKernel(s.Shape, segments: 3, length: 3, inner: 3, segmentStride: 3, outerStride: 0);
        Assert.Equal(new long[] { 3 }, s.PerSegment);
        Assert.Equal(new long[] { 3, 1 }, s.GradientBroadcast);
        Assert.Equal(3, s.Count);
        Assert.True(layout.MeanOverPositive);
        Assert.True(layout.RowTargets);
    }

    [Fact]
    public void PairRowsTakeASquareMatrixAndNoWeights()
    {
        var def = Def(LossLayouts.PairRows, ("sim", TensorRole.Span), ("pos", TensorRole.Span));
        var e = Assert.Throws<ArgumentException>(() => def.Layout.Validate(def, new[] { torch.zeros(3, 4), torch.zeros(3, 4) }));
        Assert.Equal("sim", e.ParamName);
        Assert.StartsWith("T: 'sim' has shape [3, 4]; expected an [N, N] pair matrix over the batch.", e.Message);

        var tensors = new[] { torch.zeros(3, 3), torch.zeros(3, 3) };
        var n = Assert.Throws<NotSupportedException>(() => def.Layout.Weigh(def, tensors, torch.ones(3), ScalarType.Float32, -100, targetClasses: 3));
        Assert.Equal("T: weights are not supported for pair-row losses.", n.Message);
    }

    // ---- sets ----

    [Fact]
    public void PerChannelSetsRunOverBatchAndSpace()
    {
        // [N=2, C=3, 4, 5]: 3 sets of 2·20 elements, batch-major blocks of 20 positions 3·20 apart.
        var s = LossLayouts.Sets(LossSets.PerChannel).Segments(new long[] { 2, 3, 4, 5 }, partialSlots: 0);
        AssertKernel(s.Shape, segments: 3, length: 40, inner: 20, segmentStride: 20, outerStride: 60);
        // Element 25 of set 1 is image 1, position 5 of channel 1: 1·60 + 1·20 + 5.
        Assert.Equal(85, s.Shape.Offset(1, 25));
        Assert.Equal(new long[] { 3 }, s.PerSegment);
        Assert.Equal(new long[] { 1, 3, 1, 1 }, s.GradientBroadcast);
        Assert.Equal(3, s.Count);

        var axes = LossLayouts.Sets(LossSets.PerChannel).TorchAxes(new long[] { 2, 3, 4, 5 });
        Assert.Equal(new long[] { 2, 3, 20 }, axes.Elements);
        Assert.Equal(new long[] { 1, 3, 1 }, axes.Segments);
        Assert.Equal(new long[] { 0, 2 }, axes.Reduce);
    }

    [Fact]
    public void PerImageSetsRunOverSpace()
    {
        var s = LossLayouts.Sets(LossSets.PerImage).Segments(new long[] { 2, 3, 4, 5 }, partialSlots: 0);
        AssertKernel(s.Shape, segments: 6, length: 20, inner: 20, segmentStride: 20, outerStride: 0);
        Assert.Equal(new long[] { 2, 3 }, s.PerSegment);
        Assert.Equal(new long[] { 2, 3, 1, 1 }, s.GradientBroadcast);
        Assert.Equal(6, s.Count);

        var axes = LossLayouts.Sets(LossSets.PerImage).TorchAxes(new long[] { 2, 3, 4, 5 });
        Assert.Equal(new long[] { 2, 3, 20 }, axes.Elements);
        Assert.Equal(new long[] { 2, 3, 1 }, axes.Segments);
        Assert.Equal(new long[] { 2 }, axes.Reduce);
    }

    [Fact]
    public void AWholeSetIsEveryElement()
    {
        var s = LossLayouts.Sets(LossSets.Whole).Segments(new long[] { 2, 3, 4 }, partialSlots: 0);
        AssertKernel(s.Shape, segments: 1, length: 24, inner: 24, segmentStride: 0, outerStride: 0);
        Assert.Empty(s.PerSegment);
        Assert.Equal(new long[] { 1, 1, 1 }, s.GradientBroadcast);
        Assert.Equal(1, s.Count);

        var axes = LossLayouts.Sets(LossSets.Whole).TorchAxes(new long[] { 2, 3, 4 });
        Assert.Equal(new long[] { 1, 1, 24 }, axes.Elements);
        Assert.Equal(new long[] { 1, 1, 1 }, axes.Segments);
        Assert.Equal(new long[] { 2 }, axes.Reduce);
    }

    [Fact]
    public void SetsRejectBadShapesByName()
    {
        var def = Def(LossLayouts.Sets(LossSets.PerImage), ("p", TensorRole.Span), ("y", TensorRole.Span), ("w", TensorRole.Input));
        def.Layout.Validate(def, new[] { torch.zeros(2, 3, 4), torch.zeros(2, 3, 4), torch.zeros(2, 3) });

        var e = Assert.Throws<ArgumentException>(() => def.Layout.Validate(def, new[] { torch.zeros(2, 3, 4), torch.zeros(2, 3, 4), torch.zeros(3) }));
        Assert.Equal("w", e.ParamName);
        Assert.StartsWith("T: 'w' has shape [3]; expected [2, 3] (one value per set, the shape of the loss with reduction None).", e.Message);

        e = Assert.Throws<ArgumentException>(() => def.Layout.Validate(def, new[] { torch.zeros(5), torch.zeros(5), torch.zeros(2, 3) }));
        Assert.Equal("p", e.ParamName);
        Assert.StartsWith("T: 'p' has shape [5]; expected [N, C, *spatial] with C ≥ 1.", e.Message);

        // A whole-tensor set takes any shape.
        var whole = Def(LossLayouts.Sets(LossSets.Whole), ("p", TensorRole.Span), ("y", TensorRole.Span));
        whole.Layout.Validate(whole, new[] { torch.zeros(5), torch.zeros(5) });
    }

    [Fact]
    public void MulticlassSetsTakeAClassPerPixel()
    {
        var layout = LossLayouts.Sets(LossSets.PerChannel, multiclass: true);
        Assert.True(layout.Multiclass);
        var def = Def(layout, ("logits", TensorRole.Span), ("mask", TensorRole.ClassMask));
        def.Layout.Validate(def, new[] { torch.zeros(2, 3, 4), torch.zeros(new long[] { 2, 4 }, ScalarType.Int64) });
        var e = Assert.Throws<ArgumentException>(() => def.Layout.Validate(def, new[] { torch.zeros(2, 3, 4), torch.zeros(new long[] { 2, 3 }, ScalarType.Int64) }));
        Assert.Equal("mask", e.ParamName);
        Assert.StartsWith("T: 'mask' has shape [2, 3]; expected [2, 4] (a class per pixel: 'logits' without its class axis 1).", e.Message);
    }

    [Fact]
    public void AMulticlassSetCountsTheKeptPixelsOfItsImages()
    {
        var perImage = (SetLayout)LossLayouts.Sets(LossSets.PerImage, multiclass: true);
        Assert.Equal((5.0, false), perImage.Kept(new long[] { 5, 5 }));
        Assert.Equal((5.0, true), perImage.Kept(new long[] { 5, 4 }));
        var perChannel = (SetLayout)LossLayouts.Sets(LossSets.PerChannel, multiclass: true);
        Assert.Equal((9.0, false), perChannel.Kept(new long[] { 5, 4 }));
    }

    [Fact]
    public void ALayoutAndItsRolesMustAgree()
    {
        Assert.Throws<ArgumentException>(() => LossLayouts.Sets(LossSets.Whole, multiclass: true));
        Assert.Throws<ArgumentOutOfRangeException>(() => LossLayouts.Sets((LossSets)7));
        // A multiclass layout with a span other than a class mask, and a class mask without a multiclass layout; a
        // multiclass layout without a mask is a loss that reads only the probabilities.
        Assert.Throws<ArgumentException>(() => Def(LossLayouts.Sets(LossSets.PerChannel, multiclass: true), ("p", TensorRole.Span), ("y", TensorRole.Span)));
        Assert.Equal(new[] { TensorRole.Span }, Def(LossLayouts.Sets(LossSets.PerChannel, multiclass: true), ("p", TensorRole.Span)).Roles);
        Assert.Throws<ArgumentException>(() => Def(LossLayouts.Sets(LossSets.PerChannel), ("p", TensorRole.Span), ("m", TensorRole.ClassMask)));
    }

    // ---- the backend list ----

    [Fact]
    public void EveryBackendIsRegisteredOnce()
    {
        var kinds = LossBackend.Registered.Select(b => b.Kind).ToList();
        Assert.Equal(kinds.Count, kinds.Distinct().Count());
        Assert.Equal(Enum.GetValues<Backend>().Where(b => b != Backend.Auto).OrderBy(b => b), kinds.OrderBy(b => b));
        // Auto's order is the list's: the fused CPU kernels first, the torch-ops form last.
        Assert.Equal(new[] { Backend.Cpu, Backend.Ilgpu, Backend.TorchOps }, kinds);
    }
}
