using System;
using System.Linq;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LossDsl.Tests;

/// <summary>Independent references: TorchSharp autograd on the same formula, and float64 central differences.</summary>
public static class Reference
{
    /// <summary>
    /// A seed from a test case's name that is the same in every run (string.GetHashCode is randomized per process),
    /// so that a failure reproduces: FNV-1a over the UTF-16 code units, folded to 16 bits.
    /// </summary>
    public static ulong Seed(string name)
    {
        uint h = 2166136261;
        foreach (char c in name) h = (h ^ c) * 16777619;
        return (h ^ (h >> 16)) & 0xffff;
    }

    /// <summary>Value and gradient of <paramref name="f"/> at <paramref name="x"/> by TorchSharp autograd.</summary>
    /// <param name="upstream">The upstream gradient for a non-scalar output (reduction none), or null.</param>
    public static (Tensor Value, Tensor Grad) Autograd(Func<Tensor, Tensor> f, Tensor x, Tensor? upstream = null)
        => OutsideTheScalarRace(() =>
        {
            var leaf = x.detach().clone().requires_grad_(true);
            var y = f(leaf);
            if (upstream is null) y.backward();
            else y.backward(new[] { upstream });
            return (y.detach(), leaf.grad!.detach().clone());
        });

    /// <summary>
    /// Runs a computation of the test's own, again (up to twice) when TorchSharp 0.107's temporary-Scalar race hit it:
    /// the reference formulas use TorchSharp's operators (<c>a + b</c>, <c>1 - p</c>), each of which makes a Scalar that a
    /// collection may free while libtorch reads it ("c10/core/Scalar.h"; README, "The autograd path under load"). A
    /// computation is pure, so running it again gives the same result. An error whose stack passes through LossDsl's
    /// runtime, library or generated code is never retried: LossDsl makes no such Scalar (ScalarTemporaryTests), so
    /// there it would be a real failure.
    /// </summary>
    public static T OutsideTheScalarRace<T>(Func<T> computation)
    {
        for (int attempt = 0; ; attempt++)
        {
            try { return computation(); }
            catch (System.Runtime.InteropServices.ExternalException e) when (attempt < 2 && e.Message.Contains("c10/core/Scalar.h", StringComparison.Ordinal)
                && !(e.StackTrace ?? "").Contains("LossDsl.Runtime.", StringComparison.Ordinal)
                && !(e.StackTrace ?? "").Contains("LossDsl.Generated.", StringComparison.Ordinal)
                && !(e.StackTrace ?? "").Contains("LossDsl.Losses.", StringComparison.Ordinal))
            {
            }
        }
    }

    /// <summary>
    /// Central differences in float64 of the scalar J(x) = Σ w ⊙ f(x) (per-segment differences first) at <paramref name="coordinates"/>
    /// random coordinates (f evaluated without autograd).
    /// </summary>
    public static (long[] Index, double[] Derivative) FiniteDifferences(Func<Tensor, Tensor> f, Tensor x, Tensor? weight, int coordinates, int seed, double h = 1e-6)
    {
        var x64 = x.detach().to(ScalarType.Float64).contiguous().clone();
        var flat = x64.view(-1);
        var rng = new Random(seed);
        var index = Enumerable.Range(0, coordinates).Select(_ => (long)rng.Next((int)flat.numel())).Distinct().ToArray();
        Tensor Y() => OutsideTheScalarRace(() =>
        {
            using var _ = torch.no_grad();
            return f(x64).to(ScalarType.Float64);
        });
        var result = new double[index.Length];
        for (int k = 0; k < index.Length; k++)
        {
            double orig = flat[index[k]].item<double>();
            flat[index[k]] = orig + h;
            var plus = Y();
            flat[index[k]] = orig - h;
            var minus = Y();
            flat[index[k]] = orig;
            // Difference the per-segment losses before summing: only the perturbed segments change, so the
            // difference is not lost in the rounding of a large total.
            var diff = plus - minus;
            result[k] = (weight is null ? diff.sum() : (diff * weight.to(ScalarType.Float64)).sum()).item<double>() / (2 * h);
        }
        return (index, result);
    }

    /// <summary>
    /// Asserts |actual − expected| ≤ atol + rtol·|expected| elementwise, reporting the worst element. A NaN or ±∞ on either
    /// side fails, unless <paramref name="nonFiniteExpected"/> says the expected tensor may hold them: then the actual
    /// value must be the same NaN or the same infinity.
    /// </summary>
    public static void Close(Tensor expected, Tensor actual, double rtol, double atol, string what, bool nonFiniteExpected = false)
    {
        Assert.Equal(expected.shape, actual.shape);
        double[] e, a;
        using (torch.NewDisposeScope())
        {
            e = expected.to(ScalarType.Float64).contiguous().data<double>().ToArray();
            a = actual.to(ScalarType.Float64).contiguous().data<double>().ToArray();
        }
        GC.KeepAlive(expected);
        GC.KeepAlive(actual);
        for (int i = 0; i < e.Length; i++) Near(e[i], a[i], rtol, atol, $"{what}: element {i}", nonFiniteExpected);
    }

    /// <summary>
    /// Asserts |actual − expected| ≤ atol + rtol·|expected| for one number: a bound, not a rounding of both sides. NaN and
    /// ±∞ fail as in <see cref="Close"/>.
    /// </summary>
    public static void Near(double expected, double actual, double rtol, double atol, string what, bool nonFiniteExpected = false)
    {
        bool ok = double.IsFinite(expected)
            ? double.IsFinite(actual) && Math.Abs(actual - expected) <= atol + rtol * Math.Abs(expected)
            : nonFiniteExpected && (double.IsNaN(expected) ? double.IsNaN(actual) : actual == expected);
        if (!ok) Assert.Fail($"{what} is {actual:R}, expected {expected:R} (rtol {rtol}, atol {atol}{(nonFiniteExpected ? "" : ", and both finite")}).");
    }
}
