using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Formatting;

namespace LossDsl.CodeFixes;

/// <summary>
/// Fixes LOSS0301 and LOSS0302: rewrites a hand-made <c>Log(Sigmoid(x))</c>, <c>Log(1 - Sigmoid(x))</c>,
/// <c>Log(1 / (1 + Exp(-x)))</c>, <c>Log(Softmax(z, t))</c> or <c>Log(Exp(z[t]) / Sum(z, e =&gt; Exp(e)))</c> to the stable
/// intrinsic <c>LogSigmoid</c> or <c>LogSoftmax</c>. The analyzer computes the arguments and passes them in the
/// diagnostic's properties (Intrinsic, Arg0, Arg1); without them no fix is offered.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(StableIntrinsicCodeFixProvider)), Shared]
public sealed class StableIntrinsicCodeFixProvider : CodeFixProvider
{
    public const string LogOfSigmoidId = "LOSS0301";
    public const string LogOfSoftmaxId = "LOSS0302";

    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(LogOfSigmoidId, LogOfSoftmaxId);

    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null) return;
        foreach (var diagnostic in context.Diagnostics)
        {
            if (!diagnostic.Properties.TryGetValue("Intrinsic", out var intrinsic) || intrinsic is null) continue;
            var call = root.FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true)
                .AncestorsAndSelf().OfType<InvocationExpressionSyntax>().FirstOrDefault();
            if (call is null) continue;
            var args = Enumerable.Range(0, 2).Select(i => diagnostic.Properties.TryGetValue("Arg" + i, out var a) ? a : null).Where(a => a is not null).ToArray();
            string title = $"Use {intrinsic}";
            context.RegisterCodeFix(
                CodeAction.Create(title, ct => Rewrite(context.Document, call, intrinsic, args!, ct), equivalenceKey: title),
                diagnostic);
        }
    }

    private static async Task<Document> Rewrite(Document document, InvocationExpressionSyntax call, string intrinsic, string[] args, CancellationToken ct)
    {
        var root = await document.GetSyntaxRootAsync(ct).ConfigureAwait(false);
        var model = await document.GetSemanticModelAsync(ct).ConfigureAwait(false);
        if (root is null || model is null) return document;
        string callee = Callee(model, call.SpanStart, intrinsic);
        var replacement = SyntaxFactory.ParseExpression($"{callee}({string.Join(", ", args)})")
            .WithTriviaFrom(call)
            .WithAdditionalAnnotations(Formatter.Annotation);
        return document.WithSyntaxRoot(root.ReplaceNode(call, replacement));
    }

    /// <summary>The shortest name that binds to LossDsl.LossMath.<paramref name="intrinsic"/> at <paramref name="position"/>.</summary>
    private static string Callee(SemanticModel model, int position, string intrinsic)
    {
        bool Binds(ISymbol s) => s is IMethodSymbol m && m.ContainingType?.ToDisplayString() == "LossDsl.LossMath";
        if (model.LookupStaticMembers(position, name: intrinsic).Any(Binds) || model.LookupSymbols(position, name: intrinsic).Any(Binds))
            return intrinsic;
        if (model.LookupNamespacesAndTypes(position, name: "LossMath").OfType<INamedTypeSymbol>().Any(t => t.ToDisplayString() == "LossDsl.LossMath"))
            return "LossMath." + intrinsic;
        return "global::LossDsl.LossMath." + intrinsic;
    }
}
