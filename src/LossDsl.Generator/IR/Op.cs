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
}

/// <summary>What kind of value a node holds, which decides its C# type in emitted code.</summary>
public enum ValueKind { Real, Integer, Boolean }

public static class OpFacts
{
    public static bool IsLeaf(this Op op) => op <= Op.At;

    public static bool IsReduction(this Op op) => Reductions.Of(op) is not null;

    public static bool IsPredicate(this Op op) => op is >= Op.Lt and <= Op.Not;

    /// <summary>Whether a node depends on the order of its row or set's elements (a running sum over a sort).</summary>
    public static bool IsOrdered(this Op op) => op == Op.CumSum;

    public static bool IsCommutative(this Op op) => op is Op.Add or Op.Mul or Op.Eq or Op.Ne or Op.And or Op.Or;

    public static ValueKind KindOf(this Op op) => op switch
    {
        Op.Target or Op.ElemIndex or Op.Arg => ValueKind.Integer,
        _ when op.IsPredicate() => ValueKind.Boolean,
        _ => ValueKind.Real,
    };
}
