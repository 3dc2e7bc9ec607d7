using System;
using static LossDsl.LossMath;

namespace LossDsl.Tests;

/// <summary>
/// Losses the generator has never heard of, defined here to prove that the DSL is general: nothing in
/// LossDsl.Generator mentions them.
/// </summary>
public static partial class TestLosses
{
    /// <summary>Huber loss (elementwise, with a branch).</summary>
    [Loss]
    public static partial float Huber(float prediction, float target, float delta = 1f)
    {
        float r = prediction - target;
        return Abs(r) <= delta ? 0.5f * r * r : delta * (Abs(r) - 0.5f * delta);
    }

    /// <summary>Label-smoothed cross-entropy as timm's LabelSmoothingCrossEntropy (class row, two reductions in sequence).</summary>
    [Loss]
    public static partial float LabelSmoothedCE(ReadOnlySpan<float> logits, int target, float smoothing = 0.1f)
    {
        float lse = LogSumExp(logits);
        float nll = lse - logits[target];
        float smooth = Mean(logits, z => lse - z);
        return (1 - smoothing) * nll + smoothing * smooth;
    }

    /// <summary>Knowledge distillation, τ²·KL(softmax(t/τ) ‖ softmax(s/τ)), over two rows (a reduction reading two others).</summary>
    [Loss]
    public static partial float Distill(ReadOnlySpan<float> student, ReadOnlySpan<float> teacher, float temperature = 2f)
    {
        float ls = LogSumExp(student, s => s / temperature);
        float lt = LogSumExp(teacher, t => t / temperature);
        return temperature * temperature * Sum(student, teacher, (s, t) => Exp(t / temperature - lt) * (t / temperature - lt - (s / temperature - ls)));
    }
}
