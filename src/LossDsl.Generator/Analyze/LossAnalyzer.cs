using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using System.Threading;
using LossDsl.Generator.Diagnostics;
using LossDsl.Generator.Differentiate;
using LossDsl.Generator.IR;
using LossDsl.Generator.Model;
using LossDsl.Generator.Parse;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace LossDsl.Generator.Analyze;

/// <summary>
/// The LossDsl analyzer: for every [Loss] method whose body parses, it derives the gradient (as the generator does)
/// and reports the calibration verdict (LOSS02xx), numerically unstable forms (LOSS03xx) and non-differentiable
/// points with the subgradient convention the generated backward uses (LOSS04xx). Declaration and body errors
/// (LOSS00xx, LOSS01xx) are the generator's to report; a method with such errors is skipped here.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class LossAnalyzer : DiagnosticAnalyzer
{
    /// <summary>The .editorconfig key that sets the calibration analysis budget, in node evaluations per loss.</summary>
    public const string BudgetOption = "lossdsl.calibration_budget";

    /// <summary>
    /// The MSBuild property (<c>&lt;LossDslVerdicts&gt;true&lt;/LossDslVerdicts&gt;</c>, made visible to analyzers by
    /// eng/LossDslVerdicts.targets) that shows every loss's calibration verdict in the build output: the verdicts below,
    /// hidden or info by default, are reported as warnings, which those targets keep out of TreatWarningsAsErrors.
    /// </summary>
    public const string VerdictsProperty = "build_property.LossDslVerdicts";

    /// <summary>The one-per-loss verdicts that are not warnings already (LOSS0201, 0204 and 0206 are).</summary>
    public static readonly ImmutableArray<string> QuietVerdicts = ImmutableArray.Create("LOSS0200", "LOSS0202", "LOSS0203", "LOSS0205", "LOSS0207", "LOSS0208");

    /// <summary>Diagnostic property naming the stable intrinsic a LOSS0301/LOSS0302 code fix calls.</summary>
    public const string FixIntrinsic = "Intrinsic";

    /// <summary>Diagnostic property prefix of the intrinsic's argument texts: Arg0, Arg1.</summary>
    public const string FixArgument = "Arg";

    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = DiagnosticDescriptors.All
        .Where(d => string.CompareOrdinal(d.Id, "LOSS0200") >= 0).ToImmutableArray();

    /// <summary>
    /// Two phases, by cost. On every edit of a [Loss] method (a syntax-node action, what an IDE runs per keystroke): the
    /// parse, the derivation and the stability and differentiability checks, a few milliseconds per loss. At the end of
    /// the compilation (what a build runs, and an IDE with full-solution analysis): the calibration analyses (LOSS02xx),
    /// which may spend their whole node budget, and the class-weight check of the calls (LOSS0209), which needs them.
    /// </summary>
    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            var losses = new ConcurrentQueue<(PreparedLoss Loss, long Budget)>();
            var weightedCalls = new ConcurrentQueue<(IMethodSymbol Loss, string Name, Location Location)>();
            bool visible = start.Options.AnalyzerConfigOptionsProvider.GlobalOptions.TryGetValue(VerdictsProperty, out var shown)
                && string.Equals(shown?.Trim(), "true", StringComparison.OrdinalIgnoreCase);
            start.RegisterSyntaxNodeAction(c => AnalyzeMethod(c, losses), SyntaxKind.MethodDeclaration);
            start.RegisterOperationAction(op => CollectWeightedCall(op, weightedCalls), OperationKind.Invocation, OperationKind.ObjectCreation);
            start.RegisterCompilationEndAction(end =>
            {
                var verdicts = new Dictionary<IMethodSymbol, (DerivedLoss, CalibrationVerdict)>(SymbolEqualityComparer.Default);
                foreach (var (loss, budget) in losses)
                {
                    var result = new List<Diagnostic>();
                    try { AnalyzeCalibration(loss, budget, end.CancellationToken, result, out var verdict, visible); verdicts[loss.Context.Method] = (loss.Derived, verdict); }
                    catch (OperationCanceledException) { throw; }
                    catch (Exception) { continue; }   // never crash the build
                    foreach (var d in result) end.ReportDiagnostic(d);
                }
                // One weighted-risk witness per loss, however many calls pass weights to it; from the verdict above when
                // the loss is declared in this compilation.
                var witnesses = new Dictionary<IMethodSymbol, string?>(SymbolEqualityComparer.Default);
                foreach (var (loss, name, location) in weightedCalls)
                {
                    if (!witnesses.TryGetValue(loss, out var witness))
                        witnesses[loss] = witness = verdicts.TryGetValue(loss, out var known)
                            ? WeightedWitness(known.Item1, known.Item2, end.CancellationToken)
                            : WeightedWitness(loss, end.Compilation, end.CancellationToken);
                    if (witness is not null)
                        end.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.ClassWeightsShiftThreshold, location, name, witness));
                }
            });
        });
    }

    /// <summary>
    /// A call of a class-row loss's generated overload, or module constructor, that passes class weights. A
    /// classification-calibrated loss then minimizes a cost-weighted risk, whose argmax is not the most likely class:
    /// LOSS0209 at the end of the compilation, once the loss's verdict is known.
    /// </summary>
    private static void CollectWeightedCall(OperationAnalysisContext context, ConcurrentQueue<(IMethodSymbol, string, Location)> calls)
    {
        var (arguments, lossType, lossName) = context.Operation switch
        {
            IInvocationOperation call => (call.Arguments, call.TargetMethod.ContainingType, call.TargetMethod.Name),
            IObjectCreationOperation { Type: INamedTypeSymbol { Name: var type, ContainingType: { } outer } } create when type.EndsWith("Loss", StringComparison.Ordinal)
                => (create.Arguments, outer, type.Substring(0, type.Length - 4)),
            _ => (ImmutableArray<IArgumentOperation>.Empty, null, ""),
        };
        var weight = arguments.FirstOrDefault(a => a.Parameter?.Name == "weight" && a.ArgumentKind == ArgumentKind.Explicit);
        if (lossType is null || weight is null || weight.Value.ConstantValue is { HasValue: true, Value: null }) return;
        var loss = lossType.GetMembers(lossName).OfType<IMethodSymbol>().Select(m => m.PartialImplementationPart ?? m)
            .FirstOrDefault(m => m.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == LossParser.AttributeName));
        if (loss is not null) calls.Enqueue((loss, lossName, weight.Syntax.GetLocation()));
    }

    /// <summary>The weighted-risk witness of a classification-calibrated multiclass loss, or null (another form, not calibrated, or errors).</summary>
    private static string? WeightedWitness(IMethodSymbol method, Compilation compilation, CancellationToken ct)
    {
        try
        {
            var syntax = method.DeclaringSyntaxReferences.Select(r => r.GetSyntax(ct)).OfType<MethodDeclarationSyntax>()
                .FirstOrDefault(s => s.Body is not null || s.ExpressionBody is not null);
            var attribute = method.GetAttributes().First(a => a.AttributeClass?.ToDisplayString() == LossParser.AttributeName);
            if (syntax is null) return null;
#pragma warning disable RS1030 // The loss's declaration is in another tree than the call being analysed.
            var model = LossParser.Parse(syntax, method, attribute, compilation.GetSemanticModel(syntax.SyntaxTree), ct);
#pragma warning restore RS1030
            if (model.Signature is null || model.Forward is null || model.Root < 0) return null;
            var declared = attribute.NamedArguments.FirstOrDefault(n => n.Key == "Task").Value.Value is int t ? (LossTask)t : LossTask.Auto;
            if (CalibrationAnalysis.ResolveTask(model.Signature, declared) != LossTask.Multiclass) return null;
            var derived = Differentiator.Run(model);
            return WeightedWitness(derived, CalibrationAnalysis.Run(derived, LossTask.Multiclass, ct: ct), ct);
        }
        catch (OperationCanceledException) { throw; }
        catch (Exception) { return null; }   // never crash the build
    }

    /// <summary>The weighted-risk witness of a loss with this verdict: only a classification-calibrated multiclass loss has one.</summary>
    private static string? WeightedWitness(DerivedLoss derived, CalibrationVerdict verdict, CancellationToken ct)
    {
        if (verdict.Task != LossTask.Multiclass || verdict.Kind is not (VerdictKind.Proper or VerdictKind.CalibratedNotProper)) return null;
        try { return CalibrationAnalysis.WeightedWitness(derived, ct); }
        catch (OperationCanceledException) { throw; }
        catch (Exception) { return null; }   // never crash the build
    }

    private static void AnalyzeMethod(SyntaxNodeAnalysisContext context, ConcurrentQueue<(PreparedLoss, long)> losses)
    {
        var syntax = (MethodDeclarationSyntax)context.Node;
        if (syntax.AttributeLists.Count == 0 || (syntax.Body is null && syntax.ExpressionBody is null)) return;
        if (context.SemanticModel.GetDeclaredSymbol(syntax, context.CancellationToken) is not IMethodSymbol method) return;
        var attribute = method.GetAttributes().FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == LossParser.AttributeName);
        if (attribute is null) return;

        long budget = CalibrationAnalysis.DefaultBudget;
        var options = context.Options.AnalyzerConfigOptionsProvider.GetOptions(syntax.SyntaxTree);
        if (options.TryGetValue(BudgetOption, out var text) && long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var b) && b > 0)
            budget = b;

        var diagnostics = AnalyzeOnEdit(syntax, method, attribute, context.SemanticModel, context.CancellationToken, out var loss);
        foreach (var d in diagnostics) context.ReportDiagnostic(d);
        if (loss is not null) losses.Enqueue((loss, budget));
    }

    /// <summary>
    /// The per-edit phase for one method: what an IDE runs on each keystroke (stability and differentiability, LOSS03xx
    /// and LOSS04xx). Never throws on user input.
    /// </summary>
    public static IReadOnlyList<Diagnostic> AnalyzeOnEdit(MethodDeclarationSyntax syntax, IMethodSymbol method, AttributeData? attribute,
        SemanticModel semanticModel, CancellationToken ct)
        => AnalyzeOnEdit(syntax, method, attribute, semanticModel, ct, out _);

    private static IReadOnlyList<Diagnostic> AnalyzeOnEdit(MethodDeclarationSyntax syntax, IMethodSymbol method, AttributeData? attribute,
        SemanticModel semanticModel, CancellationToken ct, out PreparedLoss? loss)
    {
        loss = null;
        var result = new List<Diagnostic>();
        try
        {
            loss = Prepare(syntax, method, attribute, semanticModel, ct);
            if (loss is not null) StabilityChecks.Run(loss.Context, result);
        }
        catch (OperationCanceledException) { throw; }
        catch (Exception) { loss = null; result.Clear(); }   // never crash the build
        return result;
    }

    /// <summary>Everything the analyzer reports for one method. Never throws on user input.</summary>
    public static IReadOnlyList<Diagnostic> Analyze(MethodDeclarationSyntax syntax, IMethodSymbol method, AttributeData? attribute,
        SemanticModel semanticModel, long budget, CancellationToken ct)
        => Analyze(syntax, method, attribute, semanticModel, budget, ct, out _);

    public static IReadOnlyList<Diagnostic> Analyze(MethodDeclarationSyntax syntax, IMethodSymbol method, AttributeData? attribute,
        SemanticModel semanticModel, long budget, CancellationToken ct, out CalibrationVerdict? verdict)
    {
        verdict = null;
        var result = new List<Diagnostic>();
        try
        {
            AnalyzeCore(syntax, method, attribute, semanticModel, budget, ct, result, out verdict);
        }
        catch (OperationCanceledException) { throw; }
        catch (Exception)
        {
            // An analyzer must not crash the build: an unexpected failure means no LossDsl analysis for this method.
            // (The robustness test calls AnalyzeCore directly, so such a failure does not go unnoticed there.)
        }
        return result;
    }

    /// <summary>The analysis without the safety net, both phases: exceptions propagate (for tests).</summary>
    public static void AnalyzeCore(MethodDeclarationSyntax syntax, IMethodSymbol method, AttributeData? attribute,
        SemanticModel semanticModel, long budget, CancellationToken ct, List<Diagnostic> result, out CalibrationVerdict? verdict)
    {
        verdict = null;
        if (Prepare(syntax, method, attribute, semanticModel, ct) is not { } loss) return;
        AnalyzeCalibration(loss, budget, ct, result, out verdict);
        StabilityChecks.Run(loss.Context, result);
    }

    /// <summary>A [Loss] method parsed and differentiated, with what its attribute declares; null when it has errors (the generator's to report).</summary>
    private static PreparedLoss? Prepare(MethodDeclarationSyntax syntax, IMethodSymbol method, AttributeData? attribute, SemanticModel semanticModel, CancellationToken ct)
    {
        var lowered = new List<(ExpressionSyntax Syntax, int Node)>();
        var model = LossParser.Parse(syntax, method, attribute, semanticModel, ct, (e, n) => lowered.Add((e, n)));
        if (model.Signature is null || model.Forward is null || model.Root < 0) return null;

        var declared = LossTask.Auto;
        var required = Calibration.None;
        foreach (var named in attribute?.NamedArguments ?? ImmutableArray<KeyValuePair<string, TypedConstant>>.Empty)
        {
            if (named.Key == "Task" && named.Value.Value is int t) declared = (LossTask)t;
            if (named.Key == "Require" && named.Value.Value is int r) required = (Calibration)r;
        }
        var task = CalibrationAnalysis.ResolveTask(model.Signature, declared);
        var context = new MethodContext(syntax, method, semanticModel, model, lowered, task, ct);
        return new PreparedLoss(context, Differentiator.Run(model), declared, required);
    }

    /// <summary>The calibration phase: the verdict (LOSS0200–0208) and, for a calibrated loss, a flat gradient (LOSS0210).</summary>
    private static void AnalyzeCalibration(PreparedLoss loss, long budget, CancellationToken ct, List<Diagnostic> result, out CalibrationVerdict verdict,
        bool visible = false)
    {
        var c = loss.Context;
        verdict = CalibrationAnalysis.Run(loss.Derived, c.Task, budget, ct);
        ReportCalibration(result, c, verdict, loss.Required, visible);
        if (loss.Declared == LossTask.Auto && verdict.Kind == VerdictKind.NoVerdict && loss.Required == Calibration.None)
            result.Add(Verdict(DiagnosticDescriptors.NoCalibrationVerdict, c.Syntax.Identifier.GetLocation(), visible, c.Method.Name, WhyNoVerdict(c.Model.Signature!)));
        // A loss that is not calibrated has its warning already; a flat gradient matters for one that is.
        if (verdict.Kind is not (VerdictKind.NotCalibrated or VerdictKind.Inconclusive or VerdictKind.NoVerdict) && FlatGradient.Witness(loss.Derived, c.Task) is { } flat)
            result.Add(Diagnostic.Create(DiagnosticDescriptors.FlatGradientOnWrongPredictions, c.Syntax.Identifier.GetLocation(), c.Method.Name, flat));
    }

    /// <summary>A [Loss] method ready for both phases.</summary>
    private sealed record PreparedLoss(MethodContext Context, DerivedLoss Derived, LossTask Declared, Calibration Required);

    /// <summary>Why a loss whose task was inferred gets no calibration verdict, and what to do if one applies.</summary>
    private static string WhyNoVerdict(LossSignature s) => s.Axes.Members == MemberAxis.Batch
        ? "a pair loss scores pairs of items of a batch (metric learning), and calibration of class probabilities does not apply to it"
        : "its parameters match no task with a calibration check (a margin loss takes one float; a multiclass loss, one span and one int class index; "
          + "a binary loss names its task); if one applies, name it with [Loss(Task = LossTask.…)], or declare LossTask.None or LossTask.Regression to silence this";

    private static string Describe(Calibration r) => r == Calibration.Proper ? "a proper loss (Calibration.Proper)" : "classification calibration (Calibration.ClassificationCalibrated)";

    /// <summary>A verdict diagnostic: a warning when <paramref name="visible"/> and it is one of <see cref="QuietVerdicts"/>.</summary>
    private static Diagnostic Verdict(DiagnosticDescriptor d, Location location, bool visible, params object[] args)
        => visible && QuietVerdicts.Contains(d.Id)
            ? Diagnostic.Create(d, location, DiagnosticSeverity.Warning, null, null, args)
            : Diagnostic.Create(d, location, args);

    private static void ReportCalibration(List<Diagnostic> result, MethodContext c, CalibrationVerdict v, Calibration required, bool visible)
    {
        var location = c.Syntax.Identifier.GetLocation();
        string name = c.Method.Name;
        void Add(DiagnosticDescriptor d, params object[] args) => result.Add(Verdict(d, location, visible, args));

        bool cc = v.Kind is VerdictKind.Proper or VerdictKind.Calibrated or VerdictKind.CalibratedNotProper;
        bool proper = v.Kind == VerdictKind.Proper;
        bool met = required switch
        {
            Calibration.ClassificationCalibrated => cc,
            Calibration.Proper => proper,
            _ => true,
        };

        if (required != Calibration.None && v.Kind is VerdictKind.NoVerdict or VerdictKind.Inconclusive)
        {
            string why = v.Kind == VerdictKind.Inconclusive ? v.Witness
                : $"loss task '{v.Task}' has no calibration check; name the task with [Loss(Task = LossTask.…)]";
            Add(DiagnosticDescriptors.RequirementUncheckable, name, Describe(required), why);
            return;
        }
        if (required == Calibration.Proper && v.Kind == VerdictKind.Calibrated)
        {
            Add(DiagnosticDescriptors.RequirementUncheckable, name, Describe(required), "properness is not defined for a margin loss, which outputs a score, not a probability");
            return;
        }
        if (!met)
        {
            Add(DiagnosticDescriptors.RequirementNotMet, name, Describe(required), v.Summary, v.Witness);
            return;
        }

        switch (v.Kind)
        {
            case VerdictKind.Proper:
            case VerdictKind.Calibrated:
                Add(DiagnosticDescriptors.CalibrationVerdict, name, v.Summary, v.Witness, v.Method);
                break;
            case VerdictKind.CalibratedNotProper:
                Add(DiagnosticDescriptors.NotProper, name, v.Summary.Substring(v.Summary.IndexOf('(') + 1).TrimEnd(')'), v.Witness);
                break;
            case VerdictKind.NotCalibrated:
                Add(DiagnosticDescriptors.NotClassificationCalibrated, name, v.Witness, v.Method);
                break;
            case VerdictKind.ThresholdShifted:
                Add(DiagnosticDescriptors.ThresholdShifted, name, v.Witness);
                break;
            case VerdictKind.SetLoss:
                Add(DiagnosticDescriptors.SetLossNotCalibrated, name, v.Witness);
                break;
            case VerdictKind.Inconclusive:
                Add(DiagnosticDescriptors.CalibrationInconclusive, name, v.Witness);
                break;
        }
    }
}

