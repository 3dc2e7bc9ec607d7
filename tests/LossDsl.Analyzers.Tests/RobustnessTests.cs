using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Threading;
using LossDsl.Generator;
using LossDsl.Generator.Analyze;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Xunit;
using Xunit.Abstractions;

namespace LossDsl.Analyzers.Tests;

/// <summary>
/// Thousands of generated odd or malformed losses (random expression trees, unsupported syntax, empty bodies, huge
/// constants, bad signatures) through the generator and the analyzer: nothing throws, and every loss yields generated
/// code or at least one diagnostic.
/// </summary>
public class RobustnessTests(ITestOutputHelper output)
{
    private const int Count = 1500;

    [Fact]
    public void GeneratedLossesNeverCrashAndAlwaysAnswer()
    {
        var watch = Stopwatch.StartNew();
        var random = new Random(20240611);
        var names = new List<string>();
        var sources = new List<string>();
        const int perClass = 100;
        for (int c = 0; c * perClass < Count; c++)
        {
            var sb = new StringBuilder(Harness.Usings).AppendLine($"public static partial class C{c}\n{{");
            for (int m = 0; m < perClass && c * perClass + m < Count; m++)
            {
                string name = $"M{c * perClass + m}";
                names.Add($"C{c}.{name}");
                sb.AppendLine(new LossFuzzer(random).Loss(name));
            }
            sources.Add(sb.AppendLine("}").ToString());
        }

        var compilation = Harness.Compile(sources.ToArray());
        var driver = CSharpGeneratorDriver.Create(new[] { new LossGenerator().AsSourceGenerator() }, parseOptions: Harness.ParseOptions)
            .RunGenerators(compilation);
        var run = driver.GetRunResult();
        var generatorDiagnostics = run.Diagnostics;
        foreach (var r in run.Results) Assert.Null(r.Exception);
        var hints = new HashSet<string>(run.Results.SelectMany(r => r.GeneratedSources).Select(s => s.HintName.Replace(".g.cs", "")));
        var generatorSeconds = watch.Elapsed.TotalSeconds;

        int analyzed = 0, analyzerDiagnostics = 0, withCode = 0, withDiagnostics = 0;
        var silent = new List<string>();
        foreach (var tree in compilation.SyntaxTrees)
        {
            var model = compilation.GetSemanticModel(tree);
            // Generator diagnostics carry plain-data locations (path + span), not the tree itself.
            var diagnosticsInTree = generatorDiagnostics.Where(d => d.Location.GetLineSpan().Path == tree.FilePath).ToList();
            foreach (var method in tree.GetRoot().DescendantNodes().OfType<MethodDeclarationSyntax>())
            {
                string key = ((ClassDeclarationSyntax)method.Parent!).Identifier.ValueText + "." + method.Identifier.ValueText;
                var found = new List<Diagnostic>(diagnosticsInTree.Where(d => method.FullSpan.Contains(d.Location.SourceSpan)));
                if (model.GetDeclaredSymbol(method) is IMethodSymbol symbol)
                {
                    var attribute = symbol.GetAttributes().FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == "LossDsl.LossAttribute");
                    var list = new List<Diagnostic>();
                    LossAnalyzer.AnalyzeCore(method, symbol, attribute, model, 50_000, CancellationToken.None, list, out _);   // throws on any internal failure
                    analyzed++;
                    analyzerDiagnostics += list.Count;
                    found.AddRange(list);
                }
                bool code = hints.Contains(key);
                if (code) withCode++;
                if (found.Count > 0) withDiagnostics++;
                if (!code && found.Count == 0) silent.Add(key + ": " + method);
            }
        }
        output.WriteLine($"{Count} losses: {withCode} with generated code, {withDiagnostics} with diagnostics ({generatorDiagnostics.Length} from the generator, {analyzerDiagnostics} from the analyzer); generator {generatorSeconds:0.0} s, total {watch.Elapsed.TotalSeconds:0.0} s");
        Assert.Equal(Count, names.Count);
        Assert.True(analyzed > Count / 2);
        Assert.True(silent.Count == 0, string.Join("\n----\n", silent.Take(3)) + "\nHINTS: " + string.Join(",", hints.Take(5)));
    }
}

/// <summary>Random LossDsl-ish methods: mostly valid DSL, with a fraction of every kind of thing that is not.</summary>
internal sealed class LossFuzzer(Random random)
{
    private enum Kind { Elementwise1, Elementwise2, Row, Set }

    private Kind _kind;
    private readonly List<string> _locals = new();

    private T Pick<T>(params T[] items) => items[random.Next(items.Length)];

    private bool Chance(double p) => random.NextDouble() < p;

