using System;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace LossDsl.Runtime;

/// <summary>
/// A backend of generated fused kernels: the fast CPU path (<see cref="CpuLauncher"/>, in place on host memory) or the
/// ILGPU kernels (<see cref="KernelLauncher"/>, in place on host memory on ILGPU's CPU accelerator and on CUDA memory in
/// libtorch's context). Both compute the prediction's gradient only, and do not skip ignored set elements; such calls go
/// to the torch-ops backend.
/// </summary>
internal sealed class FusedBackend : ILossBackend
{
    public static readonly FusedBackend Cpu = new(Backend.Cpu, "CPU",
        call => call.Device == DeviceType.CPU ? null : $"the fused CPU kernels read and write host memory, and '{call.Definition.TensorNames[0]}' is on {call.Device}",
        CpuLauncher.Run);

    /// <summary>On CUDA, <see cref="Backend.Auto"/> takes the ILGPU kernels only once a canary call on the device agreed with the torch-ops form.</summary>
    public static readonly FusedBackend Ilgpu = new(Backend.Ilgpu, "ILGPU", KernelLauncher.WhyNot, KernelLauncher.Run,
        forAuto: (ilgpu, call) => call.Device == DeviceType.CUDA ? CanaryBackend.Cuda : ilgpu);

    private readonly string _kernels;
    private readonly Func<LossCall, string?> _whyNotMemory;
    private readonly Func<LossCall, (Tensor Loss, Tensor Grad)> _launch;
    private readonly Func<FusedBackend, LossCall, ILossBackend>? _forAuto;

    private FusedBackend(Backend kind, string kernels, Func<LossCall, string?> whyNotMemory, Func<LossCall, (Tensor Loss, Tensor Grad)> launch,
        Func<FusedBackend, LossCall, ILossBackend>? forAuto = null)
    {
        _forAuto = forAuto;
        Kind = kind;
        _kernels = kernels;
        _whyNotMemory = whyNotMemory;
        _launch = launch;
    }

    public Backend Kind { get; }

    public ILossBackend? ForAuto(LossCall call) => _forAuto is null ? this : _forAuto(this, call);

    public string? WhyNot(LossCall call)
    {
        if (Kind == Backend.Cpu && call.Device != DeviceType.CPU && call.Definition.Layout.Multiclass)
            return $"the fused CPU kernels of a multiclass loss read per-pixel statistics computed on host memory, and '{call.Definition.TensorNames[0]}' is on {call.Device}";
        if (_whyNotMemory(call) is { } memory) return memory;
        if (!call.Definition.Supports(Kind, call.DType))
            return $"{call.Definition.Name} was generated without {_kernels} kernels for {call.DType}";
        if (call.UnevenSets)
            return "the fused kernels read one set length for every set, and this call's per-image sets keep different numbers of pixels";
        if (call.ValidElements is not null)
            return "the fused set kernels do not skip ignored elements yet, and this call has elements equal to ignore_index";
        var others = Enumerable.Range(1, call.Tensors.Length - 1).Where(i => call.Differentiated[i]).Select(i => $"'{call.Definition.TensorNames[i]}'").ToList();
        return others.Count == 0 ? null
            : $"the fused kernels compute the gradient of '{call.Definition.TensorNames[0]}' only, and {string.Join(", ", others)} {(others.Count == 1 ? "requires" : "require")} grad too";
    }

    public (Tensor Loss, Tensor?[] Gradients) Run(LossCall call)
    {
        var (loss, grad) = _launch(call);
        var gradients = new Tensor?[call.Tensors.Length];
        gradients[0] = grad;
        return (loss, gradients);
    }
}
