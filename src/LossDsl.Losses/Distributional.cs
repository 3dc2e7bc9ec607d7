using System;
using static LossDsl.LossMath;

namespace LossDsl.Losses;

/// <summary>
/// Distributional regression losses: a scalar target learned by classification over a fixed support of bins. Logits
/// <c>[N, C]</c> (one per bin) and float targets <c>[N]</c>.
/// </summary>
public static partial class Distributional
{
    /// <summary>
    /// HL-Gauss (histogram loss with a Gaussian target): the cross-entropy between softmax(z) and the probability that a
    /// Gaussian of mean y and standard deviation σ puts on each of the C equal bins of [min_value, max_value], renormalized
    /// to the support. With bin edges b_i = min_value + i·w, w = (max_value − min_value)/C and σ = sigma_ratio·w,
    /// p_i = [erf((b_{i+1} − y)/(√2σ)) − erf((b_i − y)/(√2σ))] / [erf((b_C − y)/(√2σ)) − erf((b_0 − y)/(√2σ))] and
    /// ℓ = −Σ_i p_i·log softmax(z)_i. A target outside the support is clamped to it: the paper's listing divides by the
    /// support's mass, which underflows to 0 a few σ beyond an edge (NaN there); with the target clamped the mass is at least
    /// erf((max_value − min_value)/(√2σ)) ≈ 1, and the 10⁻³⁰ floor under it never binds.
    /// </summary>
    /// <remarks>
    /// Source: Farebrother et al., "Stop Regressing: Training Value Functions via Classification for Scalable Deep RL",
    /// ICML 2024 (section 3 and the <c>HLGaussLoss</c> listing of its appendix, which takes σ itself; the paper recommends
    /// σ = 0.75 bin widths, this method's default sigma_ratio); the histogram loss is Imani and White, "Improving
    /// Regression Performance with Distributional Losses", ICML 2018.
    /// </remarks>
    [Loss]
    public static partial float HLGauss(ReadOnlySpan<float> logits, float target, float min_value = -10f, float max_value = 10f,
        [Range(0, double.PositiveInfinity, MinExclusive = true)] float sigma_ratio = 0.75f)
    {
        float y = Clamp(target, min_value, max_value);
        float width = (max_value - min_value) / logits.Length;
        float scale = 1 / (Sqrt(2f) * sigma_ratio * width);
        float mass = Max(Erf((max_value - y) * scale) - Erf((min_value - y) * scale), 1e-30f);
        float lse = LogSumExp(logits);
        return -Sum(logits, (z, j) => (Erf((min_value + (j + 1) * width - y) * scale) - Erf((min_value + j * width - y) * scale)) * (z - lse)) / mass;
    }
}
