using System;
using System.Collections.Generic;
using System.Linq;
using LossDsl.Runtime;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LossDsl.Tests;

using Losses = LossDsl.Samples.Losses;

/// <summary>
/// A bug class of fused-loss kernels (Liger-Kernel wrote the gradient into the logits' storage, and scaled the upstream
/// gradient in place): every tensor a call reads, the logits, the targets, the weights and the upstream gradient, is
/// bitwise unchanged after forward and after backward. Every shape (each <see cref="GradientTruthTests.Cases"/> loss:
/// class rows, elementwise, channel sets, whole-batch and per-image sets; plus class and element weights, a multiclass
/// set, pair rows and the fused linear form), every backend, float32 and bfloat16, with an explicit upstream gradient:
/// a non-uniform one for reduction None, a scalar other than 1 for Mean.
/// <para>Values are checked elsewhere: reduction None with a non-uniform upstream gradient against an independent
/// reference in <see cref="GradientTruthTests.MatchesTorchAutograd"/> (elementwise, class rows, sets),
/// MulticlassSegmentationTests.PerClassLossesTakeTheirOwnUpstreamGradient, MetricLearningTests.SupConPerRowTakesItsOwnUpstreamGradient
/// and FusedLinearTests.MatchesTheMaterializedPath, each on every backend.</para>
/// </summary>
public class InputsUntouchedTests
{
    /// <summary>A call: its inputs (the first <c>Trained</c> of them get gradients) and the loss on them.</summary>
    private sealed record Call(string Name, int Trained, Func<ScalarType, Generator, Tensor[]> Inputs, Func<Tensor[], nn.Reduction, Tensor> Loss);

    private static Tensor Randn(Generator g, ScalarType dt, params long[] shape)
        => torch.randn(shape, dtype: ScalarType.Float64, generator: g).to(dt);

    private static readonly Call[] Extra =
    {
        new("Poly1 with class weights and ignored rows", 1,
            (dt, g) =>
            {
                var t = torch.randint(0, 7, new long[] { 9 }, generator: g);
                t[3] = torch.tensor(-100L);
                return new[] { Randn(g, dt, 9, 7), t, (torch.rand(new long[] { 7 }, dtype: ScalarType.Float64, generator: g) + 0.5).to(dt) };
            },
            (t, r) => Losses.Poly1(t[0], t[1], weight: t[2], reduction: r)),
        new("SigmoidFocal with element weights", 1,
            (dt, g) => new[] { Randn(g, dt, 5, 6), (torch.rand(new long[] { 5, 6 }, generator: g) < 0.4).to(dt), (torch.rand(new long[] { 5, 6 }, dtype: ScalarType.Float64, generator: g) + 0.5).to(dt) },
            (t, r) => Losses.SigmoidFocal(t[0], t[1], weight: t[2], reduction: r)),
        new("DiceCE (multiclass set, int64 mask)", 1,
            (dt, g) => new[] { Randn(g, dt, 2, 4, 5, 6), torch.randint(0, 4, new long[] { 2, 5, 6 }, generator: g) },
            (t, r) => Losses.DiceCE(t[0], t[1], reduction: r)),
        new("SupCon (pair rows)", 1,
            (dt, g) =>
            {
                var e = F.normalize(torch.randn(new long[] { 12, 8 }, dtype: ScalarType.Float64, generator: g), dim: 1);
                return new[] { e.matmul(e.t()).to(dt), torch.tensor(new long[] { 0, 0, 1, 1, 1, 2, 2, 3, 4, 4, 0, 5 }) };
            },
            (t, r) => Losses.SupCon(t[0], t[1], reduction: r)),
        new("Poly1Linear (fused linear: hidden, classifier, bias, class weights)", 3,
            (dt, g) =>
            {
                var t = torch.randint(0, 13, new long[] { 10 }, generator: g);
                t[2] = torch.tensor(-100L);
                return new[] { Randn(g, dt, 10, 6), Randn(g, dt, 13, 6), Randn(g, dt, 13), t, (torch.rand(new long[] { 13 }, dtype: ScalarType.Float64, generator: g) + 0.5).to(dt) };
            },
            (t, r) => Losses.Poly1Linear(t[0], t[1], t[2], t[3], weight: t[4], reduction: r, chunk_rows: 4)),
    };

    private static IEnumerable<Call> Calls()
        => GradientTruthTests.Cases.Select(c => new Call(c.Name, 1, (dt, g) => c.Inputs(dt, g, false), c.Generated)).Concat(Extra);

    public static IEnumerable<object[]> Matrix()
        => from c in Calls()
           from dtype in new[] { ScalarType.Float32, ScalarType.BFloat16 }
           from backend in new[] { Backend.Cpu, Backend.Ilgpu, Backend.TorchOps }
           select new object[] { c.Name, dtype, backend };

    /// <summary>The tensor's bytes, copied.</summary>
    private static byte[] Bits(Tensor t) => t.detach().contiguous().bytes.ToArray();

    [Theory]
    [MemberData(nameof(Matrix))]
    public void NoInputAndNoUpstreamGradientIsWritten(string name, ScalarType dtype, Backend backend)
    {
        using var _ = LossBackend.Use(backend);
        var call = Calls().Single(c => c.Name == name);
        foreach (var reduction in new[] { nn.Reduction.None, nn.Reduction.Mean })
        {
            var g = new Generator(seed: 11 + Reference.Seed(name));
            var inputs = call.Inputs(dtype, g)
                .Select((t, i) => i < call.Trained ? t.detach().clone().requires_grad_(true) : t)
                .ToArray();
            var before = inputs.Select(Bits).ToArray();

            var value = call.Loss(inputs, reduction);
            var upstream = reduction == nn.Reduction.None
                ? (torch.rand(value.shape, dtype: ScalarType.Float64, generator: g) * 2 - 0.5).to(value.dtype)
                : torch.tensor(0.75, dtype: value.dtype);
            var upstreamBefore = Bits(upstream);
            for (int i = 0; i < inputs.Length; i++)
                Assert.True(before[i].AsSpan().SequenceEqual(Bits(inputs[i])), $"{name} {reduction}: input {i} changed by the forward pass");

            value.backward(new[] { upstream });
            for (int i = 0; i < inputs.Length; i++)
                Assert.True(before[i].AsSpan().SequenceEqual(Bits(inputs[i])), $"{name} {reduction}: input {i} changed by backward()");
            Assert.True(upstreamBefore.AsSpan().SequenceEqual(Bits(upstream)), $"{name} {reduction}: the upstream gradient changed by backward()");
            for (int i = 0; i < call.Trained; i++)
            {
                var grad = inputs[i].grad;
                Assert.NotNull(grad);
                Assert.True(grad.abs().sum().to(ScalarType.Float64).item<double>() > 0, $"{name} {reduction}: the gradient of input {i} is zero; backward() did not run");
            }
        }
    }
}
