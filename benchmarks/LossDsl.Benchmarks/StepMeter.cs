using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace LossDsl.Benchmarks;

/// <summary>What one step allocates: managed bytes (all threads) and the native tensors that .NET holds.</summary>
public readonly record struct StepAllocation(long ManagedBytes, int Tensors, long NativeTensorBytes, long LargestTensorBytes, int PredictionSized);

/// <summary>Runs and times single steps, each inside its own dispose scope so its tensors are freed at the end.</summary>
public static class StepMeter
{
    /// <summary>Wall time of one step in milliseconds, freeing its tensors included.</summary>
    public static double Time(Variant v)
    {
        long t0 = Stopwatch.GetTimestamp();
        using (torch.NewDisposeScope()) v.Step();
        return Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
    }

    /// <summary>
    /// One step's allocations. Managed: <see cref="GC.GetTotalAllocatedBytes(bool)"/> (precise, every thread, so
    /// Parallel.For workers count) around the step. Native: the tensors registered in the step's dispose scope
    /// (every tensor .NET created or received, the leaf's <c>.grad</c> included), counted once per distinct
    /// storage and leaving out storage shared with the case's inputs (views, <c>detach()</c>). Temporaries that
    /// live only inside libtorch (autograd's intermediate gradients of the eager variants) are not visible here.
    /// </summary>
    public static StepAllocation Allocations(Variant v, BenchCase c)
    {
        var inputs = new HashSet<nint>(c.Inputs.Select(DataPointer));
        long predictionBytes = c.Inputs[0].numel() * c.Inputs[0].element_size();
        long before = GC.GetTotalAllocatedBytes(true);
        StepAllocation native;
        using (var scope = torch.NewDisposeScope())
        {
            var (_, leaf) = v.Step();
            _ = leaf?.grad;   // wraps the gradient so that it is counted
            long managed = GC.GetTotalAllocatedBytes(true) - before;
            var seen = new HashSet<nint>();
            long bytes = 0, largest = 0;
            int count = 0, big = 0;
            foreach (var t in scope.DisposablesView.OfType<Tensor>().ToArray())
            {
                if (t.IsInvalid) continue;
                nint p = DataPointer(t);
                if (p == 0 || inputs.Contains(p) || !seen.Add(p)) continue;
                long b = t.numel() * t.element_size();
                count++;
                bytes += b;
                largest = Math.Max(largest, b);
                if (b == predictionBytes) big++;
            }
            native = new StepAllocation(managed, count, bytes, largest, big);
        }
        return native;
    }

    private static unsafe nint DataPointer(Tensor t)
    {
        try
        {
            if (t.numel() == 0) return 0;
            return (nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(t.bytes));
        }
        catch (Exception)
        {
            return 0;
        }
    }

    public static double Median(IEnumerable<double> xs)
    {
        var a = xs.OrderBy(x => x).ToArray();
        if (a.Length == 0) return double.NaN;
        return a.Length % 2 == 1 ? a[a.Length / 2] : 0.5 * (a[a.Length / 2 - 1] + a[a.Length / 2]);
    }
}
