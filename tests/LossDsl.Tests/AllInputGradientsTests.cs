using System;
using System.Collections.Generic;
using System.Linq;
using LossDsl.Runtime;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LossDsl.Tests;

/// <summary>
/// Every float tensor that requires grad gets its gradient, not only the prediction: each truth-suite case with more
/// than one float tensor, with all of them requiring grad, against TorchSharp autograd on the reference composition
/// (float64, every reduction) and float64 finite differences. The fused kernels compute the prediction's gradient
/// only, so such a call goes to the torch-ops backend; forcing a fused backend says so.
/// </summary>
public class AllInputGradientsTests
{
    public static IEnumerable<object[]> Matrix()
        => from c in GradientTruthTests.Cases
           where FloatInputs(c).Length > 1 && !c.Name.Contains("several") && !c.Name.Contains("chunked") && !c.Name.Contains("blocks")
           from reduction in new[] { nn.Reduction.None, nn.Reduction.Mean, nn.Reduction.Sum }
           from backend in new[] { Backend.Auto, Backend.TorchOps }
           select new object[] { c.Name, reduction, backend };

    private static int[] FloatInputs(GradientTruthTests.Case c)
    {
        var inputs = c.Inputs(ScalarType.Float64, new Generator(1), false);
        return Enumerable.Range(0, inputs.Length).Where(i => inputs[i].is_floating_point()).ToArray();
    }

    private static Tensor Reduce(Tensor t, nn.Reduction r) => r switch { nn.Reduction.None => t, nn.Reduction.Sum => t.sum(), _ => t.mean() };

    /// <summary>Value and every float input's gradient of <paramref name="f"/> by backward().</summary>
    private static (Tensor Value, Tensor[] Grads) Backward(Func<Tensor[], Tensor> f, Tensor[] inputs, int[] floats, Tensor? upstream)
    {
        var leaves = inputs.Select((t, i) => floats.Contains(i) ? t.detach().clone().requires_grad_(true) : t).ToArray();
        var value = f(leaves);
        if (upstream is null) value.backward();
        else value.backward(new[] { upstream });
        return (value.detach(), floats.Select(i => leaves[i].grad!.detach().clone()).ToArray());
    }

    [Theory]
    [MemberData(nameof(Matrix))]
    public void EveryFloatInputGetsItsGradient(string name, nn.Reduction reduction, Backend backend)
    {
        using var _ = LossBackend.Use(backend);
        var c = GradientTruthTests.Cases.Single(k => k.Name == name);
        var g = new Generator(seed: 77 + Reference.Seed(name));
        var inputs = c.Inputs(ScalarType.Float64, g, false);
        var floats = FloatInputs(c);
        var upstream = reduction == nn.Reduction.None ? torch.rand(c.Reference(inputs).shape, dtype: ScalarType.Float64, generator: g) + 0.5 : null;

        var expected = Backward(t => Reduce(c.Reference(t), reduction), inputs, floats, upstream);
        var actual = Backward(t => c.Generated(t, reduction), inputs, floats, upstream);

        Reference.Close(expected.Value, actual.Value, 1e-9, 1e-12, $"{name} value");
        for (int k = 0; k < floats.Length; k++)
            Reference.Close(expected.Grads[k], actual.Grads[k], 1e-8, 1e-10 * expected.Grads[k].abs().max().item<double>() + 1e-300,
                $"{name}: gradient of input {floats[k]}");

        // Float64 central differences of J = Σ w ⊙ loss with respect to the last float input, whose gradient only the torch-ops form computes.
        int last = floats[^1];
        var w = upstream ?? torch.ones(c.Reference(inputs).shape, dtype: ScalarType.Float64);
        Tensor PerSegment(Tensor v) => c.Generated(inputs.Select((t, i) => i == last ? v : t).ToArray(), nn.Reduction.None);
        var (index, fd) = Reference.FiniteDifferences(PerSegment, inputs[last], w, coordinates: 8, seed: 3);
        var (_, grads) = Backward(t => (c.Generated(t, nn.Reduction.None) * w).sum(), inputs, floats, null);
        var flat = grads[^1].view(-1);
        double tol = 1e-7 * grads[^1].abs().max().item<double>() + 1e-9;
        for (int k = 0; k < index.Length; k++)
            Assert.True(Math.Abs(flat[index[k]].item<double>() - fd[k]) <= tol + 1e-5 * Math.Abs(fd[k]),
                $"{name}: ∂J/∂input{last}[{index[k]}] = {flat[index[k]].item<double>():R} by backward(), {fd[k]:R} by central differences.");
    }

    [Theory]
    [InlineData(Backend.Cpu)]
    [InlineData(Backend.Ilgpu)]
    public void AForcedFusedBackendSaysItComputesThePredictionsGradientOnly(Backend backend)
    {
        var a = torch.randn(4, 5, dtype: ScalarType.Float64).requires_grad_(true);
        var b = torch.randn(4, 5, dtype: ScalarType.Float64).requires_grad_(true);
        var e = Assert.Throws<NotSupportedException>(() => TestLosses.SymmetricKL(a, b, backend: backend));
        Assert.Contains("compute the gradient of 'a' only, and 'b' requires grad too", e.Message);
        Assert.Contains("Backends that can: TorchOps", e.Message);
    }
}
