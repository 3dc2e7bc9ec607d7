using System;
using System.Collections.Generic;
using System.Linq;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using TorchSharp;
using static TorchSharp.torch;

namespace LossDsl.Runtime;

/// <summary>
/// Runs a loss call's generated ILGPU kernels, explicitly grouped (see <c>IlgpuDialect</c> in the generator):
/// <list type="bullet">
/// <item>class rows: one group per row, of the fewest whole warps that cover the row, at most 256 threads;</item>
/// <item>elementwise: a grid of groups that fills the accelerator, striding over the elements;</item>
/// <item>sets: one group per (set, chunk), with enough chunks per set to fill the accelerator.</item>
/// </list>
/// The kernels read and write the tensors' own memory where the accelerator can address it: host tensors on ILGPU's CPU
/// accelerator, CUDA tensors on a CUDA accelerator in libtorch's primary context. Host tensors on a CUDA accelerator are
/// staged through the lane's reusable buffers. Class-row and elementwise losses take one launch per call.
/// </summary>
internal static class KernelLauncher
{
    /// <summary>At most this many threads per group: enough to saturate a row's loads, few enough for many groups per SM.</summary>
    private const int MaxGroup = 256;

    /// <summary>
    /// Runs the call: float64 kernels for float64; for float32 and half, the float32 kernels instantiated for how the
    /// inputs are stored, so that float16 and bfloat16 tensors are read in place (<see cref="LossCall.StoredAs"/>).
    /// </summary>
    public static (Tensor Loss, Tensor Grad) Run(LossCall call)
    {
        var def = call.Definition;
        return call.StoredAs switch
        {
            ScalarType.Float64 => Run(call, def.KernelsFor<LossKernel<double, double>>(Backend.Ilgpu, ScalarType.Float64)!, inPlace: false),
            ScalarType.BFloat16 when def.Supports(Backend.Ilgpu, ScalarType.BFloat16) => Run(call, def.KernelsFor<LossKernel<BF16, float>>(Backend.Ilgpu, ScalarType.BFloat16)!, inPlace: true),
            ScalarType.Float16 when def.Supports(Backend.Ilgpu, ScalarType.Float16) => Run(call, def.KernelsFor<LossKernel<F16, float>>(Backend.Ilgpu, ScalarType.Float16)!, inPlace: true),
            _ => Run(call, def.KernelsFor<LossKernel<F32, float>>(Backend.Ilgpu, ScalarType.Float32)!, inPlace: false),
        };
    }

    /// <summary>Null when the kernels can take this call's tensors; otherwise why not.</summary>
    public static string? WhyNot(LossCall call)
    {
        var roles = call.Definition.Roles;
        int spans = call.Definition.Layout.Multiclass ? KernelAbi.MulticlassSpans.Count : roles.Count(r => r == TensorRole.Span);
        if (spans > KernelAbi.MaxSpans || roles.Count(r => r == TensorRole.Input) > KernelAbi.MaxInputs
            || roles.Count(r => r == TensorRole.Target) > KernelAbi.MaxTargets)
            return $"the ILGPU kernels take at most {KernelAbi.MaxSpans} span, {KernelAbi.MaxInputs} per-row and {KernelAbi.MaxTargets} target tensors";
        return call.Device switch
        {
            DeviceType.CPU => null,
            DeviceType.CUDA => LossAccelerator.WhyNotTorchCuda is { } why ? $"'{call.Definition.TensorNames[0]}' is on CUDA and {why}"
                : call.Prediction.device_index != LossAccelerator.CudaDeviceIndex
                    ? $"ILGPU runs on cuda:{LossAccelerator.CudaDeviceIndex}, and '{call.Definition.TensorNames[0]}' is on cuda:{call.Prediction.device_index}"
                    : null,
            var d => $"the ILGPU kernels run on host or CUDA memory, and '{call.Definition.TensorNames[0]}' is on {d}",
        };
    }

