using System;
using System.Runtime.Intrinsics;
using LossDsl.Runtime;
using Xunit;

namespace LossDsl.Tests;

/// <summary>
/// The fast CPU path's own float Exp and Log (<see cref="LossVectorMath"/>) against the double-precision
/// <see cref="Math.Exp"/> and <see cref="Math.Log"/>: error in units in the last place of the float result,
/// over a sweep of float bit patterns that covers every binade, plus the special values.
/// </summary>
public class VectorMathTests
{
    /// <summary>Distance from <paramref name="y"/> to the exact <paramref name="exact"/> in float ulps (subnormal ulp below 2^-126).</summary>
    private static double Ulps(float y, double exact)
    {
        // Beyond float's range the correctly rounded result is ±∞ (or NaN stays NaN): require exactly that.
        if (!float.IsFinite((float)exact)) return y.Equals((float)exact) ? 0 : double.PositiveInfinity;
        double a = Math.Abs(exact);
        int exp = a < 1.1754943508222875e-38 ? -126 : Math.ILogB(a);
        double ulp = Math.ScaleB(1.0, Math.Max(exp, -126) - 23);
        return Math.Abs(y - exact) / ulp;
    }

    private static (double MaxUlps, float Worst) Sweep(Func<Vector512<float>, Vector512<float>> f, Func<double, double> exact, float lo, float hi, uint stride)
    {
        double max = 0;
        float worst = float.NaN;
        var lanes = new float[16];
        int k = 0;
        void Flush()
        {
            var y = f(Vector512.Create(lanes));
            for (int i = 0; i < k; i++)
            {
                double u = Ulps(y[i], exact(lanes[i]));
                if (u > max || double.IsNaN(u)) { max = double.IsNaN(u) ? double.PositiveInfinity : u; worst = lanes[i]; }
            }
            k = 0;
        }
        for (ulong bits = 0; bits <= uint.MaxValue; bits += stride)
        {
            float x = BitConverter.UInt32BitsToSingle((uint)bits);
            if (!(x >= lo && x <= hi)) continue;
            lanes[k++] = x;
            if (k == 16) Flush();
        }
        if (k > 0) { for (int i = k; i < 16; i++) lanes[i] = lanes[0]; Flush(); }
        return (max, worst);
    }

    [Fact]
    public void ExpIsWithinTwoUlpsEverywhere()
    {
        var (ulps, worst) = Sweep(LossVectorMath.Exp, Math.Exp, -110f, 90f, 4099);
        Assert.True(ulps <= 2, $"Exp: {ulps:F2} ulp at x = {worst:R}");
        // Dense near 0, where softmax terms e^(x − max) live.
        (ulps, worst) = Sweep(LossVectorMath.Exp, Math.Exp, -1f, 1f, 61);
        Assert.True(ulps <= 2, $"Exp: {ulps:F2} ulp at x = {worst:R}");
    }

    [Fact]
    public void LogIsWithinTwoUlpsEverywhere()
    {
        var (ulps, worst) = Sweep(LossVectorMath.Log, Math.Log, float.Epsilon, float.MaxValue, 4099);
        Assert.True(ulps <= 2, $"Log: {ulps:F2} ulp at x = {worst:R}");
        // Dense near 1, where ln x is small and cancellation would show.
        (ulps, worst) = Sweep(LossVectorMath.Log, Math.Log, 0.5f, 2f, 61);
        Assert.True(ulps <= 2, $"Log: {ulps:F2} ulp at x = {worst:R}");
    }

    [Theory]
    [InlineData(float.PositiveInfinity, float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity, 0f)]
    [InlineData(88.8f, float.PositiveInfinity)]
    [InlineData(1000f, float.PositiveInfinity)]
    [InlineData(-104.5f, 0f)]
    [InlineData(-1000f, 0f)]
    [InlineData(0f, 1f)]
    [InlineData(float.NaN, float.NaN)]
    public void ExpSpecialValues(float x, float expected)
        => Assert.Equal(expected, LossVectorMath.Exp(Vector512.Create(x))[3]);

    [Theory]
    [InlineData(0f, float.NegativeInfinity)]
    [InlineData(-1f, float.NaN)]
    [InlineData(float.NegativeInfinity, float.NaN)]
    [InlineData(float.PositiveInfinity, float.PositiveInfinity)]
    [InlineData(1f, 0f)]
    [InlineData(float.NaN, float.NaN)]
    public void LogSpecialValues(float x, float expected)
        => Assert.Equal(expected, LossVectorMath.Log(Vector512.Create(x))[3]);

    /// <summary>xunit treats 0f and −0f as the same InlineData, so negative zero has its own test.</summary>
    [Fact]
    public void LogOfNegativeZeroIsMinusInfinity()
        => Assert.Equal(float.NegativeInfinity, LossVectorMath.Log(Vector512.Create(-0f))[3]);

    [Fact]
    public void ExpAndLogAgreeWithTheScalarVersionsOnSubnormals()
    {
        Assert.True(Ulps(LossVectorMath.Exp(Vector512.Create(-100f))[0], Math.Exp(-100)) <= 2);
        Assert.True(Ulps(LossVectorMath.Log(Vector512.Create(1e-40f))[0], Math.Log(1e-40f)) <= 2);
        Assert.True(Ulps(LossVectorMath.Log(Vector512.Create(float.Epsilon))[0], Math.Log(float.Epsilon)) <= 2);
    }
}

/// <summary>Pow with a whole-number exponent shared by all lanes (focal's γ = 2) takes the multiplication path.</summary>
public class VectorPowTests
{
    [Theory]
    [InlineData(0f)]
    [InlineData(1f)]
    [InlineData(2f)]
    [InlineData(3f)]
    [InlineData(4f)]
    [InlineData(2.5f)]
    public void PowMatchesMathPow(float exponent)
    {
        var bases = new float[] { 0f, 1e-30f, 0.3f, 0.999f, 1f, 1.7f, 20f, -0.5f, -3f, float.NaN, 1e-8f, 0.5f, 2f, 7f, 0.01f, 100f };
        var y = LossVectorMath.Pow(System.Runtime.Intrinsics.Vector512.Create(bases), System.Runtime.Intrinsics.Vector512.Create(exponent));
        for (int i = 0; i < bases.Length; i++)
        {
            double exact = Math.Pow(bases[i], exponent);
            if (double.IsNaN(exact)) { Assert.True(float.IsNaN(y[i]), $"{bases[i]}^{exponent}: {y[i]}"); continue; }
            Assert.True(Math.Abs(y[i] - exact) <= 4e-7 * Math.Abs(exact) + 1e-45, $"{bases[i]}^{exponent}: {y[i]} vs {exact}");
        }
    }

    [Fact]
    public void PowWithDifferentExponentsPerLaneStillWorks()
    {
        var a = System.Runtime.Intrinsics.Vector512.Create(1.5f);
        var b = System.Runtime.Intrinsics.Vector512.Create(2f).WithElement(3, 0.5f);
        var y = LossVectorMath.Pow(a, b);
        Reference.Near(2.25, y[0], 1e-6, 0, "1.5^2");
        Reference.Near(Math.Sqrt(1.5), y[3], 1e-6, 0, "1.5^0.5");
    }
}
