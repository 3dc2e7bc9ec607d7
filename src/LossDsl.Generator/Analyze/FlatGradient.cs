using System;
using System.Globalization;
using LossDsl.Generator.Differentiate;
using LossDsl.Generator.Model;

namespace LossDsl.Generator.Analyze;

/// <summary>
/// LOSS0210: a loss whose gradient with respect to the target's logit vanishes at a badly wrong prediction, so that the
/// examples a model gets most wrong barely train it (mean absolute error over softmax probabilities is the known case:
/// its gradient is −p_t(1 − p_t), about −p_t there). Probed with the generated gradient at one badly wrong prediction per
/// task and compared with cross-entropy's (logistic loss's) gradient at the same point, about −1.
/// </summary>
public static class FlatGradient
{
    /// <summary>How far the badly wrong prediction is: the target's logit (or the margin) is −10.</summary>
    private const double Wrong = 10;

    /// <summary>A gradient below this magnitude (against about 1 for cross-entropy) counts as vanishing.</summary>
    private const double Threshold = 1e-2;

    /// <summary>The witness, or null when the gradient does not vanish there (or the task has no target logit).</summary>
    public static string? Witness(DerivedLoss loss, LossTask task)
    {
        var probe = new LossProbe(loss, CalibrationAnalysis.DefaultBudget);
        try
        {
            switch (task)
            {
                case LossTask.Multiclass:
                {
                    var z = new[] { -Wrong, 0, 0 };
                    var gradient = new double[3];
                    double value = probe.Row(z, 0, gradient);
                    double pt = Math.Exp(-Wrong) / (Math.Exp(-Wrong) + 2);
                    return Flat(value, gradient[0], 1 - pt, $"at z = (−{Wrong:0}, 0, 0) with target class 0 (p_t = {F(pt)}), ∂ℓ/∂z_t = {F(gradient[0])}");
                }
                case LossTask.BinaryLogit:
                {
                    double value = probe.Elementwise(-Wrong, 1, out double gradient);
                    double q = 1 / (1 + Math.Exp(Wrong));
                    return Flat(value, gradient, 1 - q, $"at logit −{Wrong:0} with label 1 (q = {F(q)}), ∂ℓ/∂logit = {F(gradient)}");
                }
                case LossTask.Margin:
                {
                    double value = probe.Elementwise(-Wrong, 0, out double gradient);
                    return Flat(value, gradient, 1 / (1 + Math.Exp(-Wrong)), $"at margin −{Wrong:0}, ∂φ/∂v = {F(gradient)}");
                }
                default:
                    return null;
            }
        }
        catch (AnalysisBudgetExceededException) { return null; }
    }

    /// <param name="reference">The magnitude of cross-entropy's (or the logistic loss's) gradient at the same point.</param>
    private static string? Flat(double value, double gradient, double reference, string where)
    {
        if (double.IsNaN(value) || double.IsInfinity(value) || double.IsNaN(gradient) || Math.Abs(gradient) >= Threshold) return null;
        string ratio = gradient == 0 ? "0" : $"{reference / Math.Abs(gradient):N0}× smaller than";
        return $"{where}, {ratio} cross-entropy's −{F(reference)}";
    }

    private static string F(double v) => v.ToString(Math.Abs(v) < 1e-3 && v != 0 ? "0.##e0" : "0.####", CultureInfo.InvariantCulture);
}
