using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using LossDsl.Generator.Diagnostics;
using LossDsl.Generator.IR;
using LossDsl.Generator.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;

namespace LossDsl.Generator.Analyze;

/// <summary>
/// Numerical stability (LOSS03xx) and differentiability (LOSS04xx) checks: patterns on the forward IR, ranges from
/// interval arithmetic over the task's leaf domains, reported at the expression that produced the node.
/// </summary>
internal static class StabilityChecks
{
    public static void Run(MethodContext c, List<Diagnostic> result)
    {
        var g = c.Graph;
        var live = Live(g, c.Model.Root);
        var dep = DependsOnPrediction(g, c.Model.Signature!.Axes.IsElementwise);
        var domains = Domains(c);
        var range = IntervalAnalysis.Run(g, domains);
        var guards = Guards(g, c.Model.Root);
        var reported = new HashSet<(string, TextSpan)>();
        var handledLogs = new HashSet<int>();

        void Report(DiagnosticDescriptor d, SyntaxNode at, ImmutableDictionary<string, string?>? props, params object[] args)
        {
            if (reported.Add((d.Id, at.Span)))
                result.Add(Diagnostic.Create(d, at.GetLocation(), props, args));
        }

        // LOSS0303/0304 come from interval arithmetic, which loses correlations: a warning needs a witness input that
        // reaches the bad value, and its message names it. Without one the finding is an info that says what could not
        // be proved, never that the bad value is reached.
        void ReportConfirmed(DiagnosticDescriptor d, SyntaxNode at, int node, Func<double, bool> bad, string subject, string rangeText,
            string reached, string fix)
        {
            if (!reported.Add((d.Id, at.Span))) return;
            string? witness = StabilityWitness.Search(g, c.Model.Signature!, domains, node, bad);
            result.Add(witness is not null
                ? Diagnostic.Create(d, at.GetLocation(), subject, $"it reaches {reached} in its domain ({rangeText}; {witness}); {fix}")
                : Diagnostic.Create(d, at.GetLocation(), DiagnosticSeverity.Info, null, null, subject,
                    $"not proved to stay away from 0 ({rangeText} by interval arithmetic, which loses the correlation between operands), "
                    + $"and no input of the domain where it reaches 0 was found (corners and random points); if one exists, {fix}"));
        }

        // LOSS0306: the rewrites the generator applies (none under [Loss(Literal = true)]), each at its sub-expression.
        var rewritten = RewriteReport.Run(c, result);

        // LOSS0301/0302: Log of a hand-made sigmoid or softmax, found from the Log calls of the body; info where the
        // generator's rewrite already computes the stable form.
        void ReportLog(DiagnosticDescriptor d, InvocationExpressionSyntax call, ImmutableDictionary<string, string?>? props, string fix)
        {
            if (!rewritten.Contains(c.NodeOf(call))) Report(d, call, props, Short(call), fix);
            else if (reported.Add((d.Id, call.Span)))
                result.Add(Diagnostic.Create(d, call.GetLocation(), DiagnosticSeverity.Info, null, props, Short(call),
                    fix + " (the generated code computes it so already, LOSS0306; [Loss(Literal = true)] would compute it as written)"));
        }

        foreach (var call in c.Syntax.DescendantNodes().OfType<InvocationExpressionSyntax>())
        {
            c.CancellationToken.ThrowIfCancellationRequested();
            if (call.ArgumentList.Arguments.Count != 1 || !IsIntrinsic(c, call, "Log")) continue;
            var arg = call.ArgumentList.Arguments[0].Expression;
            int a = c.NodeOf(arg);
            if (a < 0) continue;
            if (MatchLogSigmoid(g, a, out int x, out bool negate))
            {
                string? text = ArgumentText(c, x, arg, call);
                if (text is not null && negate) text = Negated(text);
                string fix = text is null ? "LogSigmoid" : $"LogSigmoid({text})";
                ReportLog(DiagnosticDescriptors.LogOfSigmoid, call, FixProperties("LogSigmoid", text), fix);
                handledLogs.Add(c.NodeOf(call));
            }
            else if (MatchSoftmax(g, a, out int span, out int target))
            {
                string? z = c.ParameterName(ParameterKind.Span, span), t = c.ParameterName(ParameterKind.Target, target);
                string fix = z is null || t is null ? "LogSoftmax" : $"LogSoftmax({z}, {t})";
                ReportLog(DiagnosticDescriptors.LogOfSoftmax, call, z is null || t is null ? null : FixProperties("LogSoftmax", z, t), fix);
                handledLogs.Add(c.NodeOf(call));
            }
        }

        for (int i = 0; i < g.Count; i++)
        {
            c.CancellationToken.ThrowIfCancellationRequested();
            if (!live[i]) continue;
            var n = g[i];
            var at = c.SyntaxOf(i);
            if (at is null) continue;
            switch (n.Op)
            {
                case Op.Log when !handledLogs.Contains(i) && range[n.A].ReachesAtOrBelow(0) && !Guarded(g, range, guards[i], n.A, nonZeroOnly: false):
                    {
                        var operand = at is InvocationExpressionSyntax { ArgumentList.Arguments.Count: 1 } inv ? inv.ArgumentList.Arguments[0].Expression : at;
                        string where = range[n.A].Lo < 0 ? "0 or below" : "0";
                        string rangeText = RangeText(c, range, n.A, domains);
                        ReportConfirmed(DiagnosticDescriptors.LogOfZero, at, n.A, v => v <= StabilityWitness.Tiny, Short(operand), rangeText, where,
                            "clamp it away from 0");
                        break;
                    }
                case Op.Div when range[n.B].Contains(0) && !Guarded(g, range, guards[i], n.B, nonZeroOnly: true):
                    {
                        SyntaxNode divisor = at is BinaryExpressionSyntax bin && bin.IsKind(SyntaxKind.DivideExpression) ? bin.Right : at;
                        string name = g[n.B].Op == Op.Length && divisor is InvocationExpressionSyntax ? "the element count of " + Short(divisor) : Short(divisor);
                        string rangeText = RangeText(c, range, n.B, domains);
                        ReportConfirmed(DiagnosticDescriptors.DivisionByZero, divisor, n.B, v => Math.Abs(v) <= StabilityWitness.Tiny, name, rangeText, "0",
                            "add a smoothing constant or clamp it");
                        break;
                    }
                case Op.Sqrt when dep[n.A] && range[n.A].Contains(0):
                    Report(DiagnosticDescriptors.InfiniteDerivative, at, null, Short(at), "0", RangeText(c, range, n.A, domains));
                    break;
                case Op.Pow when dep[n.A] && range[n.B].IsPoint && range[n.B].Lo > 0 && range[n.B].Lo < 1 && range[n.A].Contains(0):
                    Report(DiagnosticDescriptors.InfiniteDerivative, at, null, Short(at),
                        "a base of 0 (exponent " + range[n.B].Lo.ToString("0.###", CultureInfo.InvariantCulture) + " < 1)", RangeText(c, range, n.A, domains));
                    break;
                case Op.Abs when dep[n.A] && range[n.A].Contains(0):
                    Report(DiagnosticDescriptors.AbsSubgradient, at, null, Short(at));
                    break;
                case Op.Max or Op.Min when (dep[n.A] || dep[n.B]) && Overlap(range[n.A], range[n.B]):
                    {
                        bool clamp = at is InvocationExpressionSyntax ic && Name(ic) == "Clamp";
                        string rule = clamp
                            ? "at x = lo or x = hi the generated backward passes the gradient to x (ties go to the first argument)"
                            : "at a tie the generated backward sends the gradient to the first argument";
                        Report(DiagnosticDescriptors.MaxMinSubgradient, at, null, Short(at), rule);
                        break;
                    }
                case var op when Reductions.Of(op) is { Selects: true } selecting && dep[n.A]:
                    {
                        bool max = selecting.Compare == Op.Gt;
                        Report(DiagnosticDescriptors.MaxReductionSubgradient, at, null, Short(at), max ? "maximum" : "minimum", max ? "maximal" : "minimal");
                        break;
                    }
                case Op.Select when dep[n.A]:
                    Report(DiagnosticDescriptors.BranchGradient, at, null, Short(at));
                    break;
            }
        }
    }

