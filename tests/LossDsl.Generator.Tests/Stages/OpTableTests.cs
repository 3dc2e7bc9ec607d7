using System;
using System.Collections.Generic;
using System.Linq;
using LossDsl.Generator.Analyze;
using LossDsl.Generator.IR;
using Xunit;
using static LossDsl.Generator.Tests.Stages.Stage;

namespace LossDsl.Generator.Tests.Stages;

/// <summary>
/// Each row of the op table on its own: its value against System.Math, its derivative rule (built into a graph and
/// interpreted) against a float64 central difference of its value, and its interval rule against sampled values.
/// </summary>
public class OpTableTests
{
    public static IEnumerable<object[]> Unary => OpTable.AllUnary.Select(f => new object[] { f.Name });

    public static IEnumerable<object[]> Binary => OpTable.AllBinary.Select(f => new object[] { f.Name });

    /// <summary>Points inside each function's domain, away from kinks (Abs at 0).</summary>
    private static double[] Points(string name) => name switch
    {
        "Log" or "Sqrt" => new[] { 1e-3, 0.07, 0.5, 1.0, 3.7, 250.0 },
        "Log1P" => new[] { -0.9, -1e-3, 1e-9, 2e-3, 0.6, 3.3, 25.0 },
        _ => new[] { -30.0, -4.2, -0.9, -1e-3, 2e-3, 0.6, 3.3, 25.0 },
    };

    private static readonly Dictionary<string, Func<double, double>> s_reference = new()
    {
        ["Exp"] = Math.Exp, ["Log"] = Math.Log, ["Sqrt"] = Math.Sqrt, ["Abs"] = Math.Abs, ["Tanh"] = Math.Tanh,
        ["Sigmoid"] = x => 1 / (1 + Math.Exp(-x)),
        ["Softplus"] = x => Math.Max(x, 0) + Log1PExp(-Math.Abs(x)),
        ["LogSigmoid"] = x => Math.Min(x, 0) - Log1PExp(-Math.Abs(x)),
        ["StopGradient"] = x => x,
        ["Erf"] = LibmErf, ["Log1P"] = LibmLog1P, ["Expm1"] = LibmExpm1, ["Cos"] = Math.Cos, ["Sin"] = Math.Sin, ["Atan"] = Math.Atan,
    };

    // glibc's erf, log1p and expm1 (within 1 ulp): the references for the op table's own double-precision rows.
    [System.Runtime.InteropServices.DllImport("libm.so.6", EntryPoint = "erf")]
    private static extern double LibmErf(double x);

    [System.Runtime.InteropServices.DllImport("libm.so.6", EntryPoint = "log1p")]
    private static extern double LibmLog1P(double x);

    [System.Runtime.InteropServices.DllImport("libm.so.6", EntryPoint = "expm1")]
    private static extern double LibmExpm1(double x);

    /// <summary>log(1 + eᵘ) for u ≤ 0: its Taylor series where 1 + eᵘ would round (eᵘ < 1e-5), else System.Math.</summary>
    private static double Log1PExp(double u)
    {
        double e = Math.Exp(u);
        return e < 1e-5 ? e - e * e / 2 + e * e * e / 3 : Math.Log(1 + e);
    }

    [Theory, MemberData(nameof(Unary))]
    public void UnaryValueMatchesSystemMath(string name)
    {
        var f = OpTable.Unary(name)!;
        Assert.True(s_reference.ContainsKey(name), $"{name} has no reference here: add one");
        foreach (var x in Points(name)) Near(s_reference[name](x), f.Eval(x), rtol: 1e-13, atol: 1e-300, what: $"{name}({x})");
    }

    [Theory, MemberData(nameof(Unary))]
    public void UnaryDerivativeMatchesFiniteDifferences(string name)
    {
        var f = OpTable.Unary(name)!;
        var b = new GraphBuilder();
        int x = b.Leaf(Op.Input, 0);
        int y = b.Unary(f.Op, x);
        int dy = f.Derivative(b, y, x, b.Const(1));
        var g = b.ToGraph();
        foreach (var p in Points(name))
        {
            var data = new Data(Array.Empty<double[]>(), Array.Empty<double>(), new[] { p }, Array.Empty<double>());
            double symbolic = Value(g, dy, data);
            if (f.Op == Op.StopGradient) { Assert.Equal(0.0, symbolic); continue; }
            double h = 1e-6 * Math.Max(1, Math.Abs(p)) * (name is "Log" or "Sqrt" ? Math.Min(1, p) : 1);
            double fd = (f.Eval(p + h) - f.Eval(p - h)) / (2 * h);
            Near(fd, symbolic, rtol: 1e-6, atol: 1e-9, what: $"d{name}/dx at {p}");
        }
    }

