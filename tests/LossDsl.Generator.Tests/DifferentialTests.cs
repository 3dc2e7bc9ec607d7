using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.Loader;
using System.Text;
using LossDsl.Runtime;
using Microsoft.CodeAnalysis;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LossDsl.Generator.Tests;

/// <summary>
/// Differential testing of the whole compiler: random, well-typed loss bodies (elementwise and class-row; the intrinsics,
/// conditionals, reductions with indexed element functions, row entries, hyperparameters, at random depths) go
/// through the real generator in process, are compiled and loaded, and run on random inputs, including large ones. Each
/// generated loss's value and gradient are compared, on every backend (the fused CPU path, the ILGPU kernels on ILGPU's CPU
/// accelerator, the torch-ops form) under one reduction per program (None with a random upstream gradient, Sum, Mean; row
/// programs with ignored rows), with:
/// (a) TorchSharp autograd on a composition of the same tree, built by this file's own translator; and
/// (b) float64 central finite differences of that composition.
/// A failure is shrunk to its smallest failing subtree and printed as source, ready to keep as a regression test.
/// CI runs <see cref="Programs"/> programs; LOSSDSL_DIFFERENTIAL_PROGRAMS sets another count (README, Testing).
/// </summary>
public class DifferentialTests(ITestOutputHelper output)
{
    /// <summary>Programs per CI run, split into compilations of <see cref="Batch"/> losses.</summary>
    private static int Programs => int.TryParse(Environment.GetEnvironmentVariable("LOSSDSL_DIFFERENTIAL_PROGRAMS"), out var n) && n > 0 ? n : 240;

    private const int Batch = 40;

