using System;
using System.Linq;
using LossDsl.Runtime;
using TorchSharp;
using Xunit;
using static LossDsl.LossMath;
using static TorchSharp.torch;

namespace LossDsl.Tests;

/// <summary>A loss at the kernel ABI's target limit beyond the old one: three int targets (once CS1061 'Target2' in generated code).</summary>
public static partial class AbiLosses
{
    /// <summary>Cross-entropy against three labels of the same row (e.g. three annotators).</summary>
    [Loss]
    public static partial float ThreeLabelCE(ReadOnlySpan<float> logits, int a, int b, int c)
        => -LogSoftmax(logits, a) - LogSoftmax(logits, b) - LogSoftmax(logits, c);
}

/// <summary>The kernel ABI's slots in use: a loss with three int targets runs on every backend and matches TorchSharp autograd.</summary>
public class KernelAbiTests
{
    [Theory]
    [InlineData(Backend.Cpu)]
    [InlineData(Backend.Ilgpu)]
    [InlineData(Backend.TorchOps)]
    public void ThreeIntTargetsMatchTorchAutograd(Backend backend)
    {
        var g = new Generator(31);
        var x = torch.randn(7, 40, generator: g, dtype: ScalarType.Float64);
        var t = new[] { 0, 1, 2 }.Select(_ => torch.randint(0, 40, new long[] { 7 }, generator: g)).ToArray();

        var leaf = x.clone().requires_grad_(true);
        using (LossBackend.Use(backend)) AbiLosses.ThreeLabelCE(leaf, t[0], t[1], t[2]).backward();

        var (refValue, refGrad) = Reference.Autograd(z =>
        {
            var logp = z.log_softmax(1);
            return -(logp.gather(1, t[0].unsqueeze(1)) + logp.gather(1, t[1].unsqueeze(1)) + logp.gather(1, t[2].unsqueeze(1))).mean();
        }, x);
        using (LossBackend.Use(backend))
            Reference.Near(refValue.item<double>(), AbiLosses.ThreeLabelCE(x, t[0], t[1], t[2]).item<double>(), 1e-9, 1e-12, $"{backend} value");
        Reference.Close(refGrad, leaf.grad!, 1e-9, 1e-12, $"{backend} gradient");
    }
}
