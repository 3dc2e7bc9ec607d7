using System;
using static LossDsl.LossMath;

namespace LossDsl.Benchmarks;

/// <summary>Losses defined only for the benchmarks.</summary>
public static partial class BenchLosses
{
    /// <summary>Plain cross-entropy written in the DSL, to compare against TorchSharp's built-in <c>cross_entropy</c>.</summary>
    [Loss]
    public static partial float CrossEntropy(ReadOnlySpan<float> logits, int target) => -LogSoftmax(logits, target);

    /// <summary>smp's soft Dice on probabilities, one set per channel.</summary>
    [Loss(Shape = LossShape.ChannelSet)]
    public static partial float SoftDice(ReadOnlySpan<float> probs, ReadOnlySpan<float> targets, float smooth = 0f, float eps = 1e-7f)
    {
        float inter = Sum(probs, targets, (p, y) => p * y);
        float cardinality = Sum(probs, targets, (p, y) => p + y);
        return 1 - (2 * inter + smooth) / Max(cardinality + smooth, eps);
    }
}