    [Fact]
    public void RandomLossesAgreeWithAutogradAndFiniteDifferences()
    {
        int programs = Programs, failures = 0, checkedPrograms = 0, undefinedPrograms = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int first = 0; first < programs; first += Batch)
        {
            var losses = Enumerable.Range(first, Math.Min(Batch, programs - first)).Select(i => RandomLoss.Create(i)).ToList();
            var assembly = Compile(losses);
            foreach (var loss in losses)
            {
                var problem = Check(assembly, loss, out bool undefined);
                checkedPrograms++;
                if (problem is null) continue;
                if (undefined)
                {
                    // Reported and counted, not compared: there is no finite reference to compare with.
                    undefinedPrograms++;
                    output.WriteLine($"program {loss.Seed} {problem}: {loss.Source()}");
                    continue;
                }
                failures++;
                var smallest = Shrink(loss, problem);
                output.WriteLine($"program {loss.Seed} fails: {problem}\nsmallest failing form:\n{smallest.Source()}\n");
                if (failures >= 3) break;
            }
            if (failures >= 3) break;
        }
        output.WriteLine($"{checkedPrograms} programs checked in {clock.Elapsed.TotalSeconds:F0} s, {failures} failing, {undefinedPrograms} undefined at their inputs (not finite in float64).");
        Assert.True(failures == 0, $"{failures} random programs disagree with the references; see the test output for their smallest forms.");
        // A generator of programs that are mostly undefined would test little: at most one in ten may be.
        Assert.True(undefinedPrograms * 10 <= checkedPrograms, $"{undefinedPrograms} of {checkedPrograms} programs are not finite at their inputs.");
    }

    /// <summary>
    /// Programs this suite found failing, kept as regressions:
    /// 332: `LogSigmoid(h) > h ? (x > y ? 3f : 0.25f) : Exp(3 * Tanh(x))` on torch ops. The choice on a hyperparameter
    /// was the Exp tensor itself, and the gradient's in-place multiply overwrote it, so the loss came back wrong.
    /// 159: a loss of about 10²⁰, whose central differences round to 0 (the check allows for |J|·ε/h).
    /// 5: a row program under Mean with ignored rows, on torch ops. Its gradient was a broadcast (stride-0) tensor that
    /// the backend changed in place (masked for the ignored rows, then scaled: libtorch refused the scaling, "more than
    /// one element of the written-to tensor refers to a single memory location"). Found once every reduction ran.
    /// </summary>
    [Theory]
    [InlineData(332)]
    [InlineData(159)]
    [InlineData(5)]
    public void Regression(int seed)
    {
        var loss = RandomLoss.Create(seed);
        Assert.Null(Check(Compile(new[] { loss }), loss));
    }

    // ---------------------------------------------------------------- compile and run

    private static Assembly Compile(IReadOnlyList<RandomLoss> losses)
    {
        var source = new StringBuilder(GeneratorHarness.Usings).AppendLine("namespace Differential;").AppendLine("public static partial class L {");
        foreach (var l in losses) source.AppendLine(l.Declaration());
        source.AppendLine("}");
        var result = GeneratorHarness.Run(source.ToString());
        var errors = result.GeneratorDiagnostics.Concat(result.Errors).Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        if (errors.Count > 0) throw new InvalidOperationException("A random program did not compile:\n" + string.Join("\n", errors.Take(5)) + "\n" + source);
        using var image = new MemoryStream();
        var emitted = result.Output.Emit(image);
        if (!emitted.Success) throw new InvalidOperationException(string.Join("\n", emitted.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Take(5)));
        image.Position = 0;
        return new AssemblyLoadContext("differential", isCollectible: true).LoadFromStream(image);
    }

    private static readonly Backend[] Backends = { Backend.Cpu, Backend.Ilgpu, Backend.TorchOps };
    private static readonly nn.Reduction[] Reductions = { nn.Reduction.None, nn.Reduction.Sum, nn.Reduction.Mean };
    private const long IgnoreIndex = -100;

    /// <summary>
    /// Null when the loss agrees with both references on every backend; otherwise what disagrees. Each program runs under
    /// one reduction (seeds take turns, so every reduction meets elementwise and row programs), on every backend (ILGPU on
    /// its CPU accelerator). The scalar compared is J(x): Σ w ⊙ loss with a random upstream w for None, the loss for Sum
    /// and Mean; a row program's targets ignore some rows. A value that is NaN or ±∞ is never a match: where the float64
    /// reference itself is not finite the program is undefined at its inputs and <paramref name="undefined"/> says so.
    /// </summary>
    private static string? Check(Assembly assembly, RandomLoss loss) => Check(assembly, loss, out _);

    private static string? Check(Assembly assembly, RandomLoss loss, out bool undefined)
    {
        undefined = false;
        var method = assembly.GetType("Differential.L")!.GetMethods().Single(m => m.Name == loss.Name && m.GetParameters()[0].ParameterType == typeof(Tensor));
        var g = new torch.Generator((ulong)loss.Seed + 1);
        var inputs = loss.Inputs(g);
        var reduction = Reductions[loss.Seed / 2 % Reductions.Length];
        long n = inputs[0].shape[0];
        var ignored = loss.Row ? torch.arange(n).remainder(4).eq(1) : torch.zeros(n, ScalarType.Bool);
        if (loss.Row) inputs[1] = torch.where(ignored, IgnoreIndex, inputs[1]);
        var kept = loss.Row ? new[] { inputs[0], torch.where(ignored, 0L, inputs[1]) } : inputs;
        var w = torch.rand(n, dtype: ScalarType.Float64, generator: g) + 0.5;
        double count = n - ignored.sum().item<long>();

        Tensor Reduce(Tensor perSegment) => reduction switch
        {
            nn.Reduction.None => (perSegment * w).sum(),
            nn.Reduction.Sum => perSegment.sum(),
            _ => perSegment.sum() / count,
        };
        Tensor Generated(Tensor x, Backend backend)
        {
            var y = Call(method, loss, inputs, x, backend, reduction);
            return reduction == nn.Reduction.None ? (y * w).sum() : y;
        }
        var (refValue, refGradient) = Run(x => Reduce(torch.where(ignored, 0.0, loss.Reference(kept, x))), inputs[0]);
        if (!double.IsFinite(refValue.item<double>()) || !refGradient.isfinite().all().item<bool>())
        {
            undefined = true;
            return $"undefined at its inputs: the float64 reference's {reduction} value is {refValue.item<double>():R}";
        }
        foreach (var backend in Backends)
        {
            var (value, gradient) = Run(x => Generated(x, backend), inputs[0]);
            if (Far(value, refValue, 1e-9) is { } v) return $"{backend}, {reduction}: value {v}";
            if (Far(gradient, refGradient, 1e-7) is { } d) return $"{backend}, {reduction}: gradient {d}";
        }

        // Float64 central differences of the generated forward, at a few coordinates of the prediction. The tolerance is
        // this program's own error estimate at that point: the truncation error, from the step h against 2h (Richardson),
        // and the rounding error |J|·ε/h, each with a safety factor.
        var (j0, grad) = Run(x => Generated(x, Backend.Cpu), inputs[0]);
        var flat = inputs[0].reshape(-1).clone();
        var gflat = grad.reshape(-1);
        double jMagnitude = Math.Abs(j0.item<double>());
        for (int k = 0; k < Math.Min(4, flat.numel()); k++)
        {
            long at = k * 7 % flat.numel();
            double x0 = flat[at].item<double>();
            double J(double x)
            {
                using var _ = torch.no_grad();
                flat[at] = x;
                return Generated(flat.view(inputs[0].shape), Backend.Cpu).item<double>();
            }
            double Difference(double h) => (J(x0 + h) - J(x0 - h)) / (2 * h);
            const double step = 1e-5;
            double fd = Difference(step), fd2 = Difference(2 * step);
            flat[at] = x0;
            double ad = gflat[at].item<double>();
            if (!double.IsFinite(fd) || !double.IsFinite(fd2) || !double.IsFinite(ad))
                return $"finite differences, {reduction}: ∂J/∂x[{at}] is {ad:R} by the generated gradient, {fd:R} (h) and {fd2:R} (2h) by differences: not finite";
            double tolerance = 4 * Math.Abs(fd2 - fd) + 16 * jMagnitude * 2.2e-16 / step + 1e-9 * Math.Abs(fd);
            if (!(Math.Abs(fd - ad) <= tolerance))
                return $"finite differences, {reduction}: ∂J/∂x[{at}] is {ad:R} by the generated gradient, {fd:R} by differences (this point's error estimate {tolerance:G3})";
        }
        return null;
    }

    private static Tensor Call(MethodInfo method, RandomLoss loss, Tensor[] inputs, Tensor prediction, Backend backend, nn.Reduction reduction)
    {
        var ps = method.GetParameters();
        var args = new object?[ps.Length];
        for (int i = 0; i < ps.Length; i++)
            args[i] = i < inputs.Length ? (i == 0 ? prediction : inputs[i])
                : ps[i].Name == "backend" ? backend
                : ps[i].Name == "reduction" ? reduction
                : ps[i].Name == "ignore_index" ? IgnoreIndex
                : ps[i].DefaultValue;
        return (Tensor)method.Invoke(null, args)!;
    }

    private static (Tensor Value, Tensor Gradient) Run(Func<Tensor, Tensor> f, Tensor x)
    {
        var leaf = x.detach().clone().requires_grad_(true);
        var value = f(leaf).sum();
        if (!value.requires_grad) return (value.detach(), torch.zeros_like(leaf));   // a body that does not read the prediction
        value.backward();
        return (value.detach(), leaf.grad!.detach());
    }

    private static string? Far(Tensor actual, Tensor expected, double rtol)
    {
        var a = actual.to(ScalarType.Float64).reshape(-1);
        var e = expected.to(ScalarType.Float64).reshape(-1);
        double scale = e.abs().max().item<double>();
        for (long i = 0; i < e.numel(); i++)
        {
            double x = a[i].item<double>(), y = e[i].item<double>();
            // NaN and ±∞ never match (the comparison is false for them).
            if (!(Math.Abs(x - y) <= rtol * (Math.Abs(y) + scale) + 1e-12)) return $"[{i}] is {x:R}, expected {y:R}";
        }
        return null;
    }

    /// <summary>The smallest subtree form of a failing program that still fails (each candidate compiled on its own).</summary>
    private static RandomLoss Shrink(RandomLoss loss, string problem)
    {
        var current = loss;
        for (int round = 0; round < 20; round++)
        {
            var smaller = current.Smaller().FirstOrDefault(candidate =>
            {
                try { return Check(Compile(new[] { candidate }), candidate, out bool undefined) is not null && !undefined; }
                catch (InvalidOperationException) { return false; }
            });
            if (smaller is null) return current;
            current = smaller;
        }
        return current;
    }
}

