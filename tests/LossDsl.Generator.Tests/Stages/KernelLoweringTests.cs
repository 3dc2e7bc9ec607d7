using System;
using System.Linq;
using LossDsl.Generator.Analyze;
using LossDsl.Generator.Differentiate;
using LossDsl.Generator.IR;
using LossDsl.Generator.Rewrite;
using LossDsl.Generator.Schedule;
using Xunit;
using static LossDsl.Generator.Tests.Stages.Stage;

namespace LossDsl.Generator.Tests.Stages;

/// <summary>
/// The kernel lowering on its own: σ, logσ and softplus of one x are computed from one e^(−|x|) and one log1p where two or
/// more of them meet, the values stay those of the intrinsics (checked in double against the op table's definitions, by
/// the IR interpreter), and a loss without them is left as it is.
/// </summary>
public class KernelLoweringTests
{
    private const string NaiveBce = "[Loss] public static partial float F(float x, float y) => -(y * Log(Sigmoid(x)) + (1 - y) * Log(1 - Sigmoid(x)));";

    private static DerivedLoss Derive(string loss) => Rewriter.Apply(Differentiator.Run(Rewriter.Apply(ParseOk(loss))));

    private static int Count(DerivedLoss d, Func<Op, bool> which)
        => GraphWalk.Reach(i => d.Graph[i], d.Roots(), _ => true).Count(i => which(d.Graph[i].Op));

    private static bool Family(Op op) => op is Op.Sigmoid or Op.LogSigmoid or Op.Softplus;

    [Fact]
    public void StableBceNeedsOneExponentialAndOneLog1pWhereItCalledFourIntrinsics()
    {
        var source = Derive(NaiveBce);
        Assert.Equal(4, Count(source, Family));                         // logσ(±x) for the value, σ(±x) for the gradient
        var (kernel, calls, map) = KernelLowering.Run(source);
        Assert.Equal(0, Count(kernel, Family));
        Assert.Equal(1, Count(kernel, op => op == Op.Exp));
        Assert.Equal(1, Count(kernel, op => op == Op.Log1P));
        Assert.Equal(4, calls.Count);
        Assert.NotNull(map);
        Assert.Equal(kernel.Loss, map!.Value[source.Loss]);
    }

    [Fact]
    public void ALossWithoutTheSigmoidFamilyIsLeftAsItIs()
    {
        var source = Derive("[Loss] public static partial float F(float x, float y) => Square(x - y) + Exp(-x);");
        var (kernel, calls, map) = KernelLowering.Run(source);
        Assert.Same(source, kernel);
        Assert.Empty(calls);
        Assert.Null(map);
    }

    [Theory]
    [InlineData(NaiveBce)]
    [InlineData("[Loss] public static partial float F(float x, float y) => Softplus(x) - x * y + 0.25f * Square(Sigmoid(-x)) * LogSigmoid(-x);")]
    [InlineData("[Loss] public static partial float F(float x, float y, float gamma = 2f) => -(y * Pow(1 - Sigmoid(x), gamma) * Log(Sigmoid(x)) + (1 - y) * Pow(Sigmoid(x), gamma) * Log(1 - Sigmoid(x)));")]
    public void TheLoweredLossAndGradientEqualTheIntrinsicsInDouble(string loss)
    {
        var source = Derive(loss);
        var (kernel, _, _) = KernelLowering.Run(source);
        Assert.NotSame(source, kernel);
        var before = new IrEvaluator(source.Graph, source.Loss, source.Gradient) { Hypers = new[] { 2.0 } };
        var after = new IrEvaluator(kernel.Graph, kernel.Loss, kernel.Gradient) { Hypers = new[] { 2.0 } };
        foreach (double x in new[] { -700, -90, -30, -17, -3.5, -1e-3, 0, 1e-7, 0.5, 4, 17, 40, 88, 700 })
            foreach (double y in new[] { 0, 0.25, 1 })
            {
                before.Inputs = after.Inputs = new[] { x, y };
                before.Run();
                after.Run();
                foreach (var (b, a) in new[] { (before.Value(source.Loss), after.Value(kernel.Loss)), (before.Value(source.Gradient), after.Value(kernel.Gradient)) })
                    Assert.True(Math.Abs(a - b) <= 1e-14 * Math.Abs(b) || a.Equals(b), $"x = {x}, y = {y}: intrinsics {b:R}, lowered {a:R}");
            }
    }
}