/// <summary>One analysed method: its syntax, its IR, and the map between them.</summary>
internal sealed class MethodContext
{
    public MethodDeclarationSyntax Syntax { get; }
    public IMethodSymbol Method { get; }
    public SemanticModel SemanticModel { get; }
    public LossModel Model { get; }
    public Graph Graph => Model.Forward!;
    public LossTask Task { get; }
    public CancellationToken CancellationToken { get; }

    /// <summary>Every lowered expression and its node, innermost first.</summary>
    public IReadOnlyList<(ExpressionSyntax Syntax, int Node)> Lowered { get; }

    private readonly Dictionary<int, ExpressionSyntax> _first = new();
    private readonly Dictionary<ExpressionSyntax, int> _nodeOf = new();

    public MethodContext(MethodDeclarationSyntax syntax, IMethodSymbol method, SemanticModel semanticModel, LossModel model,
        IReadOnlyList<(ExpressionSyntax, int)> lowered, LossTask task, CancellationToken ct)
    {
        Syntax = syntax;
        Method = method;
        SemanticModel = semanticModel;
        Model = model;
        Lowered = lowered;
        Task = task;
        CancellationToken = ct;
        foreach (var (e, n) in lowered)
        {
            if (!_first.ContainsKey(n)) _first[n] = e;
            _nodeOf[e] = n;
        }
    }

    public int NodeOf(ExpressionSyntax e) => _nodeOf.TryGetValue(e, out var n) ? n : -1;

    /// <summary>The expression that first produced a node; for a node made by desugaring, the expression of its first consumer.</summary>
    public ExpressionSyntax? SyntaxOf(int node)
    {
        if (_first.TryGetValue(node, out var e)) return e;
        for (int i = node + 1; i < Graph.Count; i++)
        {
            var n = Graph[i];
            for (int k = 0; k < n.OperandCount; k++)
                if (n.Operand(k) == node) return SyntaxOf(i);
        }
        return null;
    }

    public string? ParameterName(ParameterKind kind, int slot)
        => Model.Signature!.Parameters.FirstOrDefault(p => p.Kind == kind && p.Slot == slot)?.Name;
}
