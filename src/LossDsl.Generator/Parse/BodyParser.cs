using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using LossDsl.Generator.Diagnostics;
using LossDsl.Generator.IR;
using LossDsl.Generator.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LossDsl.Generator.Parse;

/// <summary>
/// The body half of the parse stage: lowers one method body into IR against its <see cref="LossSignature"/> (parameters
/// become leaves, reductions and intrinsics their nodes), recording a diagnostic for each unsupported construct.
/// </summary>
public sealed class BodyParser
{
    private readonly SemanticModel _model;
    private readonly LossSignature _signature;
    private readonly ICollection<DiagnosticInfo> _diagnostics;
    private readonly CancellationToken _ct;
    private readonly Dictionary<ISymbol, int> _values = new(SymbolEqualityComparer.Default);
    private readonly Dictionary<ISymbol, int> _spans = new(SymbolEqualityComparer.Default);
    /// <summary>Locals whose declaration was already reported: their uses are not reported again.</summary>
    private readonly HashSet<ISymbol> _poisoned = new(SymbolEqualityComparer.Default);
    private int _lambdaDepth;
    /// <summary>The order key of each enclosing SortedSum's element function, innermost last: what CumSum runs over.</summary>
    private readonly List<int> _sortKeys = new();
    /// <summary>The parameters of the element functions being parsed, outermost first, with the leaves they are bound to.</summary>
    private readonly List<List<(IParameterSymbol Symbol, int Node)>> _lambdaParameters = new();

    /// <summary>The IR built so far: <see cref="GraphBuilder.ToGraph"/> after <see cref="ParseBody"/> gives the forward graph.</summary>
    public GraphBuilder Builder { get; } = new();

    public BodyParser(SemanticModel model, IMethodSymbol method, LossSignature signature, ICollection<DiagnosticInfo> diagnostics, CancellationToken ct)
    {
        _model = model;
        _signature = signature;
        _diagnostics = diagnostics;
        _ct = ct;
        foreach (var p in method.Parameters)
        {
            var lp = signature.Parameters.First(x => x.Name == p.Name);
            switch (lp.Kind)
            {
                case ParameterKind.Span: _spans[p] = lp.Slot; break;
                case ParameterKind.Target: _values[p] = Builder.Leaf(Op.Target, lp.Slot); break;
                case ParameterKind.Input: _values[p] = Builder.Leaf(Op.Input, lp.Slot); break;
                case ParameterKind.Hyper: _values[p] = Builder.Leaf(Op.Hyper, lp.Slot); break;
            }
        }
    }

    private int Error(DiagnosticDescriptor d, SyntaxNode node, params string[] args)
    {
        _diagnostics.Add(DiagnosticInfo.Create(d, node, args));
        return -1;
    }

    private int Unsupported(SyntaxNode node, string what, string hint) => Error(DiagnosticDescriptors.UnsupportedSyntax, node, what, hint);

    /// <summary>Lowers the body of <paramref name="syntax"/>: the node of its returned value, or -1 when it has errors.</summary>
    public int ParseBody(MethodDeclarationSyntax syntax)
    {
        if (syntax.ExpressionBody is { } arrow) return OneValueAcross(Expr(arrow.Expression), arrow.Expression);
        if (syntax.Body is null) return -1; // reported by Parse

        int result = -1;
        bool returned = false;
        foreach (var statement in syntax.Body.Statements)
        {
            _ct.ThrowIfCancellationRequested();
            if (returned)
            {
                Unsupported(statement, "A statement after the return", "the return must be the last statement");
                continue;
            }
            switch (statement)
            {
                case LocalDeclarationStatementSyntax local:
                    DeclareLocals(local);
                    break;
                case ReturnStatementSyntax { Expression: { } e }:
                    result = OneValueAcross(Expr(e), e);
                    returned = true;
                    break;
                default:
                    Unsupported(statement, Describe(statement), "a loss body holds local declarations and one final return");
                    break;
            }
        }
        if (!returned) return Error(DiagnosticDescriptors.MissingBody, syntax.Body, _signature.Name);
        return result;
    }