    private static ImmutableDictionary<string, string?>? FixProperties(string intrinsic, params string?[] args)
    {
        if (args.Any(a => a is null)) return null;
        var b = ImmutableDictionary.CreateBuilder<string, string?>();
        b[LossAnalyzer.FixIntrinsic] = intrinsic;
        for (int i = 0; i < args.Length; i++) b[LossAnalyzer.FixArgument + i.ToString(CultureInfo.InvariantCulture)] = args[i];
        return b.ToImmutable();
    }

    private static bool Overlap(Interval a, Interval b) => !(a.Hi < b.Lo || b.Hi < a.Lo);

    private static string Name(InvocationExpressionSyntax call) => call.Expression switch
    {
        IdentifierNameSyntax id => id.Identifier.ValueText,
        MemberAccessExpressionSyntax m => m.Name.Identifier.ValueText,
        _ => "",
    };

    private static bool IsIntrinsic(MethodContext c, InvocationExpressionSyntax call, string name)
    {
        if (Name(call) != name) return false;
        var symbol = c.SemanticModel.GetSymbolInfo(call, c.CancellationToken).Symbol as IMethodSymbol;
        string containing = symbol?.ContainingType?.ToDisplayString() ?? "";
        return containing is "LossDsl.LossMath" or "System.Math" or "System.MathF";
    }

