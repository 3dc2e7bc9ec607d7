using System;
using System.Linq;
using LossDsl.Runtime;
using TorchSharp;
using Xunit;
using static LossDsl.LossMath;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LossDsl.Tests;

/// <summary>Losses as papers write them: naive forms that overflow or cancel in float32 when computed literally.</summary>
public static partial class NaiveLosses
{
    /// <summary>Binary cross-entropy from its definition, −[y log p + (1 − y) log(1 − p)] with p = σ(x).</summary>
    [Loss]
    public static partial float Bce(float x, float y) => -(y * Log(Sigmoid(x)) + (1 - y) * Log(1 - Sigmoid(x)));

    /// <summary>The same formula, computed literally (the opt-out).</summary>
    [Loss(Literal = true)]
    public static partial float BceLiteral(float x, float y) => -(y * Log(Sigmoid(x)) + (1 - y) * Log(1 - Sigmoid(x)));

    /// <summary>Sigmoid focal loss as Lin et al. (2017) write it: −[y (1 − p)^γ log p + (1 − y) p^γ log(1 − p)], p = σ(x).</summary>
    [Loss]
    public static partial float Focal(float x, float y, float gamma = 2f)
    {
        float p = Sigmoid(x);
        return -(y * Pow(1 - p, gamma) * Log(p) + (1 - y) * Pow(p, gamma) * Log(1 - p));
    }

    /// <summary>
    /// Sigmoid focal loss as torchvision's sigmoid_focal_loss writes it (α off): BCE with logits as softplus(x) − x·y, then
    /// (1 − p_t)^γ with p_t = p·y + (1 − p)·(1 − y). Both subtractions cancel for a confident right prediction.
    /// </summary>
    [Loss]
    public static partial float TorchvisionFocal(float x, float y, float gamma = 2f)
    {
        float p = Sigmoid(x);
        float ce = Softplus(x) - x * y;
        float pt = p * y + (1 - p) * (1 - y);
        return ce * Pow(1 - pt, gamma);
    }

    /// <summary>The same formula with γ = 2 written into it (a constant exponent).</summary>
    [Loss]
    public static partial float FocalGamma2(float x, float y)
    {
        float p = Sigmoid(x);
        return -(y * (1 - p) * (1 - p) * Log(p) + (1 - y) * p * p * Log(1 - p));
    }
}

/// <summary>
/// Issue 25's "done when": the naive BCE and sigmoid focal formulas, rewritten by the generator, give finite float32 values
/// and gradients within 1e-5 relative of a float64 stable reference (a TorchSharp composition in log space, differentiated
/// by autograd) at logits from −60 to 60 on the fused CPU path. Where the reference is below float32's smallest normal
/// number (1.2e-38), float32 cannot hold it to 1e-5 relative and the check is absolute at that size.
/// </summary>
public class StableRewriteTests
{
    private const double Rtol = 1e-5, Floor = 1.1754943508222875e-38;

    private static (Tensor X, Tensor Y) Grid(int limit = 60)
    {
        var logits = Enumerable.Range(0, 2 * limit + 1).Select(i => (float)(i - limit)).Concat(new[] { -59.5f, -17.3f, -0.001f, 0.001f, 17.3f, 59.5f }).ToArray();
        var labels = new[] { 0f, 0.25f, 1f };
        var x = logits.SelectMany(v => labels.Select(_ => v)).ToArray();
        var y = logits.SelectMany(_ => labels).ToArray();
        return (torch.tensor(x), torch.tensor(y));
    }

    private static void AssertClose(Tensor expected, Tensor actual, string what)
    {
        var e = expected.to_type(ScalarType.Float64).data<double>().ToArray();
        var a = actual.to_type(ScalarType.Float64).data<double>().ToArray();
        Assert.Equal(e.Length, a.Length);
        for (int i = 0; i < e.Length; i++)
        {
            Assert.True(double.IsFinite(a[i]), $"{what}[{i}] = {a[i]} is not finite");
            Assert.True(Math.Abs(a[i] - e[i]) <= Rtol * Math.Abs(e[i]) + Floor, $"{what}[{i}]: {a[i]:R} against {e[i]:R}");
        }
    }

    private static void Check(Func<Tensor, Tensor, Tensor> loss, Func<Tensor, Tensor, Tensor> stableReference, int limit = 60)
    {
        using var _ = LossBackend.Use(Backend.Cpu);
        var (x, y) = Grid(limit);
        var leaf = x.clone().requires_grad_(true);
        var value = loss(leaf, y);
        value.sum().backward();

        var x64 = x.to_type(ScalarType.Float64).requires_grad_(true);
        var reference = stableReference(x64, y.to_type(ScalarType.Float64));
        reference.sum().backward();

        Assert.Equal(ScalarType.Float32, value.dtype);
        AssertClose(reference.detach(), value.detach(), "value");
        AssertClose(x64.grad!, leaf.grad!, "gradient");
    }

    [Fact]
    public void NaiveBceIsFiniteAndAccurateFromMinus60To60()
        => Check((x, y) => NaiveLosses.Bce(x, y, reduction: nn.Reduction.None),
            StableBce);

