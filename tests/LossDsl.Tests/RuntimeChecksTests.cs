using System;
using LossDsl.Runtime;
using LossDsl.Samples;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LossDsl.Tests;

using Losses = LossDsl.Samples.Losses;   // the sample class, not the namespace LossDsl.Losses (found first from LossDsl.Tests)

/// <summary>Bad tensors raise a clear .NET exception naming the argument; layout details are handled.</summary>
public class RuntimeChecksTests
{
    [Fact]
    public void TargetOfWrongLengthNamesTheTarget()
    {
        var e = Assert.Throws<ArgumentException>(() => Losses.Poly1(torch.randn(4, 3), torch.zeros(5, dtype: ScalarType.Int64)));
        Assert.Equal("target", e.ParamName);
        Assert.Contains("[5]", e.Message);
    }

    [Fact]
    public void LogitsThatAreNotRowsAreRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => Losses.Poly1(torch.randn(4), torch.zeros(4, dtype: ScalarType.Int64)));
        Assert.Equal("logits", e.ParamName);
    }

    [Fact]
    public void ClassAxisOneTargetsMustDropTheClassAxis()
    {
        var e = Assert.Throws<ArgumentException>(() => Losses.Poly1(torch.randn(4, 3, 2), torch.zeros(4, dtype: ScalarType.Int64)));
        Assert.Equal("target", e.ParamName);
        Assert.Contains("expected [4, 2]", e.Message);
    }

    [Theory]
    [InlineData(Backend.Cpu)]
    [InlineData(Backend.Ilgpu)]
    [InlineData(Backend.TorchOps)]
    public void ClassAxisOneWithIgnoredPositionsMatchesCrossEntropy(Backend backend)
    {
        // Poly-1 at ε = 0 is cross-entropy: compare with TorchSharp's own cross_entropy on [N, C, d1, d2].
        using var _ = LossBackend.Use(backend);
        var x = torch.randn(new long[] { 2, 5, 3, 4 }, dtype: ScalarType.Float64);
        var t = torch.randint(0, 5, new long[] { 2, 3, 4 });
        t[0, 1, 2] = torch.tensor(-100L);
        t[1, 0, 0] = torch.tensor(-100L);
        foreach (var reduction in new[] { nn.Reduction.Mean, nn.Reduction.Sum, nn.Reduction.None })
        {
            var leaf = x.clone().requires_grad_(true);
            var loss = Losses.Poly1(leaf, t, epsilon: 0, reduction: reduction);
            var (refValue, refGrad) = Reference.Autograd(z => F.cross_entropy(z, t, ignore_index: -100, reduction: reduction), x,
                reduction == nn.Reduction.None ? torch.ones(2, 3, 4, dtype: ScalarType.Float64) : null);
            if (reduction == nn.Reduction.None) loss.backward(new[] { torch.ones(2, 3, 4, dtype: ScalarType.Float64) });
            else loss.backward();
            Reference.Close(refValue, loss.detach(), 1e-10, 1e-12, $"{reduction} value");
            Reference.Close(refGrad, leaf.grad!, 1e-10, 1e-12, $"{reduction} gradient");
        }
    }

    [Fact]
    public void SetTensorsMustHaveTheSameShape()
    {
        var e = Assert.Throws<ArgumentException>(() => Losses.Tversky(torch.randn(2, 3, 4), torch.zeros(2, 3, 5)));
        Assert.Equal("targets", e.ParamName);
    }

    [Fact]
    public void IntegerLogitsAreRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => Losses.Poly1(torch.zeros(4, 3, dtype: ScalarType.Int32), torch.zeros(4, dtype: ScalarType.Int64)));
        Assert.Equal("logits", e.ParamName);
        Assert.Contains("float32, float64, float16 and bfloat16", e.Message);
    }

    [Fact]
    public void FloatTargetsOfAnotherDtypeAreConvertedToTheComputeDtype()
    {
        var x = torch.randn(5);
        var y = torch.tensor(new double[] { 0, 1, 1, 0, 1 });
        var mixed = Losses.SigmoidFocal(x, y);
        var same = Losses.SigmoidFocal(x, y.to(ScalarType.Float32));
        Assert.Equal(ScalarType.Float32, mixed.dtype);
        Assert.Equal(same.item<float>(), mixed.item<float>());
    }

    [Fact]
    public void FloatClassIndicesAreRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => Losses.Poly1(torch.randn(4, 3), torch.zeros(4)));
        Assert.Equal("target", e.ParamName);
    }

    [Theory]
    [InlineData(3L)]
    [InlineData(-1L)]
    public void TargetOutOfRangeNamesRowAndValue(long bad)
    {
        var t = torch.tensor(new long[] { 0, 1, bad, 2 });
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Losses.Poly1(torch.randn(4, 3), t));
        Assert.Equal("target", e.ParamName);
        Assert.Contains($"'target'[2] = {bad}", e.Message);
    }

    [Fact]
    public void TensorsOnDifferentDevicesAreRejected()
    {
        var meta = torch.empty(new long[] { 4, 3 }, device: torch.META);
        var e = Assert.Throws<ArgumentException>(() => Losses.Poly1(meta, torch.zeros(4, dtype: ScalarType.Int64)));
        Assert.Equal("target", e.ParamName);
        Assert.Contains("one device", e.Message);
    }

    [Fact]
    public void IgnoredRowsHaveNoLossNoGradientAndLeaveTheMean()
    {
        var x = torch.randn(6, 4, dtype: ScalarType.Float64).requires_grad_(true);
        var t = torch.tensor(new long[] { 1, -100, 3, 0, -100, 2 });
        var loss = Losses.Poly1(x, t);
        loss.backward();

        var keep = t != -100;
        var (refValue, refGrad) = Reference.Autograd(z =>
        {
            var logp = F.log_softmax(z[keep], 1).gather(1, t[keep].unsqueeze(1)).squeeze(1);
            return (-logp + (1 - logp.exp())).mean();
        }, x);
        Reference.Close(refValue, loss.detach(), 1e-9, 1e-12, "value");
        Reference.Close(refGrad[keep], x.grad![keep], 1e-9, 1e-12, "kept rows");
        Assert.Equal(0.0, x.grad![~keep].abs().sum().item<double>());

        var none = Losses.Poly1(x.detach(), t, reduction: nn.Reduction.None);
        Assert.Equal(0.0, none[1].item<double>());
    }

    [Fact]
    public void NonContiguousInputsGiveTheContiguousResult()
    {
        var xt = torch.randn(5, 8, dtype: ScalarType.Float64);   // [C, N], transposed below to a strided [N, C]
        var t = torch.randint(0, 5, new long[] { 8 });
        var strided = xt.t();
        Assert.False(strided.is_contiguous());
        var a = Losses.Poly1(strided, t, reduction: nn.Reduction.None);
        var b = Losses.Poly1(strided.contiguous(), t, reduction: nn.Reduction.None);
        Reference.Close(b, a, 0, 0, "strided vs contiguous");
    }

    [Fact]
    public void HyperparametersAreRuntimeArguments()
    {
        var x = torch.randn(6, 4, dtype: ScalarType.Float64);
        var t = torch.randint(0, 4, new long[] { 6 });
        var ce = -F.log_softmax(x, 1).gather(1, t.unsqueeze(1)).squeeze(1).mean();
        Reference.Close(ce, Losses.Poly1(x, t, epsilon: 0), 1e-9, 1e-12, "Poly-1 at ε = 0 is cross-entropy");
        Assert.NotEqual(Losses.Poly1(x, t, epsilon: 0).item<double>(), Losses.Poly1(x, t, epsilon: 2).item<double>());
    }

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.Float16)]
    [InlineData(ScalarType.BFloat16)]
    public void ModuleDropsIntoATrainingStep(ScalarType dtype)
    {
        var model = nn.Linear(3, 4);
        model.to(dtype);
        var criterion = new Losses.Poly1Loss(epsilon: 1.0);
        var optimizer = optim.SGD(model.parameters(), 0.5);
        var x = torch.randn(32, 3, generator: new Generator(3)).to(dtype);
        var t = x.argmax(1);   // a learnable target
        double first = 0, last = 0;
        for (int step = 0; step < 30; step++)
        {
            optimizer.zero_grad();
            var loss = criterion.call(model.call(x), t);
            loss.backward();
            optimizer.step();
            if (step == 0) first = loss.item<float>();
            last = loss.item<float>();
        }
        Assert.True(last < 0.7 * first, $"loss fell from {first} to {last}");
    }
}