    /// <summary>
    /// A loss that reduces across its segments (<see cref="Op.Across"/>: a set loss's classes, a pair loss's anchors) is
    /// one value per call (per image with per-image sets): what it returns may read per-segment values (the segments'
    /// reductions and per-set inputs) only through those reductions, or each segment would have a loss of its own that also
    /// depends on every other segment.
    /// </summary>
    private int OneValueAcross(int root, ExpressionSyntax returned)
    {
        if (root < 0 || !GraphWalk.Reach(i => Builder[i], new[] { root }, _ => true).Any(i => Builder[i].Op == Op.Across)) return root;
        var perSegment = GraphWalk.Reach(i => Builder[i], new[] { root }, i => Builder[i].Op != Op.Across && !Builder[i].Op.IsReduction())
            .Where(i => Builder[i].Op.IsReduction() || Builder[i].Op == Op.Input).ToList();
        if (perSegment.Count == 0) return root;
        string suffix = PairRows ? Reductions.OverAnchorsSuffix : Reductions.OverClassesSuffix;
        return Error(DiagnosticDescriptors.InvalidUse, returned,
            $"a loss that reduces across its {(PairRows ? "anchors" : "classes")} is one value (per image with LossSets.PerImage): the value it returns may read the per-{(PairRows ? "anchor" : "set")} sums and inputs only inside "
            + string.Join(", ", new[] { "Sum", "Mean", "Max", "Min" }.Select(r => r + suffix)));
    }

    /// <summary>A pair loss: rows per anchor, which a reduction across the segments runs over.</summary>
    private bool PairRows => _signature.Axes.MeanOverPositive;

    /// <summary>A set loss per channel or per image: sets per class, which <c>Classes</c> counts and a reduction across the segments runs over.</summary>
    private bool ClassSets => _signature.Axes.Chunked && _signature.Axes.Sets != LossSets.Whole;

    /// <summary>
    /// <c>SumOverClasses(v)</c>, <c>MeanOverClasses(v)</c>, … in a set loss per channel or per image, and
    /// <c>SumOverAnchors(v)</c>, … in a pair loss: a reduction of a per-segment value v across the classes (channels) or
    /// the anchor rows, outside every element function (<see cref="Op.Across"/>). Mean is the Sum over C, or over N.
    /// </summary>
    private int Across(InvocationExpressionSyntax call, string name, string suffix, int value)
    {
        if (suffix == Reductions.OverClassesSuffix && !ClassSets)
            return Error(DiagnosticDescriptors.InvalidUse, call, $"{name} reduces across the classes (channels) of a set loss per channel or per image; this loss has no class axis of sets");
        if (suffix == Reductions.OverAnchorsSuffix && !PairRows)
            return Error(DiagnosticDescriptors.InvalidUse, call, $"{name} reduces across the anchor rows of a pair loss ([Positives]/[Negatives] masks); this loss has none");
        if (_lambdaDepth > 0)
            return Error(DiagnosticDescriptors.InvalidUse, call, $"{name} reduces per-{(PairRows ? "anchor values across the anchors" : "set values across the classes")}; call it outside the element functions");
        string reduction = name.Substring(0, name.Length - suffix.Length);
        if (reduction == "Mean") return Builder.Div(Builder.SumAcross(value), Builder.Leaf(PairRows ? Op.Length : Op.Classes));
        return Reductions.Named(reduction) is { } row
            ? Builder.Across(row.Op, value)
            : Error(DiagnosticDescriptors.UnknownMethod, call, name);
    }

    private void DeclareLocals(LocalDeclarationStatementSyntax local)
    {
        foreach (var v in local.Declaration.Variables)
        {
            if (_model.GetDeclaredSymbol(v, _ct) is not ILocalSymbol symbol) continue;
            if (symbol.Type.SpecialType is not (SpecialType.System_Single or SpecialType.System_Double))
            {
                Error(DiagnosticDescriptors.UnsupportedLocalType, v, symbol.Name, symbol.Type.ToDisplayString());
                _poisoned.Add(symbol);
                continue;
            }
            if (v.Initializer is null)
            {
                Unsupported(v, "A local without an initializer", "give every local its value where it is declared");
                _poisoned.Add(symbol);
                continue;
            }
            int value = Expr(v.Initializer.Value);
            if (value >= 0) _values[symbol] = value;
            else _poisoned.Add(symbol); // its initializer was reported; using it is not a second error
        }
    }