    [Theory, MemberData(nameof(Unary))]
    public void UnaryIntervalRuleContainsEverySampledValue(string name)
    {
        var f = OpTable.Unary(name)!;
        var rng = new Random(name.Aggregate(17, (h, c) => h * 31 + c));   // the same in every run (string.GetHashCode is not)
        foreach (var (lo, hi) in Intervals(name, rng))
        {
            var image = f.Range(new Interval(lo, hi));
            for (int k = 0; k <= 64; k++)
            {
                double x = Math.Clamp(lo + (hi - lo) * k / 64.0, lo, hi);
                double v = f.Eval(x);
                if (!double.IsFinite(v)) continue;   // intervals bound real values; log(0) = −∞ is the open end
                Assert.True(image.Contains(v), $"{name}({x}) = {v} is outside {image}, its rule's image of [{lo}, {hi}]");
            }
        }
    }

    private static IEnumerable<(double, double)> Intervals(string name, Random rng)
    {
        bool positive = name is "Log" or "Sqrt";
        for (int i = 0; i < 40; i++)
        {
            double a = positive ? Math.Exp(8 * rng.NextDouble() - 5) : 40 * rng.NextDouble() - 20;
            double c = positive ? Math.Exp(8 * rng.NextDouble() - 5) : 40 * rng.NextDouble() - 20;
            yield return (Math.Min(a, c), Math.Max(a, c));
        }
        yield return positive ? (0.0, 1.0) : (-1.0, 1.0);
    }

    private static readonly (double A, double C)[] s_binaryPoints = { (0.4, 2.5), (1.7, 0.3), (3.0, -1.2), (0.9, 1.1), (2.2, 2.2 + 1e-3) };

    [Theory, MemberData(nameof(Binary))]
    public void BinaryDerivativeMatchesFiniteDifferencesInEachOperand(string name)
    {
        var f = OpTable.Binary(name)!;
        var b = new GraphBuilder();
        int a = b.Leaf(Op.Input, 0), c = b.Leaf(Op.Input, 1);
        int y = b.Binary(f.Op, a, c);
        int da = f.Derivative(b, y, a, c, b.Const(1), b.Const(0));
        int dc = f.Derivative(b, y, a, c, b.Const(0), b.Const(1));
        var g = b.ToGraph();
        foreach (var (pa, pc) in s_binaryPoints)
        {
            var data = new Data(Array.Empty<double[]>(), Array.Empty<double>(), new[] { pa, pc }, Array.Empty<double>());
            const double h = 1e-6;
            Near((f.Eval(pa + h, pc) - f.Eval(pa - h, pc)) / (2 * h), Value(g, da, data), rtol: 1e-6, atol: 1e-8, what: $"∂{name}/∂a at ({pa}, {pc})");
            Near((f.Eval(pa, pc + h) - f.Eval(pa, pc - h)) / (2 * h), Value(g, dc, data), rtol: 1e-6, atol: 1e-8, what: $"∂{name}/∂c at ({pa}, {pc})");
        }
    }

    [Theory, MemberData(nameof(Binary))]
    public void BinaryIntervalRuleContainsEverySampledValue(string name)
    {
        var f = OpTable.Binary(name)!;
        var rng = new Random(7);
        for (int i = 0; i < 60; i++)
        {
            // Pow: a positive base (a negative base with a fractional exponent is NaN, skipped below anyway).
            double a1 = name == "Pow" ? 4 * rng.NextDouble() : 10 * rng.NextDouble() - 5, a2 = name == "Pow" ? 4 * rng.NextDouble() : 10 * rng.NextDouble() - 5;
            double c1 = 6 * rng.NextDouble() - 3, c2 = 6 * rng.NextDouble() - 3;
            var ia = new Interval(Math.Min(a1, a2), Math.Max(a1, a2));
            var ic = new Interval(Math.Min(c1, c2), Math.Max(c1, c2));
            var image = f.Range(ia, ic);
            for (int p = 0; p <= 16; p++)
                for (int q = 0; q <= 16; q++)
                {
                    double x = Math.Clamp(ia.Lo + (ia.Hi - ia.Lo) * p / 16, ia.Lo, ia.Hi), z = Math.Clamp(ic.Lo + (ic.Hi - ic.Lo) * q / 16, ic.Lo, ic.Hi);
                    double v = f.Eval(x, z);
                    if (double.IsNaN(v)) continue;
                    Assert.True(image.Contains(v), $"{name}({x}, {z}) = {v} is outside {image}, its rule's image of {ia} × {ic}");
                }
        }
    }

    [Fact]
    public void EveryRowHasAPrintedFormATorchSpellingAndAUniqueName()
    {
        var names = OpTable.AllUnary.Select(f => f.Name).Concat(OpTable.AllBinary.Select(f => f.Name)).ToList();
        Assert.Equal(names.Count, names.Distinct().Count());
        foreach (var f in OpTable.AllUnary)
        {
            Assert.False(string.IsNullOrEmpty(f.Printed));
            Assert.Contains("{0}", f.Torch);
            Assert.Same(f, OpTable.Unary(f.Op));
            Assert.Same(f, OpTable.Unary(f.Name));
        }
        foreach (var f in OpTable.AllBinary)
        {
            Assert.Contains("{0}", f.Torch);
            Assert.Contains("{1}", f.Torch);
            Assert.Same(f, OpTable.Binary(f.Op));
            Assert.Same(f, OpTable.Binary(f.Name));
        }
    }
}
