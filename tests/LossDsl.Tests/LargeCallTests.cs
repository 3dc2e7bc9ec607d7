using System;
using System.Diagnostics;
using LossDsl.Runtime;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;
using Poly1Losses = LossDsl.Samples.Losses;

namespace LossDsl.Tests;

/// <summary>
/// A class-row call past 2^31 elements on the fused CPU path: Poly-1 on [8193, 262144] logits (2^31 + 2^18 elements;
/// row 8192 starts at element 2^31), forward and backward, in float32 and in bfloat16 read in place. Opt-in for memory
/// (bfloat16: 4 GiB of logits, 8 GiB of float32 gradient, 4 GiB of bfloat16 gradient):
/// <c>LOSSDSL_LARGE=1 dotnet test tests/LossDsl.Tests --filter LargeCallTests</c>. Rows on both sides of 2^31 are checked
/// against a float64 torch-ops reference of the same rows.
/// </summary>
public class LargeCallTests(ITestOutputHelper output)
{
    private const long Rows = 8193, Classes = 262144;

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.BFloat16)]
    public void PastTwoToTheThirtyOneElements(ScalarType dtype)
    {
        if (Environment.GetEnvironmentVariable("LOSSDSL_LARGE") != "1") return;   // opt-in: needs about 17 GB
        Assert.True(Rows * Classes > (1L << 31));
        var g = new Generator(1);
        var t = torch.randint(0, Classes, new[] { Rows }, generator: g);
        using var x = torch.randn(new[] { Rows, Classes }, dtype: dtype, generator: g).requires_grad_(true);
        var checkRows = new long[] { 0, 4096, 8191, 8192 };   // 8192 starts at element 2^31
        var xs = x.detach().index_select(0, torch.tensor(checkRows)).to(ScalarType.Float64);
        var ts = t.index_select(0, torch.tensor(checkRows));

        var clock = Stopwatch.StartNew();
        using (LossBackend.Use(Backend.Cpu))
        {
            var loss = Poly1Losses.Poly1(x, t, reduction: nn.Reduction.Mean, epsilon: 1.0);
            loss.backward();
            output.WriteLine($"{dtype}: loss {loss.item<float>():R}, forward+backward {clock.Elapsed.TotalSeconds:F1} s, peak working set {Process.GetCurrentProcess().PeakWorkingSet64 / 1e9:F1} GB");
            Assert.True(float.IsFinite(loss.item<float>()));
        }
        Assert.Equal(dtype, x.grad!.dtype);

        // The same rows in float64 through torch ops: Poly-1 = −log p_t + (1 − p_t), its gradient (p − onehot)(1 + p_t)/N.
        var z = xs.clone().requires_grad_(true);
        var logp = z.log_softmax(1).gather(1, ts.unsqueeze(1)).squeeze(1);
        (-logp + (1 - logp.exp())).sum().div(Rows).backward();
        var grad = x.grad!.index_select(0, torch.tensor(checkRows)).to(ScalarType.Float64);
        double scale = z.grad!.abs().max().item<double>();
        double error = (grad - z.grad!).abs().max().item<double>() / scale;
        output.WriteLine($"{dtype}: gradient of rows {string.Join(", ", checkRows)} within {error:E2} of the row's largest (float64 reference)");
        Assert.True(error < (dtype == ScalarType.BFloat16 ? 1e-2 : 1e-5), $"gradient error {error}");
    }
}
