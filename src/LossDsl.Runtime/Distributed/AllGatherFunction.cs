using System.Collections.Generic;
using static TorchSharp.torch;

namespace LossDsl.Runtime.Distributed;

/// <summary>
/// All-gather with gradients: forward concatenates every rank's rows (dim 0, uneven allowed); backward sums the
/// gradient of the gathered tensor over the ranks and hands each rank the rows it owns (reduce-scatter). So a pair loss
/// over global negatives is written as on one device, <c>z.matmul(AllGatherFunction.Gather(comm, z).t())</c>, and
/// every rank's anchors send their gradient back to the rank whose embedding they used.
/// </summary>
public sealed class AllGatherFunction : autograd.SingleTensorFunction<AllGatherFunction>
{
    private const string SavedCollective = "lossdsl.collective";
    private const string SavedCounts = "lossdsl.counts";

    public override string Name => "LossDslAllGather";

    /// <summary>Every rank's <paramref name="local"/> along dim 0, differentiably.</summary>
    public static Tensor Gather(ICollective collective, Tensor local) => apply(local, collective);

    public override Tensor forward(autograd.AutogradContext ctx, object[] vars)
    {
        var local = (Tensor)vars[0];
        var c = (ICollective)vars[1];
        long[] counts = c.Gather(local.shape[0]);
        ctx.save_data(SavedCollective, c);
        ctx.save_data(SavedCounts, counts);
        using var contiguous = local.detach().contiguous();
        return c.AllGather(contiguous);
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
    {
        var c = (ICollective)ctx.get_data(SavedCollective);
        var counts = (long[])ctx.get_data(SavedCounts);
        using var g = grad_output.contiguous();
        return new List<Tensor> { c.ReduceScatter(g, counts), null! };
    }
}