    /// <summary>Told which IR node each lowered expression became, innermost first (for analyzers, see <see cref="LossParser"/>).</summary>
    public Action<ExpressionSyntax, int>? Lowered { get; set; }

    private int Expr(ExpressionSyntax e)
    {
        int node = ExprCore(e);
        if (node >= 0) Lowered?.Invoke(e, node);
        return node;
    }

    private int ExprCore(ExpressionSyntax e)
    {
        _ct.ThrowIfCancellationRequested();
        switch (e)
        {
            case ParenthesizedExpressionSyntax p:
                return Expr(p.Expression);
            case LiteralExpressionSyntax lit when lit.IsKind(SyntaxKind.NumericLiteralExpression):
                return Builder.Const(Convert.ToDouble(lit.Token.Value, CultureInfo.InvariantCulture));
            case LiteralExpressionSyntax lit when lit.IsKind(SyntaxKind.TrueLiteralExpression) || lit.IsKind(SyntaxKind.FalseLiteralExpression):
                return Unsupported(lit, "A bool literal", "use a comparison");
            case CastExpressionSyntax cast:
                var castType = _model.GetTypeInfo(cast.Type, _ct).Type;
                if (castType?.SpecialType is SpecialType.System_Single or SpecialType.System_Double) return Expr(cast.Expression);
                return Unsupported(cast, "A cast to " + (castType?.ToDisplayString() ?? cast.Type.ToString()), "only casts to float or double are allowed");
            case IdentifierNameSyntax id:
                return Identifier(id);
            case PrefixUnaryExpressionSyntax u when u.IsKind(SyntaxKind.UnaryMinusExpression):
                return Map(Expr(u.Operand), a => Builder.Neg(a));
            case PrefixUnaryExpressionSyntax u when u.IsKind(SyntaxKind.UnaryPlusExpression):
                return Expr(u.Operand);
            case PrefixUnaryExpressionSyntax u when u.IsKind(SyntaxKind.LogicalNotExpression):
                return Map(Expr(u.Operand), a => Builder.Unary(Op.Not, a));
            case BinaryExpressionSyntax b:
                return Binary(b);
            case ConditionalExpressionSyntax c:
                {
                    int cond = Expr(c.Condition), then = Expr(c.WhenTrue), @else = Expr(c.WhenFalse);
                    return cond < 0 || then < 0 || @else < 0 ? -1 : Builder.Select(cond, then, @else);
                }
            case InvocationExpressionSyntax call:
                return Invocation(call);
            case ElementAccessExpressionSyntax access:
                return ElementAccess(access);
            case MemberAccessExpressionSyntax member when member.Name.Identifier.ValueText == "Length" && SpanOf(member.Expression, report: false) >= 0:
                return Builder.Leaf(Op.Length);
            case MemberAccessExpressionSyntax member when IsClasses(_model.GetSymbolInfo(member, _ct).Symbol):
                return ClassCount(member);
            case MemberAccessExpressionSyntax member when _model.GetSymbolInfo(member, _ct).Symbol is IFieldSymbol { IsConst: true, ConstantValue: { } cv } field
                                                          && field.Type.SpecialType is SpecialType.System_Single or SpecialType.System_Double or SpecialType.System_Int32:
                return Builder.Const(Convert.ToDouble(cv, CultureInfo.InvariantCulture));
            case LambdaExpressionSyntax lambda:
                return Unsupported(lambda, "A lambda outside a reduction", "lambdas are the element functions of Sum, Mean, Max, Min and LogSumExp");
            default:
                return Unsupported(e, Describe(e), "see the list of supported syntax in docs/dsl.md");
        }
    }

    private static int Map(int a, Func<int, int> f) => a < 0 ? -1 : f(a);

