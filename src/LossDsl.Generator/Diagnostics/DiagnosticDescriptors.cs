using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace LossDsl.Generator.Diagnostics;

/// <summary>
/// Every diagnostic LossDsl reports. ID ranges: LOSS0001–0099 declarations, LOSS0100–0199 loss bodies,
/// LOSS0200–0299 calibration, LOSS0300–0399 numerical stability, LOSS0400–0499 differentiability, LOSS0900 internal errors.
/// Each ID has a page at docs/diagnostics/ID.md and an entry in AnalyzerReleases.*.md.
/// </summary>
public static class DiagnosticDescriptors
{
    private const string HelpRoot = "https://github.com/lossdsl/lossdsl/blob/main/docs/diagnostics/";

    /// <remarks>
    /// The calibration diagnostics (LOSS02xx) are reported at the end of the compilation (see LossAnalyzer.Initialize),
    /// and carry the CompilationEnd tag that says so to the IDE.
    /// </remarks>
    private static DiagnosticDescriptor Make(string id, string title, string message, string category, DiagnosticSeverity severity)
        => new(id, title, message, category, severity, isEnabledByDefault: true, helpLinkUri: HelpRoot + id + ".md",
            customTags: id.StartsWith("LOSS02", System.StringComparison.Ordinal) ? new[] { WellKnownDiagnosticTags.CompilationEnd } : System.Array.Empty<string>());

