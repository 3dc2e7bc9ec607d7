using System.IO;
using System.Linq;
using LossDsl.Generator.Analyze;
using LossDsl.Generator.Diagnostics;
using Xunit;

namespace LossDsl.Analyzers.Tests;

/// <summary>Every diagnostic ID has a descriptor, a docs page its help link points to, and a release-tracking entry.</summary>
public class DescriptorTests
{
    public static TheoryData<string> Ids() => new(DiagnosticDescriptors.All.Select(d => d.Id));

    [Theory]
    [MemberData(nameof(Ids))]
    public void HasDocsPageAndReleaseEntry(string id)
    {
        var d = DiagnosticDescriptors.ById(id);
        Assert.EndsWith($"docs/diagnostics/{id}.md", d.HelpLinkUri);
        string page = Path.Combine(Harness.Root, "docs", "diagnostics", id + ".md");
        Assert.True(File.Exists(page), page);
        Assert.StartsWith($"# {id}:", File.ReadAllText(page));
        string releases = File.ReadAllText(Path.Combine(Harness.Root, "src/LossDsl.Generator/AnalyzerReleases.Unshipped.md"))
                        + File.ReadAllText(Path.Combine(Harness.Root, "src/LossDsl.Generator/AnalyzerReleases.Shipped.md"));
        Assert.Contains(id + " |", releases);
    }

    [Fact]
    public void IdRangesFollowTheCategories()
    {
        foreach (var d in DiagnosticDescriptors.All)
        {
            int n = int.Parse(d.Id.Substring(4));
            string expected = n switch
            {
                < 100 => "LossDsl.Declaration",
                < 200 => "LossDsl.Body",
                < 300 => "LossDsl.Calibration",
                < 400 => "LossDsl.Stability",
                < 500 => "LossDsl.Differentiability",
                _ => "LossDsl.Internal",
            };
            Assert.Equal(expected, d.Category);
        }
    }

    [Fact]
    public void AnalyzerSupportsEveryAnalysisId()
        => Assert.Equal(DiagnosticDescriptors.All.Where(d => string.CompareOrdinal(d.Id, "LOSS0200") >= 0).Select(d => d.Id),
                        new LossAnalyzer().SupportedDiagnostics.Select(d => d.Id));
}