    private static bool IsClasses(ISymbol? symbol) => symbol is IPropertySymbol { Name: "Classes", ContainingType: { } t } && t.ToDisplayString() == "LossDsl.LossMath";

    /// <summary>LossMath.Classes: the class (channel) count of a set loss per channel or per image, multiclass or not.</summary>
    private int ClassCount(ExpressionSyntax e)
        => ClassSets ? Builder.Leaf(Op.Classes)
            : Error(DiagnosticDescriptors.InvalidUse, e, "'Classes' is the class (channel) count of a set loss per channel or per image, or of a multiclass one ([Softmax])");

    private int Identifier(IdentifierNameSyntax id)
    {
        if (id.IsMissing) return -1; // a syntax error, which the compiler reports
        var symbol = _model.GetSymbolInfo(id, _ct).Symbol;
        if (symbol is null) return Error(DiagnosticDescriptors.InvalidUse, id, $"'{id.Identifier.ValueText}' cannot be resolved");
        if (_values.TryGetValue(symbol, out int node)) return node;
        if (_poisoned.Contains(symbol)) return -1;
        if (_spans.ContainsKey(symbol))
            return Error(DiagnosticDescriptors.InvalidUse, id, $"span '{symbol.Name}' can be used only in a reduction (Sum, Mean, Max, Min, LogSumExp, Softmax, LogSoftmax), indexed by a class index, or as '{symbol.Name}.Length'");
        if (symbol is IFieldSymbol { IsConst: true, ConstantValue: { } cv })
            return Builder.Const(Convert.ToDouble(cv, CultureInfo.InvariantCulture));
        if (IsClasses(symbol)) return ClassCount(id);
        return Error(DiagnosticDescriptors.InvalidUse, id, $"'{symbol.Name}' is not a parameter, local or constant of this loss");
    }

    private int Binary(BinaryExpressionSyntax b)
    {
        Op? op = b.Kind() switch
        {
            SyntaxKind.AddExpression => Op.Add,
            SyntaxKind.SubtractExpression => Op.Sub,
            SyntaxKind.MultiplyExpression => Op.Mul,
            SyntaxKind.DivideExpression => Op.Div,
            SyntaxKind.LessThanExpression => Op.Lt,
            SyntaxKind.LessThanOrEqualExpression => Op.Le,
            SyntaxKind.GreaterThanExpression => Op.Gt,
            SyntaxKind.GreaterThanOrEqualExpression => Op.Ge,
            SyntaxKind.EqualsExpression => Op.Eq,
            SyntaxKind.NotEqualsExpression => Op.Ne,
            SyntaxKind.LogicalAndExpression => Op.And,
            SyntaxKind.LogicalOrExpression => Op.Or,
            _ => null,
        };
        if (op is null) return Unsupported(b, $"The operator '{b.OperatorToken.ValueText}'", "use + - * / comparisons && || and the LossMath intrinsics");
        if (op == Op.Div && _model.GetTypeInfo(b, _ct).Type?.SpecialType is SpecialType.System_Int32 or SpecialType.System_Int64)
            return Error(DiagnosticDescriptors.InvalidUse, b, $"'{b}' is an integer division, which C# truncates; write it with a float literal (e.g. 1f / 2)");
        int l = Expr(b.Left), r = Expr(b.Right);
        if (l < 0 || r < 0) return -1;
        return Builder.Binary(op.Value, l, r);
    }

    private int ElementAccess(ElementAccessExpressionSyntax access)
    {
        int span = SpanOf(access.Expression, report: true);
        if (span < 0 || access.ArgumentList.Arguments.Count != 1) return span < 0 ? -1 : Unsupported(access, "Multi-dimensional indexing", "index a row with one class index");
        var indexExpr = access.ArgumentList.Arguments[0].Expression;
        int index = Expr(indexExpr);
        if (index < 0) return -1;
        if (Builder[index].Op != Op.Target)
            return Error(DiagnosticDescriptors.InvalidUse, indexExpr, $"'{indexExpr}' is not an int class-index parameter; a row can be indexed only by a class index");
        if (_lambdaDepth > 0)
            return Error(DiagnosticDescriptors.InvalidUse, access, "indexing a row inside a reduction's element function is not supported; index it outside, in a local");
        return Builder.At(span, index);
    }

