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
        call.ToComputeDType();
        var def = call.Definition;
        var kernels = def.KernelsFor<CpuKernel>(Backend.Cpu, call.DType)!;
        var shape = call.Shape;
        var x = call.Prediction;

        var loss = torch.empty(shape.Segments, dtype: call.DType);
        var grad = call.GradientOutput ?? torch.empty_like(x);
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
        // A multiclass loss's kernels read the logits, then per pixel the class and log Σ_c e^z.
        var spans = def.Multiclass
            ? new[] { TensorMemory.Pointer(x), TensorMemory.Pointer(call.PixelClasses!), TensorMemory.Pointer(call.PixelLogSumExp()) }
            : Pointers(call, TensorRole.Span);
        var args = new CpuArgs(shape, spans, Pointers(call, TensorRole.Input), Pointers(call, TensorRole.Target),
            call.Arguments.Hyper, TensorMemory.Pointer(loss), TensorMemory.Pointer(grad), partials);

        int items = def.Chunked ? shape.Segments * shape.Chunks : shape.Segments;
        long elementsPerItem = def.Shape == LossShape.Elementwise ? 1 : def.Chunked ? shape.ChunkLength : shape.Length;
        foreach (var kernel in kernels) Launch(kernel, args, items, elementsPerItem, workers);
        GC.KeepAlive(call);   // the kernels read the call's tensors through raw pointers
        return (loss, grad);
    }

    private static void Launch(CpuKernel kernel, CpuArgs args, int items, long elementsPerItem, int workers)
    {
        long total = items * elementsPerItem;
        int blocks = (int)Math.Clamp(total / MinElementsPerItem, 1, Math.Min(items, 8L * workers));
        if (blocks == 1)
        {
            kernel(args, 0, items);
            return;
        }
        Parallel.For(0, blocks, b =>
        {
            int begin = (int)((long)items * b / blocks), end = (int)((long)items * (b + 1) / blocks);
            kernel(args, begin, end);
        });
    }

    private static nint[] Pointers(LossCall call, TensorRole role) => call.WithRole(role).Select(TensorMemory.Pointer).ToArray();
}
