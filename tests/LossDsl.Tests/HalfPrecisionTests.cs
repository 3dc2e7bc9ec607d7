using System;
using System.Collections.Generic;
using System.Linq;
using LossDsl.Runtime;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LossDsl.Tests;

/// <summary>
/// float16 and bfloat16 predictions, on every backend, against a float64 TorchSharp-autograd reference on the same
/// (already rounded) inputs. Half precision computes in float32, as PyTorch's autocast does for losses: the loss comes
/// back in float32 and the gradient in the prediction's dtype.
/// <para>
/// Tolerances, stated per element. Loss: rtol 2e-5 plus 2e-6 × max|expected| (float32 arithmetic, as in
/// <see cref="GradientTruthTests"/>). Gradient: one rounding to the half dtype on top of that, so rtol u + 2e-5
/// with u = 2⁻¹¹ (float16) or 2⁻⁸ (bfloat16), plus 2e-6 × max|expected|, plus float16's subnormal spacing 2⁻²⁴
/// where a gradient underflows float16's normal range.
/// </para>
/// </summary>
public class HalfPrecisionTests
{
    public static IEnumerable<object[]> Matrix()
        => from c in GradientTruthTests.Cases
           where !c.Name.Contains("several") && !c.Name.Contains("chunked") && !c.Name.Contains("blocks")
           from dtype in new[] { ScalarType.Float16, ScalarType.BFloat16 }
           from reduction in new[] { nn.Reduction.None, nn.Reduction.Mean, nn.Reduction.Sum }
           from backend in new[] { Backend.Cpu, Backend.Ilgpu, Backend.TorchOps }
           select new object[] { c.Name, dtype, reduction, backend };

    public static double UnitRoundoff(ScalarType dtype) => dtype == ScalarType.Float16 ? Math.Pow(2, -11) : Math.Pow(2, -8);

    [Theory]
    [MemberData(nameof(Matrix))]
    public void MatchesTheFloat64ReferenceWithinTheStatedTolerance(string name, ScalarType dtype, nn.Reduction reduction, Backend backend)
    {
        using var _ = LossBackend.Use(backend);
        var c = GradientTruthTests.Cases.Single(k => k.Name == name);
        var g = new Generator(seed: 5 + Reference.Seed(name) + (ulong)reduction);
        var inputs = c.Inputs(dtype, g, false);

        var ref64 = inputs.Select(t => t.is_floating_point() ? t.to(ScalarType.Float64) : t).ToArray();
        var perSegment = c.Reference(ref64);
        var upstream = reduction == nn.Reduction.None ? torch.rand(perSegment.shape, dtype: ScalarType.Float64, generator: g) * 2 - 0.5 : null;
        Tensor Reduce(Tensor t) => reduction switch { nn.Reduction.None => t, nn.Reduction.Sum => t.sum(), _ => t.mean() };
        var (refValue, refGrad) = Reference.Autograd(x => Reduce(c.Reference(new[] { x }.Concat(ref64.Skip(1)).ToArray())), ref64[0], upstream);

        var leaf = inputs[0].detach().clone().requires_grad_(true);
        var value = c.Generated(new[] { leaf }.Concat(inputs.Skip(1)).ToArray(), reduction);
        Assert.Equal(ScalarType.Float32, value.dtype);
        if (upstream is null) value.backward();
        else value.backward(new[] { upstream.to(ScalarType.Float32) });
        Assert.Equal(dtype, leaf.grad!.dtype);

        double tiny = dtype == ScalarType.Float16 ? Math.Pow(2, -24) : 0;
        Reference.Close(refValue, value.detach(), 2e-5, 2e-6 * MaxAbs(refValue) + 1e-30, $"{name} {dtype} value");
        Reference.Close(refGrad, leaf.grad!, UnitRoundoff(dtype) + 2e-5, 2e-6 * MaxAbs(refGrad) + tiny + 1e-30, $"{name} {dtype} gradient");
    }

    private static double MaxAbs(Tensor t) => t.abs().max().to(ScalarType.Float64).item<double>();
}