/// <summary>
/// One random loss: an expression tree, its C# source and its TorchSharp composition. Elementwise losses read
/// x (the prediction), y and the hyperparameter h; class-row losses read the row z (the prediction), the class index t,
/// h, and reductions over z whose element functions read v (the element), j (its index) and h.
/// </summary>
public sealed class RandomLoss
{
    private RandomLoss(int seed, bool row, RandomNode body) { Seed = seed; Row = row; Body = body; }

    public int Seed { get; }
    public bool Row { get; }
    public RandomNode Body { get; }
    public string Name => "L" + Seed.ToString(CultureInfo.InvariantCulture);

    public static RandomLoss Create(int seed)
    {
        var rng = new Random(seed);
        bool row = seed % 2 == 1;
        return new RandomLoss(seed, row, RandomNode.Random(rng, depth: 2 + rng.Next(3), scope: row ? RandomScope.Row : RandomScope.Elementwise));
    }

    public string Declaration() => Row
        ? $"    [Loss(Task = LossTask.None)] public static partial float {Name}(ReadOnlySpan<float> z, int t, float h = 0.7f) => {Body.CSharp()};"
        : $"    [Loss(Task = LossTask.None)] public static partial float {Name}(float x, float y, float h = 0.7f) => {Body.CSharp()};";

