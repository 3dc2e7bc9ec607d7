using System;
using static LossDsl.LossMath;

namespace LossDsl.Losses;

/// <summary>
/// Preference-optimization losses over per-pair sequence log-probabilities <c>[N]</c>: the policy's for the chosen and
/// the rejected answer (trained), and the frozen reference model's (pass them detached). h = (π_c − ρ_c) − (π_r − ρ_r)
/// is the difference of the log-ratios.
/// </summary>
public static partial class Preference
{
    /// <summary>Direct preference optimization (sigmoid): ℓ = −log σ(β·h), with β = beta.</summary>
    /// <remarks>
    /// Source: Rafailov et al., "Direct Preference Optimization: Your Language Model is Secretly a Reward Model", NeurIPS
    /// 2023; as TRL's <c>DPOTrainer(loss_type="sigmoid", beta=0.1)</c> without label smoothing.
    /// </remarks>
    [Loss(Task = LossTask.None)]
    public static partial float Dpo(float policy_chosen, float policy_rejected, float reference_chosen, float reference_rejected,
        [Range(0, double.PositiveInfinity, MinExclusive = true)] float beta = 0.1f)
        => -LogSigmoid(beta * ((policy_chosen - reference_chosen) - (policy_rejected - reference_rejected)));

    /// <summary>Identity preference optimization: ℓ = (h − 1/(2β))², with β = beta.</summary>
    /// <remarks>
    /// Source: Azar et al., "A General Theoretical Paradigm to Understand Learning from Human Preferences", AISTATS 2024;
    /// as TRL's <c>DPOTrainer(loss_type="ipo")</c>.
    /// </remarks>
    [Loss(Task = LossTask.None)]
    public static partial float Ipo(float policy_chosen, float policy_rejected, float reference_chosen, float reference_rejected,
        [Range(0, double.PositiveInfinity, MinExclusive = true)] float beta = 0.1f)
        => Square((policy_chosen - reference_chosen) - (policy_rejected - reference_rejected) - 1 / (2 * beta));
}
