using System.Linq;
using LossDsl.Generator.Differentiate;
using LossDsl.Generator.IR;
using LossDsl.Generator.Schedule;
using Xunit;
using static LossDsl.Generator.Tests.Stages.Stage;

namespace LossDsl.Generator.Tests.Stages;

/// <summary>
/// The schedule stage on its own: reductions go to the earliest pass their inputs allow, so independent ones share a
/// sweep over the data, and each accumulator gets its partials slots.
/// </summary>
public class SchedulerTests
{
    private const string Tversky = """
        [Loss(Shape = LossShape.ChannelSet)]
        public static partial float F(ReadOnlySpan<float> x, ReadOnlySpan<float> y, float alpha = 0.5f, float beta = 0.5f)
        {
            float tp = Sum(x, y, (a, b) => Sigmoid(a) * b);
            float fp = Sum(x, y, (a, b) => Sigmoid(a) * (1 - b));
            float fn = Sum(x, y, (a, b) => (1 - Sigmoid(a)) * b);
            return 1 - tp / Max(tp + alpha * fp + beta * fn, 1e-7f);
        }
        """;

    private static Op[] Ops(KernelPlan plan, Pass pass) => pass.Reductions.Select(r => plan.Loss.Graph[r].Op).ToArray();

    [Fact]
    public void TverskyComputesTpFpAndFnInOnePassThenWritesTheGradient()
    {
        var plan = Scheduler.Run(Differentiator.Run(ParseOk(Tversky)));
        var pass = Assert.Single(plan.Passes);
        Assert.Equal(new[] { Op.ReduceSum, Op.ReduceSum, Op.ReduceSum }, Ops(plan, pass));
        Assert.Equal(new[] { 0, 1, 2 }, pass.SlotOffsets.ToArray());   // a Sum accumulates one slot
        Assert.Equal(3, plan.PartialSlots);
        Assert.True(plan.Chunked);                                      // a set is split over threads
        Assert.NotEmpty(plan.GradientElements);
        Assert.Contains(plan.Loss.Loss, pass.Epilogue);                  // the loss is known after the pass
    }

    [Fact]
    public void CrossEntropyIsOneOnlineLogSumExpPass()
    {
        var plan = Scheduler.Run(Differentiator.Run(ParseOk("[Loss] public static partial float F(ReadOnlySpan<float> z, int t) => -LogSoftmax(z, t);")));
        var pass = Assert.Single(plan.Passes);
        Assert.Equal(new[] { Op.ReduceLogSumExp }, Ops(plan, pass));
        Assert.Equal(2, plan.PartialSlots);                              // running max and sum of exponentials
        Assert.False(plan.Chunked);                                      // one thread (group) owns a row
    }

    [Fact]
    public void AReductionThatReadsAnotherWaitsForTheNextPass()
    {
        // Variance: the mean first, then the squared deviations from it; the Max is independent of the mean and shares pass 1.
        var plan = Scheduler.Run(Differentiator.Run(ParseOk("[Loss] public static partial float F(ReadOnlySpan<float> z, int t) { float m = Mean(z); return Mean(z, v => Square(v - m)) + Max(z) - z[t]; }")));
        Assert.Equal(2, plan.Passes.Count);
        Assert.Equal(new[] { 1, 2 }, plan.Passes.Select(p => p.Level).ToArray());
        Assert.Equal(new[] { Op.ReduceSum, Op.ReduceMax }, Ops(plan, plan.Passes[0]).OrderBy(o => o).ToArray());
        // Pass 2: Σ(v − m)², and Σ(v − m) that the differentiator adds for ∂L/∂m = −2/n·Σ(v − m); both read m.
        Assert.Equal(new[] { Op.ReduceSum, Op.ReduceSum }, Ops(plan, plan.Passes[1]));
        Assert.Equal(5, plan.PartialSlots);                              // Sum 1 + Max 2, then Sum 1 + Sum 1
    }

    [Fact]
    public void AMinAndASumOverTheSameSpanShareOnePass()
    {
        var plan = Scheduler.Run(Differentiator.Run(ParseOk("[Loss] public static partial float F(ReadOnlySpan<float> z, int t) => Sum(z, v => v * v) - Min(z, (v, j) => j == t ? 1e30f : v);")));
        var pass = Assert.Single(plan.Passes);
        Assert.Equal(new[] { Op.ReduceSum, Op.ReduceMin }, Ops(plan, pass).OrderBy(o => o).ToArray());
        Assert.Equal(3, plan.PartialSlots);                              // Sum 1 + Min 2 (the running minimum and its position)
        Assert.Contains(plan.Loss.Loss, pass.Epilogue);
    }

    [Fact]
    public void AnElementwiseLossHasNoPassAndAnOuterGradient()
    {
        var plan = Scheduler.Run(Differentiator.Run(ParseOk("[Loss] public static partial float F(float x, float y) => y * Softplus(-x) + (1 - y) * Softplus(x);")));
        Assert.Empty(plan.Passes);
        Assert.Empty(plan.GradientElements);
        Assert.Contains(plan.Loss.Loss, plan.Prologue);
        Assert.Contains(plan.Loss.Gradient, plan.Prologue);
    }

    [Fact]
    public void EveryNeededNodeIsScheduledOnceAndAfterItsOperands()
    {
        var plan = Scheduler.Run(Differentiator.Run(ParseOk(Tversky)));
        var g = plan.Loss.Graph;
        var order = plan.Prologue.Concat(plan.Passes.SelectMany(p => p.Reductions.Concat(p.Epilogue))).ToList();
        Assert.Equal(order.Count, order.Distinct().Count());
        var position = order.Select((node, k) => (node, k)).ToDictionary(x => x.node, x => x.k);
        foreach (var (node, k) in position)
        {
            var n = g[node];
            if (n.Op.IsReduction()) continue;                           // its operand is its element body
            for (int o = 0; o < n.OperandCount; o++)
                if (position.TryGetValue(n.Operand(o), out var ko)) Assert.True(ko < k, $"node {node} ({n.Op}) is scheduled before its operand {n.Operand(o)}");
        }
    }
}
