using System.Linq;
using System.Text.RegularExpressions;
using LossDsl.Generator.Emit;
using LossDsl.Generator.Emit.Kernels;
using LossDsl.Generator.Differentiate;
using LossDsl.Generator.Model;
using LossDsl.Generator.Schedule;
using Xunit;

namespace LossDsl.Generator.Tests.Stages;

/// <summary>
/// The emit stage's kernel skeleton on its own, on plans the <see cref="Scheduler"/> makes: every dialect writes the kernel
/// ABI's entry points of a plan, in its launch order, and nothing else; and a reduction's accumulate and merge come from
/// its row of the reduction table (a Min selects with &lt; and merges as Min, never as another reduction).
/// </summary>
public class KernelSkeletonTests
{
    private const string CrossEntropy = "[Loss] public static partial float F(ReadOnlySpan<float> z, int t) => -LogSoftmax(z, t);";
    private const string Elementwise = "[Loss] public static partial float F(float x, float y) => Square(x - y);";
    private const string TwoPassSet = """
        [Loss(Shape = LossShape.ChannelSet)]
        public static partial float F(ReadOnlySpan<float> p, ReadOnlySpan<float> y)
        {
            float m = Mean(p);
            return Mean(p, y, (a, b) => Square(a - m) * b) + Min(p);
        }
        """;

    /// <summary>The methods a dialect writes, in order, without the compute type's suffix and the backend's prefix.</summary>
    private static string[] Written(KernelBackend backend, KernelSkeleton skeleton, string real)
    {
        var w = new IndentedWriter();
        var dialect = backend.Dialect(skeleton, real, w);
        skeleton.Emit(dialect);
        string suffix = KernelAbi.Suffix(real), prefix = dialect.MethodName("").Replace(suffix, "");
        return Regex.Matches(w.ToString(), @"public static void (\w+?)(<TIn>)?\(").Select(m => m.Groups[1].Value)
            .Select(n => { Assert.StartsWith(prefix, n); Assert.EndsWith(suffix, n); return n.Substring(prefix.Length, n.Length - prefix.Length - suffix.Length); })
            .ToArray();
    }

    [Theory]
    [InlineData(CrossEntropy, new[] { "Fused" })]
    [InlineData(Elementwise, new[] { "Fused" })]
    [InlineData(TwoPassSet, new[] { "Pass1", "Pass2", "Gradient" })]
    public void EveryDialectWritesTheAbiEntryPointsInLaunchOrder(string loss, string[] expected)
    {
        var plan = Scheduler.Run(Differentiator.Run(Stage.ParseOk(loss)));
        Assert.Equal(expected, KernelAbi.EntryPoints(plan.Chunked, plan.Passes.Select(p => p.Level)));
        var skeleton = new KernelSkeleton(plan);
        Assert.Equal(expected, skeleton.EntryPoints().Select(e => e.Entry));
        Assert.True(KernelBackends.All.Count >= 2);
        foreach (var backend in KernelBackends.All)
            foreach (string real in backend.Reals)
                Assert.Equal(expected, Written(backend, skeleton, real));
    }

    [Fact]
    public void TheBackendTableListsEachBackendsKernelsInLaunchOrder()
    {
        var skeleton = new KernelSkeleton(Scheduler.Run(Differentiator.Run(Stage.ParseOk(TwoPassSet))));
        var rows = KernelBackends.Rows(skeleton).ToList();
        Assert.Equal(KernelBackends.All.Sum(b => b.Rows.Count), rows.Count);
        Assert.Contains(("Cpu", "global::TorchSharp.torch.ScalarType.Float32", "new CpuKernel[] { CpuPass1F32, CpuPass2F32, CpuGradientF32 }"), rows);
        Assert.Contains(("Ilgpu", "global::TorchSharp.torch.ScalarType.BFloat16", "new LossKernel<BF16, float>[] { Pass1F32<BF16>, Pass2F32<BF16>, GradientF32<BF16> }"), rows);
    }

    [Fact]
    public void AMinSelectsWithLessThanAndMergesAsMin()
    {
        var skeleton = new KernelSkeleton(Scheduler.Run(Differentiator.Run(Stage.ParseOk("[Loss] public static partial float F(ReadOnlySpan<float> z, int t) => z[t] - Min(z);"))));
        var code = KernelBackends.All.ToDictionary(b => b.Id, b =>
        {
            var w = new IndentedWriter();
            skeleton.Emit(b.Dialect(skeleton, "float", w));
            // The code, without the derivation comments.
            return string.Join("\n", w.ToString().Split('\n').Where(line => !line.TrimStart().StartsWith("//")));
        });
        Assert.Matches(@"float (R\d+)_acc = float\.PositiveInfinity; long \1_arg = -1;", code["Ilgpu"]);
        Assert.Matches(@"if \(_z_j < R\d+_acc \|\|", code["Ilgpu"]);
        Assert.Matches(@"GroupReduce\.Min\(ref (R\d+)_acc, ref \1_arg\);", code["Ilgpu"]);
        Assert.Contains("Vector512.LessThan(", code["Cpu"]);
        Assert.Contains("LossVectorMath.MergeArgMin(", code["Cpu"]);
        Assert.DoesNotContain("LogSumExp", code["Ilgpu"] + code["Cpu"]);
        Assert.DoesNotContain("GreaterThan(", code["Cpu"]);
    }
}
