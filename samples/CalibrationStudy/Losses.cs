using System;
using LossDsl;
using static LossDsl.LossMath;

namespace LossDsl.Samples.CalibrationStudy;

/// <summary>
/// The five losses the study compares, declared here in the DSL. The analyzer checks each at its hyperparameters'
/// default values, so each default is the value the study trains with.
/// </summary>
public static partial class Losses
{
    /// <summary>Cross-entropy, −log softmax(z)_t.</summary>
    [Loss]
    public static partial float CrossEntropy(ReadOnlySpan<float> logits, int target) => -LogSoftmax(logits, target);

    /// <summary>Label-smoothed cross-entropy (Szegedy et al. 2016): (1 − ε)·(−log p_t) + ε·mean_c(−log p_c).</summary>
    [Loss]
    public static partial float LabelSmoothing(ReadOnlySpan<float> logits, int target, float smoothing = 0.1f)
    {
        float lse = LogSumExp(logits);
        return (1 - smoothing) * (lse - logits[target]) + smoothing * Mean(logits, z => lse - z);
    }

    /// <summary>Softmax focal loss (Lin et al. 2017), −(1 − p_t)^γ·log p_t, at γ = 3 (Mukhoti et al. 2020's FL-3).</summary>
    [Loss]
    public static partial float Focal(ReadOnlySpan<float> logits, int target, float gamma = 3f)
    {
        float logpt = LogSoftmax(logits, target);
        return -Pow(1 - Exp(logpt), gamma) * logpt;
    }

    /// <summary>Poly-1 (Leng et al. 2022): cross-entropy + ε·(1 − p_t).</summary>
    [Loss]
    public static partial float Poly1(ReadOnlySpan<float> logits, int target, float epsilon = 1f)
        => -LogSoftmax(logits, target) + epsilon * (1 - Softmax(logits, target));

    /// <summary>
    /// Dual focal loss (Tao et al. 2023): −(1 − p_t + p_j*)^γ·log p_t, where p_j* is the largest probability of a class
    /// other than the target.
    /// </summary>
    /// <remarks>
    /// The analyzer reports LOSS0201 (a warning) on this loss: at γ = 2 it is not classification-calibrated. The
    /// warning is what this sample is about, and the program prints it from the build's log next to the measured
    /// calibration, so it is suppressed here rather than left to clutter the build; the log keeps suppressed
    /// diagnostics.
    /// </remarks>
#pragma warning disable LOSS0201
    [Loss]
    public static partial float DualFocal(ReadOnlySpan<float> logits, int target, float gamma = 2f)
    {
        float lse = LogSumExp(logits);
        float logpt = logits[target] - lse;
        float runnerUp = Max(logits, (z, j) => j == target ? float.NegativeInfinity : z);
        return -Pow(1 - Exp(logpt) + Exp(runnerUp - lse), gamma) * logpt;
    }
#pragma warning restore LOSS0201
}