    private int SpanOf(ExpressionSyntax e, bool report)
    {
        if (e is IdentifierNameSyntax id && _model.GetSymbolInfo(id, _ct).Symbol is { } s && _spans.TryGetValue(s, out int slot)) return slot;
        if (report) Error(DiagnosticDescriptors.InvalidUse, e, $"'{e}' is not a ReadOnlySpan<float> parameter of this loss");
        return -1;
    }

    private int Invocation(InvocationExpressionSyntax call)
    {
        var info = _model.GetSymbolInfo(call, _ct);
        var symbol = info.Symbol as IMethodSymbol;
        if (call.Expression is MemberAccessExpressionSyntax { Expression: IdentifierNameSyntax rowName } rowMember
            && _model.GetSymbolInfo(rowName, _ct).Symbol is { } rowSymbol && _rows.TryGetValue(rowSymbol, out var rowSpans))
            return RowReduction(call, rowMember, rowSpans);
        // The compiler could not bind a call to an intrinsic (e.g. CS9108: a lambda that captures a span): its own
        // error says why, and "not an intrinsic" would mislead.
        if (symbol is null && info.CandidateSymbols.OfType<IMethodSymbol>().Any(m => m.ContainingType?.ToDisplayString() is "LossDsl.LossMath" or "System.Math" or "System.MathF"))
            return -1;
        // An intrinsic's name that does not bind: the file lacks the 'using static' (the compiler adds CS0103).
        if (symbol is null && info.CandidateSymbols.IsEmpty && call.Expression is IdentifierNameSyntax { Identifier.ValueText: var called }
            && _model.Compilation.GetTypeByMetadataName("LossDsl.LossMath")?.GetMembers(called).Any() == true)
            return Error(DiagnosticDescriptors.LossMathNotImported, call.Expression, called);
        string containing = symbol?.ContainingType?.ToDisplayString() ?? "";
        bool intrinsic = containing == "LossDsl.LossMath";
        bool math = containing is "System.Math" or "System.MathF";
        var args = call.ArgumentList.Arguments;
        string name = symbol?.Name ?? "";
        if (symbol is null || (!intrinsic && !math) || (math && !MathAliases.Contains(name)))
            return Error(DiagnosticDescriptors.UnknownMethod, call, symbol?.ToDisplayString() ?? call.Expression.ToString());
        if (args.Any(a => a.NameColon is not null || !a.RefKindKeyword.IsKind(SyntaxKind.None)))
            return Unsupported(call, "Named or ref arguments", "pass arguments by position");

        bool spanFirst = symbol.Parameters.Length > 0 && LossParser.IsReadOnlySpanOfFloat(symbol.Parameters[0].Type);
        if (spanFirst) return SpanIntrinsic(call, name, symbol, args);

        var operands = new int[args.Count];
        for (int i = 0; i < args.Count; i++)
            if ((operands[i] = Expr(args[i].Expression)) < 0) return -1;

        if (name == "CumSum" && operands.Length == 1) return CumSum(call, operands[0]);
        foreach (string suffix in new[] { Reductions.OverClassesSuffix, Reductions.OverAnchorsSuffix })
            if (operands.Length == 1 && name.EndsWith(suffix, StringComparison.Ordinal)) return Across(call, name, suffix, operands[0]);

        // Log of a softmax probability is the log-softmax, exact at any logit: a span of its own in the kernels.
        if (name == "Log" && _signature.Multiclass && Builder[operands[0]] is { Op: Op.Elem, Slot: 0 })
            return Builder.Leaf(Op.Elem, _signature.LogSoftmaxSlot);
        if (operands.Length == 1 && OpTable.Unary(name) is { } function) return Builder.Unary(function.Op, operands[0]);
        if (operands.Length == 2 && OpTable.Binary(name) is { } binary) return Builder.Binary(binary.Op, operands[0], operands[1]);
        switch (name, operands.Length)
        {
            case ("Square", 1): return Builder.Mul(operands[0], operands[0]);
            case ("Clamp", 3): return Builder.Binary(Op.Min, Builder.Binary(Op.Max, operands[0], operands[1]), operands[2]);
            default: return Error(DiagnosticDescriptors.UnknownMethod, call, symbol.ToDisplayString());
        }
    }

