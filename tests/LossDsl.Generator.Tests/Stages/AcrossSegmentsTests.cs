using System;
using System.Linq;
using LossDsl.Generator.Differentiate;
using LossDsl.Generator.Emit;
using LossDsl.Generator.Emit.Kernels;
using LossDsl.Generator.IR;
using LossDsl.Generator.Schedule;
using Xunit;
using static LossDsl.Generator.Tests.Stages.Stage;

namespace LossDsl.Generator.Tests.Stages;

/// <summary>
/// Reductions across the segments: the classes of a set loss (<c>SumOverClasses</c>, <c>MeanOverClasses</c>,
/// <c>MaxOverClasses</c>, <c>MinOverClasses</c>) and the anchors of a pair loss (<c>SumOverAnchors</c>, …; IR <see cref="Op.Across"/>): what the parser builds and refuses, what the differentiator
/// passes through them, and the backends' capability. Their values and gradients on tensors are checked against MONAI's
/// smp's and pytorch-metric-learning's compositions in LossDsl.Tests (<c>GeneralizedDice</c>, <c>GeneralizedDiceBatch</c>,
/// <c>SmpFocalTversky</c>, <c>Contrastive</c>).
/// </summary>
public class AcrossSegmentsTests
{
    private const string Generalized = """
        [Loss(Sets = LossSets.PerImage)]
        public static partial float F(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
        {
            float v = Sum(y);
            float w = v > 0 ? 1 / v / v : 0;
            float weight = v > 0 ? w : MaxOverClasses(w);
            return 1 - 2 * SumOverClasses(weight * Sum(x, y, (a, b) => Sigmoid(a) * b)) / (SumOverClasses(weight * Sum(x, y, (a, b) => Sigmoid(a) + b)) + 1e-5f);
        }
        """;

    [Fact]
    public void MeanOverClassesIsTheSumOverTheClassCount()
    {
        var m = ParseOk("""
            [Loss(Sets = LossSets.PerChannel)] public static partial float F(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
                => MeanOverClasses(Sum(x, y, (a, b) => a * b));
            """);
        var g = m.Forward!;
        var root = g[m.Root];
        Assert.Equal(Op.Div, root.Op);
        Assert.Equal(Op.Across, g[root.A].Op);
        Assert.Equal(Op.ReduceSum, (Op)g[root.A].Slot);
        Assert.Equal(Op.Classes, g[root.B].Op);
        Assert.Equal(Op.ReduceSum, g[g[root.A].A].Op);
    }

    [Fact]
    public void AReductionAcrossTheClassesMayReadAnother()
    {
        var g = ParseOk(Generalized).Forward!;
        var across = Enumerable.Range(0, g.Count).Where(i => g[i].Op == Op.Across).ToList();
        Assert.Equal(3, across.Count);
        Assert.Contains(across, i => (Op)g[i].Slot == Op.ReduceMax);
    }

