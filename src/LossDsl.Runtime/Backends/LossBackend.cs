using System;
using System.Linq;
using System.Threading;
using TorchSharp;
using static TorchSharp.torch;

namespace LossDsl.Runtime;

/// <summary>Where a loss call runs.</summary>
public enum Backend
{
    /// <summary>Let the runtime choose: the first of <see cref="Cpu"/>, <see cref="Ilgpu"/> (CUDA tensors) and <see cref="TorchOps"/> that can run the call.</summary>
    Auto,
    /// <summary>The fused CPU kernels: vectorized, multi-threaded, in place on host memory. CPU tensors of every float dtype
    /// (float16 and bfloat16 are computed in float32).</summary>
    Cpu,
    /// <summary>The fused ILGPU kernels on <see cref="LossAccelerator.Current"/>, in place on the tensors' memory: CUDA tensors
    /// on a CUDA accelerator (libtorch's primary context), host tensors on ILGPU's CPU accelerator (or staged to a GPU). Chosen
    /// automatically for CUDA tensors only (for host tensors <see cref="Cpu"/> comes first: ILGPU's CPU accelerator simulates
    /// GPU threads and is slow).</summary>
    Ilgpu,
    /// <summary>The loss and its derived gradients as TorchSharp tensor operations: every device and float dtype, the gradient
    /// of every float tensor that requires grad, and ignored set elements.</summary>
    TorchOps,
}

/// <summary>
/// Chooses the backend of each loss call. A call's own <see cref="LossArguments.Backend"/> wins, then the innermost
/// <see cref="Use"/> scope, then <see cref="Default"/> (process-wide; the environment variable
/// LOSSDSL_BACKEND=auto|cpu|ilgpu|torchops sets its initial value). <see cref="Backend.Auto"/> picks the first of
/// <see cref="Backend.Cpu"/>, <see cref="Backend.Ilgpu"/> and <see cref="Backend.TorchOps"/> that can run the call (on CUDA, the ILGPU kernels
/// only once a canary call on the device agreed with the torch-ops form: <see cref="CanaryBackend"/>); a forced backend that cannot
/// run it raises <see cref="NotSupportedException"/> saying why.
/// </summary>
public static class LossBackend
{
    private static readonly AsyncLocal<Backend?> s_override = new();

    /// <summary>The process-wide choice, used when neither the call nor a <see cref="Use"/> scope names a backend.</summary>
    public static Backend Default { get; set; } = Parse(Environment.GetEnvironmentVariable("LOSSDSL_BACKEND"));

    /// <summary>The choice in effect here, before a call's own argument.</summary>
    public static Backend Current => s_override.Value ?? Default;

    /// <summary>Runs loss calls in the current async flow on <paramref name="backend"/> until the returned scope is disposed.</summary>
    public static IDisposable Use(Backend backend)
    {
        var previous = s_override.Value;
        s_override.Value = backend;
        return new Scope(() => s_override.Value = previous);
    }

    /// <summary>
    /// Every backend, each registered once, in the order <see cref="Backend.Auto"/> tries them (what it tries in each one's
    /// place: <see cref="ILossBackend.ForAuto"/>). Adding a backend takes a <see cref="Backend"/> value, a class implementing
    /// <see cref="ILossBackend"/> and its entry here (docs/backends.md).
    /// </summary>
    private static readonly ILossBackend[] s_backends = { FusedBackend.Cpu, FusedBackend.Ilgpu, TorchOpsBackend.Instance };

    /// <summary>The registered backends, in <see cref="Backend.Auto"/>'s order.</summary>
    internal static System.Collections.Generic.IReadOnlyList<ILossBackend> Registered => s_backends;

    private static readonly AsyncLocal<DeviceType?> s_fakeDevice = new();

    /// <summary>The device a tensor is on, as the choice sees it.</summary>
    internal static DeviceType DeviceOf(Tensor t) => s_fakeDevice.Value ?? t.device_type;

    /// <summary>
    /// Test hook: until disposed, backend choice in this async flow sees every tensor as on <paramref name="device"/>,
    /// so a machine without that device can test the routing (the chosen backend still runs for real, on the CPU tensors).
    /// </summary>
    internal static IDisposable PretendDevice(DeviceType device)
    {
        var previous = s_fakeDevice.Value;
        s_fakeDevice.Value = device;
        return new Scope(() => s_fakeDevice.Value = previous);
    }

