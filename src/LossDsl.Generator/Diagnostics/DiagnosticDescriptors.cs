using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace LossDsl.Generator.Diagnostics;

/// <summary>
/// Every diagnostic LossDsl reports. ID ranges: LOSS0001–0099 declarations, LOSS0100–0199 loss bodies, LOSS0900 internal errors.
/// Each ID has a page at docs/diagnostics/ID.md and an entry in AnalyzerReleases.*.md.
/// </summary>
public static class DiagnosticDescriptors
{
    private const string HelpRoot = "https://github.com/lossdsl/lossdsl/blob/main/docs/diagnostics/";

    private static DiagnosticDescriptor Make(string id, string title, string message, string category, DiagnosticSeverity severity)
        => new(id, title, message, category, severity, isEnabledByDefault: true, helpLinkUri: HelpRoot + id + ".md");

    public static readonly DiagnosticDescriptor MethodNotPartial = Make(
        "LOSS0001", "A [Loss] method must be static partial",
        "Loss method '{0}' must be declared 'static partial' so that the generator can add its declaration and tensor overloads",
        "LossDsl.Declaration", DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor TypeNotPartial = Make(
        "LOSS0002", "The type containing a [Loss] method must be partial",
        "Type '{0}' must be 'partial' (and not generic) to hold the generated members of loss '{1}'",
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

    public static readonly DiagnosticDescriptor InternalError = Make(
        "LOSS0900", "LossDsl could not generate a loss",
        "LossDsl could not generate code for loss '{0}' ({1}); please report this with the loss body",
        "LossDsl.Internal", DiagnosticSeverity.Error);

    public static IReadOnlyList<DiagnosticDescriptor> All { get; } = new[]
    {
        MethodNotPartial, TypeNotPartial, UnsupportedReturnType, UnsupportedParameter, ShapeMismatch, DuplicateName,
        UnsupportedSyntax, UnknownMethod, UnsupportedLocalType, InvalidUse, MissingBody, InternalError,
    };

    private static readonly Dictionary<string, DiagnosticDescriptor> s_byId = All.ToDictionary(d => d.Id);

    public static DiagnosticDescriptor ById(string id) => s_byId[id];
}
