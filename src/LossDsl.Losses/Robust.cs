using System;
using static LossDsl.LossMath;

namespace LossDsl.Losses;

/// <summary>
/// Robust regression losses with bounded or slowly growing penalties, elementwise over a prediction and a target of the
/// same shape, as kornia's <c>kornia.losses</c> names them. r = input − target is the residual. They are the members of
/// Barron's general robust loss at scale c = 1 (Barron, "A General and Adaptive Robust Loss Function", CVPR 2019): α = 0
/// is Cauchy, α = −2 Geman-McClure, α → −∞ Welsch (α = 1 is the Charbonnier loss, <c>Regression.PseudoHuber</c> at δ = 1).
/// </summary>
public static partial class Robust
{
    /// <summary>
    /// Welsch (Leclerc) loss: ℓ = 1 − e^(−r²/2), computed as 2t / (1 + t) with t = tanh(r²/4) (the same value) so that a
    /// small residual does not cancel.
    /// </summary>
    /// <remarks>
    /// Source: Dennis and Welsch, "Techniques for Nonlinear Least Squares and Robust Regression", 1978; Barron 2019 (α → −∞,
    /// c = 1); as kornia's <c>welsch_loss(img1, img2)</c>.
    /// </remarks>
    [Loss]
    public static partial float Welsch(float input, float target)
    {
        float r = input - target;
        float t = Tanh(r * r / 4);
        return 2 * t / (1 + t);
    }

    /// <summary>
    /// Cauchy (Lorentzian) loss: ℓ = log(1 + r²/2).
    /// </summary>
    /// <remarks>
    /// Source: Black and Anandan, "The Robust Estimation of Multiple Motions", CVIU 1996 (the Lorentzian); Barron 2019
    /// (α = 0, c = 1); as kornia's <c>cauchy_loss(img1, img2)</c>.
    /// </remarks>
    [Loss]
    public static partial float Cauchy(float input, float target)
    {
        float r = input - target;
        return Log(1 + r * r / 2);
    }

    /// <summary>
    /// Geman-McClure loss: ℓ = 2r² / (r² + 4), bounded by 2.
    /// </summary>
    /// <remarks>
    /// Source: Geman and McClure, "Bayesian Image Analysis: An Application to Single Photon Emission Tomography", 1985;
    /// Barron 2019 (α = −2, c = 1); as kornia's <c>geman_mcclure_loss(img1, img2)</c>.
    /// </remarks>
    [Loss]
    public static partial float GemanMcClure(float input, float target)
    {
        float r = input - target;
        return 2 * r * r / (r * r + 4);
    }
}
