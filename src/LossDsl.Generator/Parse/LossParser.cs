using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using LossDsl.Generator.Diagnostics;
using LossDsl.Generator.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LossDsl.Generator.Parse;

/// <summary>
/// Parse stage: turns a [Loss] method (Roslyn syntax plus semantic model) into a <see cref="LossModel"/>.
/// Every construct outside the DSL subset becomes a diagnostic at its exact span; parsing goes on after an
/// error so that one build reports all of them. Nothing here throws on user input.
/// <para>
/// It composes the two halves: <see cref="SignatureParser"/> (the declaration: signature, axes, stub) and, when the
/// declaration is usable, <see cref="BodyParser"/> (the body: IR).
/// </para>
/// </summary>
public static class LossParser
{
    public const string AttributeName = "LossDsl.LossAttribute";

    public static LossModel Parse(GeneratorAttributeSyntaxContext context, CancellationToken ct)
    {
        var syntax = (MethodDeclarationSyntax)context.TargetNode;
        var method = (IMethodSymbol)context.TargetSymbol;
        var attribute = context.Attributes.FirstOrDefault();
        try
        {
            return Parse(syntax, method, attribute, context.SemanticModel, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A parser bug must not become a generator exception (CS8785): report it at the method instead.
            var error = DiagnosticInfo.Create(DiagnosticDescriptors.InternalError, syntax.Identifier.GetLocation(), method.Name, e.GetType().Name + ": " + e.Message);
            return new LossModel(null, null, -1, new[] { error }.ToEquatableArray());
        }
    }

    public static LossModel Parse(MethodDeclarationSyntax syntax, IMethodSymbol method, AttributeData? attribute, SemanticModel model, CancellationToken ct)
        => Parse(syntax, method, attribute, model, ct, lowered: null);

    /// <summary>
    /// As <see cref="Parse(MethodDeclarationSyntax, IMethodSymbol, AttributeData?, SemanticModel, CancellationToken)"/>,
    /// and also tells <paramref name="lowered"/> which IR node each expression of the body became (outermost last).
    /// For analyzers, which map IR findings back to syntax; the pipeline's models hold no syntax.
    /// </summary>
    public static LossModel Parse(MethodDeclarationSyntax syntax, IMethodSymbol method, AttributeData? attribute, SemanticModel model, CancellationToken ct,
        Action<ExpressionSyntax, int>? lowered)
    {
        var diagnostics = new List<DiagnosticInfo>();
        var signature = SignatureParser.Parse(syntax, method, attribute, diagnostics, out var stub);
        if (signature is null) return new LossModel(null, null, -1, diagnostics.ToEquatableArray(), stub);

        var body = new BodyParser(model, method, signature, diagnostics, ct) { Lowered = lowered };
        int root = body.ParseBody(syntax);
        bool ok = root >= 0 && !diagnostics.Any(d => DiagnosticDescriptors.ById(d.Id).DefaultSeverity == DiagnosticSeverity.Error);
        return new LossModel(signature, ok ? body.Builder.ToGraph() : null, ok ? root : -1, diagnostics.ToEquatableArray());
    }

    /// <summary>Whether a parameter's type is <c>ReadOnlySpan&lt;float&gt;</c>: a row or a set.</summary>
    internal static bool IsReadOnlySpanOfFloat(ITypeSymbol type)
        => type is INamedTypeSymbol { Name: "ReadOnlySpan", ContainingNamespace.Name: "System", TypeArguments.Length: 1 } named
           && named.TypeArguments[0].SpecialType == SpecialType.System_Single;
}
