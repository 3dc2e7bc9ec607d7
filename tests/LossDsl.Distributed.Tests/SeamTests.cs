extern alias generator;
using System;
using System.Linq;
using LossDsl.Losses;
using LossDsl.Runtime;
using LossDsl.Runtime.Distributed;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using GeneratorReductions = generator::LossDsl.Generator.IR.Reductions;
using GeneratorAccumulator = generator::LossDsl.Generator.IR.Accumulator;

namespace LossDsl.Distributed.Tests;

/// <summary>The seam without MPI: the single-process default, the combine table, and the NCCL dry run's plans.</summary>
public class SeamTests
{
    /// <summary>The runtime's combine rules are the reduction table's accumulators, row for row.</summary>
    [Fact]
    public void CombineRulesAreTheReductionTablesAccumulators()
    {
        Assert.Equal(GeneratorReductions.All.Select(r => r.Name).OrderBy(n => n), ShardPlan.Reductions.Keys.OrderBy(n => n));
        foreach (var row in GeneratorReductions.All)
        {
            var (combine, op) = ShardPlan.Reductions[row.Name];
            var expected = row.Accumulator switch
            {
                GeneratorAccumulator.Additive => ShardCombine.Additive,
                GeneratorAccumulator.Selecting => ShardCombine.Selecting,
                GeneratorAccumulator.LogSumExp => ShardCombine.LogSumExp,
                _ => throw new InvalidOperationException($"a new accumulator {row.Accumulator}: give it a combine rule"),
            };
            Assert.Equal(expected, combine);
            // A selecting reduction combines with the extreme its comparison keeps; the others' partial sums add.
            if (row.Selects) Assert.Equal(row.Identity > 0 ? CollectiveOp.Min : CollectiveOp.Max, op);
        }
    }

    [Fact]
    public void SingleProcessCollectivesAreTheIdentity()
    {
        var c = SingleProcessCollective.Instance;
        var x = arange(6, dtype: ScalarType.Float64).view(3, 2);
        var y = x.clone();
        c.AllReduce(y, CollectiveOp.Max);
        Assert.True(y.equal(x).all().item<bool>());
        Assert.True(c.AllGather(x).equal(x).all().item<bool>());
        Assert.True(c.ReduceScatter(x, new[] { 3L }).equal(x).all().item<bool>());
        Assert.Throws<ArgumentException>(() => c.ReduceScatter(x, new[] { 2L }));
        Assert.Throws<ArgumentException>(() => c.AllReduce(x.t(), CollectiveOp.Sum));
    }

    /// <summary>
    /// A sharded call over one rank goes through every combine path (the frame's collectives, the global counts) and
    /// must give what the plain call gives: vocabulary-parallel CE, data-parallel CE with ignored rows, a pair loss.
    /// </summary>
    [Fact]
    public void ShardedCallsOverOneRankEqualThePlainCall()
    {
        manual_seed(3);
        var logits = randn(6, 5, dtype: ScalarType.Float64);
        var target = tensor(new long[] { 1, -1, 4, 0, -1, 2 });
        foreach (var axis in new[] { ShardAxis.Classes, ShardAxis.Batch })
        {
            var plain = logits.clone().requires_grad_(true);
            var expected = Classification.CrossEntropy(plain, target, ignore_index: -1);
            expected.backward();
            var sharded = logits.clone().requires_grad_(true);
            Tensor actual;
            using (LossSharding.Over(SingleProcessCollective.Instance, axis)) actual = Classification.CrossEntropy(sharded, target, ignore_index: -1);
            actual.backward();
            Assert.Equal(expected.item<double>(), actual.item<double>(), tolerance: 1e-12);
            Assert.True(sharded.grad!.allclose(plain.grad!, rtol: 0, atol: 1e-14), axis.ToString());
        }
        var z = nn.functional.normalize(randn(7, 3, dtype: ScalarType.Float64), dim: 1);
        var labels = tensor(new long[] { 0, 1, 0, 2, 1, 0, 2 });
        var plainLoss = MetricLearning.SupCon(z.matmul(z.t()), labels).item<double>();
        using (LossSharding.Over(SingleProcessCollective.Instance, ShardAxis.Batch))
        {
            var gathered = AllGatherFunction.Gather(SingleProcessCollective.Instance, z);
            Assert.Equal(plainLoss, MetricLearning.SupCon(z.matmul(gathered.t()), labels).item<double>(), tolerance: 1e-12);
        }
    }

    [Fact]
    public void UnsupportedShardsSayWhy()
    {
        var x = randn(2, 3, 4, 5, dtype: ScalarType.Float64);
        var y = rand(2, 3, 4, 5, dtype: ScalarType.Float64);
        using (LossSharding.Over(SingleProcessCollective.Instance, ShardAxis.Classes))
        {
            var e = Assert.Throws<NotSupportedException>(() => Segmentation.Dice(x, y));
            Assert.Contains("class-row losses", e.Message);
            var logits = randn(4, 3, dtype: ScalarType.Float64);
            var e2 = Assert.Throws<NotSupportedException>(() => Classification.CrossEntropy(logits, tensor(new long[] { 0, 1, 2, 0 }), backend: Backend.Cpu));
            Assert.Contains("torch-ops backend", e2.Message);
        }
    }

    /// <summary>The NCCL dry run: the imports fail to bind with a message naming the library; the plans count the bytes.</summary>
    [Fact]
    public void NcclDryRun()
    {
        Assert.False(LossDsl.Distributed.NcclApi.Available(out var why), "libnccl is installed here: run the NCCL check on a GPU machine");
        Assert.Contains("libnccl.so.2", why);
        Assert.Throws<DllNotFoundException>(() => { unsafe { var id = new LossDsl.Distributed.NcclApi.UniqueId(); LossDsl.Distributed.NcclApi.ncclGetUniqueId(&id); } });
        Assert.Equal(128, System.Runtime.InteropServices.Marshal.SizeOf<LossDsl.Distributed.NcclApi.UniqueId>());
        var bytes = Enumerable.Range(0, 128).Select(i => (byte)i).ToArray();
        Assert.Equal(bytes, LossDsl.Distributed.NcclApi.UniqueId.From(bytes).ToBytes());

        // Uneven all-gather of [3, 5, 2] rows of 4 float64: padded to 5 rows a rank, 20 elements per call, 480 bytes received.
        var gather = LossDsl.Distributed.NcclPlan.AllGather(new long[] { 3, 5, 2 }, 4, 8);
        Assert.Equal(5, gather.PaddedRows);
        Assert.Equal(20, gather.Count);
        Assert.Equal(480, gather.BufferBytes);
        Assert.Equal(320, gather.RingBytesPerRank, tolerance: 1e-9);
        // All-reduce of 1000 float32 over 4 ranks: count 1000, ring traffic 2·3/4·4000 bytes a rank.
        var reduce = LossDsl.Distributed.NcclPlan.AllReduce(4, 1000, 4);
        Assert.Equal(1000, reduce.Count);
        Assert.Equal(6000, reduce.RingBytesPerRank, tolerance: 1e-9);
        Assert.Equal(LossDsl.Distributed.NcclApi.DataType.Float64, LossDsl.Distributed.NcclCollective.Type(ScalarType.Float64));
        Assert.Equal(LossDsl.Distributed.NcclApi.RedOp.Max, LossDsl.Distributed.NcclCollective.Op(CollectiveOp.Max));
    }
}
