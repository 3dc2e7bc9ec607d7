using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using LossDsl.Generator.Common;
using LossDsl.Generator.Diagnostics;
using LossDsl.Generator.IR;
using LossDsl.Generator.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LossDsl.Generator.Parse;

/// <summary>
/// Parse stage: turns a [Loss] method (Roslyn syntax plus semantic model) into a <see cref="LossModel"/>.
/// Every construct outside the DSL subset becomes a diagnostic at its exact span; parsing goes on after an
/// error so that one build reports all of them. Nothing here throws on user input.
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
        var signature = ParseSignature(syntax, method, attribute, diagnostics, out var stub);
        if (signature is null) return new LossModel(null, null, -1, diagnostics.ToEquatableArray(), stub);

        var body = new BodyParser(model, method, signature, diagnostics, ct) { Lowered = lowered };
        int root = body.ParseBody(syntax);
        bool ok = root >= 0 && !diagnostics.Any(d => DiagnosticDescriptors.ById(d.Id).DefaultSeverity == DiagnosticSeverity.Error);
        return new LossModel(signature, ok ? body.Builder.ToGraph() : null, ok ? root : -1, diagnostics.ToEquatableArray());
    }

    private static LossSignature? ParseSignature(MethodDeclarationSyntax syntax, IMethodSymbol method, AttributeData? attribute, List<DiagnosticInfo> diagnostics,
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

        var containing = new List<string>();
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
            string typeModifiers = type.IsStatic ? "static partial" : "partial";
            containing.Insert(0, $"{typeModifiers} {keyword} {Names.Identifier(type.Name)}");
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
            else if (IsReadOnlySpanOfFloat(p.Type))
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
                _ when kind != ParameterKind.Hyper => "[Range] bounds a hyperparameter (a float with a default value)",
                _ when double.IsNaN(range.Min) || double.IsNaN(range.Max) || !(range.Min <= range.Max) => $"the range {range} is empty",
                _ when !range.Contains(dflt) => $"its default value {dflt.ToString("R", CultureInfo.InvariantCulture)} is outside its range {range}",
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

        var requested = LossShape.Auto;
        var sets = LossSets.PerChannel;
        foreach (var named in attribute?.NamedArguments ?? Enumerable.Empty<KeyValuePair<string, TypedConstant>>())
        {
            if (named.Key == "Shape" && named.Value.Value is int s) requested = (LossShape)s;
            if (named.Key == "Sets" && named.Value.Value is int k) sets = (LossSets)k;
        }

        int spans = counts[(int)ParameterKind.Span], targets = counts[(int)ParameterKind.Target], inputs = counts[(int)ParameterKind.Input];
        bool masks = parameters.Any(p => p.Mask != PairMask.None);
        bool multiclass = parameters.Count > 0 && parameters[0].Softmax;
        // Naming the sets' axes or a softmax over classes makes it a set loss; a pair mask makes it a pair loss.
        var shape = requested != LossShape.Auto ? requested
            : sets != LossSets.PerChannel || multiclass ? LossShape.ChannelSet
            : masks ? LossShape.Pairs
            : spans == 0 ? LossShape.Elementwise : LossShape.ClassRow;
        string? shapeProblem = shape switch
        {
            _ when !Enum.IsDefined(typeof(LossShape), shape) => "it is not a LossShape value",
            _ when !Enum.IsDefined(typeof(LossSets), sets) => "Sets is not a LossSets value",
            _ when sets != LossSets.PerChannel && shape != LossShape.ChannelSet => "Sets applies to set losses only",
            _ when spans + inputs + targets == 0 => "it has no data parameter",
            LossShape.Elementwise when spans > 0 => "an elementwise loss takes float values, not spans",
            LossShape.Elementwise when targets > 0 => "an elementwise loss takes float labels, not int class indices",
            LossShape.ClassRow when spans == 0 => "a class-row loss needs a ReadOnlySpan<float> row",
            LossShape.ChannelSet when spans == 0 => "a channel-set loss needs ReadOnlySpan<float> sets",
            LossShape.ChannelSet when targets > 0 => "a set loss takes spans, float values (one per set) and hyperparameters, not int class indices",
            _ when multiclass && inputs > 0 => "a multiclass set loss takes its two spans and hyperparameters only",
            _ when multiclass && shape != LossShape.ChannelSet => "[Softmax] makes a multiclass set loss (LossShape.ChannelSet)",
            _ when multiclass && sets == LossSets.Whole => "a multiclass set loss has one set per class (LossSets.PerChannel) or per image and class (LossSets.PerImage), not one over the whole tensor",
            _ when multiclass && spans != 2 => "a multiclass set loss takes two spans: the [Softmax] probabilities and the one-hot targets of the class mask",
            LossShape.Pairs when spans == 0 => "a pair loss needs a ReadOnlySpan<float> row of a pair matrix",
            LossShape.Pairs when parameters.Any(p => p.Name == "labels") => "its tensor overloads take the batch's labels as 'labels'; rename the parameter",
            LossShape.Pairs when targets + inputs > 0 => "a pair loss takes only spans: rows of [N, N] pair matrices and [Positives]/[Negatives] masks (and hyperparameters)",
            _ when masks && shape != LossShape.Pairs => "[Positives] and [Negatives] masks belong to pair losses (LossShape.Pairs)",
            _ when parameters.Count > 0 && (shape == LossShape.Elementwise ? parameters[0].Kind != ParameterKind.Input : parameters[0].Kind != ParameterKind.Span)
                => "the first parameter must be the prediction that the gradient is taken for (a span, or a float for elementwise losses)",
            _ => null,
        };
        if (usable && shapeProblem is not null)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ShapeMismatch, syntax.Identifier.GetLocation(), method.Name, shape.ToString(), shapeProblem));
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
        if (!usable)
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
        return new LossSignature(ns, containing.ToEquatableArray(), method.Name, modifiers, parameters.ToEquatableArray(), shape, bodyText, sets);
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

    private static bool IsLoss(IMethodSymbol m) => m.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == AttributeName);

    private static string NormalizeWhitespace(string text)
        => string.Join(" ", text.Split(new[] { ' ', '\t', '\r', '\n' }, StringSplitOptions.RemoveEmptyEntries));

    internal static bool IsReadOnlySpanOfFloat(ITypeSymbol type)
        => type is INamedTypeSymbol { Name: "ReadOnlySpan", ContainingNamespace.Name: "System", TypeArguments.Length: 1 } named
           && named.TypeArguments[0].SpecialType == SpecialType.System_Single;

    /// <summary>Lowers one method body into IR, recording a diagnostic for each unsupported construct.</summary>
    private sealed class BodyParser
    {
        private readonly SemanticModel _model;
        private readonly LossSignature _signature;
        private readonly List<DiagnosticInfo> _diagnostics;
        private readonly CancellationToken _ct;
        private readonly Dictionary<ISymbol, int> _values = new(SymbolEqualityComparer.Default);
        private readonly Dictionary<ISymbol, int> _spans = new(SymbolEqualityComparer.Default);
        /// <summary>Locals whose declaration was already reported: their uses are not reported again.</summary>
        private readonly HashSet<ISymbol> _poisoned = new(SymbolEqualityComparer.Default);
        private int _lambdaDepth;

        public GraphBuilder Builder { get; } = new();

        public BodyParser(SemanticModel model, IMethodSymbol method, LossSignature signature, List<DiagnosticInfo> diagnostics, CancellationToken ct)
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

        public int ParseBody(MethodDeclarationSyntax syntax)
        {
            if (syntax.ExpressionBody is { } arrow) return Expr(arrow.Expression);
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
                        result = Expr(e);
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

        /// <summary>LossMath.Classes: the class count of a multiclass set loss.</summary>
        private int ClassCount(ExpressionSyntax e)
            => _signature.Multiclass ? Builder.Leaf(Op.Classes)
                : Error(DiagnosticDescriptors.InvalidUse, e, "'Classes' is the class count of a multiclass set loss; mark its prediction span [Softmax]");

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

            bool spanFirst = symbol.Parameters.Length > 0 && IsReadOnlySpanOfFloat(symbol.Parameters[0].Type);
            if (spanFirst) return SpanIntrinsic(call, name, symbol, args);

            var operands = new int[args.Count];
            for (int i = 0; i < args.Count; i++)
                if ((operands[i] = Expr(args[i].Expression)) < 0) return -1;

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

            // Reductions: the leading arguments are spans, the optional last one is the element function.
            var spans = new List<int>();
            LambdaExpressionSyntax? lambda = null;
            foreach (var arg in args)
            {
                if (arg.Expression is LambdaExpressionSyntax l) { lambda = l; break; }
                int s = SpanOf(arg.Expression, report: true);
                if (s < 0) return -1;
                spans.Add(s);
            }

            int body;
            if (lambda is null)
                body = Builder.Leaf(Op.Elem, spans[0]);
            else
            {
                var parameters = lambda switch
                {
                    SimpleLambdaExpressionSyntax s => new[] { s.Parameter },
                    ParenthesizedLambdaExpressionSyntax p => p.ParameterList.Parameters.ToArray(),
                    _ => Array.Empty<ParameterSyntax>(),
                };
                if (lambda.ExpressionBody is null)
                    return Unsupported(lambda, "A lambda with a block body", "write the element function as an expression");
                if (parameters.Length != spans.Count && parameters.Length != spans.Count + 1)
                    return Unsupported(lambda, "This lambda signature", "the element function takes one element per span (plus an optional int index)");
                for (int i = 0; i < parameters.Length; i++)
                {
                    if (_model.GetDeclaredSymbol(parameters[i], _ct) is not IParameterSymbol ps) return -1;
                    _values[ps] = i < spans.Count ? Builder.Leaf(Op.Elem, spans[i]) : Builder.Leaf(Op.ElemIndex);
                }
                _lambdaDepth++;
                body = Expr(lambda.ExpressionBody);
                _lambdaDepth--;
                if (body < 0) return -1;
            }

            if (name == "Mean") return Builder.Div(Builder.Sum(body), Builder.Leaf(Op.Length));
            return Reductions.Named(name) is { } reduction
                ? Builder.Reduce(reduction.Op, body)
                : Error(DiagnosticDescriptors.UnknownMethod, call, symbol.ToDisplayString());
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
}
