using System;
using System.Collections.Generic;
using System.Linq;
using LossDsl.Generator.Diagnostics;
using LossDsl.Generator.Differentiate;
using LossDsl.Generator.Emit;
using LossDsl.Generator.Model;
using LossDsl.Generator.Parse;
using LossDsl.Generator.Rewrite;
using LossDsl.Generator.Schedule;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LossDsl.Generator;

/// <summary>
/// The LossDsl incremental generator: parse → rewrite → differentiate → rewrite → schedule → emit, one cached step each.
/// Diagnostics and sources are separate outputs so that a diagnostic change does not re-emit code.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class LossGenerator : IIncrementalGenerator
{
    public static class Steps
    {
        public const string Parse = nameof(Parse);
        public const string Differentiate = nameof(Differentiate);
        public const string Schedule = nameof(Schedule);
        public const string Emit = nameof(Emit);
    }

    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var models = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                LossParser.AttributeName,
                static (node, _) => node is MethodDeclarationSyntax,
                static (ctx, ct) => LossParser.Parse(ctx, ct))
            .WithTrackingName(Steps.Parse);

        context.RegisterSourceOutput(models.Select(static (m, _) => m.Diagnostics), static (spc, diagnostics) =>
        {
            foreach (var d in diagnostics) spc.ReportDiagnostic(d.ToDiagnostic());
        });

        // A loss whose body has errors still gets its defining declaration, so the user's code keeps compiling
        // and the only errors shown are the precise ones above.
        // A loss whose declaration has errors gets the declaration as written, so the compiler does not add CS0759.
        var stubs = models.Where(static m => m.Stub is not null)
            .Select(static (m, _) => new GeneratedFile(LossSourceEmitter.HintName(m.Stub!), LossSourceEmitter.Stub(m.Stub!)));
        var broken = models.Where(static m => m.Signature is not null && m.Forward is null)
            .Select(static (m, _) => new GeneratedFile(LossSourceEmitter.HintName(m.Signature!), LossSourceEmitter.DeclarationOnly(m.Signature!)));

        var plans = models
            .Where(static m => m.Forward is not null)
            .Select(static (m, _) => Staged<DerivedLoss>.Run(m.Signature!, () => Rewriter.Apply(Differentiator.Run(Rewriter.Apply(m))))).WithTrackingName(Steps.Differentiate)
            .Select(static (d, _) => d.Then(Scheduler.Run)).WithTrackingName(Steps.Schedule)
            .Select(static (p, _) => p.Then(plan => new GeneratedFile(LossSourceEmitter.HintName(plan.Loss.Signature), LossSourceEmitter.Emit(plan)))).WithTrackingName(Steps.Emit);

        // Never a generator exception (CS8785): an internal failure is a diagnostic, and the defining declaration is
        // still emitted so that the user's code keeps compiling.
        context.RegisterSourceOutput(plans.Where(static r => r.Error is not null), static (spc, result) => spc.ReportDiagnostic(result.Error!.ToDiagnostic()));
        var emitted = plans.Select(static (r, _) => r.Value
            ?? new GeneratedFile(LossSourceEmitter.HintName(r.Signature), LossSourceEmitter.DeclarationOnly(r.Signature)));

        var files = emitted.Collect().Combine(broken.Collect()).Combine(stubs.Collect());
        context.RegisterSourceOutput(files, static (spc, all) =>
        {
            foreach (var (hintName, source) in GeneratedFile.Unique(all.Left.Left.Concat(all.Left.Right).Concat(all.Right)))
                spc.AddSource(hintName, source);
        });
    }
}

/// <summary>A generated source file.</summary>
public sealed record GeneratedFile(string HintName, string Source)
{
    /// <summary>
    /// The files with hint names made unique, as the compiler requires (it compares them ignoring case): a name already
    /// taken gets ".2", ".3", … before ".g.cs". Names can meet in valid code (losses <c>Mse</c> and <c>MSE</c>; namespace
    /// <c>A.B</c> type <c>C</c> and type <c>A.B.C</c>) and in code LossDsl reports an error for (two declarations of one
    /// loss in two files). A file identical to one already added (the same defining declaration written twice for a
    /// duplicate loss) is left out, so the compiler reports the user's duplicate, not ours.
    /// </summary>
    public static IEnumerable<(string HintName, string Source)> Unique(IEnumerable<GeneratedFile> files)
    {
        var taken = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var added = new HashSet<GeneratedFile>();
        foreach (var file in files)
        {
            if (!added.Add(file)) continue;
            string stem = file.HintName.Substring(0, file.HintName.Length - ".g.cs".Length), name = file.HintName;
            for (int k = 2; !taken.Add(name); k++) name = $"{stem}.{k}.g.cs";
            yield return (name, file.Source);
        }
    }
}

/// <summary>A pipeline stage's result: its value, or the internal error that stopped it (as data).</summary>
public sealed record Staged<T>(LossSignature Signature, T? Value, DiagnosticInfo? Error) where T : class
{
    public Staged<TNext> Then<TNext>(Func<T, TNext> next) where TNext : class
        => Value is null ? new Staged<TNext>(Signature, null, Error) : Staged<TNext>.Run(Signature, () => next(Value));

    public static Staged<T> Run(LossSignature signature, Func<T> run)
    {
        try
        {
            return new Staged<T>(signature, run(), null);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return new Staged<T>(signature, null, new DiagnosticInfo(DiagnosticDescriptors.InternalError.Id, null,
                new[] { signature.Name, e.GetType().Name + ": " + e.Message }.ToEquatableArray()));
        }
    }
}