    /// <summary>
    /// Lays out, binds the views and launches <paramref name="kernels"/>; with <paramref name="inPlace"/> the kernels read the
    /// float tensors as stored (half), otherwise in the compute dtype.
    /// </summary>
    private static (Tensor, Tensor) Run<TIn, T>(LossCall call, LossKernel<TIn, T>[] kernels, bool inPlace) where TIn : unmanaged where T : unmanaged
    {
        if (!inPlace) call.ToComputeDType();
        var acc = LossAccelerator.Current;
        var def = call.Definition;
        var shape = call.Shape;
        var device = call.Prediction.device;
        var (group, groups) = Layout(acc, def, ref shape, call.OnlySumNeeded);

        var grad = call.GradientOutput ?? torch.empty(call.Prediction.shape, call.DType, device);
        Tensor loss = shape.SumLoss != 0 ? torch.empty(groups, ScalarType.Float64, device) : torch.empty(shape.Segments, call.DType, device);
        call.LossIsPartialSums = shape.SumLoss != 0;
        if (groups == 0) return (loss, grad);

        var lane = LossAccelerator.RentLane();
        try
        {
            using var views = new TensorViews(acc, lane);
            var v = new LossViews<TIn, T>();
            Tensor[] Stored(TensorRole role) => Enumerable.Range(0, def.Roles.Length).Where(i => def.Roles[i] == role).Select(i => inPlace ? call.Stored(i) : call.Tensors[i]).ToArray();
            if (def.Layout.Multiclass)
            {
                // The per-pixel statistics by a kernel of their own, queued on the lane's stream before the loss's kernels,
                // into tensors on the call's device (no host round trip); backward's Jacobian takes them as the host's.
                var classes = torch.empty(shape.Pixels, call.DType, device);
                var lse = torch.empty(shape.Pixels, call.DType, device);
                call.SetPixelStatistics(lse, classes);
                var logits = views.View<TIn>(call.Prediction);
                var (classView, lseView) = (views.View<T>(classes, output: true), views.View<T>(lse, output: true));
                PixelStatistics.Launch(acc, lane.Stream, logits, views.View<long>(call.ClassMask), classView, lseView, shape.Classes, shape.Inner, call.Arguments.IgnoreIndex);
                var statistics = KernelAbi.MulticlassSpans.Of(logits, classView.Cast<TIn>(), lseView.Cast<TIn>());
                for (int k = 0; k < statistics.Length; k++) v.SetSpan(k, statistics[k]);
            }
            else
            {
                var spans = Stored(TensorRole.Span);
                for (int k = 0; k < spans.Length; k++) v.SetSpan(k, views.View<TIn>(spans[k]));
            }
            var inputs = Stored(TensorRole.Input);
            for (int k = 0; k < inputs.Length; k++) v.SetInput(k, views.View<TIn>(inputs[k]));
            var targets = call.WithRole(TensorRole.Target).ToArray();
            for (int k = 0; k < targets.Length; k++) v.SetTarget(k, views.View<long>(targets[k]));
            v.Hyper = views.Hyperparameters(call.Arguments.Hyper);
            v.Grad = views.View<T>(grad, output: true);
            if (shape.SumLoss != 0) v.Partials = views.View<double>(loss, output: true);
            else
            {
                v.Loss = views.View<T>(loss, output: true);
                if (def.Chunked) v.Partials = lane.Buffer<double>(TensorViews.PartialsSlot, (long)shape.Segments * shape.Chunks * Math.Max(1, shape.PartialSlots));
            }

            var config = new KernelConfig(groups, group);
            foreach (var kernel in kernels) LossAccelerator.Load(kernel)(lane.Stream, config, shape, v);
            views.Finish();
        }
        finally
        {
            LossAccelerator.ReturnLane(lane);
        }
        GC.KeepAlive(call);   // the kernels read the call's tensors through their addresses
        return (loss, grad);
    }