    public string Source() => Declaration().Trim();

    public Tensor[] Inputs(torch.Generator g) => Row
        ? new[] { torch.randn(new long[] { 6, 5 }, dtype: ScalarType.Float64, generator: g) * 3, torch.randint(0, 5, new long[] { 6 }, generator: g) }
        : new[] { torch.randn(new long[] { 40 }, dtype: ScalarType.Float64, generator: g) * 3, torch.randn(new long[] { 40 }, dtype: ScalarType.Float64, generator: g) };

    /// <summary>The same tree as TorchSharp ops: per element ([N]) or per row ([N, 1], reductions over dim 1).</summary>
    public Tensor Reference(Tensor[] inputs, Tensor prediction)
    {
        var env = Row
            ? new RandomEnv(prediction, inputs[1], null, prediction.shape[1])
            : new RandomEnv(prediction, null, inputs[1], 0);
        var value = Body.Torch(env, element: null);
        return Row ? value.reshape(-1) : value;
    }

    /// <summary>Smaller forms: each proper subtree of the body that is a whole expression of the same scope, smallest first.</summary>
    public IEnumerable<RandomLoss> Smaller()
        => Body.Subtrees().Skip(1).Where(n => n.RandomScope == Body.RandomScope).OrderBy(n => n.Subtrees().Count()).Select(n => new RandomLoss(Seed, Row, n));
}

public enum RandomScope { Elementwise, Row, Element }

/// <summary>What a torch composition reads: the prediction, the class index or y, and (inside an element function) v.</summary>
public sealed record RandomEnv(Tensor Prediction, Tensor? Target, Tensor? Y, long Classes);

/// <summary>A node of a random loss body.</summary>
public sealed class RandomNode
{
    private RandomNode(string kind, RandomScope scope, params RandomNode[] children) { Kind = kind; RandomScope = scope; Children = children; }

    public string Kind { get; }
    public RandomScope RandomScope { get; }
    public RandomNode[] Children { get; }
    public double Constant { get; private init; }

    private static readonly string[] Unary = { "Exp", "Log", "Sqrt", "Tanh", "Sigmoid", "Softplus", "LogSigmoid", "Abs", "Square", "Neg" };
    private static readonly string[] Binary = { "+", "-", "*", "/", "Max", "Min", "Pow" };
    private static readonly string[] Reductions = { "Sum", "Mean", "Max", "LogSumExp" };

    public static RandomNode Random(Random rng, int depth, RandomScope scope)
    {
        if (depth <= 0 || rng.Next(5) == 0) return Leaf(rng, scope);
        int pick = rng.Next(scope == RandomScope.Row ? 10 : 8);
        if (scope == RandomScope.Row && pick >= 7)
            return new RandomNode(Reductions[rng.Next(Reductions.Length)], scope, Random(rng, depth - 1, RandomScope.Element));
        if (pick == 6)
            return new RandomNode("?:", scope, Random(rng, depth - 1, scope), Random(rng, depth - 1, scope), Random(rng, depth - 1, scope), Random(rng, depth - 1, scope));
        if (pick < 3) return new RandomNode(Unary[rng.Next(Unary.Length)], scope, Random(rng, depth - 1, scope));
        return new RandomNode(Binary[rng.Next(Binary.Length)], scope, Random(rng, depth - 1, scope), Random(rng, depth - 1, scope));
    }

    private static RandomNode Leaf(Random rng, RandomScope scope)
    {
        string[] leaves = scope switch
        {
            RandomScope.Elementwise => new[] { "x", "y", "h", "c" },
            RandomScope.Row => new[] { "z[t]", "h", "c", "lsm" },
            _ => new[] { "v", "v", "h", "c", "j==t" },
        };
        string kind = leaves[rng.Next(leaves.Length)];
        return new RandomNode(kind, scope) { Constant = new[] { 0.5, 1.0, 2.0, 3.0, 0.25 }[rng.Next(5)] };
    }

    public IEnumerable<RandomNode> Subtrees()
    {
        yield return this;
        foreach (var c in Children)
            foreach (var s in c.Subtrees())
                yield return s;
    }

    private static string L(double c) => c.ToString("R", CultureInfo.InvariantCulture) + "f";

