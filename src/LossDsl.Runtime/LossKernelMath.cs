using ILGPU.Algorithms;

namespace LossDsl.Runtime;

/// <summary>
/// The scalar functions generated kernels call, in double and in float precision, written so that they compile for
/// every ILGPU accelerator (XMath on CUDA) and stay finite where the math is finite.
/// </summary>
public static class LossKernelMath
{
    public static float Exp(float x) => XMath.Exp(x);

    public static float Log(float x) => XMath.Log(x);

    public static float Sqrt(float x) => XMath.Sqrt(x);

    public static float Abs(float x) => x < 0 ? -x : x;

    public static float Pow(float x, float y) => XMath.Pow(x, y);

    public static float Max(float a, float b) => a >= b ? a : b;

    public static float Min(float a, float b) => a <= b ? a : b;

    public static float Tanh(float x) => XMath.Tanh(x);

    /// <summary>1 / (1 + e^-x) without overflow for large |x|.</summary>
    public static float Sigmoid(float x)
    {
        if (x >= 0) return 1f / (1f + XMath.Exp(-x));
        float e = XMath.Exp(x);
        return e / (1f + e);
    }

    /// <summary>log(1 + e^x) = max(x, 0) + log1p(e^-|x|).</summary>
    public static float Softplus(float x) => Max(x, 0f) + Log1P(XMath.Exp(-Abs(x)));

    /// <summary>log σ(x) = −softplus(−x).</summary>
    public static float LogSigmoid(float x) => -Softplus(-x);

    /// <summary>The value itself; the derived gradient treats it as a constant.</summary>
    public static float StopGradient(float x) => x;

    /// <summary>log(1 + x), accurate for small x.</summary>
    public static float Log1P(float x)
    {
        float u = 1f + x;
        return u == 1f ? x : XMath.Log(u) * x / (u - 1f);
    }

    public static double Exp(double x) => XMath.Exp(x);

    public static double Log(double x) => XMath.Log(x);

    public static double Sqrt(double x) => XMath.Sqrt(x);

    public static double Abs(double x) => x < 0 ? -x : x;

    public static double Pow(double x, double y) => XMath.Pow(x, y);

    public static double Max(double a, double b) => a >= b ? a : b;

    public static double Min(double a, double b) => a <= b ? a : b;

    public static double Tanh(double x) => XMath.Tanh(x);

    /// <summary>1 / (1 + e^-x) without overflow for large |x|.</summary>
    public static double Sigmoid(double x)
    {
        if (x >= 0) return 1.0 / (1.0 + XMath.Exp(-x));
        double e = XMath.Exp(x);
        return e / (1.0 + e);
    }

    /// <summary>log(1 + e^x) = max(x, 0) + log1p(e^-|x|).</summary>
    public static double Softplus(double x) => Max(x, 0) + Log1P(XMath.Exp(-Abs(x)));

    /// <summary>log σ(x) = −softplus(−x).</summary>
    public static double LogSigmoid(double x) => -Softplus(-x);

    /// <summary>The value itself; the derived gradient treats it as a constant.</summary>
    public static double StopGradient(double x) => x;

    /// <summary>log(1 + x), accurate for small x.</summary>
    public static double Log1P(double x)
    {
        double u = 1.0 + x;
        return u == 1.0 ? x : XMath.Log(u) * x / (u - 1.0);
    }
}
