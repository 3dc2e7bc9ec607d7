using System;
using System.Collections.Generic;
using System.Linq;

namespace LossDsl.Generator.IR;

/// <summary>
/// One elementary function of the IR, described once for every stage.
/// </summary>
/// <param name="Op">Its IR op.</param>
/// <param name="Name">Its name in a loss body (a <c>LossDsl.LossMath</c> method) and in the generated kernels
/// (<c>LossKernelMath</c> and the vector math implement each one under this name).</param>
/// <param name="InSystemMath">Whether <c>Math.Name</c> and <c>MathF.Name</c> are accepted too.</param>
/// <param name="Eval">Its value in double precision: constant folding and the analyzers' evaluator.</param>
/// <param name="Folds">Where a constant operand may be folded (its domain).</param>
/// <param name="Derivative">d f(a) given the node <c>i</c> = f(a), the operand <c>a</c> and its derivative <c>da</c>.</param>
/// <param name="Range">Its interval rule: a sound image of an operand interval.</param>
/// <param name="Printed">How derivation comments print it.</param>
/// <param name="Torch">Its TorchSharp spelling, <c>{0}</c> the operand.</param>
/// <param name="TorchInPlace">Its in-place TorchSharp spelling, or null when there is none.</param>
/// <param name="TorchAliases">Whether its TorchSharp spelling returns a view of the operand's storage (e.g. <c>detach()</c>),
/// which the torch-ops emitter must never overwrite in place.</param>
public sealed record UnaryFunction(
    Op Op,
    string Name,
    bool InSystemMath,
    Func<double, double> Eval,
    Func<double, bool> Folds,
    Func<GraphBuilder, int, int, int, int> Derivative,
    Func<Interval, Interval> Range,
    string Printed,
    string Torch,
    string? TorchInPlace,
    bool TorchAliases = false);

/// <summary>
/// One elementary function of two operands (Pow, Max, Min), described once for every stage.
/// </summary>
/// <param name="Op">Its IR op.</param>
/// <param name="Name">Its name in a loss body and in the generated kernels, as for <see cref="UnaryFunction"/>.</param>
/// <param name="InSystemMath">Whether <c>Math.Name</c> and <c>MathF.Name</c> are accepted too.</param>
/// <param name="Eval">Its value in double precision: constant folding and the analyzers' evaluator.</param>
/// <param name="Derivative">d f(a, c) given the node <c>i</c> = f(a, c), the operands and their derivatives <c>da</c>, <c>dc</c>.</param>
/// <param name="Range">Its interval rule.</param>
/// <param name="Printed">How derivation comments print it, <c>{0}</c> and <c>{1}</c> the operands.</param>
/// <param name="Precedence">The precedence of the printed form (9: a function call), and the one its operands are printed at.</param>
/// <param name="Torch">Its torch-ops spelling, <c>{0}</c> and <c>{1}</c> the operands (at least one a tensor): a <c>TorchFrame</c>
/// method, which takes a number operand as a Scalar it keeps alive across the native call.</param>
/// <param name="TorchInPlace">Its spelling that overwrites a tensor first operand when <c>f.InPlace</c>, <c>{0}</c> and <c>{1}</c> the
/// operands, or null.</param>
public sealed record BinaryFunction(
    Op Op,
    string Name,
    bool InSystemMath,
    Func<double, double, double> Eval,
    Func<GraphBuilder, int, int, int, int, int, int> Derivative,
    Func<Interval, Interval, Interval> Range,
    string Printed,
    (int Self, int Operands) Precedence,
    string Torch,
    string? TorchInPlace);

/// <summary>
/// The op table: the elementary functions a loss body can call, each described in one place. Parsing, constant
/// folding, differentiation, interval analysis, evaluation, printing and the torch-ops emitter read it. Adding an
/// elementary function is a row here, an <see cref="Op"/>, and its implementations in <c>LossMath</c> (the C#
/// reference) and <c>LossKernelMath</c> (scalar and vector kernels).
/// </summary>
public static class OpTable
{
    private static readonly Func<double, bool> Everywhere = _ => true;

    public static double Sigmoid(double x) => x >= 0 ? 1 / (1 + Math.Exp(-x)) : Math.Exp(x) / (1 + Math.Exp(x));

    public static double Softplus(double x) => Math.Max(x, 0) + Log1P(Math.Exp(-Math.Abs(x)));

