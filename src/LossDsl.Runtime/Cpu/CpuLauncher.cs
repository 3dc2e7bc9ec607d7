using System;
using System.Linq;
using System.Threading.Tasks;
using TorchSharp;
using static TorchSharp.torch;

namespace LossDsl.Runtime;

/// <summary>
/// Runs a loss call's generated CPU kernels directly on the tensors' memory: the loss and the gradient are
/// written in place, and the only allocations besides the gradient tensor are the per-segment loss and the
/// per-(set, chunk) partials. Work is split over the thread pool by rows, elements or (set, chunk) items.
/// </summary>
internal static class CpuLauncher
{
    /// <summary>Elements one work item should cover at least, so that scheduling overhead stays small.</summary>
    private const long MinElementsPerItem = 16 * 1024;

    public static (Tensor Loss, Tensor Grad) Run(LossCall call)
    {
        var def = call.Definition;
        // Half rows and elements are read in place, a block of segments at a time (HalfRows); sets, whose chunks stride
        // across the tensor, and multiclass sets read float32.
        bool halfInPlace = call.StoredAs != call.DType && !def.Chunked && !def.Layout.Multiclass;
        if (!halfInPlace) call.ToComputeDType();
        var kernels = def.KernelsFor<CpuKernel>(Backend.Cpu, call.DType)!;
        var shape = call.Shape;
        var x = call.Prediction;

        var loss = torch.empty(shape.Segments, dtype: call.DType);
        // The gradient is in the compute dtype, as every backend gives it: backward rounds it once, after the upstream gradient.
        var grad = call.GradientOutput ?? torch.empty(x.shape, dtype: call.DType);
        // An empty input can still have segments (a channel set over batch 0): the kernels then see empty sweeps.
        if (shape.Segments == 0) return (loss, grad);
        HugePages.Advise(TensorMemory.Pointer(loss), loss.numel() * loss.element_size());
        HugePages.Advise(TensorMemory.Pointer(grad), grad.numel() * grad.element_size());

        int workers = Environment.ProcessorCount;
        if (def.Chunked)
        {
            // Enough (set, chunk) items for every core, none shorter than MinElementsPerItem.
            long maxChunks = Math.Max(1, shape.Length / MinElementsPerItem);
            shape.Chunks = (int)Math.Clamp((4L * workers + shape.Segments - 1) / shape.Segments, 1, Math.Min(maxChunks, 4096));
            shape.ChunkLength = (shape.Length + shape.Chunks - 1) / shape.Chunks;
        }
        // Only the chunked (set) kernels exchange partial reductions through CpuArgs.Partials; row and elementwise
        // kernels keep theirs in locals, so they need no buffer (for an elementwise loss it would be 8 bytes per element).
        var partials = def.Chunked
            ? new double[Math.Max(1L, (long)shape.Segments * shape.Chunks * Math.Max(1, shape.PartialSlots))]
            : Array.Empty<double>();
        // A multiclass loss's kernels read the logits, then per pixel the class and log Σ_c e^z (KernelAbi.MulticlassSpans).
        var spans = def.Layout.Multiclass
            ? KernelAbi.MulticlassSpans.Of(TensorMemory.Pointer(x), TensorMemory.Pointer(call.PixelClasses!), TensorMemory.Pointer(call.PixelLogSumExp()))
            : Pointers(call, TensorRole.Span);
        var args = new CpuArgs(shape, spans, Pointers(call, TensorRole.Input), Pointers(call, TensorRole.Target),
            call.Arguments.Hyper, TensorMemory.Pointer(loss), TensorMemory.Pointer(grad), partials);

        int items = def.Chunked ? shape.Segments * shape.Chunks : shape.Segments;
        long elementsPerItem = def.Layout.PerElement ? 1 : def.Chunked ? shape.ChunkLength : shape.Length;
        if (halfInPlace)
            HalfRows.Launch(kernels, args, call.StoredAs, items, elementsPerItem, workers);
        else
            foreach (var kernel in kernels) Launch(kernel, args, items, elementsPerItem, workers);
        GC.KeepAlive(call);   // the kernels read the call's tensors through raw pointers
        return (loss, grad);
    }

    private static void Launch(CpuKernel kernel, CpuArgs args, int items, long elementsPerItem, int workers)
        => Blocks(items, elementsPerItem, workers, (begin, end) => kernel(args, begin, end));

    /// <summary>Splits work items [0, items) into blocks of at least <see cref="MinElementsPerItem"/> elements over the thread pool.</summary>
    internal static void Blocks(int items, long elementsPerItem, int workers, Action<int, int> block)
    {
        long total = items * elementsPerItem;
        int blocks = (int)Math.Clamp(total / MinElementsPerItem, 1, Math.Min(items, 8L * workers));
        if (blocks == 1)
        {
            block(0, items);
            return;
        }
        Parallel.For(0, blocks, b => block((int)((long)items * b / blocks), (int)((long)items * (b + 1) / blocks)));
    }

    private static nint[] Pointers(LossCall call, TensorRole role) => call.WithRole(role).Select(TensorMemory.Pointer).ToArray();
}