    /// <summary>
    /// Group and grid sizes for this call, and the chunking of sets: group sizes are whole warps, so that warp shuffles
    /// see full warps; a grid covers the accelerator a few times over.
    /// </summary>
    internal static (int Group, int Groups) Layout(Accelerator acc, LossDefinition def, ref KernelShape shape, bool onlySum)
    {
        int warp = acc.WarpSize;
        int maxGroup = Math.Max(warp, Math.Min(Math.Min(acc.MaxNumThreadsPerGroup, MaxGroup), 32 * warp) / warp * warp);
        int Warps(long threads) => (int)Math.Clamp((threads + warp - 1) / warp * warp, warp, maxGroup);
        // Groups that keep every multiprocessor busy twice over.
        long fill = 2L * acc.NumMultiprocessors * Math.Max(1, acc.MaxNumThreadsPerMultiprocessor / maxGroup);
        if (def.Layout.PerElement)
        {
            shape.SumLoss = onlySum ? 1 : 0;
            return (maxGroup, (int)Math.Clamp(((long)shape.Segments + maxGroup - 1) / maxGroup, shape.Segments == 0 ? 0 : 1, fill));
        }
        if (def.Chunked)
        {
            // Each group strides over at least 16 elements per thread; at most 4096 chunks per set.
            long perGroup = 16L * maxGroup;
            long wanted = Math.Max(1, fill / Math.Max(1, shape.Segments));
            shape.Chunks = (int)Math.Clamp(Math.Min(wanted, (shape.Length + perGroup - 1) / perGroup), 1, 4096);
            shape.ChunkLength = (shape.Length + shape.Chunks - 1) / shape.Chunks;
            return (maxGroup, checked(shape.Segments * shape.Chunks));
        }
        return (Warps(shape.Length), shape.Segments);
    }

    /// <summary>
    /// The views of one call: each tensor's own memory when the accelerator can address it, else a staging buffer of the
    /// lane, copied in before the launch and, for outputs, back after it.
    /// </summary>
    private sealed class TensorViews : IDisposable
    {
        public const int PartialsSlot = 0, HyperSlot = 1;
        private readonly Accelerator _acc;
        private readonly KernelLane _lane;
        private readonly List<MemoryBuffer> _wrappers = new();
        private readonly List<Action> _copyBack = new();
        private int _nextSlot = HyperSlot + 1;
        private bool _staged;

        public TensorViews(Accelerator acc, KernelLane lane)
        {
            _acc = acc;
            _lane = lane;
            if (acc is CudaAccelerator) CudaPrimaryContext.MakeCurrent(acc);
        }

        public unsafe ArrayView<TE> View<TE>(Tensor t, bool output = false) where TE : unmanaged
        {
            long n = t.numel();
            if (n == 0) return ArrayView<TE>.Empty;
            bool host = t.device_type == DeviceType.CPU;
            if (host == (_acc.AcceleratorType == AcceleratorType.CPU) && !(host && LossAccelerator.StageHostTensors))
            {
                IntPtr address = host ? TensorMemory.Pointer(t) : TensorMemory.DataPointer(t);
                var wrapper = new ForeignMemory(_acc, address, n, sizeof(TE));
                _wrappers.Add(wrapper);
                return new ArrayView<TE>(wrapper, 0, n);
            }
            // A host tensor on a GPU (or staged on request): through a buffer of the lane.
            _staged = true;
            var staged = _lane.Buffer<TE>(_nextSlot++, n);
            ref TE first = ref *(TE*)TensorMemory.Pointer(t);
            staged.CopyFromCPU(_lane.Stream, ref first, n);
            if (output) _copyBack.Add(() => staged.CopyToCPU(_lane.Stream, ref *(TE*)TensorMemory.Pointer(t), n));
            return staged;
        }

        public ArrayView<double> Hyperparameters(double[] hyper)
        {
            var view = _lane.Buffer<double>(HyperSlot, hyper.Length);
            if (hyper.Length > 0) view.SubView(0, hyper.Length).CopyFromCPU(_lane.Stream, hyper);
            return view;
        }

        /// <summary>
        /// After the launches: on host memory, waits for the kernels; staged outputs are copied back. Kernels on CUDA
        /// tensors are left queued on the stream libtorch also uses, so no host synchronization is needed.
        /// </summary>
        public void Finish()
        {
            foreach (var copy in _copyBack) copy();
            if (_staged || _acc.AcceleratorType == AcceleratorType.CPU) _lane.Stream.Synchronize();
        }

        public void Dispose()
        {
            foreach (var w in _wrappers) w.Dispose();
        }
    }
}
