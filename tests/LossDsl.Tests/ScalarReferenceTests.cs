using System;
using LossDsl.Samples;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LossDsl.Tests;

using Losses = LossDsl.Samples.Losses;   // the sample class, not the namespace LossDsl.Losses (found first from LossDsl.Tests)

/// <summary>The loss bodies are real C#: called directly on spans they agree with the generated tensor path.</summary>
public class ScalarReferenceTests
{
    [Fact]
    public void Poly1BodyMatchesTheGeneratedRowLoss()
    {
        var x = torch.randn(5, 6, generator: new Generator(11));
        var t = torch.randint(0, 6, new long[] { 5 }, generator: new Generator(12));
        var perRow = Losses.Poly1(x, t, epsilon: 0.7, reduction: nn.Reduction.None).data<float>().ToArray();
        var rows = x.data<float>().ToArray();
        for (int i = 0; i < 5; i++)
        {
            float scalar = Losses.Poly1(rows.AsSpan(i * 6, 6), (int)t[i].item<long>(), 0.7f);
            Reference.Near(perRow[i], scalar, 2e-6, 1e-7, $"row {i}");
        }
    }

    [Fact]
    public void FocalBodyMatchesTheGeneratedElementwiseLoss()
    {
        var x = torch.randn(20, generator: new Generator(13)) * 4;
        var y = (torch.rand(20, generator: new Generator(14)) > 0.5).to(ScalarType.Float32);
        var loss = Losses.SigmoidFocal(x, y, reduction: nn.Reduction.None).data<float>().ToArray();
        var xs = x.data<float>().ToArray();
        var ys = y.data<float>().ToArray();
        for (int i = 0; i < 20; i++) Reference.Near(loss[i], Losses.SigmoidFocal(xs[i], ys[i]), 2e-6, 1e-7, $"element {i}");
    }
}