    /// <summary>log(1 + x), accurate near 0 (to about 2^-50 relative).</summary>
    public static double Log1P(double x) => Math.Abs(x) < 1e-4 ? x - x * x / 2 + x * x * x / 3 - x * x * x * x / 4 : Math.Log(1 + x);

    /// <summary>e^x − 1, accurate near 0 (to about 2^-50 relative).</summary>
    public static double Expm1(double x) => Math.Abs(x) < 1e-4 ? x + x * x / 2 + x * x * x / 6 + x * x * x * x / 24 : Math.Exp(x) - 1;

    /// <summary>erf's image of an interval: the series is monotone only to within its rounding, so the image of the end
    /// points is widened by a few ulps, inside [−1, 1].</summary>
    private static Interval ErfRange(Interval a)
    {
        var m = Interval.Monotone(a, Erf, -1, 1);
        return new Interval(Math.Max(-1, m.Lo - 1e-15 * Math.Abs(m.Lo)), Math.Min(1, m.Hi + 1e-15 * Math.Abs(m.Hi)), m.LoOpen, m.HiOpen);
    }

    /// <summary>erf in double precision (the series <c>LossDsl.ErfSeries</c>, shared with LossMath).</summary>
    public static double Erf(double x) => ErfSeries.Erf(x);

    private const double TwoOverSqrtPi = 1.1283791670955126;

    private static UnaryFunction Monotone(Op op, string name, bool inSystemMath, Func<double, double> eval, double atMinusInf, double atPlusInf,
        Func<GraphBuilder, int, int, int, int> derivative, string printed, string torch, string? torchInPlace)
        => new(op, name, inSystemMath, eval, Everywhere, derivative, a => Interval.Monotone(a, eval, atMinusInf, atPlusInf), printed, torch, torchInPlace);

    /// <summary>sin or cos of an interval: the image of the monotone piece it lies in, else [−1, 1].</summary>
    private static Interval Periodic(Interval a, Func<double, double> f, double phase)
    {
        // f(x) = sin(x + phase): monotone between consecutive extrema at x + phase = π/2 + kπ.
        if (double.IsInfinity(a.Lo) || double.IsInfinity(a.Hi) || a.Hi - a.Lo >= Math.PI) return new Interval(-1, 1, false, false);
        double k = Math.Floor((a.Lo + phase - Math.PI / 2) / Math.PI);
        double nextExtremum = Math.PI / 2 + (k + 1) * Math.PI - phase;
        if (a.Hi >= nextExtremum) return new Interval(-1, 1, false, false);
        double lo = f(a.Lo), hi = f(a.Hi);
        return lo <= hi ? new Interval(lo, hi, a.LoOpen, a.HiOpen) : new Interval(hi, lo, a.HiOpen, a.LoOpen);
    }

