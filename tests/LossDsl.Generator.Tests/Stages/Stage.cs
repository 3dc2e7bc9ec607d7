using System;
using System.Linq;
using System.Threading;
using LossDsl.Generator.Analyze;
using LossDsl.Generator.Differentiate;
using LossDsl.Generator.IR;
using LossDsl.Generator.Model;
using LossDsl.Generator.Parse;
using LossDsl.Generator.Schedule;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LossDsl.Generator.Tests.Stages;

/// <summary>
/// Runs one stage of the pipeline at a time, on a loss written as source: the parse stage through the real Roslyn
/// semantic model (no generator driver); the tests then call each stage (<see cref="Differentiator"/>, <see cref="Scheduler"/>) on its input.
/// Values come from <see cref="IrEvaluator"/>, the IR's double-precision interpreter; the tests compare them with
/// formulas written out in C# or with central finite differences, never with another output of the generator.
/// </summary>
internal static class Stage
{
    /// <summary>The Roslyn pieces of a <c>[Loss]</c> method that the parse stage's entry points take.</summary>
    public sealed record Declared(MethodDeclarationSyntax Syntax, IMethodSymbol Method, AttributeData Attribute, SemanticModel Model);

    /// <summary>Compiles <paramref name="members"/> (class members of a static partial class L, usings added) and finds its one <c>[Loss]</c> method.</summary>
    public static Declared Declare(string members)
    {
        var source = GeneratorHarness.Usings + "public static partial class L\n{\n" + members + "\n}\n";
        var compilation = GeneratorHarness.Compile(source);
        var tree = compilation.SyntaxTrees.Single();
        var model = compilation.GetSemanticModel(tree);
        var syntax = tree.GetRoot().DescendantNodes().OfType<MethodDeclarationSyntax>()
            .Single(m => m.AttributeLists.SelectMany(a => a.Attributes).Any(a => a.Name.ToString() is "Loss"));
        var method = (IMethodSymbol)model.GetDeclaredSymbol(syntax)!;
        var attribute = method.GetAttributes().Single(a => a.AttributeClass?.ToDisplayString() == LossParser.AttributeName);
        return new Declared(syntax, method, attribute, model);
    }

    /// <summary>Parses the one <c>[Loss]</c> method of <paramref name="members"/> with <see cref="LossParser"/>.</summary>
    public static LossModel Parse(string members)
    {
        var d = Declare(members);
        return LossParser.Parse(d.Syntax, d.Method, d.Attribute, d.Model, CancellationToken.None);
    }

    /// <summary>Parses and asserts that the body lowered without diagnostics of error severity.</summary>
    public static LossModel ParseOk(string members)
    {
        var m = Parse(members);
        Xunit.Assert.True(m.Forward is not null, "the body did not lower: " + string.Join("; ", m.Diagnostics.Select(d => d.Id + " " + string.Join(",", d.Arguments))));
        return m;
    }

    /// <summary>The data one evaluation reads.</summary>
    public sealed record Data(double[][] Spans, double[] Targets, double[] Inputs, double[] Hypers)
    {
        public static Data Rows(params double[][] spans) => new(spans, Array.Empty<double>(), Array.Empty<double>(), Array.Empty<double>());

        public Data With(double[]? targets = null, double[]? inputs = null, double[]? hypers = null)
            => new(Spans, targets ?? Targets, inputs ?? Inputs, hypers ?? Hypers);

        public Data Copy() => new(Spans.Select(s => (double[])s.Clone()).ToArray(), Targets, (double[])Inputs.Clone(), Hypers);
    }

    /// <summary>The value of an outer-scope node of <paramref name="g"/> for <paramref name="data"/>.</summary>
    public static double Value(Graph g, int node, Data data)
    {
        var e = Evaluator(g, data, node);
        e.Run();
        return e.Value(node);
    }

    /// <summary>The per-element values of an element-scope node (one per element of span 0); an outer node is broadcast.</summary>
    public static double[] Elements(Graph g, int node, Data data)
    {
        var e = Evaluator(g, data, node);
        e.Run();
        var result = new double[data.Spans[0].Length];
        e.ElementValues(node, result);
        return result;
    }

    private static IrEvaluator Evaluator(Graph g, Data data, int node)
        => new(g, node) { Spans = data.Spans, Targets = data.Targets, Inputs = data.Inputs, Hypers = data.Hypers };

    /// <summary>Central difference of the loss along element <paramref name="j"/> of span <paramref name="slot"/>, in float64.</summary>
    public static double FiniteDifference(Graph g, int loss, Data data, int j, int slot = 0, double h = 1e-6)
    {
        var plus = data.Copy(); plus.Spans[slot][j] += h;
        var minus = data.Copy(); minus.Spans[slot][j] -= h;
        return (Value(g, loss, plus) - Value(g, loss, minus)) / (2 * h);
    }

    /// <summary>Central difference of the loss along scalar input <paramref name="slot"/>, in float64.</summary>
    public static double FiniteDifferenceInput(Graph g, int loss, Data data, int slot, double h = 1e-6)
    {
        var plus = data.Copy(); plus.Inputs[slot] += h;
        var minus = data.Copy(); minus.Inputs[slot] -= h;
        return (Value(g, loss, plus) - Value(g, loss, minus)) / (2 * h);
    }

    public static double[] Random(int seed, int n, double scale = 2)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => scale * (2 * rng.NextDouble() - 1)).ToArray();
    }

    /// <summary>Asserts |actual − expected| ≤ atol + rtol·|expected|, with both finite.</summary>
    public static void Near(double expected, double actual, double rtol = 1e-6, double atol = 1e-9, string what = "")
    {
        Xunit.Assert.True(double.IsFinite(expected) && double.IsFinite(actual), $"{what}: non-finite (expected {expected}, got {actual})");
        Xunit.Assert.True(Math.Abs(actual - expected) <= atol + rtol * Math.Abs(expected), $"{what}: expected {expected:R}, got {actual:R}");
    }
}