    internal static string Short(SyntaxNode node)
    {
        string text = string.Join(" ", node.ToString().Split(new[] { ' ', '\t', '\r', '\n' }, StringSplitOptions.RemoveEmptyEntries));
        return text.Length <= 80 ? text : text.Substring(0, 77) + "...";
    }

    // ------------------------------------------------------------------ IR patterns

    private static bool IsConst(Graph g, int i, double v) => g[i].Op == Op.Const && g[i].Value == v;

    /// <summary>σ(x) or 1 − σ(x) = σ(−x), including the hand-written 1 / (1 + e^−x).</summary>
    private static bool MatchLogSigmoid(Graph g, int a, out int x, out bool negate)
    {
        negate = false;
        if (MatchSigmoid(g, a, out x)) return true;
        var n = g[a];
        if (n.Op == Op.Sub && IsConst(g, n.A, 1) && MatchSigmoid(g, n.B, out x)) { negate = true; return true; }
        return false;
    }

    private static bool MatchSigmoid(Graph g, int a, out int x)
    {
        x = -1;
        var n = g[a];
        if (n.Op == Op.Sigmoid) { x = n.A; return true; }
        // 1 / (1 + Exp(−x))
        if (n.Op == Op.Div && IsConst(g, n.A, 1) && g[n.B].Op == Op.Add)
        {
            var add = g[n.B];
            int other = IsConst(g, add.A, 1) ? add.B : IsConst(g, add.B, 1) ? add.A : -1;
            if (other >= 0 && g[other].Op == Op.Exp && g[g[other].A].Op == Op.Neg) { x = g[g[other].A].A; return true; }
        }
        return false;
    }

    /// <summary>Softmax(z, t) (<see cref="Patterns.IsSoftmax"/>) at a class index: its span and target slots.</summary>
    private static bool MatchSoftmax(Graph g, int a, out int span, out int target)
    {
        span = target = -1;
        return Patterns.IsSoftmax(g, a, out int at) && Target(g, at, out span, out target);
    }

