using System.Linq;
using Microsoft.CodeAnalysis;
using Xunit;
using Xunit.Abstractions;

namespace LossDsl.Generator.Tests;

public class SmokeTests(ITestOutputHelper output)
{
    [Fact]
    public void SamplesCompileWithoutErrors()
    {
        var result = SampleLosses.Result;
        foreach (var s in result.Run.Results.SelectMany(r => r.GeneratedSources)) output.WriteLine(s.SourceText.ToString());
        Assert.Empty(result.GeneratorDiagnostics);
        Assert.Empty(result.CompilerDiagnostics.Where(d => d.Severity >= DiagnosticSeverity.Warning));
    }
}
