// The slots of a kernel's LossViews<TIn, T>, compiled into two assemblies: the runtime (LossDsl.Runtime.LossViews,
// which fills Span0..3, Input0..3 and Target0..1) and the generator (its parser rejects a loss that needs more, with a
// LOSS0004 on the parameter, so that generated code never names a slot that does not exist).
#if LOSSDSL_GENERATOR
namespace LossDsl.Generator.Model
#else
namespace LossDsl.Runtime
#endif
{
    /// <summary>The most tensors of each role a kernel's <c>LossViews&lt;TIn, T&gt;</c> can take.</summary>
    public static class LossViews
    {
        public const int MaxSpans = 4, MaxInputs = 4, MaxTargets = 2;
    }
}
