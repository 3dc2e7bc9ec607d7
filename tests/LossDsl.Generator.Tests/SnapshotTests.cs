using System.IO;
using System.Linq;
using Xunit;

namespace LossDsl.Generator.Tests;

/// <summary>The generated source of the sample losses, against Snapshots/*.verified.cs (see Snapshots/README.md).</summary>
public class SnapshotTests
{
    public static TheoryData<string> Samples => new(SampleLosses.Names);

    [Theory]
    [MemberData(nameof(Samples))]
    public void GeneratedSourceMatchesSnapshot(string loss)
    {
        var generated = SampleLosses.Generated(loss);
        SnapshotAssert.Matches(SnapshotAssert.NameOf(generated.HintName), generated.SourceText.ToString());
    }

    [Fact]
    public void EveryGeneratedFileIsSnapshotted()
    {
        var hints = SampleLosses.Result.Run.Results.SelectMany(r => r.GeneratedSources).Select(s => s.HintName).OrderBy(h => h).ToArray();
        Assert.Equal(SampleLosses.Names.Select(SampleLosses.HintName).OrderBy(h => h), hints);
    }

    /// <summary>Every verified file belongs to a sample loss; accepting deletes the others.</summary>
    [Fact]
    public void NoStaleSnapshots()
    {
        var expected = SampleLosses.Names.Select(n => Path.GetFileName(SnapshotAssert.VerifiedPath(SnapshotAssert.NameOf(SampleLosses.HintName(n))))).ToHashSet();
        var stale = Directory.GetFiles(SnapshotAssert.Directory, "*.verified.cs").Where(f => !expected.Contains(Path.GetFileName(f))).ToList();
        if (SnapshotAssert.Accepting)
            stale.ForEach(File.Delete);
        else
            Assert.True(stale.Count == 0, "Verified snapshots of no sample loss (delete them, or run with LOSSDSL_ACCEPT=1): " + string.Join(", ", stale.Select(Path.GetFileName)));
    }

    [Fact]
    public void Poly1HasFusedKernelsAndAutogradFunction()
    {
        string source = SnapshotAssert.Normalize(SampleLosses.Generated("Poly1").SourceText.ToString());

        // One group owns a whole row, so forward and backward fuse into one kernel per precision; the float32 one is
        // generic over how inputs are stored, and the row's reductions are merged across the group.
        Assert.Matches(@"static void FusedF32<TIn>\(KernelShape shape, LossViews<TIn, float> v\)", source);
        Assert.Matches(@"static void FusedF64\(KernelShape shape, LossViews<double, double> v\)", source);
        Assert.Contains("GroupReduce.LogSumExp(ref R4_max, ref R4_sum);", source);
        Assert.Contains("new LossKernel<BF16, float>[] { FusedF32<BF16> }", source);
        Assert.Contains("SingleTensorFunction<Poly1Function>", source);
        // The defining declaration of the user's partial method carries the hyperparameter default.
        Assert.Contains("public static partial float Poly1(global::System.ReadOnlySpan<float> logits, int target, float epsilon = 1", source);
    }
}