    private static bool Target(Graph g, int at, out int span, out int target)
    {
        span = g[at].Slot;
        target = g[g[at].A].Op == Op.Target ? g[g[at].A].Slot : -1;
        return target >= 0;
    }

    // ------------------------------------------------------------------ fix arguments

    /// <summary>Source text for node <paramref name="x"/> usable at <paramref name="site"/>, or null.</summary>
    private static string? ArgumentText(MethodContext c, int x, ExpressionSyntax within, SyntaxNode site)
    {
        var leaf = c.Graph[x];
        string? param = leaf.Op switch
        {
            Op.Input => c.ParameterName(ParameterKind.Input, leaf.Slot),
            Op.Hyper => c.ParameterName(ParameterKind.Hyper, leaf.Slot),
            _ => null,
        };
        if (param is not null) return param;
        var inside = within.DescendantNodesAndSelf().OfType<ExpressionSyntax>().FirstOrDefault(e => c.NodeOf(e) == x);
        if (inside is not null) return Strip(inside).ToString();
        var elsewhere = c.SyntaxOf(x);
        if (elsewhere is null) return null;
        // Usable at the Log call only if it names nothing local to another lambda.
        foreach (var id in elsewhere.DescendantNodesAndSelf().OfType<IdentifierNameSyntax>())
        {
            var s = c.SemanticModel.GetSymbolInfo(id, c.CancellationToken).Symbol;
            if (s is IParameterSymbol p && !SymbolEqualityComparer.Default.Equals(p.ContainingSymbol, c.Method)) return null;
            if (s is ILocalSymbol local && local.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax() is { } decl && decl.SpanStart > site.SpanStart) return null;
        }
        return Strip(elsewhere).ToString();
    }

    private static ExpressionSyntax Strip(ExpressionSyntax e)
    {
        while (e is ParenthesizedExpressionSyntax p) e = p.Expression;   // the text becomes a whole argument
        return e;
    }

    private static string Negated(string text)
    {
        var e = SyntaxFactory.ParseExpression(text);
        if (e is PrefixUnaryExpressionSyntax u && u.IsKind(SyntaxKind.UnaryMinusExpression)) return u.Operand.ToString();
        if (e is IdentifierNameSyntax or InvocationExpressionSyntax or LiteralExpressionSyntax or ParenthesizedExpressionSyntax or ElementAccessExpressionSyntax or MemberAccessExpressionSyntax)
            return "-" + text;
        return "-(" + text + ")";
    }

    // ------------------------------------------------------------------ graph facts

    /// <summary>Nodes the loss value reads (reduction bodies included).</summary>
    /// <summary>
    /// The conditions that hold wherever each node's value is used: a branch of <c>c ? a : b</c> is evaluated for the loss
    /// only where c holds (a) or fails (b), so <c>count &gt; 0 ? s / count : 0</c> never divides by 0. A node's guards are
    /// those common to all its uses; null for nodes the loss does not use.
    /// </summary>
    private static List<(int Condition, bool Holds)>?[] Guards(Graph g, int root)
    {
        var guards = new List<(int, bool)>?[g.Count];
        guards[root] = new List<(int, bool)>();
        for (int i = root; i >= 0; i--)
        {
            if (guards[i] is not { } mine) continue;
            var n = g[i];
            for (int k = 0; k < n.OperandCount; k++)
            {
                int operand = n.Operand(k);
                var here = new List<(int, bool)>(mine);
                if (n.Op == Op.Select && k > 0) here.Add((n.A, k == 1));
                guards[operand] = guards[operand] is { } other ? other.Intersect(here).ToList() : here;
            }
        }
        return guards;
    }

    /// <summary>Whether a guard of the node implies x &gt; 0 (or, with <paramref name="nonZeroOnly"/>, x ≠ 0).</summary>
    private static bool Guarded(Graph g, Interval[] range, List<(int Condition, bool Holds)>? guards, int x, bool nonZeroOnly)
        => guards is not null && guards.Any(guard => Implies(g, range, guard.Condition, guard.Holds, x, nonZeroOnly));

