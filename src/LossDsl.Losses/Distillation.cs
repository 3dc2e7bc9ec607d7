using System;
using static LossDsl.LossMath;

namespace LossDsl.Losses;

/// <summary>
/// Distillation losses between two rows of logits <c>[N, C]</c> (or <c>[N, C, d1, …]</c>): every input that requires
/// grad gets its gradient, so pass a frozen teacher detached and two models that learn from each other as they are.
/// </summary>
public static partial class Distillation
{
    /// <summary>
    /// Knowledge distillation: ℓ = τ²·KL(q ‖ p) = τ²·Σ_c q_c·(log q_c − log p_c), with q = softmax(teacher/τ),
    /// p = softmax(student/τ) and τ = temperature.
    /// </summary>
    /// <remarks>
    /// Source: Hinton, Vinyals and Dean, "Distilling the Knowledge in a Neural Network", 2015; as
    /// <c>F.kl_div(log_softmax(s/τ), softmax(t/τ), reduction="batchmean")·τ²</c> (torchdistill's <c>KDLoss</c>).
    /// </remarks>
    [Loss(Task = LossTask.None)]
    public static partial float KL(ReadOnlySpan<float> student, ReadOnlySpan<float> teacher, [Range(0, double.PositiveInfinity, MinExclusive = true)] float temperature = 4f)
    {
        float ls = LogSumExp(student, s => s / temperature);
        float lt = LogSumExp(teacher, t => t / temperature);
        return temperature * temperature * Sum(student, teacher, (s, t) => Exp(t / temperature - lt) * (t / temperature - lt - (s / temperature - ls)));
    }

    /// <summary>
    /// Symmetric KL: ℓ = ½·[KL(p ‖ q) + KL(q ‖ p)] = ½·Σ_c (p_c − q_c)·(log p_c − log q_c), with p = softmax(a/τ),
    /// q = softmax(b/τ) and τ = temperature; both inputs get gradients.
    /// </summary>
    /// <remarks>
    /// Source: Zhang et al., "Deep Mutual Learning", CVPR 2018 (online distillation, where both models learn).
    /// </remarks>
    [Loss(Task = LossTask.None)]
    public static partial float SymmetricKL(ReadOnlySpan<float> a, ReadOnlySpan<float> b, [Range(0, double.PositiveInfinity, MinExclusive = true)] float temperature = 1f)
    {
        float la = LogSumExp(a, x => x / temperature);
        float lb = LogSumExp(b, y => y / temperature);
        return 0.5f * Sum(a, b, (x, y) => (Exp(x / temperature - la) - Exp(y / temperature - lb)) * ((x / temperature - la) - (y / temperature - lb)));
    }
}
