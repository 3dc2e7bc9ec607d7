using System;
using System.Collections.Generic;
using System.Linq;
using LossDsl.Runtime;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LossDsl.Tests;

using Losses = LossDsl.Samples.Losses;

/// <summary>
/// A second backward through a generated loss without <c>retain_graph</c> fails as it does through the same formula
/// composed from TorchSharp ops: the same exception type and torch's "Trying to backward through the graph a second
/// time" message, with every gradient bitwise unchanged. With <c>retain_graph: true</c> the second backward runs and
/// the gradients add up to exactly twice the first. Every backend (Cpu, Ilgpu, TorchOps, Auto), every shape of
/// <see cref="GradientTruthTests.Cases"/> (elementwise, class row, sets, per-image sets), pair losses, a multiclass set
/// loss and the fused linear form. (Double backward and create_graph: <see cref="DoubleBackwardTests"/>.)
/// </summary>
public class SecondBackwardTests
{
    private const string TorchMessage = "Trying to backward through the graph a second time";

    public static readonly Backend[] AllBackends = { Backend.Cpu, Backend.Ilgpu, Backend.TorchOps, Backend.Auto };

    public static IEnumerable<object[]> Matrix()
        => from c in GradientTruthTests.Cases
           // The larger variants repeat smaller cases' shapes with more data.
           where !c.Name.Contains("several") && !c.Name.Contains("chunked") && !c.Name.Contains("blocks") && !c.Name.Contains("wide rows")
           from reduction in new[] { nn.Reduction.Mean, nn.Reduction.None }
           from backend in AllBackends
           select new object[] { c.Name, reduction, backend };

    public static TheoryData<Backend> Backends => new(AllBackends);

    /// <summary>Backward once (retaining the graph or not), then again: the second backward's exception, and the gradients before and after it.</summary>
    private static (Exception? Error, Tensor[] Before, Tensor[] After) TwoBackwards(Func<Tensor[], Tensor> loss, Tensor[] inputs, Generator g, bool retain, bool allInputs)
    {
        // The fused backends differentiate the prediction only; Auto and TorchOps every float input.
        var leaves = inputs.Select((t, i) => t.is_floating_point() && (i == 0 || allInputs) ? t.detach().clone().requires_grad_(true) : t).ToArray();
        var value = loss(leaves);
        // A non-uniform upstream gradient for per-segment losses, the same for both calls.
        var upstream = value.dim() == 0 ? null : new[] { torch.rand(value.shape, dtype: value.dtype, generator: g) + 0.5 };
        value.backward(upstream, retain_graph: retain);
        Tensor[] Grads() => leaves.Where(t => t.requires_grad).Select(t => t.grad!.detach().clone()).ToArray();
        var before = Grads();
        var error = Record.Exception(() => value.backward(upstream));
        return (error, before, Grads());
    }

    private static bool Bitwise(Tensor a, Tensor b)
        => a.shape.SequenceEqual(b.shape)
           && a.to(ScalarType.Float64).data<double>().ToArray().Select(BitConverter.DoubleToInt64Bits)
               .SequenceEqual(b.to(ScalarType.Float64).data<double>().ToArray().Select(BitConverter.DoubleToInt64Bits));

    private static void AgreeWithTorch(Func<Tensor[], Tensor> generated, Func<Tensor[], Tensor> reference, Func<Tensor[]> inputs, string label)
    {
        bool all = LossBackend.Current is Backend.Auto or Backend.TorchOps;
        // Without retain_graph: both fail, alike, and nothing moved.
        var (error, before, after) = TwoBackwards(generated, inputs(), new Generator(seed: 3), retain: false, all);
        var (torchError, _, _) = TwoBackwards(reference, inputs(), new Generator(seed: 3), retain: false, all);
        Assert.True(torchError is not null, $"{label}: the torch composition's second backward did not fail");
        Assert.True(error is not null, $"{label}: a second backward without retain_graph succeeded");
        Assert.Equal(torchError!.GetType(), error!.GetType());
        Assert.Contains(TorchMessage, torchError.Message);
        Assert.Contains(TorchMessage, error.Message);
        Assert.Equal(before.Length, after.Length);
        for (int k = 0; k < before.Length; k++)
            Assert.True(Bitwise(before[k], after[k]), $"{label}: gradient {k} changed in the failed second backward");

        // With retain_graph: the second backward runs, and the same gradient is added again.
        var (retainedError, once, twice) = TwoBackwards(generated, inputs(), new Generator(seed: 3), retain: true, all);
        Assert.Null(retainedError);
        for (int k = 0; k < once.Length; k++)
            Assert.True(Bitwise(once[k] * 2, twice[k]), $"{label}: gradient {k} after two retained backwards is not twice the first");
    }

