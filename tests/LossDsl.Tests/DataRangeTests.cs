using System;
using System.Linq;
using LossDsl.Runtime;
using TorchSharp;
using Xunit;
using static LossDsl.LossMath;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LossDsl.Tests;

/// <summary>Losses whose data inputs declare a range: the analysis assumes it, and the tensor overloads check it.</summary>
public static partial class RangedLosses
{
    /// <summary>
    /// −log of a row's target distance share, d_t / Σ_c d_c, on distances declared positive (as from a <c>cdist</c> row
    /// plus a margin): without the declaration, Log(d[t]) is a LOSS0303 warning.
    /// </summary>
    [Loss(Task = LossTask.None)]
    public static partial float DistanceShare([Range(0, double.PositiveInfinity, MinExclusive = true)] ReadOnlySpan<float> distance, int target)
        => Log(Sum(distance)) - Log(distance[target]);

    /// <summary>The log-loss on probabilities declared inside (0, 1) and labels in [0, 1].</summary>
    [Loss(Task = LossTask.None)]
    public static partial float ProbabilityLogLoss([Range(0, 1, MinExclusive = true, MaxExclusive = true)] float q, [Range(0, 1)] float y)
        => -(y * Log(q) + (1 - y) * Log(1 - q));
}

/// <summary>
/// <c>[Range]</c> on data inputs at run time: inside the range, the value and gradient against an independent
/// TorchSharp composition on every backend; outside it (NaN included), an <see cref="ArgumentOutOfRangeException"/>
/// that names the parameter and the first element outside, before any backend runs.
/// </summary>
public class DataRangeTests
{
    private const ScalarType F64 = ScalarType.Float64;

    public static TheoryData<Backend> Backends => new() { Backend.Auto, Backend.Cpu, Backend.Ilgpu, Backend.TorchOps };

    [Theory]
    [MemberData(nameof(Backends))]
    public void DistanceShareMatchesAutogradInsideItsRange(Backend backend)
    {
        var g = new Generator(Reference.Seed("DistanceShare"));
        var d = torch.rand(new long[] { 7, 5 }, dtype: F64, generator: g) * 3 + 0.05;
        var t = torch.randint(0, 5, new long[] { 7 }, generator: g);
        var (refValue, refGrad) = Reference.Autograd(x => (x.sum(1).log() - x.gather(1, t.unsqueeze(1)).squeeze(1).log()).mean(), d);
        Tensor value, grad;
        using (LossBackend.Use(backend)) (value, grad) = Reference.Autograd(x => RangedLosses.DistanceShare(x, t), d);
        Reference.Near(refValue.item<double>(), value.item<double>(), 1e-12, 1e-12, "value");
        Reference.Close(refGrad, grad, 1e-9, 1e-12, "gradient");
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void LogLossMatchesBinaryCrossEntropyInsideItsRange(Backend backend)
    {
        var g = new Generator(Reference.Seed("ProbabilityLogLoss"));
        var q = torch.rand(new long[] { 4, 6 }, dtype: F64, generator: g) * 0.98 + 0.01;
        var y = torch.rand(new long[] { 4, 6 }, dtype: F64, generator: g);
        var (refValue, refGrad) = Reference.Autograd(x => F.binary_cross_entropy(x, y), q);
        Tensor value, grad;
        using (LossBackend.Use(backend)) (value, grad) = Reference.Autograd(x => RangedLosses.ProbabilityLogLoss(x, y), q);
        Reference.Near(refValue.item<double>(), value.item<double>(), 1e-12, 1e-12, "value");
        Reference.Close(refGrad, grad, 1e-9, 1e-12, "gradient");
    }

    [Fact]
    public void ADistanceOfZeroThrowsNamingTheParameterAndTheElement()
    {
        var d = torch.ones(3, 4, dtype: F64);
        d[1, 2] = 0.0;
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => RangedLosses.DistanceShare(d, torch.zeros(3, dtype: ScalarType.Int64)));
        Assert.Equal("distance", e.ParamName);
        Assert.Equal(0.0, Convert.ToDouble(e.ActualValue));
        Assert.Contains("[6] = 0", e.Message);
        Assert.Contains("(0, ∞)", e.Message);
    }

    [Fact]
    public void NaNIsOutsideEveryRange()
    {
        var q = torch.full(new long[] { 2, 3 }, 0.5, dtype: ScalarType.Float32);
        q[1, 0] = float.NaN;
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => RangedLosses.ProbabilityLogLoss(q, torch.zeros(2, 3)));
        Assert.Equal("q", e.ParamName);
        Assert.Contains("[3] = NaN", e.Message);
    }

    [Theory]
    [InlineData(0.0, "q")]
    [InlineData(1.0, "q")]
    [InlineData(1.5, "y")]
    [InlineData(-1e-3, "y")]
    public void EachInputIsCheckedAgainstItsOwnRange(double bad, string name)
    {
        var q = torch.full(new long[] { 5 }, 0.5);
        var y = torch.full(new long[] { 5 }, 0.25);
        (name == "q" ? q : y)[4] = bad;
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => RangedLosses.ProbabilityLogLoss(q, y));
        Assert.Equal(name, e.ParamName);
    }

    [Fact]
    public void TheBoundsOfAClosedRangeAreInside()
    {
        var q = torch.full(new long[] { 4 }, 0.5, dtype: F64);
        var y = torch.tensor(new[] { 0.0, 1.0, 0.0, 1.0 }, dtype: F64);
        Reference.Near(Math.Log(2), RangedLosses.ProbabilityLogLoss(q, y).item<double>(), 1e-15, 1e-15, "log 2");
    }
}