    private static readonly HashSet<string> MathAliases = new(OpTable.AllUnary.Where(f => f.InSystemMath).Select(f => f.Name)
        .Concat(OpTable.AllBinary.Where(f => f.InSystemMath).Select(f => f.Name)).Append("Clamp"));

    private int SpanIntrinsic(InvocationExpressionSyntax call, string name, IMethodSymbol symbol, SeparatedSyntaxList<ArgumentSyntax> args)
    {
        // Softmax(row, t) and LogSoftmax(row, t): sugar over At and LogSumExp.
        if (name is "Softmax" or "LogSoftmax")
        {
            int row = SpanOf(args[0].Expression, report: true);
            int t = Expr(args[1].Expression);
            if (row < 0 || t < 0) return -1;
            if (Builder[t].Op != Op.Target)
                return Error(DiagnosticDescriptors.InvalidUse, args[1], $"'{args[1]}' is not an int class-index parameter");
            if (_lambdaDepth > 0)
                return Error(DiagnosticDescriptors.InvalidUse, call, $"{name} inside a reduction's element function is not supported; compute it in a local first");
            int logp = Builder.Sub(Builder.At(row, t), Builder.LogSumExp(Builder.Leaf(Op.Elem, row)));
            return name == "LogSoftmax" ? logp : Builder.Unary(Op.Exp, logp);
        }

        // Reductions: the leading arguments are spans, the last one (or two, for SortedSum's key) the element function.
        var spans = new List<int>();
        var lambdas = new List<LambdaExpressionSyntax>();
        foreach (var arg in args)
        {
            if (arg.Expression is LambdaExpressionSyntax l) { lambdas.Add(l); continue; }
            if (lambdas.Count > 0) return Unsupported(arg, "A span after an element function", "pass the spans first, then the element functions");
            int s = SpanOf(arg.Expression, report: true);
            if (s < 0) return -1;
            spans.Add(s);
        }

        if (name == "SortedSum")
        {
            // SortedSum(spans…, key, f): Σ f, where f's CumSum(v) runs over the elements sorted by key, descending.
            if (lambdas.Count != 2) return Unsupported(call, "SortedSum without a key and an element function", "write SortedSum(a, b, (x, y) => key, (x, y) => f)");
            int key = Lambda(lambdas[0], spans);
            if (key < 0) return -1;
            _sortKeys.Add(key);
            int sorted = Lambda(lambdas[1], spans);
            _sortKeys.RemoveAt(_sortKeys.Count - 1);
            return sorted < 0 ? -1 : Builder.Sum(sorted);
        }

        if (name == "SumWithRow")
        {
            // SumWithRow(spans…, (x…, [j,] row) => f): Σ_j f, where f's row.Sum(…) is a nested reduction (NestedRow).
            if (lambdas.Count != 1) return Unsupported(call, "SumWithRow without an element function", "write SumWithRow(a, (x, row) => f)");
            int withRow = Lambda(lambdas[0], spans, rowAllowed: true);
            return withRow < 0 ? -1 : Builder.Sum(withRow);
        }

        int body = lambdas.Count == 0 ? Builder.Leaf(Op.Elem, spans[0]) : Lambda(lambdas[0], spans);
        if (body < 0) return -1;

        if (name == "Mean") return Builder.Div(Builder.Sum(body), Builder.Leaf(Op.Length));
        return Reductions.Named(name) is { } reduction
            ? Builder.Reduce(reduction.Op, body)
            : Error(DiagnosticDescriptors.UnknownMethod, call, symbol.ToDisplayString());
    }