    private static readonly UnaryFunction[] s_unary =
    {
        Monotone(Op.Exp, "Exp", true, Math.Exp, 0, double.PositiveInfinity,
            (b, i, a, da) => b.Mul(i, da),                                              // (eᵃ)' = eᵃ
            "exp", "{0}.exp()", "{0}.exp_()"),
        new(Op.Log, "Log", true, Math.Log, c => c > 0,
            (b, i, a, da) => b.Div(da, a),                                              // (log a)' = 1/a
            a =>
            {
                if (a.Hi < 0 || (a.Hi == 0 && a.HiOpen)) return Interval.Real;
                double lo = a.Lo <= 0 ? double.NegativeInfinity : Math.Log(a.Lo);
                return new Interval(lo, Math.Log(a.Hi), a.LoOpen, a.HiOpen);
            },
            "log", "{0}.log()", "{0}.log_()"),
        new(Op.Sqrt, "Sqrt", true, Math.Sqrt, c => c >= 0,
            (b, i, a, da) => b.Div(da, b.Mul(b.Const(2), i)),                           // (√a)' = 1/(2√a)
            a => a.Hi < 0 ? Interval.Real
                : a.Lo < 0 ? new Interval(0, Math.Sqrt(a.Hi), false, a.HiOpen)
                : new Interval(Math.Sqrt(a.Lo), Math.Sqrt(a.Hi), a.LoOpen, a.HiOpen),
            "sqrt", "{0}.sqrt()", "{0}.sqrt_()"),
        new(Op.Abs, "Abs", true, Math.Abs, Everywhere,
            // |a|' = sign(a), with sign(0) = 0
            (b, i, a, da) => b.Select(b.Binary(Op.Gt, a, b.Const(0)), da, b.Select(b.Binary(Op.Lt, a, b.Const(0)), b.Neg(da), b.Const(0))),
            a =>
            {
                if (a.Lo >= 0) return a;
                if (a.Hi <= 0) return Interval.Neg(a);
                double hi = Math.Max(-a.Lo, a.Hi);
                bool hiOpen = (-a.Lo == hi ? a.LoOpen : true) && (a.Hi == hi ? a.HiOpen : true);
                return new Interval(0, hi, false, hiOpen);
            },
            "abs", "{0}.abs()", "{0}.abs_()"),
        Monotone(Op.Tanh, "Tanh", true, Math.Tanh, -1, 1,
            (b, i, a, da) => b.Mul(b.Sub(b.Const(1), b.Mul(i, i)), da),                 // (tanh a)' = 1 − tanh²a
            "tanh", "{0}.tanh()", "{0}.tanh_()"),
        Monotone(Op.Sigmoid, "Sigmoid", false, Sigmoid, 0, 1,
            (b, i, a, da) => b.Mul(b.Mul(i, b.Sub(b.Const(1), i)), da),                 // σ' = σ(1 − σ)
            "σ", "{0}.sigmoid()", "{0}.sigmoid_()"),
        Monotone(Op.Softplus, "Softplus", false, Softplus, 0, double.PositiveInfinity,
            (b, i, a, da) => b.Mul(b.Unary(Op.Sigmoid, a), da),                         // softplus' = σ
            "softplus", "f.Softplus({0})", null),
        Monotone(Op.LogSigmoid, "LogSigmoid", false, x => -Softplus(-x), double.NegativeInfinity, 0,
            (b, i, a, da) => b.Mul(b.Unary(Op.Sigmoid, b.Neg(a)), da),                  // (log σ)' = σ(−a)
            "logσ", "global::TorchSharp.torch.nn.functional.logsigmoid({0})", null),
        new(Op.StopGradient, "StopGradient", false, x => x, Everywhere,
            (b, i, a, da) => b.Const(0),                                                // no gradient flows through it
            a => a,
            "sg", "{0}.detach()", null, TorchAliases: true),
        new(Op.Erf, "Erf", false, Erf, Everywhere,
            (b, i, a, da) => b.Mul(b.Mul(b.Const(TwoOverSqrtPi), b.Unary(Op.Exp, b.Neg(b.Mul(a, a)))), da),   // erf' = 2/√π e^(−a²)
            ErfRange,
            "erf", "{0}.erf()", "{0}.erf_()"),
        new(Op.Log1P, "Log1P", false, Log1P, c => c > -1,
            (b, i, a, da) => b.Div(da, b.Add(b.Const(1), a)),                           // (log(1 + a))' = 1/(1 + a)
            a =>
            {
                if (a.Hi < -1 || (a.Hi == -1 && a.HiOpen)) return Interval.Real;
                double lo = a.Lo <= -1 ? double.NegativeInfinity : Log1P(a.Lo);
                return new Interval(lo, Log1P(a.Hi), a.LoOpen, a.HiOpen);
            },
            "log1p", "{0}.log1p()", "{0}.log1p_()"),
        Monotone(Op.Expm1, "Expm1", false, Expm1, -1, double.PositiveInfinity,
            (b, i, a, da) => b.Mul(b.Unary(Op.Exp, a), da),                             // (eᵃ − 1)' = eᵃ
            "expm1", "{0}.expm1()", "{0}.expm1_()"),
        new(Op.Cos, "Cos", true, Math.Cos, Everywhere,
            (b, i, a, da) => b.Neg(b.Mul(b.Unary(Op.Sin, a), da)),                      // cos' = −sin
            a => Periodic(a, Math.Cos, Math.PI / 2),
            "cos", "{0}.cos()", "{0}.cos_()"),
        new(Op.Sin, "Sin", true, Math.Sin, Everywhere,
            (b, i, a, da) => b.Mul(b.Unary(Op.Cos, a), da),                             // sin' = cos
            a => Periodic(a, Math.Sin, 0),
            "sin", "{0}.sin()", "{0}.sin_()"),
        Monotone(Op.Atan, "Atan", true, Math.Atan, -Math.PI / 2, Math.PI / 2,
            (b, i, a, da) => b.Div(da, b.Add(b.Const(1), b.Mul(a, a))),                 // atan' = 1/(1 + a²)
            "atan", "{0}.atan()", "{0}.atan_()"),
    };

