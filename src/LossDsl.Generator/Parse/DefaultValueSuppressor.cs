using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;

namespace LossDsl.Generator.Parse;

/// <summary>
/// A [Loss] method's hyperparameter defaults are written on the user's implementing declaration, where C#
/// ignores them (CS1066). The generator copies them onto the defining declaration, where they take effect, so
/// the warning is suppressed for [Loss] methods only.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class DefaultValueSuppressor : DiagnosticSuppressor
{
    public static readonly SuppressionDescriptor Descriptor = new(
        "LOSSSPR0001", "CS1066",
        "LossDsl copies the default values of a [Loss] method's hyperparameters onto the generated defining declaration.");

    public override ImmutableArray<SuppressionDescriptor> SupportedSuppressions => ImmutableArray.Create(Descriptor);

    public override void ReportSuppressions(SuppressionAnalysisContext context)
    {
        foreach (var diagnostic in context.ReportedDiagnostics)
        {
            var tree = diagnostic.Location.SourceTree;
            if (tree is null) continue;
            var node = tree.GetRoot(context.CancellationToken).FindNode(diagnostic.Location.SourceSpan);
            var method = node.AncestorsAndSelf().OfType<MethodDeclarationSyntax>().FirstOrDefault();
            if (method is null) continue;
            var model = context.GetSemanticModel(tree);
            var symbol = model.GetDeclaredSymbol(method, context.CancellationToken);
            if (symbol?.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == LossParser.AttributeName) == true)
                context.ReportSuppression(Suppression.Create(Descriptor, diagnostic));
        }
    }
}
