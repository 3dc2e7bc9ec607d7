using System.IO;
using System.Linq;
using Xunit;
using Xunit.Abstractions;

namespace LossDsl.Generator.Tests;

public class SmokeTests(ITestOutputHelper output)
{
    [Fact]
    public void SamplesCompileWithoutErrors()
    {
        string src = File.ReadAllText(Path.Combine(Paths.Root, "samples/LossDsl.Samples/Losses.cs"));
        var result = GeneratorHarness.Run(src);
        foreach (var s in result.Run.Results.SelectMany(r => r.GeneratedSources)) output.WriteLine(s.SourceText.ToString());
        Assert.Empty(result.GeneratorDiagnostics);
        Assert.Empty(result.CompilerDiagnostics.Where(d => d.Severity >= Microsoft.CodeAnalysis.DiagnosticSeverity.Warning));
    }
}
