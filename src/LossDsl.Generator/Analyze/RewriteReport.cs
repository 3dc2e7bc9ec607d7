using System.Collections.Generic;
using System.Globalization;
using LossDsl.Generator.Diagnostics;
using LossDsl.Generator.Rewrite;
using Microsoft.CodeAnalysis;

namespace LossDsl.Generator.Analyze;

/// <summary>
/// LOSS0306: each rewrite the generator applies to the loss (<see cref="Rewriter"/>), reported as info at the
/// sub-expression it replaces, with the float32 bits of error before and after that the rewrite stage measured.
/// </summary>
internal static class RewriteReport
{
    /// <summary>Reports the rewrites; returns the forward nodes they replaced (none when the loss is <c>Literal</c>).</summary>
    public static HashSet<int> Run(MethodContext c, List<Diagnostic> result)
    {
        var nodes = new HashSet<int>();
        if (c.Model.Signature!.Literal) return nodes;
        var r = Rewriter.Run(c.Graph, new[] { c.Model.Root });
        foreach (var a in r.Applied)
        {
            c.CancellationToken.ThrowIfCancellationRequested();
            nodes.Add(a.Node);
            var at = c.SyntaxOf(a.Node);
            if (at is null) continue;
            var rule = System.Array.Find(RewriteRules.All, x => x.Name == a.Rule);
            result.Add(Diagnostic.Create(DiagnosticDescriptors.StableRewrite, at.GetLocation(), StabilityChecks.Short(at), a.Rule, rule?.Why ?? "",
                F(a.AverageBefore), F(a.AverageAfter), F(a.MaxBefore), F(a.MaxAfter)));
        }
        return nodes;
    }

    private static string F(double bits) => bits.ToString("0.0", CultureInfo.InvariantCulture);
}