    /// <summary>
    /// Whether condition <paramref name="cond"/> being <paramref name="holds"/> implies x &gt; 0 (or, with
    /// <paramref name="nonZeroOnly"/>, x ≠ 0): x &gt; k or k &lt; x with k ≥ 0, x ≥ k or k ≤ x with k &gt; 0, the negations of
    /// x ≤ k and x &lt; k, x ≠ 0, and either side of a conjunction that holds.
    /// </summary>
    private static bool Implies(Graph g, Interval[] range, int cond, bool holds, int x, bool nonZeroOnly)
    {
        var n = g[cond];
        bool AtLeast(int k, bool strict) => strict ? range[k].Lo >= 0 : range[k].Lo > 0 || (range[k].Lo == 0 && range[k].LoOpen);
        switch (n.Op, holds)
        {
            case (Op.Not, _): return Implies(g, range, n.A, !holds, x, nonZeroOnly);
            case (Op.And, true): return Implies(g, range, n.A, true, x, nonZeroOnly) || Implies(g, range, n.B, true, x, nonZeroOnly);
            case (Op.Or, false): return Implies(g, range, n.A, false, x, nonZeroOnly) || Implies(g, range, n.B, false, x, nonZeroOnly);
            case (Op.Gt, true) or (Op.Le, false): return n.A == x && AtLeast(n.B, strict: true);    // x > k ≥ 0
            case (Op.Lt, true) or (Op.Ge, false): return n.B == x && AtLeast(n.A, strict: true);    // k < x, k ≥ 0
            case (Op.Ge, true) or (Op.Lt, false): return n.A == x && AtLeast(n.B, strict: false);   // x ≥ k > 0
            case (Op.Le, true) or (Op.Gt, false): return n.B == x && AtLeast(n.A, strict: false);   // k ≤ x, k > 0
            case (Op.Ne, true) or (Op.Eq, false):
                return nonZeroOnly && (n.A == x && range[n.B].IsPoint && range[n.B].Lo == 0 || n.B == x && range[n.A].IsPoint && range[n.A].Lo == 0);
            default: return false;
        }
    }

