using System.Linq;
using LossDsl.Generator.Differentiate;
using LossDsl.Generator.Emit;
using LossDsl.Generator.Model;
using LossDsl.Generator.Parse;
using LossDsl.Generator.Schedule;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LossDsl.Generator;

/// <summary>
/// The LossDsl incremental generator: parse → differentiate → schedule → emit, one cached step each.
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
        var broken = models.Where(static m => m.Signature is not null && m.Forward is null).Select(static (m, _) => m.Signature!);
        context.RegisterSourceOutput(broken, static (spc, sig) => spc.AddSource(LossSourceEmitter.HintName(sig), LossSourceEmitter.DeclarationOnly(sig)));

        var sources = models
            .Where(static m => m.Forward is not null)
            .Select(static (m, _) => Differentiator.Run(m)).WithTrackingName(Steps.Differentiate)
            .Select(static (d, _) => Scheduler.Run(d)).WithTrackingName(Steps.Schedule)
            .Select(static (p, _) => (Hint: LossSourceEmitter.HintName(p.Loss.Signature), Source: LossSourceEmitter.Emit(p))).WithTrackingName(Steps.Emit);

        context.RegisterSourceOutput(sources, static (spc, s) => spc.AddSource(s.Hint, s.Source));
    }
}
