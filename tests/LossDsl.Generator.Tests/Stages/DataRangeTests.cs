using System.Collections.Generic;
using System.Linq;
using LossDsl.Generator.IR;
using LossDsl.Generator.Model;
using LossDsl.Generator.Parse;
using Xunit;
using static LossDsl.Generator.Tests.Stages.Stage;

namespace LossDsl.Generator.Tests.Stages;

/// <summary>
/// <c>[Range]</c> on a data input (a span or a float data parameter): the parse stage keeps it on the parameter (a
/// hyperparameter's default-value rule does not apply), and <see cref="Interval.Intersect"/> is what narrows a task's
/// domain to it.
/// </summary>
public class DataRangeTests
{
    private static LossSignature Signature(string members)
    {
        var d = Declare(members);
        var diagnostics = new List<DiagnosticInfo>();
        var signature = SignatureParser.Parse(d.Syntax, d.Method, d.Attribute, diagnostics, out _);
        Assert.True(signature is not null, string.Join("; ", diagnostics.Select(x => x.Id + " " + string.Join(",", x.Arguments))));
        Assert.Empty(diagnostics);
        return signature!;
    }

    [Fact]
    public void ARangeOnASpanIsKeptOnTheParameter()
    {
        var sig = Signature("[Loss] public static partial float F([Range(0, double.PositiveInfinity, MinExclusive = true)] ReadOnlySpan<float> d, int t) => -Log(d[t]);");
        var d = sig.Parameters.Single(p => p.Name == "d");
        Assert.Equal(ParameterKind.Span, d.Kind);
        Assert.Equal(new HyperRange(0, double.PositiveInfinity, true, false), d.Range);
        Assert.Null(sig.Parameters.Single(p => p.Name == "t").Range);
    }

    [Fact]
    public void ARangeOnAnElementwiseInputIsKeptOnTheParameter()
    {
        var sig = Signature("[Loss] public static partial float F([Range(0, 1, MinExclusive = true, MaxExclusive = true)] float q, [Range(0, 1)] float y) => -(y * Log(q) + (1 - y) * Log(1 - q));");
        Assert.Equal(new HyperRange(0, 1, true, true), sig.Parameters[0].Range);
        Assert.Equal(new HyperRange(0, 1, false, false), sig.Parameters[1].Range);
        Assert.Equal("(0, 1)", sig.Parameters[0].Range!.ToString());
    }

    public static TheoryData<Interval, Interval, string?> Intersections => new()
    {
        { Interval.Real, new Interval(0, double.PositiveInfinity, loOpen: true), "(0, ∞)" },
        { Interval.Unit, new Interval(0, double.PositiveInfinity, loOpen: true), "(0, 1]" },
        { Interval.Unit, new Interval(-1, 0.5, hiOpen: true), "[0, 0.5)" },
        { Interval.Unit, new Interval(1, 2, loOpen: true), null },
        { Interval.Unit, new Interval(1, 2), "[1, 1]" },
        { Interval.Unit, new Interval(2, 3), null },
    };

    [Theory]
    [MemberData(nameof(Intersections))]
    public void IntersectKeepsTheValuesInBoth(Interval a, Interval b, string? expected)
    {
        Assert.Equal(expected, Interval.Intersect(a, b)?.ToString());
        Assert.Equal(expected, Interval.Intersect(b, a)?.ToString());
    }
}
