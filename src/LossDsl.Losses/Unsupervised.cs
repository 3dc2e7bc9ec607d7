using System;
using static LossDsl.LossMath;

namespace LossDsl.Losses;

/// <summary>
/// Losses on predictions without labels (semi-supervised learning, source-free domain adaptation): rows of logits
/// <c>[N, C]</c>, p = softmax(z). Information maximization reads the batch's mean prediction p̄ = mean_i p_i, so it is a
/// multiclass set loss, one set per class over the batch.
/// </summary>
public static partial class Unsupervised
{
    /// <summary>
    /// Entropy minimization: ℓ = H(p) = −Σ_c p_c·log p_c, with log p_c = z_c − log Σ_k e^(z_k).
    /// </summary>
    /// <remarks>
    /// Source: Grandvalet and Bengio, "Semi-supervised Learning by Entropy Minimization", NeurIPS 2004; the entropy term of
    /// SHOT (Liang et al., ICML 2020) without its ε.
    /// </remarks>
    [Loss(Task = LossTask.None)]
    public static partial float Entropy(ReadOnlySpan<float> logits)
    {
        float lse = LogSumExp(logits);
        return -Sum(logits, z => Exp(z - lse) * (z - lse));
    }

    /// <summary>
    /// Information maximization: ℓ = mean_i H_ε(p_i) − H_ε(p̄), the mean entropy of the predictions less the entropy of
    /// their mean, with H_ε(q) = −Σ_c q_c·log(q_c + ε). One set per class: ℓ_c = C·(p̄_c·log(p̄_c + ε) − mean_i p_ic·log(p_ic + ε)),
    /// so that Mean over the classes is the loss. It takes the logits alone: a <c>[Softmax]</c> set loss without a target span
    /// takes no class mask.
    /// </summary>
    /// <remarks>
    /// Source: Liang, Hu and Feng, "Do We Really Need to Access the Source Data? Source Hypothesis Transfer for Unsupervised
    /// Domain Adaptation" (SHOT), ICML 2020; reference code tim-learn/SHOT (<c>ent_loss − gent_loss</c>, ε = 1e-5); after
    /// Krause, Perona and Gomes, "Discriminative Clustering by Regularized Information Maximization", NeurIPS 2010.
    /// </remarks>
    [Loss(Task = LossTask.None)]
    public static partial float InformationMaximization([Softmax] ReadOnlySpan<float> probs,
        [Range(0, double.PositiveInfinity, MinExclusive = true)] float epsilon = 1e-5f)
    {
        float mean = Mean(probs);
        return Classes * (mean * Log(mean + epsilon) - Mean(probs, p => p * Log(p + epsilon)));
    }

}
