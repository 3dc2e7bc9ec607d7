using System.Linq;
using LossDsl.Generator.IR;

namespace LossDsl.Generator.Model;

/// <summary>How a parameter enters the loss.</summary>
public enum ParameterKind
{
    /// <summary><c>ReadOnlySpan&lt;float&gt;</c>: a row or a set of a float tensor.</summary>
    Span,
    /// <summary><c>int</c>: a class index per row, from an int64 tensor.</summary>
    Target,
    /// <summary><c>float</c> without a default: one value per element or per row, from a float tensor.</summary>
    Input,
    /// <summary><c>float</c>/<c>double</c> with a default: a runtime hyperparameter.</summary>
    Hyper,
}

/// <summary>Which pair mask a span of a pair loss is: built by the runtime from the batch's labels.</summary>
public enum PairMask
{
    /// <summary>Not a mask: a span the caller passes.</summary>
    None,
    /// <summary><c>[Positives]</c>: same label, not the anchor itself.</summary>
    Positives,
    /// <summary><c>[Negatives]</c>: another label.</summary>
    Negatives,
}

/// <param name="Name">The C# parameter name.</param>
/// <param name="Kind">How it enters the loss.</param>
/// <param name="Slot">Index among the parameters of the same kind.</param>
/// <param name="TypeText">The declared type, as written in the defining declaration.</param>
/// <param name="Default">A hyperparameter's default value.</param>
/// <param name="Mask">For a span of a pair loss: whether it is a pair mask built from the labels.</param>
/// <param name="Softmax">For the prediction of a multiclass set loss: <c>[Softmax]</c>, the softmax across the logits' class axis.</param>
/// <param name="Range">For a hyperparameter: its valid range, from <c>[Range(min, max)]</c>; for a float data input (a span or a
/// per-element or per-row value): the range its values are declared to lie in, which the interval analysis assumes and the
/// tensor overload checks; null when it has none.</param>
public sealed record LossParameter(string Name, ParameterKind Kind, int Slot, string TypeText, double Default, PairMask Mask = PairMask.None, bool Softmax = false,
    HyperRange? Range = null);

/// <summary>A hyperparameter's valid range, as <c>[Range(min, max)]</c> declares it.</summary>
public sealed record HyperRange(double Min, double Max, bool MinExclusive, bool MaxExclusive)
{
    public bool Contains(double v) => (MinExclusive ? v > Min : v >= Min) && (MaxExclusive ? v < Max : v <= Max);

    public override string ToString()
        => (MinExclusive || double.IsInfinity(Min) ? "(" : "[") + Bound(Min) + ", " + Bound(Max) + (MaxExclusive || double.IsInfinity(Max) ? ")" : "]");

    private static string Bound(double v)
        => double.IsPositiveInfinity(v) ? "∞" : double.IsNegativeInfinity(v) ? "-∞" : v.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>A type that contains a [Loss] method, as the generated partial declaration reopens it.</summary>
/// <param name="Modifiers">"static partial" or "partial".</param>
/// <param name="Keyword">"class", "struct", "interface", "record class" or "record struct".</param>
/// <param name="Name">The type's name (its metadata name: no '@' before a keyword).</param>
public sealed record ContainingType(string Modifiers, string Keyword, string Name);

/// <summary>Everything the emitters need about a [Loss] method's declaration, as plain data.</summary>
/// <param name="Namespace">The containing namespace, or empty for the global namespace.</param>
/// <param name="ContainingTypes">Outermost first.</param>
/// <param name="Modifiers">The method's modifiers as written, e.g. "public static partial".</param>
/// <param name="Axes">The loss's tensors as axes, as the parser decided them.</param>
/// <param name="BodyText">The loss body's source text (whitespace normalized), quoted in generated comments.</param>
/// <param name="Literal"><c>[Loss(Literal = true)]</c>: compute the formula as written, with no stability rewrite (the Rewrite stage).</param>
public sealed record LossSignature(
    string Namespace,
    EquatableArray<ContainingType> ContainingTypes,
    string Name,
    string Modifiers,
    EquatableArray<LossParameter> Parameters,
    AxesDeclaration Axes,
    string BodyText,
    bool Literal = false)
{
    /// <summary>
    /// A multiclass set loss (<see cref="AxesDeclaration.PixelClasses"/>): span 0 is the softmax across the class axis of
    /// the caller's logits, span 1 the one-hot of the caller's int64 class mask (a loss that declares no second span takes
    /// no mask: see <see cref="TakesClassMask"/>), and span <see cref="LogSoftmaxSlot"/> (no parameter of its own) the
    /// log-softmax that <c>Log</c> of a span-0 element reads.
    /// </summary>
    public bool Multiclass => Axes.Multiclass;

    /// <summary>Whether a multiclass set loss declares the one-hot span of a class mask, and so takes the mask.</summary>
    public bool TakesClassMask => Multiclass && Parameters.Count(p => p.Kind == ParameterKind.Span) == 2;

    /// <summary>The span slot of the log-softmax in a multiclass set loss: after the probabilities and the one-hot (slot 2), mask or not.</summary>
    public int LogSoftmaxSlot => Multiclass ? 2 : Parameters.Count(p => p.Kind == ParameterKind.Span);

    /// <summary>The name a span slot has in comments and code: a parameter's, or "log_" + the prediction's for the log-softmax.</summary>
    public string SpanName(int slot)
        => Multiclass && slot == LogSoftmaxSlot ? "log_" + Parameters[0].Name
            : Multiclass && slot == 1 && !TakesClassMask ? "classes"   // the per-pixel classes the kernels read, with no one-hot span of the loss's own
            : Parameters.First(p => p.Kind == ParameterKind.Span && p.Slot == slot).Name;
}

/// <summary>The parse result of one [Loss] method: its signature, its forward IR, and its diagnostics.</summary>
/// <param name="Signature">Null when the declaration itself cannot be used.</param>
/// <param name="Forward">The loss body as IR, null when the body has errors.</param>
/// <param name="Root">The node of <paramref name="Forward"/> holding the loss value.</param>
/// <param name="Stub">When the declaration cannot be used: its defining declaration, where one can be written.</param>
public sealed record LossModel(
    LossSignature? Signature,
    Graph? Forward,
    int Root,
    EquatableArray<DiagnosticInfo> Diagnostics,
    DeclarationStub? Stub = null);

/// <summary>
/// The defining declaration of a [Loss] method whose declaration LossDsl reports an error for (LOSS0001–0006), written
/// as the user declared it. It keeps the compiler from adding "no defining declaration" (CS0759) to that error.
/// </summary>
/// <param name="Name">The method's name.</param>
/// <param name="Namespace">The containing namespace, or empty for the global namespace.</param>
/// <param name="ContainingTypes">Outermost first.</param>
/// <param name="Declaration">The declaration, e.g. "public static partial double F(float x);".</param>
public sealed record DeclarationStub(string Name, string Namespace, EquatableArray<ContainingType> ContainingTypes, string Declaration);
