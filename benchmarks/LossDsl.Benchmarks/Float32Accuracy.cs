using System;
using System.Linq;
using System.Runtime.Intrinsics;
using LossDsl.Runtime;
using LossDsl.Samples;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LossDsl.Benchmarks;

/// <summary>
/// float32 accuracy mode (<c>--float32-accuracy</c>). The error is in ulps of float32 at the correctly rounded result: the
/// exact value is computed in float64 on the same float32 inputs. It covers the fast CPU path's vector intrinsics, each
/// against libtorch's float32 op on the same inputs, and end to end the loss and gradient of two losses against the
/// same formula in TorchSharp eager float32. Max and 99.9th percentile over the sweep.
/// </summary>
public static class Float32Accuracy
{
    private sealed record Intrinsic(string Name, Func<double, double> Exact, Func<Vector512<float>, Vector512<float>> Ours, Func<Tensor, Tensor> Torch, float Lo, float Hi, bool LogScale = false);

    private static readonly Intrinsic[] Intrinsics =
    {
        new("exp", Math.Exp, LossVectorMath.Exp, t => t.exp(), -87, 88),
        new("log", Math.Log, LossVectorMath.Log, t => t.log(), 1e-37f, 1e37f, LogScale: true),
        new("sigmoid", x => x >= 0 ? 1 / (1 + Math.Exp(-x)) : Math.Exp(x) / (1 + Math.Exp(x)), LossVectorMath.Sigmoid, t => t.sigmoid(), -40, 40),
        new("softplus", x => Math.Max(x, 0) + Log1P(Math.Exp(-Math.Abs(x))), LossVectorMath.Softplus, t => F.softplus(t), -40, 40),
        new("log-sigmoid", x => -(Math.Max(-x, 0) + Log1P(Math.Exp(-Math.Abs(x)))), LossVectorMath.LogSigmoid, t => F.logsigmoid(t), -40, 40),
        new("tanh", Math.Tanh, LossVectorMath.Tanh, t => t.tanh(), -10, 10),
        new("erf", LibmErf, LossVectorMath.Erf, t => torch.special.erf(t), -5, 5),
        new("log1p", LibmLog1P, LossVectorMath.Log1P, t => t.log1p(), -0.999f, 1e6f),
        new("expm1", LibmExpm1, LossVectorMath.Expm1, t => t.expm1(), -20, 20),
        new("cos", Math.Cos, LossVectorMath.Cos, t => t.cos(), -100, 100),
        new("sin", Math.Sin, LossVectorMath.Sin, t => t.sin(), -100, 100),
        new("atan", Math.Atan, LossVectorMath.Atan, t => t.atan(), -1000, 1000),
    };

    // glibc's float64 erf, log1p and expm1 (within 1 ulp of float64): the truth for float32.
    [System.Runtime.InteropServices.DllImport("libm.so.6", EntryPoint = "erf")]
    private static extern double LibmErf(double x);

    [System.Runtime.InteropServices.DllImport("libm.so.6", EntryPoint = "log1p")]
    private static extern double LibmLog1P(double x);

    [System.Runtime.InteropServices.DllImport("libm.so.6", EntryPoint = "expm1")]
    private static extern double LibmExpm1(double x);

    /// <summary>log(1 + t), accurate for small t (.NET's double.LogP1 computes log(t + 1) and loses them).</summary>
    private static double Log1P(double t) => Math.Abs(t) < 1e-4 ? t - t * t / 2 + t * t * t / 3 : Math.Log(1 + t);

    public static int Run()
    {
        Console.WriteLine("float32 error in ulps of the correctly rounded result (exact value in float64 on the same float32 inputs)");
        Console.WriteLine();
        Console.WriteLine($"{"intrinsic",-12} {"range",-18} {"LossDsl max",12} {"p99.9",8} {"libtorch max",13} {"p99.9",8}");
        const int n = 1 << 20;
        foreach (var f in Intrinsics)
        {
            var x = new float[n];
            for (int i = 0; i < n; i++)
            {
                double u = (i + 0.5) / n;
                x[i] = f.LogScale ? (float)Math.Exp(Math.Log(f.Lo) + u * (Math.Log(f.Hi) - Math.Log(f.Lo))) : (float)(f.Lo + u * (f.Hi - f.Lo));
            }
            var ours = new float[n];
            for (int i = 0; i < n; i += Vector512<float>.Count)
                f.Ours(Vector512.Create(x, i)).CopyTo(ours, i);
            using var t = torch.tensor(x);
            var theirs = f.Torch(t).data<float>().ToArray();
            var (om, op) = Ulps(x, ours, f.Exact);
            var (tm, tp) = Ulps(x, theirs, f.Exact);
            Console.WriteLine($"{f.Name,-12} {$"[{f.Lo:G3}, {f.Hi:G3}]",-18} {om,12:F2} {op,8:F2} {tm,13:F2} {tp,8:F2}");
        }
        Console.WriteLine();
        EndToEnd();
        return 0;
    }

    /// <summary>Max and 99.9th percentile error in ulps over the elements.</summary>
    private static (double Max, double P999) Ulps(float[] x, float[] actual, Func<double, double> exact)
    {
        var errors = new double[x.Length];
        for (int i = 0; i < x.Length; i++) errors[i] = Ulp(actual[i], exact(x[i]));
        if (Environment.GetEnvironmentVariable("LOSSDSL_ULP_DEBUG") is not null)
        {
            int w = Array.IndexOf(errors, errors.Max());
            Console.WriteLine($"  worst at x = {x[w]:R}: actual {actual[w]:R}, exact {exact(x[w]):R}");
        }
        return Summary(errors);
    }