    public static readonly DiagnosticDescriptor MethodNotPartial = Make(
        "LOSS0001", "A [Loss] method must be static partial",
        "Loss method '{0}' must be declared 'static partial' so that the generator can add its declaration and tensor overloads",
        "LossDsl.Declaration", DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor TypeNotPartial = Make(
        "LOSS0002", "The type containing a [Loss] method must be partial",
        "Type '{0}' must be 'partial' (and neither generic nor file-local) to hold the generated members of loss '{1}'",
        "LossDsl.Declaration", DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor UnsupportedReturnType = Make(
        "LOSS0003", "A [Loss] method must return float",
        "Loss method '{0}' returns '{1}'; a loss returns a float",
        "LossDsl.Declaration", DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor UnsupportedParameter = Make(
        "LOSS0004", "Unsupported loss parameter",
        "Parameter '{0}' is not supported: {1}",
        "LossDsl.Declaration", DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor ShapeMismatch = Make(
        "LOSS0005", "The parameters do not fit the loss shape",
        "Loss '{0}' cannot have shape {1}: {2}",
        "LossDsl.Declaration", DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor DuplicateName = Make(
        "LOSS0006", "Loss names must be unique in their type",
        "Type '{1}' has more than one [Loss] method named '{0}'; the generated overloads, module and autograd function are named after the loss, so give each loss its own name",
        "LossDsl.Declaration", DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor UnsupportedSyntax = Make(
        "LOSS0101", "Unsupported syntax in a loss body",
        "{0} is not supported in a loss body: {1}",
        "LossDsl.Body", DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor UnknownMethod = Make(
        "LOSS0102", "Call to a method that is not a LossDsl intrinsic",
        "'{0}' is not a LossDsl intrinsic; a loss body may call only the methods of LossDsl.LossMath (and Math/MathF's Exp, Log, Sqrt, Abs, Tanh, Pow, Max, Min, Clamp)",
        "LossDsl.Body", DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor UnsupportedLocalType = Make(
        "LOSS0103", "Unsupported local variable type",
        "Local '{0}' has type '{1}'; loss locals must be float or double",
        "LossDsl.Body", DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor InvalidUse = Make(
        "LOSS0104", "Invalid use of a loss value",
        "{0}",
        "LossDsl.Body", DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor MissingBody = Make(
        "LOSS0105", "A loss body must end in a return",
        "Loss '{0}' needs a body: an expression body, or local declarations followed by one return statement",
        "LossDsl.Body", DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor LossMathNotImported = Make(
        "LOSS0106", "LossDsl.LossMath is not imported",
        "'{0}' is a LossDsl intrinsic, but this file does not import LossDsl.LossMath: add 'using static LossDsl.LossMath;' at the top of the file",
        "LossDsl.Body", DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor InternalError = Make(
        "LOSS0900", "LossDsl could not generate a loss",
        "LossDsl could not generate code for loss '{0}' ({1}); please report this with the loss body",
        "LossDsl.Internal", DiagnosticSeverity.Error);

    // ---- Calibration (LOSS0200–0299), reported by LossDsl.Generator.Analyze.LossAnalyzer; see docs/calibration.md.

    public static readonly DiagnosticDescriptor CalibrationVerdict = Make(
        "LOSS0200", "Calibration verdict",
        "Loss '{0}' is {1}: {2} ({3})",
        "LossDsl.Calibration", DiagnosticSeverity.Hidden);

    public static readonly DiagnosticDescriptor NotClassificationCalibrated = Make(
        "LOSS0201", "The loss is not classification-calibrated",
        "Loss '{0}' is not classification-calibrated: {1} ({2})",
        "LossDsl.Calibration", DiagnosticSeverity.Warning);

    public static readonly DiagnosticDescriptor NotProper = Make(
        "LOSS0202", "The loss is classification-calibrated but not proper",
        "Loss '{0}' is classification-calibrated but not proper ({1}): {2}",
        "LossDsl.Calibration", DiagnosticSeverity.Info);

    public static readonly DiagnosticDescriptor SetLossNotCalibrated = Make(
        "LOSS0203", "A set loss does not calibrate per-element probabilities",
        "Loss '{0}' is a set loss: per-element probabilities are not calibrated by it; {1}",
        "LossDsl.Calibration", DiagnosticSeverity.Info);

    public static readonly DiagnosticDescriptor RequirementNotMet = Make(
        "LOSS0204", "The loss does not have the calibration property it requires",
        "Loss '{0}' requires {1} but is {2}: {3}",
        "LossDsl.Calibration", DiagnosticSeverity.Warning);

    public static readonly DiagnosticDescriptor CalibrationInconclusive = Make(
        "LOSS0205", "The calibration analysis was inconclusive",
        "The calibration analysis of loss '{0}' was inconclusive: {1}",
        "LossDsl.Calibration", DiagnosticSeverity.Info);

    public static readonly DiagnosticDescriptor RequirementUncheckable = Make(
        "LOSS0206", "The required calibration property cannot be checked",
        "Loss '{0}' requires {1}, which cannot be checked: {2}",
        "LossDsl.Calibration", DiagnosticSeverity.Warning);

    public static readonly DiagnosticDescriptor ThresholdShifted = Make(
        "LOSS0207", "The loss moves the Bayes decision threshold",
        "Loss '{0}' is not proper and moves the decision threshold: {1}",
        "LossDsl.Calibration", DiagnosticSeverity.Info);

    public static readonly DiagnosticDescriptor NoCalibrationVerdict = Make(
        "LOSS0208", "The loss's form has no calibration verdict",
        "Loss '{0}' gets no calibration verdict: {1}",
        "LossDsl.Calibration", DiagnosticSeverity.Info);

    public static readonly DiagnosticDescriptor ClassWeightsShiftThreshold = Make(
        "LOSS0209", "Class weights move the decision threshold",
        "With class weights, '{0}' stays classification-calibrated for the weighted 0-1 loss, not for accuracy: the weighted risk Σ_c w_c·η_c·ℓ(z, c) has the minimizer of the unweighted one at η ∝ w·η, so predictions move toward the heavier classes; {1}",
        "LossDsl.Calibration", DiagnosticSeverity.Info);

    public static readonly DiagnosticDescriptor FlatGradientOnWrongPredictions = Make(
        "LOSS0210", "The gradient vanishes on badly wrong predictions",
        "Loss '{0}' barely trains on the examples it gets most wrong: {1}; such losses underfit (mean absolute error over probabilities is the known case)",
        "LossDsl.Calibration", DiagnosticSeverity.Info);

    // ---- Numerical stability (LOSS0300–0399).

    public static readonly DiagnosticDescriptor LogOfSigmoid = Make(
        "LOSS0301", "Log of a sigmoid composed by hand",
        "'{0}' computes log σ by hand and underflows to −∞ for large |x|; use {1}",
        "LossDsl.Stability", DiagnosticSeverity.Warning);

    public static readonly DiagnosticDescriptor LogOfSoftmax = Make(
        "LOSS0302", "Log of a softmax composed by hand",
        "'{0}' computes log softmax by hand and overflows or underflows for large logits; use {1}",
        "LossDsl.Stability", DiagnosticSeverity.Warning);

    public static readonly DiagnosticDescriptor StableRewrite = Make(
        "LOSS0306", "Unstable form computed by a stable equal",
        "'{0}' is computed as {1} ({2}): float32 error {3} → {4} bits on average, {5} → {6} at worst, over sampled inputs",
        "LossDsl.Stability", DiagnosticSeverity.Info);

    public static readonly DiagnosticDescriptor LogOfZero = Make(
        "LOSS0303", "Log of a quantity that may reach 0",
        "Log of '{0}': {1}",
        "LossDsl.Stability", DiagnosticSeverity.Warning);

    public static readonly DiagnosticDescriptor DivisionByZero = Make(
        "LOSS0304", "Division by a quantity that may reach 0",
        "Division by '{0}': {1}",
        "LossDsl.Stability", DiagnosticSeverity.Warning);

    public static readonly DiagnosticDescriptor InfiniteDerivative = Make(
        "LOSS0305", "A point with an infinite derivative",
        "'{0}' has an infinite derivative at {1}, which its argument can reach ({2}); the gradient is ∞ or NaN there",
        "LossDsl.Stability", DiagnosticSeverity.Warning);

    // ---- Differentiability (LOSS0400–0499).

    public static readonly DiagnosticDescriptor AbsSubgradient = Make(
        "LOSS0401", "Abs is not differentiable at 0",
        "'{0}' is not differentiable where its argument is 0; the generated backward uses the subgradient sign(0) = 0",
        "LossDsl.Differentiability", DiagnosticSeverity.Info);

    public static readonly DiagnosticDescriptor MaxMinSubgradient = Make(
        "LOSS0402", "Max, Min or Clamp is not differentiable at ties",
        "'{0}' is not differentiable where its arguments tie; {1}",
        "LossDsl.Differentiability", DiagnosticSeverity.Info);

    public static readonly DiagnosticDescriptor MaxReductionSubgradient = Make(
        "LOSS0403", "A Max or Min reduction is not differentiable at ties",
        "'{0}' is not differentiable where two elements tie for the {1}; the generated backward sends the gradient to the first {2} element",
        "LossDsl.Differentiability", DiagnosticSeverity.Info);

    public static readonly DiagnosticDescriptor BranchGradient = Make(
        "LOSS0404", "A branch on the prediction",
        "'{0}' branches on the prediction; the generated backward uses the gradient of the taken branch (one-sided at the switch point)",
        "LossDsl.Differentiability", DiagnosticSeverity.Info);

    public static IReadOnlyList<DiagnosticDescriptor> All { get; } = new[]
    {
        MethodNotPartial, TypeNotPartial, UnsupportedReturnType, UnsupportedParameter, ShapeMismatch, DuplicateName,
        UnsupportedSyntax, UnknownMethod, UnsupportedLocalType, InvalidUse, MissingBody, LossMathNotImported, InternalError,
        CalibrationVerdict, NotClassificationCalibrated, NotProper, SetLossNotCalibrated, RequirementNotMet, NoCalibrationVerdict,
        CalibrationInconclusive, RequirementUncheckable, ThresholdShifted, ClassWeightsShiftThreshold, FlatGradientOnWrongPredictions,
        LogOfSigmoid, LogOfSoftmax, StableRewrite, LogOfZero, DivisionByZero, InfiniteDerivative,
        AbsSubgradient, MaxMinSubgradient, MaxReductionSubgradient, BranchGradient,
    };

    private static readonly Dictionary<string, DiagnosticDescriptor> s_byId = All.ToDictionary(d => d.Id);

    public static DiagnosticDescriptor ById(string id) => s_byId[id];
}
