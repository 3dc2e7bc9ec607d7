using System;
using System.Collections.Generic;
using System.Linq;
using LossDsl.Runtime;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LossDsl.Tests;

/// <summary>
/// Second derivatives through a generated loss, on every backend: under <c>create_graph</c> the backward recomputes
/// the derived gradient as differentiable torch ops, so a gradient penalty ∂/∂x ‖∂L/∂x‖² and a Hessian-vector
/// product H·v agree with TorchSharp autograd differentiating the reference composition twice.
/// <para>
/// Tolerances (float64): rtol 1e-7 plus 1e-9 × max|expected|; both sides compute in double, and the gap is
/// rounding in a different association order.
/// </para>
/// </summary>
public class DoubleBackwardTests
{
    public static IEnumerable<object[]> Matrix()
        => from c in GradientTruthTests.Cases
           // Larger variants repeat smaller cases' formulas; WeightedAgreement is linear in x, so its gradient has no graph.
           where !c.Name.Contains("several") && !c.Name.Contains("chunked") && !c.Name.StartsWith("WeightedAgreement")
           from reduction in new[] { nn.Reduction.Mean, nn.Reduction.None }
           from backend in new[] { Backend.Cpu, Backend.Ilgpu, Backend.TorchOps }
           select new object[] { c.Name, reduction, backend };

    /// <summary>∂L/∂x with its graph, for a scalar J = Σ w ⊙ loss(x).</summary>
    private static Tensor Gradient(Func<Tensor, Tensor> loss, Tensor x, Tensor? w)
    {
        var value = loss(x);
        var j = w is null ? value : (value * w).sum();
        return torch.autograd.grad(new[] { j }, new[] { x }, retain_graph: true, create_graph: true)[0];
    }

    /// <summary>Gradient penalty ∂/∂x ‖∂J/∂x‖² and Hessian-vector product H·v, both by double backward.</summary>
    private static (Tensor Penalty, Tensor Hvp) SecondOrder(Func<Tensor, Tensor> loss, Tensor x0, Tensor? w, Tensor v)
    {
        var x = x0.detach().clone().requires_grad_(true);
        var g = Gradient(loss, x, w);
        var penalty = torch.autograd.grad(new[] { (g * g).sum() }, new[] { x }, retain_graph: true)[0];
        var hvp = torch.autograd.grad(new[] { (g * v).sum() }, new[] { x })[0];
        return (penalty.detach(), hvp.detach());
    }

    [Theory]
    [MemberData(nameof(Matrix))]
    public void GradientPenaltyAndHessianVectorProductMatchAutograd(string name, nn.Reduction reduction, Backend backend)
    {
        using var _ = LossBackend.Use(backend);
        var c = GradientTruthTests.Cases.Single(k => k.Name == name);
        var g = new Generator(seed: 99 + Reference.Seed(name));
        var inputs = c.Inputs(ScalarType.Float64, g, false);
        var rest = inputs.Skip(1).ToArray();
        var perSegment = c.Reference(inputs);
        var w = reduction == nn.Reduction.None ? torch.rand(perSegment.shape, dtype: ScalarType.Float64, generator: g) + 0.5 : null;
        var v = torch.randn(inputs[0].shape, dtype: ScalarType.Float64, generator: g);

        Tensor Reduce(Tensor t) => reduction == nn.Reduction.None ? t : t.mean();
        var expected = SecondOrder(x => Reduce(c.Reference(new[] { x }.Concat(rest).ToArray())), inputs[0], w, v);
        var actual = SecondOrder(x => c.Generated(new[] { x }.Concat(rest).ToArray(), reduction), inputs[0], w, v);

        Reference.Close(expected.Penalty, actual.Penalty, 1e-7, 1e-9 * MaxAbs(expected.Penalty) + 1e-300, $"{name}: ∂/∂x ‖∂L/∂x‖²");
        Reference.Close(expected.Hvp, actual.Hvp, 1e-7, 1e-9 * MaxAbs(expected.Hvp) + 1e-300, $"{name}: H·v");
        Assert.True(MaxAbs(actual.Hvp) > 0, "the Hessian-vector product is not zero");
    }

    [Fact]
    public void SecondDerivativesReachEveryInputThatRequiresGrad()
    {
        // Symmetric KL between two rows, both trained: the Hessian-vector product over (a, b) against autograd.
        var c = GradientTruthTests.Cases.Single(k => k.Name.StartsWith("SymmetricKL"));
        var g = new Generator(seed: 5);
        var inputs = c.Inputs(ScalarType.Float64, g, false);
        var v = inputs.Select(t => torch.randn(t.shape, dtype: ScalarType.Float64, generator: g)).ToArray();

        Tensor[] Hvp(Func<Tensor[], Tensor> loss)
        {
            var leaves = inputs.Select(t => t.detach().clone().requires_grad_(true)).ToArray();
            var grads = torch.autograd.grad(new[] { loss(leaves) }, leaves, retain_graph: true, create_graph: true);
            var dot = grads.Zip(v, (gr, w) => (gr * w).sum()).Aggregate((x, y) => x + y);
            return torch.autograd.grad(new[] { dot }, leaves).Select(t => t.detach()).ToArray();
        }

        var expected = Hvp(t => c.Reference(t).mean());
        var actual = Hvp(t => c.Generated(t, nn.Reduction.Mean));
        for (int k = 0; k < expected.Length; k++)
            Reference.Close(expected[k], actual[k], 1e-7, 1e-9 * MaxAbs(expected[k]) + 1e-300, $"H·v, input {k}");
    }

    [Fact]
    public void FirstOrderBackwardStillUsesTheFusedGradient()
    {
        // Without create_graph the saved fused gradient is returned as is: a second backward through it has no graph.
        using var _ = LossBackend.Use(Backend.Cpu);
        var x = torch.randn(8, 5, dtype: ScalarType.Float64).requires_grad_(true);
        var t = torch.randint(0, 5, new long[] { 8 });
        var grad = torch.autograd.grad(new[] { LossDsl.Samples.Losses.Poly1(x, t) }, new[] { x })[0];
        Assert.False(grad.requires_grad);
    }

    private static double MaxAbs(Tensor t) => t.abs().max().item<double>();
}
