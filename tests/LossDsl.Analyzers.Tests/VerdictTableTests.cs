using System.IO;
using System.Linq;
using Xunit;
using Xunit.Abstractions;

namespace LossDsl.Analyzers.Tests;

public class VerdictTableTests(ITestOutputHelper output)
{
    [Fact]
    public void PrintVerdicts()
    {
        var sources = new[]
        {
            File.ReadAllText(Path.Combine(Harness.Root, "samples/LossDsl.Samples/Losses.cs")),
            File.ReadAllText(Path.Combine(Harness.Root, "tests/LossDsl.Tests/TestLosses.cs")),
        };
        foreach (var src in sources.Append(Catalogue.Source))
            foreach (var (name, v, diags) in Harness.Verdicts(src))
            {
                output.WriteLine($"{name} | {v.Task} | {v.Kind} | {v.Summary} | {v.Witness} | {v.NodeEvaluations} | {v.Milliseconds:0.0} ms");
                foreach (var d in diags) output.WriteLine("    " + d);
            }
    }
}