    /// <summary>An element function over <paramref name="spans"/>: its parameters bind to their elements (and the optional last one to j).</summary>
    private int Lambda(LambdaExpressionSyntax lambda, List<int> spans, bool rowAllowed = false)
    {
        var parameters = lambda switch
        {
            SimpleLambdaExpressionSyntax s => new[] { s.Parameter },
            ParenthesizedLambdaExpressionSyntax p => p.ParameterList.Parameters.ToArray(),
            _ => Array.Empty<ParameterSyntax>(),
        };
        if (lambda.ExpressionBody is null)
            return Unsupported(lambda, "A lambda with a block body", "write the element function as an expression");
        if (parameters.Length < spans.Count || parameters.Length > spans.Count + (rowAllowed ? 2 : 1))
            return Unsupported(lambda, "This lambda signature", "the element function takes one element per span (plus an optional int index"
                + (rowAllowed ? ", then the row" : "") + ")");
        var bound = new List<(IParameterSymbol, int)>();
        for (int i = 0; i < parameters.Length; i++)
        {
            if (_model.GetDeclaredSymbol(parameters[i], _ct) is not IParameterSymbol ps) return -1;
            if (rowAllowed && i == parameters.Length - 1 && IsRow(ps.Type))
            {
                _rows[ps] = spans;   // the row of SumWithRow: its Sum and Mean are nested reductions
                continue;
            }
            _values[ps] = i < spans.Count ? Builder.Leaf(Op.Elem, spans[i]) : Builder.Leaf(Op.ElemIndex);
            bound.Add((ps, _values[ps]));
        }
        _lambdaDepth++;
        _lambdaParameters.Add(bound);
        int body = Expr(lambda.ExpressionBody);
        _lambdaParameters.RemoveAt(_lambdaParameters.Count - 1);
        _lambdaDepth--;
        if (body >= 0 && GraphWalk.Reach(i => Builder[i], new[] { body }, _ => true).Any(i => Builder[i].Op == Op.Across))
            return Error(DiagnosticDescriptors.InvalidUse, lambda, "an element function may not read a value reduced across the segments (classes or anchors): the segments' sums come first, then the reductions across them");
        return body;
    }

    /// <summary>
    /// A reduction inside an element function. When its element function reads the enclosing one's parameters (the outer
    /// element j), it is a nested reduction: Σ_k f(x_j, x_k) per outer element j (<see cref="Op.NestedSum"/>), e.g. the
    /// triplets of an anchor, Σ_p Σ_n relu(d_ap − d_an + m), or an item's rank Σ_k σ((s_k − s_j)/τ). Otherwise it does not
    /// depend on j and is the row's own reduction, as before.
    /// </summary>
    private static bool IsRow(ITypeSymbol type) => type.ToDisplayString() is "LossDsl.LossMath.Row1" or "LossDsl.LossMath.Row2" or "LossDsl.LossMath.Row3";

    /// <summary>The row parameters of the SumWithRow element functions, with the spans of their rows.</summary>
    private readonly Dictionary<ISymbol, List<int>> _rows = new(SymbolEqualityComparer.Default);

    /// <summary><c>row.Sum(…)</c> or <c>row.Mean(…)</c> on the row parameter of a SumWithRow element function.</summary>
    private int RowReduction(InvocationExpressionSyntax call, MemberAccessExpressionSyntax member, List<int> spans)
    {
        string name = member.Name.Identifier.ValueText;
        var args = call.ArgumentList.Arguments;
        if (args.Count != 1 || args[0].Expression is not LambdaExpressionSyntax lambda)
            return Unsupported(call, $"row.{name} without an element function", "write row.Sum((x, …) => f)");
        if (_lambdaParameters.Count != 1)
            return Error(DiagnosticDescriptors.InvalidUse, call, "a nested reduction is supported one level deep: call row.Sum in SumWithRow's own element function");
        return MaybeNested(call, name, (IMethodSymbol)_model.GetSymbolInfo(call, _ct).Symbol!, spans, lambda);
    }

