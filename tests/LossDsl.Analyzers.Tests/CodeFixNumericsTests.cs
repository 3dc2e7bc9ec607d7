using System;
using Xunit;
using static LossDsl.LossMath;

namespace LossDsl.Analyzers.Tests;

/// <summary>
/// The LOSS0301/LOSS0302 code fix changes nothing numerically beyond stability: each rewrite it makes is an
/// identity of the LossMath intrinsics wherever the original is finite, and stays finite where it is not.
/// </summary>
public class CodeFixNumericsTests
{
    [Fact]
    public void LogSigmoidRewritesAreIdentitiesAndStable()
    {
        for (float x = -15; x <= 15; x += 0.25f)
        {
            Close(Log(Sigmoid(x)), LogSigmoid(x), 1e-5);
            Close(Log(1 / (1 + Exp(-x))), LogSigmoid(x), 1e-5);
            // 1 − σ(x) cancels in float as x grows (the instability the fix removes): compare where it still holds.
            if (x <= 8) Close(Log(1 - Sigmoid(x)), LogSigmoid(-x), 1e-3);
        }
        // Where the hand-written form overflows to −∞, the rewrite stays finite.
        Assert.Equal(float.NegativeInfinity, Log(Sigmoid(-120f)));
        Close(-120f, LogSigmoid(-120f), 1e-6);
    }

    [Fact]
    public void LogSoftmaxRewritesAreIdentitiesAndStable()
    {
        var rng = new Random(3);
        var z = new float[9];
        for (int trial = 0; trial < 50; trial++)
        {
            for (int i = 0; i < z.Length; i++) z[i] = (float)(rng.NextDouble() * 10 - 5);
            int t = rng.Next(z.Length);
            Close(Log(Softmax(z, t)), LogSoftmax(z, t), 1e-5);
            Close(Log(Exp(z[t]) / Sum(z, e => Exp(e))), LogSoftmax(z, t), 1e-5);
        }
        z[0] = 120f;   // e^120 overflows float: the hand-written form is NaN, the rewrite is exact
        Assert.True(float.IsNaN(Log(Exp(z[0]) / Sum(z, e => Exp(e)))));
        Close(0f, LogSoftmax(z, 0), 1e-6);
    }

    /// <summary>|a − b| ≤ rel · max(1, |b|): float rounding of the two forms, not a difference in the math.</summary>
    private static void Close(float a, float b, double rel)
        => Assert.True(Math.Abs(a - b) <= rel * Math.Max(1, Math.Abs(b)), $"{a:R} vs {b:R}");
}