    public string Loss(string name)
    {
        _kind = Pick(Kind.Elementwise1, Kind.Elementwise2, Kind.Row, Kind.Set);
        _locals.Clear();
        string parameters = _kind switch
        {
            Kind.Elementwise1 => "float v",
            Kind.Elementwise2 => "float x, float y",
            Kind.Row => "ReadOnlySpan<float> z, int t",
            _ => "ReadOnlySpan<float> p, ReadOnlySpan<float> q",
        };
        parameters += ", float h = " + Literal();
        string attribute = _kind == Kind.Set ? "[Loss(Shape = LossShape.ChannelSet)]"
            : Pick("[Loss]", "[Loss]", "[Loss(Task = LossTask.BinaryLogit)]", "[Loss(Task = LossTask.BinaryProbability)]",
                   "[Loss(Require = Calibration.Proper)]", "[Loss(Task = LossTask.Multiclass, Require = Calibration.ClassificationCalibrated)]",
                   "[Loss(Shape = LossShape.ClassRow)]", "[Loss(Task = (LossTask)42)]");

        // Odd declarations.
        string modifiers = "public static partial";
        string returnType = "float";
        double odd = random.NextDouble();
        if (odd < 0.02) modifiers = "public static";
        else if (odd < 0.04) modifiers = "public partial";
        else if (odd < 0.06) returnType = Pick("double", "int", "void");
        else if (odd < 0.08) parameters = Pick("string s", "ref float x", "float a = 1f, float x", "params float[] xs", "int t, ReadOnlySpan<float> z", "");
        else if (odd < 0.09) name += "<T>";

        string body;
        double shape = random.NextDouble();
        if (shape < 0.03) body = Pick("{ }", "{ return; }", "{ float a = 1; }", ";", "{ return 1f; return 2f; }");
        else if (shape < 0.10) body = "=> " + Unsupported();
        else if (shape < 0.45)
        {
            var sb = new StringBuilder("{\n");
            int n = random.Next(1, 4);
            for (int i = 0; i < n; i++)
            {
                string local = "a" + i;
                string statement = Chance(0.08) ? Unsupported() : Expr(3);
                sb.AppendLine(Chance(0.05) ? $"        {Pick("if (true) { }", "for (;;) { }", "int k = 1;", "var w = 2f;", "float u;", "throw new Exception();", "x = 1;")}"
                                           : $"        float {local} = {statement};");
                _locals.Add(local);
            }
            sb.AppendLine($"        return {Expr(3)};\n    }}");
            body = sb.ToString();
        }
        else body = "=> " + Expr(random.Next(1, 6)) + ";";
        if (body.StartsWith("=> ", StringComparison.Ordinal) && !body.EndsWith(";", StringComparison.Ordinal)) body += ";";
        return $"    {attribute}\n    {modifiers} {returnType} {name}({parameters}) {body}";
    }

    private string Literal() => Pick("0f", "1f", "2f", "0.5f", "-1f", "1e38f", "3.4e38f", "1e-45f", "-0f", "1e-7f", "100f", "float.MaxValue", "float.Epsilon");

    private string Scalar()
    {
        var options = new List<string> { Literal(), "h" };
        options.AddRange(_locals);
        switch (_kind)
        {
            case Kind.Elementwise1: options.Add("v"); options.Add("v"); break;
            case Kind.Elementwise2: options.AddRange(new[] { "x", "y", "x" }); break;
            case Kind.Row: options.AddRange(new[] { "z[t]", "z.Length", "LogSoftmax(z, t)", "Softmax(z, t)", "LogSumExp(z)", "Max(z)" }); break;
            case Kind.Set: options.AddRange(new[] { "Sum(p)", "Mean(q)", "p.Length", "Sum(p, q, (a, b) => a * b)" }); break;
        }
        return options[random.Next(options.Count)];
    }

    private string Expr(int depth)
    {
        if (depth <= 0 || Chance(0.2)) return Scalar();
        string A() => Expr(depth - 1);
        switch (random.Next(14))
        {
            case 0: case 1: return $"{A()} {Pick("+", "-", "*", "/")} {A()}";
            case 2: return $"({A()})";
            case 3: return $"-{A()}";
            case 4: case 5: return $"{Pick("Log", "Exp", "Sqrt", "Abs", "Tanh", "Sigmoid", "Softplus", "LogSigmoid", "Square", "MathF.Log", "Math.Exp")}({A()})";
            case 6: return $"{Pick("Pow", "Max", "Min", "MathF.Max")}({A()}, {A()})";
            case 7: return $"Clamp({A()}, {A()}, {A()})";
            case 8: return $"{A()} {Pick("<", "<=", ">", ">=", "==", "!=")} {A()} ? {A()} : {A()}";
            case 9: return $"(float)({A()})";
            case 10:
                return _kind switch
                {
                    Kind.Row => $"{Pick("Sum", "Mean", "Max", "LogSumExp")}(z, e => {Lambda("e", depth - 1)})",
                    Kind.Set => $"{Pick("Sum", "Mean")}(p, q, (a, b) => {Lambda("a", depth - 1).Replace("e0", "b")})",
                    _ => $"Log(Sigmoid({A()}))",
                };
            case 11: return Chance(0.5) ? $"Log({Pick("1 - Sigmoid", "Sigmoid")}({A()}))" : $"Log(1 / (1 + Exp(-{A()})))";
            case 12: return Chance(0.3) ? Unsupported() : A();
            default: return $"{A()} * {Literal()}";
        }
    }

    private string Lambda(string parameter, int depth)
    {
        string e = Expr(Math.Max(0, depth - 1));
        return Chance(0.5) ? $"{parameter} * {e}" : $"Exp({parameter}) + {e}";
    }

    private string Unsupported() => Pick(
        "x++", "v % 2", "new float[3].Length", "Console.Read()", "checked(1 + 2)", "default", "typeof(int).Name.Length",
        "nameof(h).Length", "\"s\".Length", "(int)h", "h is float ? 1f : 0f", "h switch { _ => 1f }", "Math.Round(h)",
        "z[0]", "p[t]", "Sum(z, e => z[t])", "Softmax(z, 0)", "LogSumExp(z, e => { return e; })", "Sum(q)", "true ? 1f : 0f",
        "h << 1", "1f / 0f", "float.NaN", "float.PositiveInfinity * 0f", "Sum(z, (e, i) => e * i)", "Max(z, e => e * e)",
        "Log(Softmax(z, t))", "Log(Exp(z[t]) / Sum(z, e => Exp(e)))", "Sum(p, (a, b, c) => a)", "Unknown(1)", "x => x");
}
