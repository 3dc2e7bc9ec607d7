using System.Collections.Generic;
using System.Linq;
using LossDsl.Generator.Model;
using LossDsl.Generator.Parse;
using Xunit;
using static LossDsl.Generator.Tests.Stages.Stage;

namespace LossDsl.Generator.Tests.Stages;

/// <summary>
/// Which set losses take PyTorch's <c>weight</c>: those whose sets run per channel (or per class), as cross_entropy's
/// class weights; one set over the whole tensor has no channel to weigh.
/// </summary>
public class SetWeightAxesTests
{
    private const string SetBody = "(ReadOnlySpan<float> p, ReadOnlySpan<float> y) => 1 - Sum(p, y, (a, b) => a * b) / Max(Sum(p) + Sum(y), 1e-7f);";
    private const string MulticlassBody = "([Softmax] ReadOnlySpan<float> p, ReadOnlySpan<float> y) => 1 - Sum(p, y, (a, b) => a * b) / Max(Sum(p) + Sum(y), 1e-7f);";

    public static TheoryData<string, bool> Declarations => new()
    {
        { "[Loss(Shape = LossShape.ChannelSet)] public static partial float F" + SetBody, true },
        { "[Loss(Sets = LossSets.PerImage)] public static partial float F" + SetBody, true },
        { "[Loss(Sets = LossSets.Whole)] public static partial float F" + SetBody, false },
        { "[Loss] public static partial float F" + MulticlassBody, true },
        { "[Loss(Sets = LossSets.PerImage)] public static partial float F" + MulticlassBody, true },
        { "[Loss] public static partial float F(ReadOnlySpan<float> s, [Positives] ReadOnlySpan<float> p) => Sum(s, p, (a, b) => a * b);", false },
        { "[Loss] public static partial float F(ReadOnlySpan<float> z) => LogSumExp(z);", false },
    };

    [Theory]
    [MemberData(nameof(Declarations))]
    public void SetsPerChannelTakeWeights(string members, bool takesWeight)
    {
        var d = Declare(members);
        var diagnostics = new List<DiagnosticInfo>();
        var signature = SignatureParser.Parse(d.Syntax, d.Method, d.Attribute, diagnostics, out _);
        Assert.True(signature is not null, string.Join("; ", diagnostics.Select(x => x.Id + " " + string.Join(",", x.Arguments))));
        Assert.Equal(takesWeight, signature!.Axes.TakesWeight);
    }
}