    private static (double Max, double P999) Summary(double[] errors)
    {
        var finite = errors.Where(double.IsFinite).OrderBy(e => e).ToArray();
        return finite.Length == 0 ? (double.NaN, double.NaN) : (finite[^1], finite[(int)Math.Min(finite.Length - 1, Math.Floor(0.999 * finite.Length))]);
    }

    /// <summary>|actual − exact| in units of the float32 spacing at the exact value (at least the smallest subnormal).</summary>
    private static double Ulp(float actual, double exact)
    {
        if (double.IsNaN(exact)) return double.IsNaN(actual) ? 0 : double.PositiveInfinity;
        float rounded = (float)exact;
        if (float.IsInfinity(rounded)) return actual == rounded ? 0 : double.PositiveInfinity;
        float magnitude = Math.Abs(rounded);
        double spacing = Math.Max(MathF.BitIncrement(magnitude) - magnitude, float.Epsilon);
        return Math.Abs(actual - exact) / spacing;
    }

    /// <summary>Loss and gradient of Poly-1 and sigmoid focal in float32, LossDsl's CPU path and TorchSharp eager, against float64.</summary>
    private static void EndToEnd()
    {
        Console.WriteLine($"{"end to end (float32)",-44} {"LossDsl max",12} {"p99.9",8} {"eager max",10} {"p99.9",8}");
        var g = new Generator(BenchCase.Seed);
        var logits = (torch.randn(new long[] { 512, 1000 }, generator: g) * 8).to(ScalarType.Float32);
        var target = torch.randint(0, 1000, new long[] { 512 }, generator: g);
        Tensor Poly1(Tensor z)
        {
            var logp = F.log_softmax(z, 1).gather(1, target.unsqueeze(1)).squeeze(1);
            return -logp + (1 - logp.exp());
        }
        Compare("Poly-1 [512, 1000], logits ×8", logits, z => Losses.Poly1(z, target, reduction: nn.Reduction.None), Poly1);

        var x = (torch.randn(new long[] { 1 << 16 }, generator: g) * 12).to(ScalarType.Float32);
        var y = (torch.rand(new long[] { 1 << 16 }, generator: g) < 0.5).to(ScalarType.Float32);
        Tensor Focal(Tensor z)
        {
            var yy = y.to(z.dtype);
            var p = z.sigmoid();
            var ce = F.binary_cross_entropy_with_logits(z, yy, reduction: nn.Reduction.None);
            var pt = p * yy + (1 - p) * (1 - yy);
            return (0.25 * yy + 0.75 * (1 - yy)) * ce * (1 - pt).pow(2);
        }
        // The float64 truth cannot be the eager formula in float64: its 1 − p_t cancels too, only later (p_t rounds to 1
        // in float64 past |z| ≈ 37, where the true factor is 10⁻³²), so it is written without a subtraction:
        // 1 − p_t = y·σ(−z) + (1 − y)·σ(z), and BCE = (1 − y)·softplus(z) + y·softplus(−z) with softplus never linearized.
        Tensor FocalExact(Tensor z)
        {
            var yy = y.to(z.dtype);
            var ce = (1 - yy) * F.softplus(z, threshold: 1e9) + yy * F.softplus(-z, threshold: 1e9);
            var q = yy * (-z).sigmoid() + (1 - yy) * z.sigmoid();
            return (0.25 * yy + 0.75 * (1 - yy)) * ce * q.pow(2);
        }
        Compare("sigmoid focal [65536], logits ×12", x, z => Losses.SigmoidFocal(z, y, reduction: nn.Reduction.None), Focal, FocalExact);
    }

    private static void Compare(string name, Tensor x, Func<Tensor, Tensor> ours, Func<Tensor, Tensor> eager, Func<Tensor, Tensor>? truth = null)
    {
        var (exactLoss, exactGrad) = LossAndGradient(truth ?? eager, x.to(ScalarType.Float64));
        var (ourLoss, ourGrad) = LossAndGradient(ours, x);
        var (eagerLoss, eagerGrad) = LossAndGradient(eager, x);
        foreach (var (what, e, a, b) in new[] { ("loss", exactLoss, ourLoss, eagerLoss), ("gradient", exactGrad, ourGrad, eagerGrad) })
        {
            var exact = e.data<double>().ToArray();
            var (om, op) = Summary(a.data<float>().ToArray().Select((v, i) => Ulp(v, exact[i])).ToArray());
            var (tm, tp) = Summary(b.data<float>().ToArray().Select((v, i) => Ulp(v, exact[i])).ToArray());
            Console.WriteLine($"{name + ", " + what,-44} {om,12:F2} {op,8:F2} {tm,10:F2} {tp,8:F2}");
        }
    }

    private static (Tensor Loss, Tensor Gradient) LossAndGradient(Func<Tensor, Tensor> f, Tensor x)
    {
        var leaf = x.detach().clone().requires_grad_(true);
        var loss = f(leaf);
        loss.sum().backward();
        return (loss.detach().contiguous(), leaf.grad!.detach().contiguous());
    }
}