    /// <summary>
    /// BCE in float64 log space, −[y·logσ(x) + (1 − y)·logσ(−x)]. libtorch's own binary_cross_entropy_with_logits is not
    /// the reference here: in float64 it returns 0 at x = −60, y = 0, where the loss is log(1 + e^−60) = 8.76e-27 (its
    /// log(e^−m + e^(−x−m)) rounds 1 + 8.76e-27 to 1), which float32 holds.
    /// </summary>
    private static Tensor StableBce(Tensor x, Tensor y) => -(y * F.logsigmoid(x) + (1 - y) * F.logsigmoid(-x));

    [Fact]
    public void NaiveSigmoidFocalIsFiniteAndAccurateFromMinus60To60()
        => Check((x, y) => NaiveLosses.Focal(x, y, gamma: 2.0, reduction: nn.Reduction.None), StableFocal);

    [Fact]
    public void NaiveSigmoidFocalWithAFractionalGammaIsFiniteAndAccurate()
        => Check((x, y) => NaiveLosses.Focal(x, y, gamma: 0.5, reduction: nn.Reduction.None), (x, y) => StableFocal(x, y, 0.5));

    /// <summary>
    /// Past |x| ≈ 103 σ of the confident side is 0 in float32, where γσ^(γ−1)·σ' with γ &lt; 1 would be 0^(γ−1)·0 = NaN (the
    /// derivative is γσ^γ·σ(−x) instead). The rewrite's regime split computes e^(γ·logσ) there (x &lt; −92, γ &lt; 1), and the
    /// fused CPU kernel evaluates that side only for the vectors where some lane takes it: the grid of −120..120 puts both
    /// regimes into one vector.
    /// </summary>
    [Fact]
    public void NaiveSigmoidFocalWithAFractionalGammaIsFiniteAndAccurateWhereTheSigmoidUnderflows()
        => Check((x, y) => NaiveLosses.Focal(x, y, gamma: 0.5, reduction: nn.Reduction.None), (x, y) => StableFocal(x, y, 0.5), limit: 120);

    [Fact]
    public void NaiveSigmoidFocalWithAConstantGammaIsFiniteAndAccurate()
        => Check((x, y) => NaiveLosses.FocalGamma2(x, y, reduction: nn.Reduction.None), StableFocal);

    [Theory]
    [InlineData(2.0)]
    [InlineData(0.5)]
    public void TorchvisionsSigmoidFocalIsFiniteAndAccurateFromMinus60To60(double gamma)
        => Check((x, y) => NaiveLosses.TorchvisionFocal(x, y, gamma: gamma, reduction: nn.Reduction.None), (x, y) => StableTorchvisionFocal(x, y, gamma));

    /// <summary>
    /// torchvision's focal loss in float64 without a subtraction: BCE as −[y·logσ(x) + (1 − y)·logσ(−x)], and
    /// 1 − p_t = y·σ(−x) + (1 − y)·σ(x) (torchvision's own 1 − p_t is 0 in float64 once p_t rounds to 1, |x| ≳ 37).
    /// </summary>
    private static Tensor StableTorchvisionFocal(Tensor x, Tensor y, double gamma)
        => StableBce(x, y) * (y * (-x).sigmoid() + (1 - y) * x.sigmoid()).pow(gamma);

    /// <summary>The opt-out computes the formula as written: at a logit of 60, 1 − σ(60) is 0 in float32 and its log −∞;
    /// elsewhere it agrees with the rewritten form.</summary>
    [Fact]
    public void LiteralComputesTheFormulaAsWritten()
    {
        using var _ = LossBackend.Use(Backend.Cpu);
        var value = NaiveLosses.BceLiteral(torch.tensor(new[] { 60f, -60f, 0.5f }), torch.tensor(new[] { 0.25f, 0.25f, 0.25f }), reduction: nn.Reduction.None);
        var v = value.data<float>().ToArray();
        Assert.True(float.IsInfinity(v[0]), $"literal BCE at 60: {v[0]}");
        var rewritten = NaiveLosses.Bce(torch.tensor(new[] { 60f, -60f, 0.5f }), torch.tensor(new[] { 0.25f, 0.25f, 0.25f }), reduction: nn.Reduction.None);
        Assert.Equal(v[2], rewritten.data<float>()[2], tolerance: 4 * MathF.BitIncrement(v[2]) - 4 * v[2]);
    }

    /// <summary>
    /// Sigmoid focal loss in float64 log space: (1 − p)^γ = e^(γ·logσ(−x)), p^γ = e^(γ·logσ(x)), log p = logσ(x),
    /// log(1 − p) = logσ(−x); torchvision's sigmoid_focal_loss computes (1 − p_t)^γ directly, which is 0 in float64 once
    /// p_t rounds to 1 (|x| ≳ 37).
    /// </summary>
    private static Tensor StableFocal(Tensor x, Tensor y) => StableFocal(x, y, 2.0);

    private static Tensor StableFocal(Tensor x, Tensor y, double gamma)
    {
        var logP = F.logsigmoid(x);
        var log1mP = F.logsigmoid(-x);
        return -(y * (gamma * log1mP).exp() * logP + (1 - y) * (gamma * logP).exp() * log1mP);
    }
}