    internal static ILossBackend Choose(LossCall call)
    {
        var requested = call.Arguments.Backend != Backend.Auto ? call.Arguments.Backend : Current;
        if (call.ShardCrosses)
        {
            // A sharded call's reductions combine over the ranks in the torch-ops frame, which the generated code calls by name.
            if (call.Arguments.Backend is not (Backend.Auto or Backend.TorchOps))
                throw new NotSupportedException($"{call.Definition.Name}: a call sharded over {call.Shard!.Axis} runs on the torch-ops backend; it was forced to {call.Arguments.Backend}.");
            return TorchOpsBackend.Instance.WhyNot(call) is { } whyNot ? throw new NotSupportedException($"{call.Definition.Name}: sharded over {call.Shard!.Axis}, but {whyNot}.") : TorchOpsBackend.Instance;
        }
        if (requested == Backend.Auto)
        {
            foreach (var b in s_backends)
                if (b.ForAuto(call) is { } candidate && candidate.WhyNot(call) is null) return candidate;
            throw new NotSupportedException($"{call.Definition.Name}: no LossDsl backend can run this call: " +
                string.Join("; ", s_backends.Where(b => b.ForAuto(call) is not null).Select(b => $"{b.Kind}: {b.WhyNot(call)}")) + ".");
        }
        var chosen = s_backends.Single(b => b.Kind == requested);
        if (chosen.WhyNot(call) is { } why)
        {
            string how = call.Arguments.Backend != Backend.Auto ? "by the call's backend argument"
                : s_override.Value is not null ? "by LossBackend.Use" : "by LossBackend.Default (or LOSSDSL_BACKEND)";
            var others = s_backends.Where(b => b != chosen && b.WhyNot(call) is null).Select(b => b.Kind.ToString()).ToList();
            throw new NotSupportedException(
                $"{call.Definition.Name}: the {requested} backend was forced {how}, but it cannot run this call: {why}. " +
                (others.Count > 0 ? $"Backends that can: {string.Join(", ", others)} (or Backend.Auto)." : "No other backend can either."));
        }
        return chosen;
    }

    private static Backend Parse(string? value)
    {
        if (string.IsNullOrWhiteSpace(value)) return Backend.Auto;
        return Enum.TryParse<Backend>(value.Trim().Replace("-", "").Replace("_", ""), ignoreCase: true, out var b) && Enum.IsDefined(b)
            ? b
            : throw new ArgumentException($"LOSSDSL_BACKEND='{value}' is not a LossDsl backend; use auto, cpu, ilgpu or torchops.");
    }

    private sealed class Scope : IDisposable
    {
        private Action? _restore;
        public Scope(Action restore) => _restore = restore;
        public void Dispose() { _restore?.Invoke(); _restore = null; }
    }
}

/// <summary>One way of running a loss call. Each backend says whether it can run a call before it is asked to.</summary>
internal interface ILossBackend
{
    /// <summary>The <see cref="Backend"/> value that forces this backend.</summary>
    Backend Kind { get; }

    /// <summary>
    /// What <see cref="Backend.Auto"/> tries in this backend's place for <paramref name="call"/>: the backend itself (the
    /// default), a stand-in that guards it (the ILGPU kernels on CUDA: <see cref="CanaryBackend"/>), or null when
    /// <c>Auto</c> never picks it for this call.
    /// </summary>
    ILossBackend? ForAuto(LossCall call) => this;

    /// <summary>Null when this backend can run <paramref name="call"/>; otherwise why not, in words.</summary>
    string? WhyNot(LossCall call);

    /// <summary>
    /// Runs the call: the per-segment loss ([segments], compute dtype) and one gradient per data tensor of the call
    /// (its shape, compute dtype; null where not computed): ∂loss/∂prediction always, the others where
    /// <see cref="LossCall.Differentiated"/>. Gradients are already scaled by 1/count for Mean and zero on ignored rows.
    /// </summary>
    (Tensor Loss, Tensor?[] Gradients) Run(LossCall call);
}