    private static readonly BinaryFunction[] s_binary =
    {
        new(Op.Pow, "Pow", true, Math.Pow,
            (b, i, a, c, da, dc) =>
            {
                // An exponent that does not vary: c·a^(c−1)·a', finite at a = 0 for c ≥ 1. A runtime exponent may be 0,
                // where the derivative is 0 (not 0·a^−1 = NaN at a = 0).
                // a' = a·r (σ' = σ(1 − σ)·u', e' = e·u'): c·a^(c−1)·a·r = c·aᶜ·r, the power itself reused: no second power,
                // and finite where a underflows to 0 (c·0^(c−1)·0 is NaN for c < 1).
                if (b.IsConst(dc, out var dcv) && dcv == 0 && b.TryDivideOut(da, a, out int r))
                    return b.Mul(b.Mul(c, i), r);
                if (b.IsConst(dc, out dcv) && dcv == 0)
                {
                    int power = b.Mul(b.Mul(c, b.Binary(Op.Pow, a, b.Sub(c, b.Const(1)))), da);
                    return b.IsConst(c, out _) ? power : b.Select(b.Binary(Op.Eq, c, b.Const(0)), b.Const(0), power);
                }
                return b.Mul(i, b.Add(b.Mul(dc, b.Unary(Op.Log, a)), b.Div(b.Mul(c, da), a)));   // (aᶜ)' = aᶜ (c' ln a + c a'/a)
            },
            Interval.Pow, "{0}^{1}", (4, 4),
            "f.Pow({0}, {1})",
            "f.Pow({0}, {1}, overwrite: f.InPlace)"),
        new(Op.Max, "Max", true, (a, c) => a >= c ? a : c,
            (b, i, a, c, da, dc) => b.Select(b.Binary(Op.Ge, a, c), da, dc),            // ties send the gradient to a
            (a, c) => Interval.MaxMin(a, c, max: true), "max({0}, {1})", (9, 0),
            "f.Maximum({0}, {1})",
            null),
        new(Op.Min, "Min", true, (a, c) => a <= c ? a : c,
            (b, i, a, c, da, dc) => b.Select(b.Binary(Op.Le, a, c), da, dc),
            (a, c) => Interval.MaxMin(a, c, max: false), "min({0}, {1})", (9, 0),
            "f.Minimum({0}, {1})",
            null),
    };

    private static readonly Dictionary<Op, BinaryFunction> s_binaryByOp = s_binary.ToDictionary(f => f.Op);
    private static readonly Dictionary<string, BinaryFunction> s_binaryByName = s_binary.ToDictionary(f => f.Name);

    /// <summary>The two-operand elementary function of <paramref name="op"/>, or null when it is not one.</summary>
    public static BinaryFunction? Binary(Op op) => s_binaryByOp.TryGetValue(op, out var f) ? f : null;

    /// <summary>The two-operand elementary function a loss body calls by <paramref name="name"/>, or null.</summary>
    public static BinaryFunction? Binary(string name) => s_binaryByName.TryGetValue(name, out var f) ? f : null;

    /// <summary>Every two-operand elementary function.</summary>
    public static IReadOnlyList<BinaryFunction> AllBinary => s_binary;

    private static readonly Dictionary<Op, UnaryFunction> s_byOp = s_unary.ToDictionary(f => f.Op);
    private static readonly Dictionary<string, UnaryFunction> s_byName = s_unary.ToDictionary(f => f.Name);

    /// <summary>The elementary function of <paramref name="op"/>, or null when it is not one.</summary>
    public static UnaryFunction? Unary(Op op) => s_byOp.TryGetValue(op, out var f) ? f : null;

    /// <summary>The elementary function a loss body calls by <paramref name="name"/>, or null.</summary>
    public static UnaryFunction? Unary(string name) => s_byName.TryGetValue(name, out var f) ? f : null;

    /// <summary>Every elementary function.</summary>
    public static IReadOnlyList<UnaryFunction> AllUnary => s_unary;
}
