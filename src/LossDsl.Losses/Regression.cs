using System;
using static LossDsl.LossMath;

namespace LossDsl.Losses;

/// <summary>
/// Regression losses: elementwise over a prediction and a target of the same shape. r = target − input is the residual
/// (the sign matters for the quantile loss only).
/// </summary>
public static partial class Regression
{
    /// <summary>Mean squared error: ℓ = (x − y)².</summary>
    /// <remarks>Source: least squares; PyTorch <c>F.mse_loss</c>.</remarks>
    [Loss(Task = LossTask.Regression)]
    public static partial float Mse(float input, float target)
        => Square(input - target);

    /// <summary>Mean absolute error: ℓ = |x − y|.</summary>
    /// <remarks>Source: least absolute deviations; PyTorch <c>F.l1_loss</c>.</remarks>
    [Loss(Task = LossTask.Regression)]
    public static partial float L1(float input, float target)
        => Abs(input - target);

    /// <summary>Smooth L1: ℓ = ½r²/β if |r| &lt; β, else |r| − ½β (β = 0 is L1).</summary>
    /// <remarks>Source: Girshick, "Fast R-CNN", ICCV 2015; PyTorch <c>F.smooth_l1_loss(beta=1)</c>.</remarks>
    [Loss(Task = LossTask.Regression)]
    public static partial float SmoothL1(float input, float target, [Range(0, double.PositiveInfinity)] float beta = 1f)
    {
        float r = Abs(input - target);
        return r < beta ? 0.5f * r * r / beta : r - 0.5f * beta;
    }

    /// <summary>Huber loss: ℓ = ½r² if |r| ≤ δ, else δ·(|r| − ½δ), with δ = delta.</summary>
    /// <remarks>Source: Huber, "Robust Estimation of a Location Parameter", 1964; PyTorch <c>F.huber_loss(delta=1)</c>.</remarks>
    [Loss(Task = LossTask.Regression)]
    public static partial float Huber(float input, float target, [Range(0, double.PositiveInfinity, MinExclusive = true)] float delta = 1f)
    {
        float r = Abs(input - target);
        return r <= delta ? 0.5f * r * r : delta * (r - 0.5f * delta);
    }

    /// <summary>
    /// Pseudo-Huber (Charbonnier) loss: ℓ = δ²·(√(1 + (r/δ)²) − 1), a smooth Huber, computed as
    /// δ²·u / (√(1 + u) + 1) with u = (r/δ)² so that small residuals do not cancel.
    /// </summary>
    /// <remarks>
    /// Source: Charbonnier et al., "Two Deterministic Half-Quadratic Regularization Algorithms for Computed Imaging",
    /// ICIP 1994; Hartley and Zisserman, "Multiple View Geometry", 2003 (the pseudo-Huber cost).
    /// </remarks>
    [Loss(Task = LossTask.Regression)]
    public static partial float PseudoHuber(float input, float target, [Range(0, double.PositiveInfinity, MinExclusive = true)] float delta = 1f)
    {
        float u = Square((input - target) / delta);
        return delta * delta * u / (Sqrt(1 + u) + 1);
    }

    /// <summary>Log-cosh loss: ℓ = log cosh(r) = |r| + softplus(−2|r|) − log 2.</summary>
    /// <remarks>Source: Keras/TensorFlow <c>tf.keras.losses.log_cosh</c> (the same stable form).</remarks>
    [Loss(Task = LossTask.Regression)]
    public static partial float LogCosh(float input, float target)
    {
        float r = Abs(input - target);
        return r + Softplus(-2 * r) - Log(2f);
    }

    /// <summary>Quantile (pinball) loss: ℓ = max(τ·r, (τ − 1)·r), with r = y − x and τ = tau, the target quantile.</summary>
    /// <remarks>
    /// Source: Koenker and Bassett, "Regression Quantiles", Econometrica 1978; as TensorFlow Addons' <c>PinballLoss(tau)</c>
    /// and scikit-learn's <c>mean_pinball_loss(alpha)</c>.
    /// </remarks>
    [Loss(Task = LossTask.Regression)]
    public static partial float Quantile(float input, float target, [Range(0, 1)] float tau = 0.5f)
    {
        float r = target - input;
        return Max(tau * r, (tau - 1) * r);
    }

    /// <summary>
    /// Gaussian negative log-likelihood: ℓ = ½·(log v + (x − y)²/v), with v = max(var, eps), the predicted variance (it
    /// gets its gradient too when it requires grad).
    /// </summary>
    /// <remarks>
    /// Source: Nix and Weigend, "Estimating the Mean and Variance of the Target Probability Distribution", 1994; PyTorch
    /// <c>F.gaussian_nll_loss(full=False, eps=1e-6)</c>. PyTorch clamps the variance without autograd seeing the clamp;
    /// here a variance below eps gets no gradient.
    /// </remarks>
    [Loss(Task = LossTask.Regression)]
    public static partial float GaussianNll(float input, float target, float var, [Range(0, double.PositiveInfinity, MinExclusive = true)] float eps = 1e-6f)
    {
        float v = Max(var, eps);
        return 0.5f * (Log(v) + Square(input - target) / v);
    }

    /// <summary>Poisson negative log-likelihood with a log-rate input: ℓ = e^x − y·x.</summary>
    /// <remarks>Source: Poisson regression; PyTorch <c>F.poisson_nll_loss(log_input=True, full=False)</c>.</remarks>
    [Loss(Task = LossTask.Regression)]
    public static partial float PoissonNll(float log_input, float target)
        => Exp(log_input) - target * log_input;
}