    private int MaybeNested(InvocationExpressionSyntax call, string name, IMethodSymbol symbol, List<int> spans, LambdaExpressionSyntax lambda)
    {
        // Inside the inner function, the outer function's parameters are the outer element: OuterElem and OuterIndex.
        var outer = _lambdaParameters[_lambdaParameters.Count - 1];
        foreach (var (ps, node) in outer)
            _values[ps] = Builder[node].Op == Op.Elem ? Builder.Leaf(Op.OuterElem, Builder[node].Slot) : Builder.Leaf(Op.OuterIndex);
        var sortKeys = _sortKeys.ToList();
        _sortKeys.Clear();   // a CumSum inside a nested function would run over pairs: not supported
        int body = Lambda(lambda, spans);
        _sortKeys.AddRange(sortKeys);
        foreach (var (ps, node) in outer) _values[ps] = node;
        if (body < 0) return -1;

        var reads = GraphWalk.Reach(i => Builder[i], new[] { body }, _ => true);
        if (!reads.Any(i => Builder[i].Op is Op.OuterElem or Op.OuterIndex))
        {
            // It does not read the outer element: the row's own reduction.
            if (name == "Mean") return Builder.Div(Builder.Sum(body), Builder.Leaf(Op.Length));
            return Reductions.Named(name) is { } reduction
                ? Builder.Reduce(reduction.Op, body)
                : Error(DiagnosticDescriptors.UnknownMethod, call, symbol.ToDisplayString());
        }
        if (!_signature.Axes.FusedRows || _lambdaParameters.Count > 1)
            return Error(DiagnosticDescriptors.InvalidUse, call, "a nested reduction (one that reads the outer element) is supported inside a row loss's reduction, one level deep");
        if (name is not ("Sum" or "Mean"))
            return Error(DiagnosticDescriptors.InvalidUse, call, $"a nested {name} is not supported yet; nested reductions are Sum and Mean");
        if (reads.Any(i => Builder[i].Op.IsReduction() || Builder[i].Op is Op.At or Op.Input or Op.CumSum or Op.NestedSum))
            return Error(DiagnosticDescriptors.InvalidUse, call, "a nested reduction's element function may read the two elements, hyperparameters and constants, not a reduction, a row entry, a per-row input or a running sum");
        int sum = Builder.NestedSum(body);
        return name == "Mean" ? Builder.Div(sum, Builder.Leaf(Op.Length)) : sum;
    }

    /// <summary>
    /// CumSum(v) inside a SortedSum's element function: the running sum of v in the order of that SortedSum's key. Its
    /// summand is a function of the elements, hyperparameters and per-row inputs only (no reduction, row entry or running
    /// sum), so that its gradient is the permuted-back suffix sum the differentiator builds.
    /// </summary>
    private int CumSum(InvocationExpressionSyntax call, int value)
    {
        if (_sortKeys.Count == 0)
            return Error(DiagnosticDescriptors.InvalidUse, call, "CumSum is the running sum inside the element function of a SortedSum(spans…, key, f); call it there");
        var reads = GraphWalk.Reach(i => Builder[i], new[] { value }, _ => true);
        if (reads.Any(i => Builder[i].Op.IsReduction() || Builder[i].Op is Op.CumSum or Op.At))
            return Error(DiagnosticDescriptors.InvalidUse, call, "the value a CumSum adds up may read the elements, hyperparameters and per-row inputs, not a reduction, a row entry or another CumSum");
        return Builder.CumSum(value, _sortKeys[_sortKeys.Count - 1]);
    }

    private static string Describe(SyntaxNode node)
    {
        string kind = node.Kind().ToString();
        foreach (var suffix in new[] { "Statement", "Expression" })
            if (kind.EndsWith(suffix, StringComparison.Ordinal) && kind.Length > suffix.Length)
            {
                string what = Split(kind.Substring(0, kind.Length - suffix.Length));
                return $"{Article(what)} '{what}' {suffix.ToLowerInvariant()}";
            }
        return $"The construct '{Split(kind)}'";
    }

    /// <summary>"An 'if' statement", "An 'unsafe' statement", but "A 'using' statement".</summary>
    private static string Article(string word)
        => word.Length > 0 && ("aeio".IndexOf(word[0]) >= 0 || word.StartsWith("un", StringComparison.Ordinal)) ? "An" : "A";

    private static string Split(string pascal)
        => string.Concat(pascal.Select((c, i) => i > 0 && char.IsUpper(c) ? " " + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));
}