    [Theory]
    [InlineData("=> Sum(x, y, (a, b) => a * b) / SumOverClasses(Sum(y));", "one value")]
    [InlineData("{ float m = MaxOverClasses(Sum(y)); return SumOverClasses(Sum(x, y, (a, b) => a * b * m)); }", "element function may not read")]
    [InlineData("=> SumOverClasses(Sum(x, a => SumOverClasses(a)));", "outside the element functions")]
    public void WhatTheParserRefuses(string body, string why)
    {
        var m = Stage.Parse("[Loss(Sets = LossSets.PerChannel)] public static partial float F(ReadOnlySpan<float> x, ReadOnlySpan<float> y) " + body);
        Assert.Null(m.Forward);
        Assert.Contains(m.Diagnostics, d => d.Id == "LOSS0104" && d.Arguments.Any(a => a.Contains(why, StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData("[Loss] public static partial float F(ReadOnlySpan<float> z, int t) => SumOverClasses(z[t]);")]
    [InlineData("[Loss(Sets = LossSets.Whole)] public static partial float F(ReadOnlySpan<float> x) => SumOverClasses(Sum(x));")]
    public void OnlyASetLossWithAClassAxisReducesAcrossIt(string loss)
    {
        var m = Stage.Parse(loss);
        Assert.Null(m.Forward);
        Assert.Contains(m.Diagnostics, d => d.Id == "LOSS0104" && d.Arguments.Any(a => a.Contains("no class axis of sets", StringComparison.Ordinal)));
    }

    [Fact]
    public void AnAdjointAcrossTheClassesIsSummedAcrossThem()
    {
        // L = Σ_c w·I_c with w = max_c v_c: ∂L/∂v_c reaches v through the max, with Σ_c I_c (a sum across the classes) as
        // its factor; ∂L/∂I_c = w, per set.
        var d = Differentiator.Run(ParseOk("""
            [Loss(Sets = LossSets.PerChannel)] public static partial float F(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
                => SumOverClasses(MaxOverClasses(Sum(y)) * Sum(x, y, (a, b) => a * b));
            """));
        var g = d.Graph;
        var sums = d.Adjoints.Where(a => g[a.Variable].Op == Op.ReduceSum).ToList();
        Assert.Equal(2, sums.Count);
        // Each adjoint is per set: it reads a reduction across the classes (the shared max, or the summed factor).
        Assert.All(sums, a => Assert.Contains(GraphWalk.Reach(i => g[i], new[] { a.Value }, _ => true), i => g[i].Op == Op.Across));
        var ofVolume = GraphWalk.Reach(i => g[i], new[] { sums.Single(a => g[g[a.Variable].A].Op == Op.Elem).Value }, _ => true);
        int intersection = sums.Single(a => g[g[a.Variable].A].Op != Op.Elem).Variable;
        Assert.Contains(ofVolume, i => g[i].Op == Op.Eq);   // [v_c = max_c v]: the max's weight across the classes
        Assert.Contains(ofVolume, i => g[i].Op == Op.Across && (Op)g[i].Slot == Op.ReduceSum
            && GraphWalk.Reach(k => g[k], new[] { g[i].A }, _ => true).Contains(intersection));   // Σ_c I_c
    }

    [Fact]
    public void TheKernelBackendsDeclineAndTheLayoutSaysOneValuePerImage()
    {
        var plan = Scheduler.Run(Differentiator.Run(ParseOk(Generalized)));
        Assert.False(KernelBackends.Runs(plan));
        Assert.Contains("reduces across its segments", KernelBackends.WhyNot(plan));
        string source = LossSourceEmitter.Emit(plan);
        Assert.Contains("LossLayouts.Sets(global::LossDsl.LossSets.PerImage, multiclass: false, acrossClasses: true)", source);
        Assert.Contains("f.MaxAcross(", source);
        Assert.Contains("one loss per image ([N]), reduced across its classes", source);
    }

    [Fact]
    public void APairLossReducesAcrossItsAnchorsAndMeanDividesByTheirCount()
    {
        var m = ParseOk("""
            [Loss] public static partial float F(ReadOnlySpan<float> d, [Positives] ReadOnlySpan<float> p, [Negatives] ReadOnlySpan<float> n)
                => MeanOverAnchors(Sum(d, p, (x, a) => a * x)) / Max(SumOverAnchors(Sum(p)), 1f);
            """);
        var g = m.Forward!;
        var mean = Enumerable.Range(0, g.Count).Single(i => g[i].Op == Op.Div && g[g[i].A].Op == Op.Across && g[g[i].B].Op == Op.Length);
        Assert.Equal(Op.ReduceSum, (Op)g[g[mean].A].Slot);
        string source = LossSourceEmitter.Emit(Scheduler.Run(Differentiator.Run(m)));
        Assert.Contains("LossLayouts.PairRowsAcrossAnchors", source);
        Assert.Contains("f.SumAcross(", source);
    }

    [Theory]
    [InlineData("[Loss(Sets = LossSets.PerChannel)] public static partial float F(ReadOnlySpan<float> x) => SumOverAnchors(Sum(x));", "no")]
    [InlineData("[Loss] public static partial float F(ReadOnlySpan<float> d, [Positives] ReadOnlySpan<float> p) => SumOverClasses(Sum(d, p, (x, a) => a * x));", "no class axis of sets")]
    public void EachShapeNamesItsOwnSegments(string loss, string why)
    {
        var m = Stage.Parse(loss);
        Assert.Null(m.Forward);
        Assert.Contains(m.Diagnostics, d => d.Id == "LOSS0104" && d.Arguments.Any(a => a.Contains(why, StringComparison.Ordinal)));
    }
}