    [Theory]
    [MemberData(nameof(Matrix))]
    public void SecondBackwardWithoutRetainGraphFailsAsInTorch(string name, nn.Reduction reduction, Backend backend)
    {
        using var _ = LossBackend.Use(backend);
        var c = GradientTruthTests.Cases.Single(k => k.Name == name);
        Tensor[] Inputs() => c.Inputs(ScalarType.Float64, new Generator(seed: 11 + Reference.Seed(name)), false);
        Tensor Reduce(Tensor t) => reduction == nn.Reduction.None ? t : t.mean();
        AgreeWithTorch(t => c.Generated(t, reduction), t => Reduce(c.Reference(t)), Inputs, $"{name} {reduction} {backend}");
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void PairAndMulticlassSetLossesFailAsInTorch(Backend backend)
    {
        using var _ = LossBackend.Use(backend);
        var labels = torch.tensor(new long[] { 0, 1, 0, 2, 1, 2 });
        Tensor[] Pairs() => new[] { torch.rand(6, 6, dtype: ScalarType.Float64, generator: new Generator(seed: 5)) * 2 - 1 };
        // The composition: any differentiable formula of the pairs; only its second-backward behaviour is compared.
        AgreeWithTorch(t => Losses.SupCon(t[0], labels), t => (t[0] * 3).exp().mean(), Pairs, $"SupCon {backend}");

        var mask = torch.randint(0, 3, new long[] { 2, 4, 4 }, generator: new Generator(seed: 6));
        Tensor[] Logits() => new[] { torch.randn(new long[] { 2, 3, 4, 4 }, dtype: ScalarType.Float64, generator: new Generator(seed: 7)) };
        AgreeWithTorch(t => Losses.DiceCE(t[0], mask), t => nn.functional.cross_entropy(t[0], mask), Logits, $"DiceCE {backend}");
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void TheFusedLinearFormFailsAsInTorch(Backend backend)
    {
        var targets = torch.randint(0, 7, new long[] { 8 }, generator: new Generator(seed: 8));
        Tensor[] Inputs()
        {
            var g = new Generator(seed: 9);
            return new[] { torch.randn(8, 5, dtype: ScalarType.Float64, generator: g), torch.randn(7, 5, dtype: ScalarType.Float64, generator: g) };
        }
        foreach (var reduction in new[] { nn.Reduction.Mean, nn.Reduction.None })
            AgreeWithTorch(t => Losses.Poly1Linear(t[0], t[1], null, targets, epsilon: 1, reduction: reduction, backend: backend),
                t => nn.functional.cross_entropy(nn.functional.linear(t[0], t[1]), targets, reduction: reduction), Inputs, $"Poly1Linear {reduction} {backend}");
    }

    /// <summary>
    /// Three backward passes through a retained graph, with .grad scaled in place between them (as gradient clipping
    /// does): each pass adds the gradient of the first once more, as through the torch composition. Backward hands a
    /// saved gradient to autograd without a copy when the upstream gradient is 1, and autograd keeps it as .grad; the
    /// saved gradient used to be that same tensor, so the second pass's accumulation changed it, and the third pass
    /// raised "modified by an inplace operation" inside the autograd callback, which ended the test host.
    /// </summary>
    [Theory]
    [MemberData(nameof(Backends))]
    public void ARetainedGraphGivesTheSameGradientEveryTimeAfterGradIsChangedInPlace(Backend backend)
    {
        using var _ = LossBackend.Use(backend);
        var targets = torch.randint(0, 7, new long[] { 8 }, generator: new Generator(seed: 12));
        var g = new Generator(seed: 13);
        var logits = torch.randn(8, 7, dtype: ScalarType.Float64, generator: g);
        var hidden = torch.randn(8, 5, dtype: ScalarType.Float64, generator: g);
        var classifier = torch.randn(7, 5, dtype: ScalarType.Float64, generator: g);
        var losses = new (string Name, Func<Tensor[], Tensor> Generated, Func<Tensor[], Tensor> Reference, Tensor[] Inputs)[]
        {
            ("CrossEntropy Mean", t => TestLosses.CrossEntropy(t[0], targets), t => nn.functional.cross_entropy(t[0], targets), new[] { logits }),
            ("CrossEntropy Sum", t => TestLosses.CrossEntropy(t[0], targets, reduction: nn.Reduction.Sum),
                t => nn.functional.cross_entropy(t[0], targets, reduction: nn.Reduction.Sum), new[] { logits }),
            ("Poly1Linear Mean", t => Losses.Poly1Linear(t[0], t[1], null, targets, epsilon: 0, backend: backend),
                t => nn.functional.cross_entropy(nn.functional.linear(t[0], t[1]), targets), new[] { hidden, classifier }),
        };
        foreach (var (name, generated, reference, inputs) in losses)
        {
            Tensor[] ThreeBackwards(Func<Tensor[], Tensor> loss)
            {
                var leaves = inputs.Select(t => t.detach().clone().requires_grad_(true)).ToArray();
                var value = loss(leaves);
                value.backward(retain_graph: true);
                foreach (var l in leaves) l.grad!.mul_(0.5);
                value.backward(retain_graph: true);
                value.backward();
                return leaves.Select(l => l.grad!.detach().clone()).ToArray();
            }
            var expected = ThreeBackwards(reference);
            var actual = ThreeBackwards(generated);
            for (int k = 0; k < expected.Length; k++)
                Reference.Close(expected[k], actual[k], 1e-12, 1e-12, $"{name} {backend}: gradient {k} after three retained backwards");
        }
    }
}
