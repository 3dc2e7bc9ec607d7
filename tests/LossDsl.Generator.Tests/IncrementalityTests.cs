using System;
using System.Collections.Generic;
using System.Linq;
using LossDsl.Generator.Differentiate;
using LossDsl.Generator.Model;
using LossDsl.Generator.Schedule;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Text;
using Xunit;

namespace LossDsl.Generator.Tests;

/// <summary>
/// The pipeline is incremental: after an edit that does not touch a loss, every output of the tracked steps is
/// Cached or Unchanged; after an edit of a loss body, that loss's steps are Modified and the others are not.
/// </summary>
public class IncrementalityTests
{
    private static readonly string[] TrackedSteps =
    {
        LossGenerator.Steps.Parse, LossGenerator.Steps.Differentiate, LossGenerator.Steps.Schedule, LossGenerator.Steps.Emit,
    };

    /// <summary>Runs the driver over the samples, then again over <paramref name="edit"/> of that compilation.</summary>
    private static GeneratorRunResult RunTwice(Func<Compilation, Compilation> edit)
    {
        var compilation = GeneratorHarness.Compile(SampleLosses.Source);
        var driver = GeneratorHarness.Driver().RunGenerators(compilation);
        Assert.All(driver.GetRunResult().Results, r => Assert.Null(r.Exception));

        driver = driver.RunGenerators(edit(compilation));
        var result = Assert.Single(driver.GetRunResult().Results);
        Assert.Null(result.Exception);
        return result;
    }

    private static IEnumerable<(string Step, string Loss, IncrementalStepRunReason Reason)> Outputs(GeneratorRunResult result)
    {
        foreach (string step in TrackedSteps)
        {
            Assert.True(result.TrackedSteps.ContainsKey(step), $"Step '{step}' was not tracked.");
            foreach (var run in result.TrackedSteps[step])
                foreach (var (value, reason) in run.Outputs)
                    yield return (step, LossOf(value), reason);
        }
    }

    /// <summary>The loss an output of a tracked step belongs to.</summary>
    private static string LossOf(object value) => value switch
    {
        LossModel m => m.Signature?.Name ?? "?",
        Staged<DerivedLoss> d => d.Signature.Name,
        Staged<KernelPlan> p => p.Signature.Name,
        Staged<GeneratedFile> f => f.Signature.Name,
        _ => throw new InvalidOperationException($"Unexpected output of type {value.GetType()}"),
    };

    private static void AssertAllCachedOrUnchanged(GeneratorRunResult result)
    {
        var outputs = Outputs(result).ToList();
        foreach (string step in TrackedSteps)
            Assert.Equal(SampleLosses.Names.OrderBy(n => n), outputs.Where(o => o.Step == step).Select(o => o.Loss).OrderBy(n => n));
        var changed = outputs.Where(o => o.Reason is not (IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged)).ToList();
        Assert.True(changed.Count == 0, "Outputs that ran again: " + string.Join(", ", changed.Select(o => $"{o.Step}({o.Loss}) {o.Reason}")));
    }

    private static Compilation EditTree(Compilation c, Func<string, string> edit)
    {
        var tree = c.SyntaxTrees.Single();
        string text = tree.GetText().ToString();
        string edited = edit(text);
        Assert.NotEqual(text, edited);
        return c.ReplaceSyntaxTree(tree, tree.WithChangedText(SourceText.From(edited)));
    }

    [Fact]
    public void AddingAnUnrelatedFileKeepsEveryStepCached()
    {
        var result = RunTwice(c => c.AddSyntaxTrees(CSharpSyntaxTree.ParseText(
            "namespace Other { public class Unrelated { public int Value => 42; } }", GeneratorHarness.ParseOptions, path: "Other.cs")));
        AssertAllCachedOrUnchanged(result);
    }

    [Fact]
    public void CommentAboveTheLossesKeepsEveryStepCached()
    {
        // The edit shifts every loss's position: models hold no locations for valid losses, so nothing changes.
        var result = RunTwice(c => EditTree(c, text => "// An unrelated comment.\n" + text));
        AssertAllCachedOrUnchanged(result);
    }

    [Fact]
    public void UnrelatedMemberInTheSameClassKeepsEveryStepCached()
    {
        var result = RunTwice(c => EditTree(c, text =>
            text.Replace("public static partial class Losses\n{", "public static partial class Losses\n{\n    public static int Unrelated() => 1;\n")));
        AssertAllCachedOrUnchanged(result);
    }

    [Fact]
    public void EditingALossBodyModifiesOnlyThatLoss()
    {
        const string before = "epsilon * (1 - Softmax(logits, target))";
        const string after = "epsilon * (1 - Softmax(logits, target)) * 0.5f";
        var result = RunTwice(c => EditTree(c, text => text.Replace(before, after)));

        var outputs = Outputs(result).ToList();
        foreach (string step in TrackedSteps)
        {
            var poly1 = Assert.Single(outputs, o => o.Step == step && o.Loss == "Poly1");
            Assert.Equal(IncrementalStepRunReason.Modified, poly1.Reason);
        }
        var others = outputs.Where(o => o.Loss != "Poly1").ToList();
        Assert.NotEmpty(others);
        Assert.All(others, o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{o.Step}({o.Loss}) {o.Reason}"));
    }
}
