using System;
using static LossDsl.LossMath;

namespace LossDsl.Benchmarks;

/// <summary>Losses defined only for the benchmarks.</summary>
public static partial class BenchLosses
{
    /// <summary>Plain cross-entropy written in the DSL, to compare against TorchSharp's built-in <c>cross_entropy</c>.</summary>
    [Loss]
    public static partial float CrossEntropy(ReadOnlySpan<float> logits, int target) => -LogSoftmax(logits, target);

    /// <summary>SupCon as a pair loss: one anchor's row of a similarity matrix, masks built from the labels (docs/dsl.md).</summary>
#pragma warning disable LOSS0304 // the count > 0 guard is not seen by the interval analysis
    [Loss]
    public static partial float SupCon(ReadOnlySpan<float> similarity, [Positives] ReadOnlySpan<float> positive, [Negatives] ReadOnlySpan<float> negative, float temperature = 0.1f)
    {
        float lse = LogSumExp(similarity, positive, negative, (s, p, n) => p + n > 0 ? s / temperature : float.NegativeInfinity);
        float count = Sum(positive);
        return count > 0 ? -Sum(similarity, positive, (s, p) => p * (s / temperature - lse)) / count : 0;
    }
#pragma warning restore LOSS0304

    /// <summary>smp's soft Dice on probabilities, one set per channel.</summary>
    [Loss(Shape = LossShape.ChannelSet)]
    public static partial float SoftDice(ReadOnlySpan<float> probs, ReadOnlySpan<float> targets, float smooth = 0f, float eps = 1e-7f)
    {
        float inter = Sum(probs, targets, (p, y) => p * y);
        float cardinality = Sum(probs, targets, (p, y) => p + y);
        return 1 - (2 * inter + smooth) / Max(cardinality + smooth, eps);
    }
}
