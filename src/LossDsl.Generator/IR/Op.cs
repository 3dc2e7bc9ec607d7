namespace LossDsl.Generator.IR;

/// <summary>The operations of the loss IR.</summary>
public enum Op
{
    // Leaves.
    Const,      // Value
    Hyper,      // Slot: hyperparameter index
    Input,      // Slot: scalar data parameter index (one value per element or per row)
    Target,     // Slot: integer data parameter index (a class index per row)
    Elem,       // Slot: span index; the current element inside a reduction body
    ElemIndex,  // the current element's position inside a reduction body
    Length,     // the number of elements of the row or set
    Classes,    // the number of classes of a multiclass set loss (LossMath.Classes)
    At,         // Slot: span index, A: integer index node; span[index]

    // Unary.
    Neg, Exp, Log, Sqrt, Abs, Tanh, Sigmoid, Softplus, LogSigmoid, StopGradient,
    Erf, Log1P, Expm1, Cos, Sin, Atan,

    // Binary.
    Add, Sub, Mul, Div, Pow, Max, Min,

    // Predicates and selection (not differentiated; the gradient flows through the chosen branch).
    Lt, Le, Gt, Ge, Eq, Ne, And, Or, Not,
    Select,     // A ? B : C

    // Reductions over the row or set; A is the body's root (element scope). Each is a row of Reductions (ReductionTable.cs).
    ReduceSum, ReduceMax, ReduceLogSumExp, ReduceMin,
    Arg,        // A: a selecting reduction (Max, Min); the position of the element it chose (the first, on ties)

    // Order within the row or set (element scope, inside a reduction body).
    CumSum,     // A: the summand, B: the order key (both element functions); Σ A over the elements ranked at or before this
                // one when the row or set is sorted by B descending, ties in element order. A reads no reduction and no CumSum.

    // Nested reductions inside a row (element scope: one value per element of the enclosing reduction's body).
    NestedSum,  // A: the inner body; Σ_k A over the row's elements k, for the current (outer) element j. In A, Elem and
                // ElemIndex are the inner element k, OuterElem and OuterIndex the outer element j.
    OuterElem,  // Slot: span index; inside a NestedSum's body, the outer element j of that span
    OuterIndex, // inside a NestedSum's body, the outer element's position j

    // Reductions across the segments: the classes of a set loss (LossMath.SumOverClasses, …), the anchors of a pair loss
    // (SumOverAnchors). A is a per-segment value, Slot the op of its row of Reductions. One value per call (per image
    // with per-image sets), which every segment reads.
    Across,
}

/// <summary>What kind of value a node holds, which decides its C# type in emitted code.</summary>
public enum ValueKind { Real, Integer, Boolean }

public static class OpFacts
{
    public static bool IsLeaf(this Op op) => op <= Op.At || op is Op.OuterElem or Op.OuterIndex;

    public static bool IsReduction(this Op op) => Reductions.Of(op) is not null;

    public static bool IsPredicate(this Op op) => op is >= Op.Lt and <= Op.Not;

    /// <summary>Whether a node depends on the order of its row or set's elements (a running sum over a sort).</summary>
    public static bool IsOrdered(this Op op) => op == Op.CumSum;

    /// <summary>Whether a node is a reduction nested inside an element function (a sum over the row per element).</summary>
    public static bool IsNested(this Op op) => op == Op.NestedSum;

    /// <summary>The reduction table's row of a reduction across the segments (<see cref="Op.Across"/>).</summary>
    public static Reduction AcrossReduction(this Node n) => Reductions.Of((Op)n.Slot)!;

    public static bool IsCommutative(this Op op) => op is Op.Add or Op.Mul or Op.Eq or Op.Ne or Op.And or Op.Or;

    public static ValueKind KindOf(this Op op) => op switch
    {
        Op.Target or Op.ElemIndex or Op.Arg or Op.OuterIndex => ValueKind.Integer,
        _ when op.IsPredicate() => ValueKind.Boolean,
        _ => ValueKind.Real,
    };
}
