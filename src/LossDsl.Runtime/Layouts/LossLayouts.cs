namespace LossDsl.Runtime;

/// <summary>
/// The layouts the generated code asks for, one per axes declaration: the generator decides a loss's kind once and its
/// <see cref="LossDefinition"/> calls the factory for it (as System.Text.Json's generated code calls its runtime's
/// converter factories). A layout holds no per-call state: one instance serves every call of its losses.
/// </summary>
public static class LossLayouts
{
    /// <summary>Elementwise: one evaluation per element of same-shape tensors.</summary>
    public static LossLayout Elements { get; } = new ElementLayout();

    /// <summary>Class rows: <c>[N, C]</c> (or <c>[N, C, d1, …]</c>) spans, <c>[N]</c> targets.</summary>
    public static LossLayout ClassRows { get; } = new ClassRowLayout();

    /// <summary>Pair rows: <c>[N, N]</c> pair matrices over the batch; Mean over the rows with a positive loss.</summary>
    public static LossLayout PairRows { get; } = new PairRowLayout(acrossAnchors: false);

    /// <summary>Pair rows of a loss that reduces across its anchors (<c>LossMath.SumOverAnchors</c>, …): one value per call.</summary>
    public static LossLayout PairRowsAcrossAnchors { get; } = new PairRowLayout(acrossAnchors: true);

    /// <summary>
    /// Sets over the axes <paramref name="sets"/> names; <paramref name="multiclass"/>: logits with a class axis 1 and a
    /// class mask, each class a channel; <paramref name="acrossClasses"/>: a loss that reduces across its classes, one
    /// value per call or per image (<see cref="SetLayout.AcrossClasses"/>). Throws for a combination that has no layout
    /// (multiclass or across-class whole-tensor sets).
    /// </summary>
    public static LossLayout Sets(LossSets sets, bool multiclass = false, bool acrossClasses = false) => new SetLayout(sets, multiclass, acrossClasses);
}
