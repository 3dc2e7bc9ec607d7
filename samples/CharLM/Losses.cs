using System;
using LossDsl;
using static LossDsl.LossMath;

namespace CharLM;

/// <summary>The sample's own loss.</summary>
public static partial class Losses
{
    /// <summary>
    /// Label-smoothed cross-entropy over the next character: (1 − ε)·(−log p_next) + ε·mean_c(−log p_c). The generator
    /// also emits NextCharLinear and NextCharLinearLoss, its fused linear form.
    /// </summary>
    [Loss]
    public static partial float NextChar(ReadOnlySpan<float> logits, int next, float smoothing = 0.05f)
    {
        float lse = LogSumExp(logits);
        return (1 - smoothing) * (lse - logits[next]) + smoothing * Mean(logits, z => lse - z);
    }
}
