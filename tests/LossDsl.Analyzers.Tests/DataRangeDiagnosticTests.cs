using System.Threading.Tasks;
using Xunit;

namespace LossDsl.Analyzers.Tests;

/// <summary>
/// A declared range on a data input is a fact the interval analysis uses: Log of a distance declared positive is not
/// flagged (LOSS0303), while the same loss without the declaration, or with a range that reaches 0, still is.
/// </summary>
public class DataRangeDiagnosticTests
{
    [Fact]
    public Task LogOfARowEntryDeclaredPositiveIsNotFlagged() => AnalyzerTest.RunAsync("""
        public static partial class L
        {
            [Loss(Task = LossTask.None)]
            public static partial float Declared([Range(0, double.PositiveInfinity, MinExclusive = true)] ReadOnlySpan<float> d, int t) => -Log(d[t]);

            [Loss(Task = LossTask.None)]
            public static partial float Undeclared(ReadOnlySpan<float> d, int t) => -{|LOSS0303:Log(d[t])|};

            [Loss(Task = LossTask.None)]
            public static partial float ReachesZero([Range(0, double.PositiveInfinity)] ReadOnlySpan<float> d, int t) => -{|LOSS0303:Log(d[t])|};
        }
        """);

    [Fact]
    public Task AnElementwiseInputDeclaredInsideTheOpenUnitIntervalIsSafeOnBothSides() => AnalyzerTest.RunAsync("""
        public static partial class L
        {
            [Loss(Task = LossTask.None)]
            public static partial float Open([Range(0, 1, MinExclusive = true, MaxExclusive = true)] float q, float y) => -(y * Log(q) + (1 - y) * Log(1 - q));

            [Loss(Task = LossTask.None)]
            public static partial float HalfOpen([Range(0, 1, MinExclusive = true)] float q, float y) => -(y * Log(q) + (1 - y) * {|LOSS0303:Log(1 - q)|});
        }
        """);

    /// <summary>
    /// A multiclass set loss's spans are the softmax's probabilities and the mask's one-hot whatever the loss's task, so
    /// Log(p + ε) and Log(mean + ε) are safe (information maximization), while Log(p − ε) still is not.
    /// </summary>
    [Fact]
    public Task MulticlassSpansAreProbabilitiesWhateverTheTask() => AnalyzerTest.RunAsync("""
        public static partial class L
        {
            [Loss(Task = LossTask.None)]
            public static partial float Safe([Softmax] ReadOnlySpan<float> p, ReadOnlySpan<float> mask, float eps = 1e-5f)
            {
                float mean = Mean(p);
                return mean * Log(mean + eps) - Mean(p, q => q * Log(q + eps));
            }

            [Loss(Task = LossTask.None)]
            public static partial float Unsafe([Softmax] ReadOnlySpan<float> p, ReadOnlySpan<float> mask, float eps = 1e-5f)
                => -Mean(p, q => {|LOSS0303:Log(q - eps)|});
        }
        """);
}