    /// <summary>
    /// C# source. Functions with restricted domains get safe arguments: Log(1 + a²), Sqrt(1 + a²), Exp(Tanh(a)·3),
    /// a / (1 + b²), Pow(1 + a², 1 + Tanh(b)), so that every random program is finite everywhere.
    /// </summary>
    public string CSharp() => Kind switch
    {
        "x" or "y" or "h" or "v" => Kind,
        "c" => L(Constant),
        "z[t]" => "z[t]",
        "lsm" => "LogSoftmax(z, t)",
        "j==t" => "(j == t ? 1f : 0f)",
        "Neg" => $"-({C(0)})",
        "Square" => $"Square({C(0)})",
        "Log" => $"Log(1 + Square({C(0)}))",
        "Sqrt" => $"Sqrt(1 + Square({C(0)}))",
        "Exp" => $"Exp(3 * Tanh({C(0)}))",
        "/" => $"({C(0)}) / (1 + Square({C(1)}))",
        "Pow" => $"Pow(1 + Square({C(0)}), 1 + Tanh({C(1)}))",
        "+" or "-" or "*" => $"({C(0)}) {Kind} ({C(1)})",
        "Sum" or "Mean" or "Max" or "LogSumExp" when Children.Length == 1 => $"{Kind}(z, (v, j) => {C(0)})",
        "Max" or "Min" => $"{Kind}({C(0)}, {C(1)})",
        "?:" => $"({C(0)} > {C(1)} ? {C(2)} : {C(3)})",
        _ => $"{Kind}({C(0)})",
    };

    private string C(int i) => Children[i].CSharp();

    /// <summary>The same node as TorchSharp ops. <paramref name="element"/> is v ([N, C]) inside an element function.</summary>
    public Tensor Torch(RandomEnv e, Tensor? element)
    {
        Tensor T(int i) => Children[i].Torch(e, element);
        var p = e.Prediction;
        var like = element ?? (e.Target is not null ? p.select(1, 0).unsqueeze(1) : p);
        Tensor Full(double value) => torch.full_like(like, value);
        switch (Kind)
        {
            case "x": return p;
            case "y": return e.Y!;
            case "h": return Full(0.7);   // the generated overloads take the default as written, 0.7
            case "c": return Full((double)(float)Constant);
            case "v": return element!;
            case "j==t": return torch.arange(e.Classes, ScalarType.Int64).view(1, -1).eq(e.Target!.view(-1, 1)).to(p.dtype);
            case "z[t]": return p.gather(1, e.Target!.view(-1, 1));
            case "lsm": return nn.functional.log_softmax(p, 1).gather(1, e.Target!.view(-1, 1));
            case "Neg": return -T(0);
            case "Square": return T(0).square();
            case "Log": return (1 + T(0).square()).log();
            case "Sqrt": return (1 + T(0).square()).sqrt();
            case "Exp": return (3 * T(0).tanh()).exp();
            case "Tanh": return T(0).tanh();
            case "Sigmoid": return T(0).sigmoid();
            case "Softplus": return nn.functional.softplus(T(0));
            case "LogSigmoid": return nn.functional.logsigmoid(T(0));
            case "Abs": return T(0).abs();
            case "+": return T(0) + T(1);
            case "-": return T(0) - T(1);
            case "*": return T(0) * T(1);
            case "/": return T(0) / (1 + T(1).square());
            case "Pow": return (1 + T(0).square()).pow(1 + T(1).tanh());
            case "Max" when Children.Length == 2:
            {
                // LossDsl's convention: ties send the gradient to the first argument.
                var (a, b) = Broadcast(T(0), T(1));
                return torch.where(a >= b, a, b);
            }
            case "Min" when Children.Length == 2:
            {
                var (a, b) = Broadcast(T(0), T(1));
                return torch.where(a <= b, a, b);
            }
            case "?:":
            {
                var (a, b) = Broadcast(T(0), T(1));
                var (then, otherwise) = Broadcast(T(2), T(3));
                var cond = a > b;
                return torch.where(cond.expand_as(then), then, otherwise);
            }
            case "Sum": return Body(e).sum(new long[] { 1 }, keepdim: true);
            case "Mean": return Body(e).mean(new long[] { 1 }, keepdim: true);
            case "Max": return Body(e).amax(new long[] { 1 }, keepdim: true);
            case "LogSumExp": return Body(e).logsumexp(1, keepdim: true);
        }
        throw new InvalidOperationException(Kind);
    }

    /// <summary>A reduction's element function over the row, as [N, C].</summary>
    private Tensor Body(RandomEnv e) => Children[0].Torch(e, e.Prediction).expand(e.Prediction.shape);

    private static (Tensor, Tensor) Broadcast(Tensor a, Tensor b)
    {
        var shape = torch.broadcast_shapes(a.shape, b.shape);
        return (a.expand(shape), b.expand(shape));
    }
}
