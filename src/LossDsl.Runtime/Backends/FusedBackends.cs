using TorchSharp;
using static TorchSharp.torch;

namespace LossDsl.Runtime;

/// <summary>The fused CPU kernels (<see cref="CpuLauncher"/>): host memory, in place.</summary>
internal sealed class CpuBackend : ILossBackend
{
    public static readonly CpuBackend Instance = new();

    public Backend Kind => Backend.Cpu;

    public string? WhyNot(LossCall call)
        => call.Device != DeviceType.CPU
            ? $"the fused CPU kernels read and write host memory, and '{call.Definition.TensorNames[0]}' is on {call.Device}"
            : !call.Definition.Supports(Backend.Cpu, call.DType)
                ? $"{call.Definition.Name} was generated without CPU kernels for {call.DType}"
                : null;

    public (Tensor Loss, Tensor Gradient) Run(LossCall call) => CpuLauncher.Run(call);
}

/// <summary>The fused ILGPU kernels (<see cref="KernelLauncher"/>), staged through host memory.</summary>
internal sealed class IlgpuBackend : ILossBackend
{
    public static readonly IlgpuBackend Instance = new();

    public Backend Kind => Backend.Ilgpu;

    public string? WhyNot(LossCall call)
        => call.Device != DeviceType.CPU
            ? $"the ILGPU launcher stages tensors through host memory, so it runs CPU tensors only, and '{call.Definition.TensorNames[0]}' is on {call.Device}"
            : !call.Definition.Supports(Backend.Ilgpu, call.DType)
                ? $"{call.Definition.Name} was generated without ILGPU kernels for {call.DType}"
                : null;

    public (Tensor Loss, Tensor Gradient) Run(LossCall call) => KernelLauncher.Run(call);
}