    private static bool[] Live(Graph g, int root)
    {
        var live = new bool[g.Count];
        var stack = new Stack<int>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            int i = stack.Pop();
            if (i < 0 || live[i]) continue;
            live[i] = true;
            var n = g[i];
            for (int k = 0; k < n.OperandCount; k++) stack.Push(n.Operand(k));
        }
        return live;
    }

    /// <summary>Whether each node depends on the prediction (the first data parameter).</summary>
    private static bool[] DependsOnPrediction(Graph g, bool elementwise)
    {
        var dep = new bool[g.Count];
        for (int i = 0; i < g.Count; i++)
        {
            var n = g[i];
            if (elementwise ? n.Op == Op.Input && n.Slot == 0 : (n.Op is Op.Elem or Op.At) && n.Slot == 0) { dep[i] = true; continue; }
            for (int k = 0; k < n.OperandCount; k++) dep[i] |= dep[n.Operand(k)];
        }
        return dep;
    }

    /// <summary>The leaf domains of a loss's task (docs/calibration.md, "Domains").</summary>
    private static LeafDomains Domains(MethodContext c)
    {
        var sig = c.Model.Signature!;
        var g = c.Graph;
        var task = c.Task;
        int inputs = sig.Parameters.Count(p => p.Kind == ParameterKind.Input), spans = sig.Parameters.Count(p => p.Kind == ParameterKind.Span);
        var d = new LeafDomains
        {
            Hypers = sig.Parameters.Where(p => p.Kind == ParameterKind.Hyper).OrderBy(p => p.Slot).Select(p => p.Default).ToArray(),
            Inputs = new Interval[inputs],
            Spans = new Interval[spans],
            MinLength = sig.Axes.FusedRows ? 2 : 1,   // a softmax row has at least two classes; a set may hold one element
        };
        bool binary = task is LossTask.BinaryLogit or LossTask.BinaryProbability;
        for (int i = 0; i < inputs; i++)
            d.Inputs[i] = i == 0 ? (task == LossTask.BinaryProbability ? Interval.Unit : Interval.Real)
                                 : (binary ? Interval.Unit : Interval.Real);
        for (int s = 0; s < spans; s++)
        {
            if (task != LossTask.Segmentation) d.Spans[s] = Interval.Real;
            else if (s > 0) d.Spans[s] = Interval.Unit;
            else d.Spans[s] = OnlyThroughSquashing(g, 0) ? Interval.Real : Interval.Unit;
        }
        // A multiclass set loss's spans are probabilities and a one-hot whatever its task: the softmax across the classes
        // and the class mask's one-hot.
        if (sig.Multiclass)
            for (int s = 0; s < Math.Min(spans, 2); s++) d.Spans[s] = Interval.Unit;
        // A data input's declared [Range] narrows its task domain (the tensor overload checks it at run time); where the
        // two do not meet, the declaration wins: it is what the caller's tensors hold.
        foreach (var p in sig.Parameters.Where(p => p.Range is not null && p.Kind is ParameterKind.Input or ParameterKind.Span))
        {
            var r = p.Range!;
            var declared = new Interval(r.Min, r.Max, r.MinExclusive, r.MaxExclusive);
            var domains = p.Kind == ParameterKind.Input ? d.Inputs : d.Spans;
            if (p.Slot < domains.Length) domains[p.Slot] = Interval.Intersect(domains[p.Slot], declared) ?? declared;
        }
        return d;
    }

    /// <summary>Whether every use of span <paramref name="slot"/>'s elements goes through a squashing function (so they are logits).</summary>
    private static bool OnlyThroughSquashing(Graph g, int slot)
    {
        bool any = false;
        for (int i = 0; i < g.Count; i++)
        {
            var n = g[i];
            for (int k = 0; k < n.OperandCount; k++)
            {
                var o = g[n.Operand(k)];
                // A Max or Min of the raw elements (a shift) says nothing about what they are.
                if ((o.Op is Op.Elem or Op.At) && o.Slot == slot && Reductions.Of(n.Op) is not { Selects: true })
                {
                    any = true;
                    if (n.Op is not (Op.Sigmoid or Op.Softplus or Op.LogSigmoid or Op.Exp or Op.Tanh)) return false;
                }
            }
        }
        return any;
    }

    private static string RangeText(MethodContext c, Interval[] range, int node, LeafDomains d)
    {
        var g = c.Graph;
        var leaves = new SortedSet<string>(StringComparer.Ordinal);
        var seen = new HashSet<int>();
        var stack = new Stack<int>();
        stack.Push(node);
        while (stack.Count > 0)
        {
            int i = stack.Pop();
            if (!seen.Add(i)) continue;
            var n = g[i];
            switch (n.Op)
            {
                case Op.Input when c.ParameterName(ParameterKind.Input, n.Slot) is { } name: leaves.Add($"{name} ∈ {range[i]}"); break;
                case Op.Elem or Op.At when c.ParameterName(ParameterKind.Span, n.Slot) is { } name: leaves.Add($"{name}[i] ∈ {range[i]}"); break;
                case Op.Hyper when c.ParameterName(ParameterKind.Hyper, n.Slot) is { } name: leaves.Add($"{name} = {range[i].Lo.ToString("G4", CultureInfo.InvariantCulture)}"); break;
            }
            for (int k = 0; k < n.OperandCount; k++) stack.Push(n.Operand(k));
        }
        string given = leaves.Count == 0 ? "" : " for " + string.Join(", ", leaves);
        return $"its range is {range[node]}{given}";
    }
}
