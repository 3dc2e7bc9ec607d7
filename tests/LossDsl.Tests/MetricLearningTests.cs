using System.Linq;
using LossDsl.Runtime;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LossDsl.Tests;

/// <summary>
/// Metric learning over a batch, with the pair masks passed as row spans: the similarity (or distance) matrix is computed
/// from embeddings with TorchSharp ops, so the gradient reaches the embeddings through it. Compared with the same losses
/// written in TorchSharp ops as pytorch-metric-learning defines them, value and ∂/∂embeddings, on every backend.
/// </summary>
public class MetricLearningTests
{
    private static (Tensor Embeddings, Tensor Labels) Batch(ulong seed)
    {
        var g = new Generator(seed);
        var e = torch.randn(new long[] { 12, 8 }, dtype: ScalarType.Float64, generator: g);
        var labels = torch.tensor(new long[] { 0, 0, 1, 1, 1, 2, 2, 3, 4, 4, 0, 5 });   // labels 3 and 5 have no positive
        return (e, labels);
    }

    private static (Tensor Positive, Tensor Negative, Tensor Candidate) Masks(Tensor labels)
    {
        var same = labels.unsqueeze(0).eq(labels.unsqueeze(1));
        var self = torch.eye(labels.shape[0], dtype: ScalarType.Bool);
        return (same.logical_and(self.logical_not()).to(ScalarType.Float64), same.logical_not().to(ScalarType.Float64), self.logical_not().to(ScalarType.Float64));
    }

    /// <summary>SupCon as pytorch-metric-learning's SupConLoss: mean over the rows that have a positive.</summary>
    private static Tensor SupConReference(Tensor similarity, Tensor positive, Tensor candidate, double temperature)
    {
        var logits = (similarity / temperature).masked_fill(candidate.eq(0), double.NegativeInfinity);
        var logProb = similarity / temperature - logits.logsumexp(1, keepdim: true);
        var count = positive.sum(new long[] { 1 });
        var perRow = -(positive * logProb).sum(new long[] { 1 }) / count.clamp_min(1);
        var hasPositive = count > 0;
        return perRow.masked_select(hasPositive).mean();
    }

    [Theory]
    [InlineData(Backend.Cpu)]
    [InlineData(Backend.Ilgpu)]
    [InlineData(Backend.TorchOps)]
    public void SupConOnCosineSimilarityMatchesTheReference(Backend backend)
    {
        using var _ = LossBackend.Use(backend);
        var (e, labels) = Batch(41);
        var (positive, _, candidate) = Masks(labels);
        var hasPositive = positive.sum(new long[] { 1 }) > 0;
        Tensor Similarity(Tensor z) { var n = F.normalize(z, dim: 1); return n.matmul(n.t()); }

        var (refValue, refGrad) = Reference.Autograd(z => SupConReference(Similarity(z), positive, candidate, 0.1), e);
        var leaf = e.clone().requires_grad_(true);
        // Rows without positives have loss 0; like pytorch-metric-learning, average over the others.
        var value = TestLosses.SupCon(Similarity(leaf), positive, candidate, temperature: 0.1, reduction: nn.Reduction.Sum)
                    / hasPositive.sum().to(ScalarType.Float64);
        value.backward();
        Reference.Close(refValue, value.detach(), 1e-10, 1e-13, "SupCon");
        Reference.Close(refGrad, leaf.grad!, 1e-9, 1e-12, "∂SupCon/∂embeddings");
    }

    [Theory]
    [InlineData(Backend.Cpu)]
    [InlineData(Backend.TorchOps)]
    public void BatchHardTripletMatchesTheReference(Backend backend)
    {
        using var _ = LossBackend.Use(backend);
        var (e, labels) = Batch(43);
        var (positive, negative, _) = Masks(labels);
        Tensor Distance(Tensor z) => torch.cdist(z, z);

        Tensor Reference_(Tensor z)
        {
            var d = Distance(z);
            var hardestPositive = d.masked_fill(positive.eq(0), double.NegativeInfinity).amax(new long[] { 1 });
            var hardestNegative = d.masked_fill(negative.eq(0), double.PositiveInfinity).amin(new long[] { 1 });
            return (hardestPositive - hardestNegative + 0.2).clamp_min(0);
        }
        // Rows without a positive: −∞ − d + m, clamped to 0, in both.
        var (refValue, refGrad) = Reference.Autograd(z => Reference_(z).mean(), e);
        var leaf = e.clone().requires_grad_(true);
        var value = TestLosses.BatchHardTriplet(Distance(leaf), positive, negative, margin: 0.2);
        value.backward();
        Reference.Close(refValue, value.detach(), 1e-10, 1e-13, "batch-hard triplet");
        Reference.Close(refGrad, leaf.grad!, 1e-9, 1e-12, "∂triplet/∂embeddings");
    }
}
