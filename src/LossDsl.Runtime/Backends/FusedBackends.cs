using System.Linq;
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
                : FusedKernels.WhyNot(call);

    public (Tensor Loss, Tensor?[] Gradients) Run(LossCall call) => FusedKernels.Result(call, CpuLauncher.Run(call));
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
                : FusedKernels.WhyNot(call);

    public (Tensor Loss, Tensor?[] Gradients) Run(LossCall call) => FusedKernels.Result(call, KernelLauncher.Run(call));
}

/// <summary>What the fused backends share: they compute the prediction's gradient only, and do not skip ignored set elements.</summary>
internal static class FusedKernels
{
    public static string? WhyNot(LossCall call)
    {
        if (call.ValidElements is not null)
            return "the fused set kernels do not skip ignored elements yet, and this call has elements equal to ignoreIndex";
        var others = Enumerable.Range(1, call.Tensors.Length - 1).Where(i => call.Differentiated[i]).Select(i => $"'{call.Definition.TensorNames[i]}'").ToList();
        return others.Count == 0 ? null
            : $"the fused kernels compute the gradient of '{call.Definition.TensorNames[0]}' only, and {string.Join(", ", others)} {(others.Count == 1 ? "requires" : "require")} grad too";
    }

    public static (Tensor Loss, Tensor?[] Gradients) Result(LossCall call, (Tensor Loss, Tensor Gradient) run)
    {
        var gradients = new Tensor?[call.Tensors.Length];
        gradients[0] = run.Gradient;
        return (run.Loss, gradients);
    }
}
