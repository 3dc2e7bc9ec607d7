using System;
using System.Linq;
using LossDsl.Runtime;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using R = LossDsl.Losses.Ranking;

namespace LossDsl.Tests;

/// <summary>
/// The nested-reduction losses (src/LossDsl.Losses/Ranking.cs) against independent TorchSharp compositions that build the
/// [N, N, N] tensors of their published definitions, with autograd to the embeddings, and float64 central differences.
/// </summary>
public class RankingTests
{
    private static readonly long[] Labels = { 0, 0, 1, 1, 1, 2, 2, 3, 4, 4, 0, 5 };

    private static Tensor LabelTensor => torch.tensor(Labels);

    private static (Tensor Positive, Tensor Negative) Masks(Tensor labels)
    {
        var same = labels.view(-1, 1).eq(labels.view(1, -1));
        return (same.logical_and(torch.eye(labels.shape[0], dtype: ScalarType.Bool).logical_not()), same.logical_not());
    }

    /// <summary>pytorch-metric-learning's TripletMarginLoss (all triplets, AvgNonZeroReducer) on a distance matrix: a composition.</summary>
    internal static Tensor TripletReference(Tensor d, Tensor labels, double margin)
    {
        var (pos, neg) = Masks(labels);
        var loss = F.relu(d.unsqueeze(2) - d.unsqueeze(1) + margin);                  // [a, p, n]
        var kept = pos.unsqueeze(2).logical_and(neg.unsqueeze(1));
        var triplets = loss.masked_select(kept);
        var nonzero = triplets.gt(0);
        return nonzero.any().item<bool>() ? triplets.masked_select(nonzero).mean() : triplets.sum() * 0;
    }

    /// <summary>The per-anchor sums Σ_p Σ_n relu(d_ap − d_an + m): a composition.</summary>
    internal static Tensor TripletSums(Tensor d, Tensor labels, double margin)
    {
        var (pos, neg) = Masks(labels);
        var kept = pos.unsqueeze(2).logical_and(neg.unsqueeze(1)).to(d.dtype);
        return (F.relu(d.unsqueeze(2) - d.unsqueeze(1) + margin) * kept).sum(new long[] { 1, 2 });
    }

    /// <summary>Smooth-AP (Brown et al. 2020, eq. 10-11) per query over a similarity matrix, then the mean over queries with positives.</summary>
    internal static Tensor SmoothAPReference(Tensor s, Tensor labels, double tau)
    {
        var (pos, neg) = Masks(labels);
        long n = s.shape[0];
        var others = pos.logical_or(neg).to(s.dtype);                                   // Ω(i): every item but the query
        var p = pos.to(s.dtype);
        var notSame = torch.eye(n, dtype: s.dtype).neg().add(1).unsqueeze(0);          // [1, j, k]: k ≠ j
        var sg = torch.sigmoid((s.unsqueeze(1) - s.unsqueeze(2)) / tau) * notSame;     // [i, j, k]: σ((s_ik − s_ij)/τ)
        var rankP = 1 + (sg * p.unsqueeze(1)).sum(2);                                    // [i, j]
        var rankAll = 1 + (sg * others.unsqueeze(1)).sum(2);
        var count = p.sum(1);
        var ap = (p * rankP / rankAll).sum(1) / count.clamp_min(1);
        var has = count.gt(0);
        return (1 - ap).masked_select(has).mean();
    }

    private static Tensor Embeddings(int seed, long n = 12, long dim = 6) => torch.randn(new long[] { n, dim }, dtype: ScalarType.Float64, generator: new Generator((ulong)seed));

    private static Tensor Distance(Tensor e) { var z = F.normalize(e, dim: 1); return (z.unsqueeze(1) - z.unsqueeze(0)).square().sum(2).add(1e-12).sqrt(); }

    private static Tensor Similarity(Tensor e) { var z = F.normalize(e, dim: 1); return z.matmul(z.t()); }

    [Theory]
    [InlineData(0.05)]
    [InlineData(0.5)]
    public void TripletMarginMatchesPmlOnTheEmbeddings(double margin)
    {
        var e = Embeddings(3);
        var (refValue, refGrad) = Reference.Autograd(x => TripletReference(Distance(x), LabelTensor, margin), e);
        var (value, grad) = Reference.Autograd(x => R.TripletMarginLoss(Distance(x), LabelTensor, margin), e);
        Reference.Close(refValue, value, 1e-12, 1e-14, "value");
        Reference.Close(refGrad, grad, 1e-9, 1e-12, "∂/∂embeddings");
    }

