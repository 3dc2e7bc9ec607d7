using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using LossDsl.Generator.Diagnostics;
using LossDsl.Generator.Common;
using LossDsl.Generator.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LossDsl.Generator.Parse;

/// <summary>
/// The declaration half of the parse stage: a [Loss] method's declaration (modifiers, containing types, parameters and
/// attribute) becomes a <see cref="LossSignature"/>, its axes decided by <see cref="AxesDecision"/>, or diagnostics and,
/// where one can be written, the <see cref="DeclarationStub"/> that keeps the user's code compiling.
/// </summary>
public static class SignatureParser
{
    /// <summary>
    /// The signature of <paramref name="method"/>, or null when its declaration cannot be used; each problem is added to
    /// <paramref name="diagnostics"/>, and <paramref name="stub"/> is then the defining declaration to emit (or null).
    /// </summary>
    public static LossSignature? Parse(MethodDeclarationSyntax syntax, IMethodSymbol method, AttributeData? attribute, ICollection<DiagnosticInfo> diagnostics,
        out DeclarationStub? stub)
    {
        stub = null;
        bool usable = true;
        if (!method.IsStatic || !syntax.Modifiers.Any(SyntaxKind.PartialKeyword))
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MethodNotPartial, syntax.Identifier.GetLocation(), method.Name));
            usable = false;
        }
        if (method.ContainingType?.GetMembers(method.Name).OfType<IMethodSymbol>().Count(IsLoss) > 1)
        {
            // The generated overload, module, autograd function and kernels are named after the loss.
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.DuplicateName, syntax.Identifier.GetLocation(), method.Name, method.ContainingType.Name));
            usable = false;
        }
        if (method.IsGenericMethod)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnsupportedSyntax, syntax.TypeParameterList!, "A generic loss method", "losses are float math"));
            usable = false;
        }

        var containing = new List<ContainingType>();
        bool typesOk = true;
        for (var type = method.ContainingType; type is not null; type = type.ContainingType)
        {
            var typeSyntax = type.DeclaringSyntaxReferences.Select(r => r.GetSyntax()).OfType<TypeDeclarationSyntax>().FirstOrDefault();
            if (typeSyntax is null || !typeSyntax.Modifiers.Any(SyntaxKind.PartialKeyword) || type.IsGenericType || type.IsFileLocal)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.TypeNotPartial, syntax.Identifier.GetLocation(), type.Name, method.Name));
                usable = false;
                typesOk = false;
                break;
            }
            string keyword = typeSyntax is RecordDeclarationSyntax record
                ? "record " + (record.ClassOrStructKeyword.IsKind(SyntaxKind.StructKeyword) ? "struct" : "class")
                : typeSyntax.Keyword.ValueText;
            containing.Insert(0, new ContainingType(type.IsStatic ? "static partial" : "partial", keyword, type.Name));
        }

        if (method.ReturnType.SpecialType != SpecialType.System_Single)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnsupportedReturnType, syntax.ReturnType, method.Name, method.ReturnType.ToDisplayString()));
            usable = false;
        }

        var parameters = new List<LossParameter>();
        var counts = new int[4];
        foreach (var p in method.Parameters)
        {
            var pSyntax = p.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax() ?? syntax;
            string? problem = null;
            ParameterKind kind = ParameterKind.Input;
            if (ReservedNames.Contains(p.Name) || p.Name.StartsWith("_", StringComparison.Ordinal))
                problem = "the names 'weight', 'ignore_index', 'reduction' and 'backend', the members of TorchSharp's loss modules (e.g. 'training', 'name'), and names starting with '_' are taken by the generated overloads and module";
            else if (p.RefKind != RefKind.None || p.IsParams)
                problem = "ref, out, in and params parameters are not supported; pass values";
            else if (LossParser.IsReadOnlySpanOfFloat(p.Type))
            {
                kind = ParameterKind.Span;
                if (p.HasExplicitDefaultValue) problem = "a span cannot be a hyperparameter";
            }
            else if (p.Type.SpecialType == SpecialType.System_Int32)
            {
                kind = ParameterKind.Target;
                if (p.HasExplicitDefaultValue) problem = "integer hyperparameters are not supported; use float";
            }
            else if (p.Type.SpecialType is SpecialType.System_Single or SpecialType.System_Double)
            {
                kind = p.HasExplicitDefaultValue ? ParameterKind.Hyper : ParameterKind.Input;
                if (kind == ParameterKind.Input && p.Type.SpecialType == SpecialType.System_Double)
                    problem = "data parameters are float; only hyperparameters (with a default value) may be double";
            }
            else
                problem = $"type '{p.Type.ToDisplayString()}' is not one of ReadOnlySpan<float> (row or set), int (class index), float (data value), or float with a default value (hyperparameter)";

            if (problem is not null)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnsupportedParameter, pSyntax, p.Name, problem));
                usable = false;
                continue;
            }
            if (kind != ParameterKind.Hyper && parameters.Any(x => x.Kind == ParameterKind.Hyper))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnsupportedParameter, pSyntax, p.Name, "data parameters must come before the hyperparameters"));
                usable = false;
                continue;
            }
            var mask = PairMaskOf(p);
            if (mask != PairMask.None && (kind != ParameterKind.Span || parameters.Count == 0))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnsupportedParameter, pSyntax, p.Name,
                    "[Positives] and [Negatives] mark a pair mask: a ReadOnlySpan<float> after the prediction"));
                usable = false;
                continue;
            }
            if (mask != PairMask.None && parameters.Any(x => x.Mask == mask))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnsupportedParameter, pSyntax, p.Name, $"the loss already has a [{mask}] mask"));
                usable = false;
                continue;
            }
            bool softmax = HasAttribute(p, "LossDsl.SoftmaxAttribute");
            if (softmax && (kind != ParameterKind.Span || parameters.Count > 0))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnsupportedParameter, pSyntax, p.Name,
                    "[Softmax] marks the prediction of a multiclass set loss: its first parameter, a ReadOnlySpan<float>"));
                usable = false;
                continue;
            }
            if (SlotLimit(kind) is var (limit, slots) && counts[(int)kind] >= limit)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnsupportedParameter, pSyntax, p.Name,
                    $"a loss takes at most {limit} {slots.Noun}; the generated kernels read them from the slots {slots.Range} of the runtime's LossViews"));
                usable = false;
                continue;
            }
            double dflt = kind == ParameterKind.Hyper ? Convert.ToDouble(p.ExplicitDefaultValue ?? 0.0, CultureInfo.InvariantCulture) : 0;
            var range = RangeOf(p);
            string? rangeProblem = range switch
            {
                null => null,
                _ when kind == ParameterKind.Target => "[Range] bounds a hyperparameter or a float data input; a class index is checked against the class count",
                _ when mask != PairMask.None || softmax => "[Range] cannot bound a pair mask or a [Softmax] span: the runtime builds their values",
                _ when double.IsNaN(range.Min) || double.IsNaN(range.Max) || !(range.Min <= range.Max) => $"the range {range} is empty",
                _ when kind == ParameterKind.Hyper && !range.Contains(dflt) => $"its default value {dflt.ToString("R", CultureInfo.InvariantCulture)} is outside its range {range}",
                _ => null,
            };
            if (rangeProblem is not null)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnsupportedParameter, pSyntax, p.Name, rangeProblem));
                usable = false;
                continue;
            }
            parameters.Add(new LossParameter(p.Name, kind, counts[(int)kind]++, p.Type.ToDisplayString(), dflt, mask, softmax, range));
        }

        foreach (var clash in NameClashes(parameters))
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnsupportedParameter, syntax.Identifier.GetLocation(), clash.Name, clash.Problem));
            usable = false;
        }

        var decision = AxesDecision.Decide(attribute, parameters);
        if (usable && decision.Problem is not null)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ShapeMismatch, syntax.Identifier.GetLocation(), method.Name, decision.ShapeName, decision.Problem));
            usable = false;
        }
        if (usable && syntax.Body is null && syntax.ExpressionBody is null)
        {
            // The user wrote a defining declaration: there is nothing to implement, and generating a second
            // defining declaration would only add compiler errors (CS0756, CS0111) to ours.
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MissingBody, syntax.Identifier.GetLocation(), method.Name));
            usable = false;
        }
        string ns = method.ContainingNamespace.IsGlobalNamespace ? "" : method.ContainingNamespace.ToDisplayString();
        string modifiers = string.Join(" ", syntax.Modifiers.Select(m => m.ValueText));
        if (!usable || decision.Axes is null)
        {
            // The user's method is the implementing declaration of a partial method: write its defining declaration as
            // declared, so that the compiler does not add CS0759 to the diagnostic above. Not possible in a type that
            // is not partial (the compiler's CS0751 says so), nor needed without a body.
            if (typesOk && syntax.Modifiers.Any(SyntaxKind.PartialKeyword) && (syntax.Body is not null || syntax.ExpressionBody is not null)
                && syntax.ConstraintClauses.Count == 0)
            {
                string typeParameters = method.TypeParameters.Length == 0 ? "" : "<" + string.Join(", ", method.TypeParameters.Select(t => Names.Identifier(t.Name))) + ">";
                var ps = method.Parameters.Select(p => (p.IsParams ? "params " : "") + p.RefKind switch
                {
                    RefKind.Ref => "ref ", RefKind.Out => "out ", RefKind.In => "in ", RefKind.RefReadOnlyParameter => "ref readonly ", _ => "",
                } + p.Type.ToDisplayString(FullyQualified) + " " + Names.Identifier(p.Name));
                string declaration = $"{modifiers} {method.ReturnType.ToDisplayString(FullyQualified)} {Names.Identifier(method.Name)}{typeParameters}({string.Join(", ", ps)});";
                stub = new DeclarationStub(method.Name, ns, containing.ToEquatableArray(), declaration);
            }
            return null;
        }
        SyntaxNode? bodyNode = (SyntaxNode?)syntax.ExpressionBody?.Expression ?? syntax.Body;
        string bodyText = bodyNode is null ? "" : NormalizeWhitespace(bodyNode.ToString());
        bool literal = attribute?.NamedArguments.Any(n => n.Key == "Literal" && n.Value.Value is true) ?? false;
        return new LossSignature(ns, containing.ToEquatableArray(), method.Name, modifiers, parameters.ToEquatableArray(), decision.Axes, bodyText, literal);
    }

    /// <summary>
    /// Names the generated overloads and module take for themselves: TorchSharp's loss options, and the members of its
    /// <c>WeightedLoss</c> module base, which a module property named after a hyperparameter would hide.
    /// </summary>
    private static readonly HashSet<string> ReservedNames = new(StringComparer.Ordinal)
    {
        "weight", "ignore_index", "reduction", "backend",
        "add_module", "apply", "buffers", "call", "children", "eval", "forward", "handle", "has_buffer", "has_parameter", "load",
        "load_state_dict", "module_post_hooks", "module_pre_hooks", "modules", "name", "named_buffers", "named_children",
        "named_modules", "named_parameters", "parameters", "post_hooks", "pre_hooks", "register_buffer", "register_forward_hook",
        "register_forward_pre_hook", "register_module", "register_parameter", "save", "state_dict", "train", "training", "zero_grad",
    };

    /// <summary>How many parameters of a kind the kernels' views can take, and how to name them; null: no limit.</summary>
    private static (int Limit, (string Noun, string Range) Slots)? SlotLimit(ParameterKind kind) => kind switch
    {
        ParameterKind.Span => (KernelAbi.MaxSpans, ("ReadOnlySpan<float> parameters", $"Span0..{KernelAbi.MaxSpans - 1}")),
        ParameterKind.Input => (KernelAbi.MaxInputs, ("float data parameters", $"Input0..{KernelAbi.MaxInputs - 1}")),
        ParameterKind.Target => (KernelAbi.MaxTargets, ("int class-index parameters", $"Target0..{KernelAbi.MaxTargets - 1}")),
        _ => null,
    };

    /// <summary>A parameter's <c>[Range(min, max)]</c>, or null.</summary>
    private static HyperRange? RangeOf(IParameterSymbol p)
    {
        var a = p.GetAttributes().FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == "LossDsl.RangeAttribute");
        if (a is null || a.ConstructorArguments.Length != 2) return null;
        double min = Convert.ToDouble(a.ConstructorArguments[0].Value ?? double.NaN, CultureInfo.InvariantCulture);
        double max = Convert.ToDouble(a.ConstructorArguments[1].Value ?? double.NaN, CultureInfo.InvariantCulture);
        bool Flag(string name) => a.NamedArguments.Any(n => n.Key == name && n.Value.Value is true);
        return new HyperRange(min, max, Flag("MinExclusive"), Flag("MaxExclusive"));
    }

    /// <summary>Span parameters whose names the generated kernels use for a span's elements.</summary>
    private static IEnumerable<(string Name, string Problem)> NameClashes(List<LossParameter> parameters)
    {
        var derived = new HashSet<string>(parameters.Where(p => p.Kind == ParameterKind.Span).SelectMany(p => new[] { p.Name + "_j", p.Name + "_v", p.Name + "_0" }), StringComparer.Ordinal);
        foreach (var p in parameters.Where(p => derived.Contains(p.Name)))
            yield return (p.Name, "the generated kernels use this name for an element of a span parameter; rename it");
    }

    private static readonly SymbolDisplayFormat FullyQualified = SymbolDisplayFormat.FullyQualifiedFormat
        .AddMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.IncludeNullableReferenceTypeModifier);

    private static bool HasAttribute(IParameterSymbol p, string name) => p.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == name);

    private static PairMask PairMaskOf(IParameterSymbol p)
    {
        foreach (var a in p.GetAttributes())
            switch (a.AttributeClass?.ToDisplayString())
            {
                case "LossDsl.PositivesAttribute": return PairMask.Positives;
                case "LossDsl.NegativesAttribute": return PairMask.Negatives;
            }
        return PairMask.None;
    }

    private static bool IsLoss(IMethodSymbol m) => m.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == LossParser.AttributeName);

    private static string NormalizeWhitespace(string text)
        => string.Join(" ", text.Split(new[] { ' ', '\t', '\r', '\n' }, StringSplitOptions.RemoveEmptyEntries));

}
