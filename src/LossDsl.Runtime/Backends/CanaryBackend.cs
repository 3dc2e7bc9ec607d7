using System;
using System.Collections.Concurrent;
using TorchSharp;
using static TorchSharp.torch;

namespace LossDsl.Runtime;

/// <summary>
/// How <see cref="Backend.Auto"/> first meets the ILGPU kernels on a device: the first call there runs on both the ILGPU
/// kernels and the torch-ops form, and compares their per-segment losses (or their sum, where the kernels return partial
/// sums) and the prediction's gradient. Only if they agree does <c>Auto</c> use the ILGPU kernels on that device from
/// then on; otherwise it uses the torch-ops form there, and says why once (<see cref="Log"/>, standard error by default).
/// A kernel that throws counts as a disagreement. The verdict is per device, for the process.
/// </summary>
internal sealed class CanaryBackend : ILossBackend
{
    /// <summary>The one <c>Auto</c> uses for CUDA tensors.</summary>
    public static readonly CanaryBackend Cuda = new(FusedBackend.Ilgpu, TorchOpsBackend.Instance);

    private readonly ILossBackend _ilgpu, _torchOps;
    private readonly ConcurrentDictionary<string, Verdict> _verdicts = new();

    /// <summary>Where the reason for a fallback goes, once per device.</summary>
    public Action<string> Log { get; set; } = message => Console.Error.WriteLine(message);

    public CanaryBackend(ILossBackend ilgpu, ILossBackend torchOps)
    {
        _ilgpu = ilgpu;
        _torchOps = torchOps;
    }

    public Backend Kind => Backend.Ilgpu;

    private sealed class Verdict
    {
        public bool Decided;
        public string? WhyNot;
    }

    private static string DeviceKey(LossCall call) => $"{call.Device}:{call.Prediction.device_index}";

    /// <summary>Null while the device's ILGPU kernels are trusted (or not yet tried); otherwise the canary's finding.</summary>
    public string? WhyNotOn(LossCall call) => _verdicts.TryGetValue(DeviceKey(call), out var v) ? v.WhyNot : null;

    public string? WhyNot(LossCall call) => _ilgpu.WhyNot(call) ?? WhyNotOn(call);

    public (Tensor Loss, Tensor?[] Gradients) Run(LossCall call)
    {
        var verdict = _verdicts.GetOrAdd(DeviceKey(call), _ => new Verdict());
        lock (verdict)
        {
            if (!verdict.Decided)
            {
                // The canary needs a fresh gradient from each backend, and the torch-ops form must be able to run the call.
                if (call.GradientOutput is not null || _torchOps.WhyNot(call) is not null) return _ilgpu.Run(call);
                var (result, why) = Canary(call);
                verdict.WhyNot = why;
                verdict.Decided = true;
                if (why is not null)
                    Log($"LossDsl: {call.Definition.Name} on {DeviceKey(call)}: the ILGPU kernels disagree with the torch-ops form ({why}); " +
                        "Backend.Auto uses the torch-ops form on this device from now on.");
                return result;
            }
        }
        return verdict.WhyNot is null ? _ilgpu.Run(call) : _torchOps.Run(call);
    }

    /// <summary>Runs the call on both; returns the result to use and, when they disagree, why.</summary>
    private ((Tensor Loss, Tensor?[] Gradients) Result, string? Why) Canary(LossCall call)
    {
        var reference = _torchOps.Run(call);
        (Tensor Loss, Tensor?[] Gradients) kernels;
        try
        {
            kernels = _ilgpu.Run(call);
        }
        catch (Exception e)
        {
            call.LossIsPartialSums = false;
            return (reference, $"the kernels threw {e.GetType().Name}: {e.Message}");
        }
        string? why = Disagreement(call, reference, kernels);
        if (why is null) return (kernels, null);
        call.LossIsPartialSums = false;
        return (reference, why);
    }

    private static string? Disagreement(LossCall call, (Tensor Loss, Tensor?[] Gradients) reference, (Tensor Loss, Tensor?[] Gradients) kernels)
    {
        using var scope = NewDisposeScope();
        // float64 to 10⁻⁹, float32 and half (computed in float32) to 10⁻³: a broken kernel is off by far more.
        double tolerance = call.DType == ScalarType.Float64 ? 1e-9 : 1e-3;
        var expectedLoss = call.LossIsPartialSums ? reference.Loss.sum(ScalarType.Float64).reshape(1) : reference.Loss.to(ScalarType.Float64);
        var actualLoss = call.LossIsPartialSums ? kernels.Loss.sum(ScalarType.Float64).reshape(1) : kernels.Loss.to(ScalarType.Float64);
        if (Error(expectedLoss, actualLoss, tolerance) is { } loss) return $"loss: {loss}";
        if (reference.Gradients[0] is { } g && kernels.Gradients[0] is { } k && Error(g.to(ScalarType.Float64), k.to(ScalarType.Float64), tolerance) is { } grad)
            return $"gradient: {grad}";
        return null;
    }

    /// <summary>Null when every element is within tolerance·(|expected| + max |expected|) and NaNs match; else the worst.</summary>
    private static string? Error(Tensor expected, Tensor actual, double tolerance)
    {
        expected = expected.cpu();
        actual = actual.cpu();
        if (!expected.shape.AsSpan().SequenceEqual(actual.shape)) return $"shapes [{string.Join(", ", expected.shape)}] and [{string.Join(", ", actual.shape)}]";
        if (!expected.isnan().eq(actual.isnan()).all().item<bool>()) return "NaN in one and not the other";
        var inf = expected.isinf().logical_or(actual.isinf());
        if (!torch.where(inf, expected, 0.0).eq(torch.where(inf, actual, 0.0)).all().item<bool>()) return "an infinity differs";
        var finite = expected.isfinite().logical_and(actual.isfinite());
        var e = torch.where(finite, expected, 0.0);
        var a = torch.where(finite, actual, 0.0);
        double scale = e.numel() == 0 ? 0 : e.abs().max().item<double>();
        var excess = (a - e).abs().sub_(TorchScalars.Mul(TorchScalars.Add(e.abs(), scale), tolerance));
        if (excess.numel() == 0 || excess.max().item<double>() <= 0) return null;
        long at = excess.argmax().item<long>();
        return $"element {at}: {a.flatten()[at].item<double>():R}, torch ops {e.flatten()[at].item<double>():R}";
    }
}