    [Fact]
    public void TripletSumsPerAnchorAndTheirGradient()
    {
        var d = Distance(Embeddings(4)).detach();
        var upstream = torch.rand(12, dtype: ScalarType.Float64, generator: new Generator(5));
        var (refValue, refGrad) = Reference.Autograd(x => TripletSums(x, LabelTensor, 0.2), d, upstream);
        var (value, grad) = Reference.Autograd(x => R.TripletMarginAllTriplets(x, LabelTensor, margin: 0.2, reduction: nn.Reduction.None), d, upstream);
        Reference.Close(refValue, value, 1e-12, 1e-14, "value");
        Reference.Close(refGrad, grad, 1e-10, 1e-13, "∂/∂distance");
        var (index, fd) = Reference.FiniteDifferences(x => R.TripletMarginAllTriplets(x, LabelTensor, margin: 0.2, reduction: nn.Reduction.None), d, upstream, 15, 6);
        var flat = grad.reshape(-1);
        for (int k = 0; k < index.Length; k++) Reference.Near(fd[k], flat[index[k]].item<double>(), 1e-6, 1e-8, $"∂/∂d[{index[k]}]");
    }

    [Theory]
    [InlineData(0.01)]
    [InlineData(0.1)]
    public void SmoothAPMatchesThePaperOnTheEmbeddings(double tau)
    {
        var e = Embeddings(7);
        var (refValue, refGrad) = Reference.Autograd(x => SmoothAPReference(Similarity(x), LabelTensor, tau), e);
        var (value, grad) = Reference.Autograd(x => R.SmoothAP(Similarity(x), LabelTensor, temperature: tau), e);
        Reference.Close(refValue, value, 1e-12, 1e-14, "value");
        Reference.Close(refGrad, grad, 1e-9, 1e-12, "∂/∂embeddings");
    }

    [Fact]
    public void SmoothAPAgreesWithFloat64FiniteDifferences()
    {
        var s = Similarity(Embeddings(8)).detach();
        var (_, grad) = Reference.Autograd(x => R.SmoothAP(x, LabelTensor, temperature: 0.1, reduction: nn.Reduction.Sum), s);
        var (index, fd) = Reference.FiniteDifferences(x => R.SmoothAP(x, LabelTensor, temperature: 0.1, reduction: nn.Reduction.None), s, null, 15, 9);
        var flat = grad.reshape(-1);
        for (int k = 0; k < index.Length; k++) Reference.Near(fd[k], flat[index[k]].item<double>(), 1e-6, 1e-8, $"∂/∂s[{index[k]}]");
    }

    [Fact]
    public void TheSmoothAPBodyRunsAsPlainCSharp()
    {
        var s = Similarity(Embeddings(9));
        var perQuery = R.SmoothAP(s, LabelTensor, temperature: 0.1, reduction: nn.Reduction.None);
        var (pos, neg) = Masks(LabelTensor);
        for (int i = 0; i < 12; i++)
        {
            float scalar = R.SmoothAP(s[i].to(ScalarType.Float32).data<float>().ToArray(), pos[i].to(ScalarType.Float32).data<float>().ToArray(),
                neg[i].to(ScalarType.Float32).data<float>().ToArray(), 0.1f);
            Reference.Near(perQuery[i].item<double>(), scalar, 1e-5, 1e-6, $"query {i}");
        }
    }

    [Fact]
    public void TheFusedBackendsSayTheyHaveNoInnerLoopAndAutoRoutesToTorchOps()
    {
        var d = Distance(Embeddings(10)).to(ScalarType.Float32);
        foreach (var fused in new[] { Backend.Cpu, Backend.Ilgpu })
            Assert.Contains("generated without", Assert.Throws<NotSupportedException>(() => R.TripletMarginAllTriplets(d, LabelTensor, backend: fused)).Message);
        Reference.Close(R.TripletMarginAllTriplets(d, LabelTensor, backend: Backend.TorchOps), R.TripletMarginAllTriplets(d, LabelTensor), 0.0, 0.0, "Auto = TorchOps");
    }

    [Fact]
    public void ALargeBatchRunsInBlocksOfOuterElements()
    {
        // 300 items: a block is 1M / 300² = 11 outer elements, so the nested sums run in 28 blocks; the result must not depend on it.
        var labels = torch.randint(0, 20, new long[] { 300 }, generator: new Generator(11));
        var e = torch.randn(new long[] { 300, 8 }, dtype: ScalarType.Float64, generator: new Generator(12));
        var d = Distance(e);
        Reference.Close(TripletSums(d, labels, 0.1), R.TripletMarginAllTriplets(d, labels, margin: 0.1, reduction: nn.Reduction.None), 1e-12, 1e-12, "per-anchor sums");
    }
}
