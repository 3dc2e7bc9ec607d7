using System;
using LossDsl.Runtime;
using LossDsl.Samples;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LossDsl.Tests;

using Losses = LossDsl.Samples.Losses;   // the sample class, not the namespace LossDsl.Losses (found first from LossDsl.Tests)

/// <summary>
/// Which backend runs a call. A tensor on a device with no fused kernel goes to torch ops: the device is faked with
/// <see cref="LossBackend.PretendDevice"/> (this machine has no GPU), and the chosen backend runs for real.
/// </summary>
public class BackendChoiceTests
{
    private static (Tensor X, Tensor T) Rows() => (torch.randn(6, 5, dtype: ScalarType.Float64), torch.tensor(new long[] { 0, 4, 2, 1, 3, 2 }));

    private static Tensor Poly1Reference(Tensor x, Tensor t)
    {
        var logp = F.log_softmax(x, 1).gather(1, t.unsqueeze(1)).squeeze(1);
        return (-logp + (1 - logp.exp())).mean();
    }

    private static Backend ChosenFor(Tensor x, Tensor t, Backend requested = Backend.Auto)
    {
        using var call = LossCall.Bind(GeneratedDefinitionOf(nameof(Losses.Poly1)), new object[] { x, t, new LossArguments(new[] { 1.0 }, nn.Reduction.Mean, -100, requested) });
        return LossBackend.Choose(call).Kind;
    }

    /// <summary>The generated definition behind a sample loss, found through its autograd function's forward.</summary>
    internal static LossDefinition GeneratedDefinitionOf(string loss)
    {
        foreach (var type in typeof(Losses).Assembly.GetTypes())
            if (type.Namespace == "LossDsl.Generated" && type.Name.Contains($"_Losses_{loss}_Kernels_"))
                return (LossDefinition)type.GetField("Definition")!.GetValue(null)!;
        throw new InvalidOperationException($"no generated definition for {loss}");
    }

    [Fact]
    public void CpuFloatTensorsGoToTheFusedCpuKernels()
    {
        var (x, t) = Rows();
        Assert.Equal(Backend.Cpu, ChosenFor(x, t));
        Assert.Equal(Backend.Cpu, ChosenFor(x.to(ScalarType.BFloat16), t));
    }

    [Fact]
    public void ATensorOnADeviceWithoutFusedKernelsGoesToTorchOpsAndRunsForReal()
    {
        var (x, t) = Rows();
        using var _ = LossBackend.PretendDevice(DeviceType.CUDA);
        Assert.Equal(Backend.TorchOps, ChosenFor(x, t));

        var leaf = x.clone().requires_grad_(true);
        var loss = Losses.Poly1(leaf, t);
        loss.backward();
        var (refValue, refGrad) = Reference.Autograd(z => Poly1Reference(z, t), x);
        Reference.Close(refValue, loss.detach(), 1e-12, 1e-14, "value on the torch-ops backend");
        Reference.Close(refGrad, leaf.grad!, 1e-12, 1e-14, "gradient on the torch-ops backend");
    }

    [Fact]
    public void OnAnotherDeviceClassIndicesAreCheckedAndIgnoredRowsLeaveTheMean()
    {
        using var _ = LossBackend.PretendDevice(DeviceType.CUDA);
        var x = torch.randn(5, 4, dtype: ScalarType.Float64);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Losses.Poly1(x, torch.tensor(new long[] { 0, 1, 2, 7, 3 })));
        Assert.Contains("'target'[3] = 7", e.Message);

        var t = torch.tensor(new long[] { 0, -100, 2, -100, 3 });
        var leaf = x.clone().requires_grad_(true);
        var loss = Losses.Poly1(leaf, t);
        loss.backward();
        var kept = torch.tensor(new long[] { 0, 2, 4 });
        var (refValue, refGrad) = Reference.Autograd(z => Poly1Reference(z.index_select(0, kept), t.index_select(0, kept)), x);
        Reference.Close(refValue, loss.detach(), 1e-12, 1e-14, "mean over the rows that are not ignored");
        Reference.Close(refGrad, leaf.grad!, 1e-12, 1e-14, "zero gradient on ignored rows");
    }

    [Theory]
    [InlineData(Backend.Cpu, "host memory")]
    [InlineData(Backend.Ilgpu, "ILGPU runs on its CPU accelerator (no CUDA device)")]
    public void AForcedBackendThatCannotRunTheCallSaysWhy(Backend forced, string why)
    {
        var (x, t) = Rows();
        using var _ = LossBackend.PretendDevice(DeviceType.CUDA);
        var e = Assert.Throws<NotSupportedException>(() => Losses.Poly1(x, t, backend: forced));
        Assert.Contains($"the {forced} backend was forced by the call's backend argument", e.Message);
        Assert.Contains(why, e.Message);
        Assert.Contains("CUDA", e.Message);
        Assert.Contains("Backends that can: TorchOps", e.Message);

        using var scope = LossBackend.Use(forced);
        e = Assert.Throws<NotSupportedException>(() => Losses.Poly1(x, t));
        Assert.Contains("forced by LossBackend.Use", e.Message);
    }

    [Fact]
    public void TheCallsArgumentWinsOverTheScope()
    {
        var (x, t) = Rows();
        using var _ = LossBackend.Use(Backend.Ilgpu);
        Assert.Equal(Backend.Ilgpu, ChosenFor(x, t));
        Assert.Equal(Backend.TorchOps, ChosenFor(x, t, Backend.TorchOps));
        using (LossBackend.Use(Backend.Auto)) Assert.Equal(Backend.Cpu, ChosenFor(x, t));
        Assert.Equal(Backend.Ilgpu, ChosenFor(x, t));
    }

    [Fact]
    public void EveryBackendGivesTheSameLossThroughTheModule()
    {
        var (x, t) = Rows();
        var expected = Poly1Reference(x, t).item<double>();
        foreach (var backend in new[] { Backend.Auto, Backend.Cpu, Backend.Ilgpu, Backend.TorchOps })
        {
            using var criterion = new Losses.Poly1Loss(backend: backend);
            Reference.Near(expected, criterion.call(x, t).item<double>(), 1e-12, 1e-14, $"{backend}");
        }
    }
}

/// <summary>The process-wide default is shared state: these tests run alone.</summary>
[CollectionDefinition(nameof(ProcessWideBackend), DisableParallelization = true)]
public class ProcessWideBackend { }

[Collection(nameof(ProcessWideBackend))]
public class DefaultBackendTests
{
    [Fact]
    public void TheProcessWideDefaultAppliesWhenNothingElseChooses()
    {
        var before = LossBackend.Default;
        try
        {
            LossBackend.Default = Backend.TorchOps;
            Assert.Equal(Backend.TorchOps, LossBackend.Current);
            using (LossBackend.Use(Backend.Cpu)) Assert.Equal(Backend.Cpu, LossBackend.Current);

            LossBackend.Default = Backend.Cpu;
            var x = torch.randn(3, 4);
            using var _ = LossBackend.PretendDevice(DeviceType.CUDA);
            var e = Assert.Throws<NotSupportedException>(() => Losses.Poly1(x, torch.tensor(new long[] { 0, 1, 2 })));
            Assert.Contains("forced by LossBackend.Default (or LOSSDSL_BACKEND)", e.Message);
        }
        finally
        {
            LossBackend.Default = before;
        }
    }
}
