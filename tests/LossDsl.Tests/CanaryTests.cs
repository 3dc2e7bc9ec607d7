using System;
using System.Collections.Generic;
using LossDsl.Runtime;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LossDsl.Tests;

using Losses = LossDsl.Samples.Losses;

/// <summary>
/// The canary that decides whether <c>Auto</c> trusts the ILGPU kernels on a device (<see cref="CanaryBackend"/>): its
/// decision logic, on ILGPU's CPU accelerator and the torch-ops form running for real on CPU tensors, with the ILGPU
/// result spoiled where a test needs a disagreement (this machine has no GPU to disagree).
/// </summary>
public class CanaryTests
{
    /// <summary>A backend that counts its runs and can spoil its result or throw.</summary>
    private sealed class Spy : ILossBackend
    {
        private readonly ILossBackend _inner;
        public Func<(Tensor Loss, Tensor?[] Gradients), (Tensor Loss, Tensor?[] Gradients)>? Spoil { get; init; }
        public int Runs { get; private set; }

        public Spy(ILossBackend inner) => _inner = inner;
        public Backend Kind => _inner.Kind;
        public string? WhyNot(LossCall call) => _inner.WhyNot(call);

        public (Tensor Loss, Tensor?[] Gradients) Run(LossCall call)
        {
            Runs++;
            var r = _inner.Run(call);
            return Spoil is null ? r : Spoil(r);
        }
    }

    // Kept across tests: out of the per-test dispose scope (TensorScopePerTest) the first test's initializer runs in.
    private static readonly Tensor s_x = torch.randn(6, 5, dtype: ScalarType.Float64, generator: new Generator(26)).DetachFromDisposeScope();
    private static readonly Tensor s_t = torch.tensor(new long[] { 0, 4, 2, 1, 3, 2 }).DetachFromDisposeScope();

    /// <summary>One Mean call of Poly-1 on the canary: its per-row losses and its (already 1/N-scaled) gradient.</summary>
    private static (Tensor Loss, Tensor Grad) Call(CanaryBackend canary)
    {
        using var call = LossCall.Bind(BackendChoiceTests.GeneratedDefinitionOf(nameof(Losses.Poly1)),
            new object[] { s_x, s_t, new LossArguments(new[] { 1.0 }, nn.Reduction.Mean, -100) });
        var (loss, gradients) = canary.Run(call);
        return (loss.detach().clone(), gradients[0]!.detach().clone());
    }

    /// <summary>libtorch's Poly-1, per row, and the gradient of its mean.</summary>
    private static (Tensor Loss, Tensor Grad) Truth()
    {
        Tensor PerRow(Tensor z)
        {
            var logp = F.log_softmax(z, 1).gather(1, s_t.unsqueeze(1)).squeeze(1);
            return -logp + (1 - logp.exp());
        }
        var (_, grad) = Reference.Autograd(z => PerRow(z).mean(), s_x);
        return (PerRow(s_x), grad);
    }

    private static void AssertIsTruth((Tensor Loss, Tensor Grad) result, string what)
    {
        var (loss, grad) = Truth();
        Reference.Close(loss, result.Loss, 1e-12, 1e-14, what + ": per-row loss");
        Reference.Close(grad, result.Grad, 1e-12, 1e-14, what + ": gradient");
    }

    [Fact]
    public void AgreeingKernelsRunEveryCallAfterOneCanary()
    {
        var ilgpu = new Spy(FusedBackend.Ilgpu);
        var torchOps = new Spy(TorchOpsBackend.Instance);
        var logs = new List<string>();
        var canary = new CanaryBackend(ilgpu, torchOps) { Log = logs.Add };

        AssertIsTruth(Call(canary), "the canary call");
        Assert.True(logs.Count == 0, string.Join("\n", logs));
        Assert.Equal((1, 1), (ilgpu.Runs, torchOps.Runs));
        AssertIsTruth(Call(canary), "the next call");
        AssertIsTruth(Call(canary), "the one after");
        Assert.Equal((3, 1), (ilgpu.Runs, torchOps.Runs));
        Assert.Empty(logs);
    }

    public static TheoryData<string> Spoils => new() { "loss", "gradient", "NaN", "throws" };

    [Theory]
    [MemberData(nameof(Spoils))]
    public void DisagreeingKernelsAreReplacedByTorchOpsOnThatDeviceWithTheReasonLoggedOnce(string spoil)
    {
        var ilgpu = new Spy(FusedBackend.Ilgpu)
        {
            Spoil = r => spoil switch
            {
                "loss" => (r.Loss + 1e-3 * r.Loss.abs().max(), r.Gradients),
                "gradient" => (r.Loss, new Tensor?[] { r.Gradients[0]! * 1.01 }),
                "NaN" => (r.Loss.clone().index_fill_(0, torch.tensor(new long[] { 2 }), double.NaN), r.Gradients),
                _ => throw new InvalidOperationException("kernel launch failed"),
            },
        };
        var torchOps = new Spy(TorchOpsBackend.Instance);
        var logs = new List<string>();
        var canary = new CanaryBackend(ilgpu, torchOps) { Log = logs.Add };

        AssertIsTruth(Call(canary), "the canary call's result, from torch ops");
        for (int i = 0; i < 3; i++) AssertIsTruth(Call(canary), "a later call, on torch ops");
        Assert.Equal((1, 4), (ilgpu.Runs, torchOps.Runs));
        var message = Assert.Single(logs);
        Assert.Contains("disagree with the torch-ops form", message);
        Assert.Contains(spoil switch { "gradient" => "gradient:", "throws" => "kernel launch failed", "NaN" => "NaN", _ => "loss:" }, message);

        using var call = LossCall.Bind(BackendChoiceTests.GeneratedDefinitionOf(nameof(Losses.Poly1)),
            new object[] { s_x, s_t, new LossArguments(new[] { 1.0 }, nn.Reduction.Mean, -100) });
        Assert.NotNull(canary.WhyNotOn(call));
        Assert.NotNull(canary.WhyNot(call));
    }

    [Fact]
    public void AnErrorBelowTheToleranceIsAgreement()
    {
        var ilgpu = new Spy(FusedBackend.Ilgpu) { Spoil = r => (r.Loss * (1 + 1e-12), r.Gradients) };
        var torchOps = new Spy(TorchOpsBackend.Instance);
        var logs = new List<string>();
        var canary = new CanaryBackend(ilgpu, torchOps) { Log = logs.Add };
        Call(canary);
        Call(canary);
        Assert.Equal((2, 1), (ilgpu.Runs, torchOps.Runs));
        Assert.Empty(logs);
    }
}
