using System;
using static LossDsl.LossMath;

namespace LossDsl.Benchmarks;

/// <summary>Losses defined only for the benchmarks.</summary>
public static partial class BenchLosses
{
    /// <summary>Plain cross-entropy written in the DSL, to compare against TorchSharp's built-in <c>cross_entropy</c>.</summary>
    [Loss]
    public static partial float CrossEntropy(ReadOnlySpan<float> logits, int target) => -LogSoftmax(logits, target);
}
