using System;
using System.IO;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace LossDsl.Generator.Tests;

/// <summary>samples/LossDsl.Samples/Losses.cs, and one generator run over it shared by the tests that only read it.</summary>
public static class SampleLosses
{
    public static readonly string[] Names = { "Poly1", "Tversky", "SigmoidFocal", "SupCon", "DiceCE" };

    public static string Path { get; } = System.IO.Path.Combine(Paths.Root, "samples", "LossDsl.Samples", "Losses.cs");

    public static string Source => s_source.Value;

    public static GeneratorHarness.Result Result => s_result.Value;

    /// <summary>The generated file of a sample loss, e.g. "LossDsl.Samples.Losses.Poly1.g.cs".</summary>
    public static GeneratedSourceResult Generated(string loss)
        => Result.Run.Results.SelectMany(r => r.GeneratedSources).Single(s => s.HintName == HintName(loss));

    public static string HintName(string loss) => $"LossDsl.Samples.Losses.{loss}.g.cs";

    private static readonly Lazy<string> s_source = new(() => File.ReadAllText(Path));

    private static readonly Lazy<GeneratorHarness.Result> s_result = new(() => GeneratorHarness.Run(Source));
}
