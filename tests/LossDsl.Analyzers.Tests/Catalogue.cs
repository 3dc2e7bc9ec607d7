namespace LossDsl.Analyzers.Tests;

/// <summary>
/// The losses of /work/shared/LOSSES.md (those the DSL can express) as LossDsl source, for the verdict table in
/// docs/calibration.md. Each loss names its task where inference would not (see LossAttribute.Task).
/// </summary>
public static class Catalogue
{
    public const string Source = Harness.Usings + """
namespace Catalogue;

public static partial class ClassRow
{
    [Loss]
    public static partial float CrossEntropy(ReadOnlySpan<float> logits, int target) => -LogSoftmax(logits, target);

    [Loss]
    public static partial float LabelSmoothedCE(ReadOnlySpan<float> logits, int target, float smoothing = 0.1f)
    {
        float lse = LogSumExp(logits);
        float nll = lse - logits[target];
        float smooth = Mean(logits, z => lse - z);
        return (1 - smoothing) * nll + smoothing * smooth;
    }

    [Loss]
    public static partial float Poly1(ReadOnlySpan<float> logits, int target, float epsilon = 1f)
        => -LogSoftmax(logits, target) + epsilon * (1 - Softmax(logits, target));

    [Loss]
    public static partial float PolyN(ReadOnlySpan<float> logits, int target, float epsilon1 = 1f, float epsilon2 = 0.5f)
    {
        float q = 1 - Softmax(logits, target);
        return -LogSoftmax(logits, target) + epsilon1 * q + epsilon2 * q * q;
    }

    [Loss]
    public static partial float SoftmaxFocal(ReadOnlySpan<float> logits, int target, float gamma = 2f)
    {
        float logp = LogSoftmax(logits, target);
        return -Pow(1 - Exp(logp), gamma) * logp;
    }

    [Loss]
    public static partial float GeneralizedCE(ReadOnlySpan<float> logits, int target, float q = 0.7f)
        => (1 - Pow(Softmax(logits, target), q)) / q;

    [Loss]
    public static partial float MeanAbsoluteError(ReadOnlySpan<float> logits, int target) => 1 - Softmax(logits, target);

    [Loss]
    public static partial float NormalizedCE(ReadOnlySpan<float> logits, int target)
    {
        float lse = LogSumExp(logits);
        return LogSoftmax(logits, target) / Sum(logits, z => z - lse);
    }

    /// <summary>RCE with log 0 clipped to A: −Σ_c p_c log q_c = −A(1 − p_t).</summary>
    [Loss]
    public static partial float ReverseCE(ReadOnlySpan<float> logits, int target, float a = -4f)
        => -a * (1 - Softmax(logits, target));

    [Loss]
    public static partial float Squentropy(ReadOnlySpan<float> logits, int target)
    {
        float lse = LogSumExp(logits);
        float squares = Sum(logits, z => Exp(2 * (z - lse)));
        float pt = Softmax(logits, target);
        return -LogSoftmax(logits, target) + (squares - pt * pt) / (logits.Length - 1);
    }

    [Loss]
    public static partial float ZLoss(ReadOnlySpan<float> logits, int target, float lambda = 1e-4f)
    {
        float lse = LogSumExp(logits);
        return lse - logits[target] + lambda * lse * lse;
    }

    [Loss]
    public static partial float Distill(ReadOnlySpan<float> student, ReadOnlySpan<float> teacher, float temperature = 2f)
    {
        float ls = LogSumExp(student, s => s / temperature);
        float lt = LogSumExp(teacher, t => t / temperature);
        return temperature * temperature * Sum(student, teacher, (s, t) => Exp(t / temperature - lt) * (t / temperature - lt - (s / temperature - ls)));
    }
}

public static partial class Elementwise
{
    [Loss(Task = LossTask.BinaryLogit)]
    public static partial float BceWithLogits(float logit, float target) => Softplus(logit) - target * logit;

    [Loss(Task = LossTask.BinaryLogit)]
    public static partial float SigmoidFocal(float logit, float target, float gamma = 2f)
    {
        float p = Sigmoid(logit);
        float ce = Softplus(logit) - logit * target;
        float pt = p * target + (1 - p) * (1 - target);
        return ce * Pow(1 - pt, gamma);
    }

    [Loss(Task = LossTask.BinaryLogit)]
    public static partial float SigmoidFocalAlpha(float logit, float target, float alpha = 0.25f, float gamma = 2f)
    {
        float p = Sigmoid(logit);
        float ce = Softplus(logit) - logit * target;
        float pt = p * target + (1 - p) * (1 - target);
        float at = alpha * target + (1 - alpha) * (1 - target);
        return at * ce * Pow(1 - pt, gamma);
    }

    [Loss(Task = LossTask.BinaryLogit)]
    public static partial float AsymmetricLoss(float logit, float target, float gammaPos = 0f, float gammaNeg = 4f, float clip = 0.05f)
    {
        float p = Sigmoid(logit);
        float pm = Max(p - clip, 0);
        return -(target * Pow(1 - p, gammaPos) * LogSigmoid(logit) + (1 - target) * Pow(pm, gammaNeg) * Log(1 - pm));
    }

    [Loss(Task = LossTask.BinaryProbability)]
    public static partial float Brier(float probability, float target) => Square(probability - target);

    [Loss(Task = LossTask.BinaryProbability)]
    public static partial float ClampedLogLoss(float probability, float target, float eps = 1e-7f)
    {
        float q = Clamp(probability, eps, 1 - eps);
        return -(target * Log(q) + (1 - target) * Log(1 - q));
    }

    [Loss]
    public static partial float Huber(float prediction, float target, float delta = 1f)
    {
        float r = prediction - target;
        return Abs(r) <= delta ? 0.5f * r * r : delta * (Abs(r) - 0.5f * delta);
    }

    [Loss(Task = LossTask.Regression)]
    public static partial float Quantile(float prediction, float target, float tau = 0.9f)
    {
        float r = target - prediction;
        return Max(tau * r, (tau - 1) * r);
    }
}

public static partial class MarginLosses
{
    [Loss] public static partial float Logistic(float margin) => Softplus(-margin);
    [Loss] public static partial float Hinge(float margin) => Max(0, 1 - margin);
    [Loss] public static partial float SquaredHinge(float margin) => Square(Max(0, 1 - margin));
    [Loss] public static partial float Exponential(float margin) => Exp(-margin);
    [Loss] public static partial float SquaredControl(float margin) => Square(1 + margin);
    [Loss] public static partial float SigmoidMargin(float margin) => 1 - Tanh(margin);
    [Loss] public static partial float IncreasingControl(float margin) => Sigmoid(margin);
}

public static partial class SetLosses
{
    [Loss(Shape = LossShape.ChannelSet)]
    public static partial float SoftDice(ReadOnlySpan<float> p, ReadOnlySpan<float> y, float smooth = 1f)
    {
        float tp = Sum(p, y, (pi, yi) => pi * yi);
        float fp = Sum(p, y, (pi, yi) => pi * (1 - yi));
        float fn = Sum(p, y, (pi, yi) => (1 - pi) * yi);
        return 1 - (2 * tp + smooth) / (2 * tp + fp + fn + smooth);
    }

    [Loss(Shape = LossShape.ChannelSet)]
    public static partial float FocalTversky(ReadOnlySpan<float> p, ReadOnlySpan<float> y, float alpha = 0.3f, float beta = 0.7f, float gamma = 0.75f, float smooth = 1f)
    {
        float tp = Sum(p, y, (pi, yi) => pi * yi);
        float fp = Sum(p, y, (pi, yi) => pi * (1 - yi));
        float fn = Sum(p, y, (pi, yi) => (1 - pi) * yi);
        return Pow(1 - (tp + smooth) / (tp + alpha * fp + beta * fn + smooth), gamma);
    }

    [Loss(Shape = LossShape.ChannelSet)]
    public static partial float SoftJaccard(ReadOnlySpan<float> p, ReadOnlySpan<float> y, float smooth = 1f)
    {
        float tp = Sum(p, y, (pi, yi) => pi * yi);
        float fp = Sum(p, y, (pi, yi) => pi * (1 - yi));
        float fn = Sum(p, y, (pi, yi) => (1 - pi) * yi);
        return 1 - (tp + smooth) / (tp + fp + fn + smooth);
    }
}
""";
}
