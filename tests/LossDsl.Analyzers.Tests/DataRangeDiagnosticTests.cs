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
}
