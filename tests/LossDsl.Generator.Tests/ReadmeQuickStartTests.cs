using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Xunit;

namespace LossDsl.Generator.Tests;

/// <summary>
/// The README's quick-start loss compiles as copied: in the global namespace (as CI's package check runs it), and
/// in any namespace a user pastes it into, with no diagnostic beyond the loss's calibration info.
/// </summary>
public class ReadmeQuickStartTests
{
    private static string LossesBlock()
    {
        string readme = File.ReadAllText(Path.Combine(Paths.Root, "README.md"));
        var m = Regex.Match(readme, @"<!-- quick-start:Losses\.cs -->\s*```csharp\n(?<code>.*?)```", RegexOptions.Singleline);
        Assert.True(m.Success, "README.md has no quick-start Losses.cs block");
        return m.Groups["code"].Value;
    }

    [Theory]
    [InlineData(null)]
    [InlineData("namespace My.Training;")]
    [InlineData("namespace Losses;")]
    [InlineData("namespace LossDsl.Samples;")]
    public void CompilesAsCopied(string? ns)
    {
        string code = LossesBlock();
        if (ns is not null)
        {
            // After the usings, as a user would paste it into a file of their project.
            int end = code.IndexOf("\npublic static partial class", System.StringComparison.Ordinal);
            code = code.Substring(0, end) + "\n" + ns + "\n" + code.Substring(end);
        }
        var result = GeneratorHarness.Run(code);
        Assert.Empty(result.GeneratorDiagnostics.Where(d => d.Severity >= DiagnosticSeverity.Warning));
        Assert.Empty(result.CompilerDiagnostics.Where(d => d.Severity >= DiagnosticSeverity.Warning));
        Assert.Contains(result.Run.Results.SelectMany(r => r.GeneratedSources), s => s.HintName.EndsWith("MyLosses.Poly1.g.cs"));
    }
}
