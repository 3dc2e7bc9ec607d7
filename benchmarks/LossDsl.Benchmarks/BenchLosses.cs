using System;
using static LossDsl.LossMath;

namespace LossDsl.Benchmarks;

/// <summary>Losses defined only for the benchmarks.</summary>
public static partial class BenchLosses
{
    /// <summary>Plain cross-entropy written in the DSL, to compare against TorchSharp's built-in <c>cross_entropy</c>.</summary>
    [Loss]
    public static partial float CrossEntropy(ReadOnlySpan<float> logits, int target) => -LogSoftmax(logits, target);

    /// <summary>BCE as its definition writes it; the generator rewrites it to two log-sigmoids (issue 25).</summary>
    [Loss]
    public static partial float NaiveBce(float x, float y) => -(y * Log(Sigmoid(x)) + (1 - y) * Log(1 - Sigmoid(x)));

    /// <summary>The same formula computed as written (<c>Literal</c>): the naive kernel.</summary>
    [Loss(Literal = true)]
    public static partial float NaiveBceLiteral(float x, float y) => -(y * Log(Sigmoid(x)) + (1 - y) * Log(1 - Sigmoid(x)));

    /// <summary>Sigmoid focal as Lin et al. write it; rewritten by the generator.</summary>
    [Loss]
    public static partial float NaiveFocal(float x, float y, float gamma = 2f)
    {
        float p = Sigmoid(x);
        return -(y * Pow(1 - p, gamma) * Log(p) + (1 - y) * Pow(p, gamma) * Log(1 - p));
    }

    /// <summary>The same formula computed as written.</summary>
    [Loss(Literal = true)]
    public static partial float NaiveFocalLiteral(float x, float y, float gamma = 2f)
    {
        float p = Sigmoid(x);
        return -(y * Pow(1 - p, gamma) * Log(p) + (1 - y) * Pow(p, gamma) * Log(1 - p));
    }
}
