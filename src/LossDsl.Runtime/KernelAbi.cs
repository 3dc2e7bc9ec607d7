// The contract between the generated kernels and the runtime that launches them, compiled into two assemblies: the
// runtime (LossDsl.Runtime.KernelAbi: the launchers and LossViews<TIn, T> read it) and the generator (its kernel skeleton
// names the entry points from it, the dialects lay out the multiclass spans by it, and its parser rejects a loss that needs
// more slots than it grants, with a LOSS0004 on the parameter, so that generated code never names a slot that does not exist).
using System.Collections.Generic;
using System.Linq;

#if LOSSDSL_GENERATOR
namespace LossDsl.Generator.Model
#else
namespace LossDsl.Runtime
#endif
{
    /// <summary>
    /// The kernel ABI: what a loss's generated kernels are called and in which order they are launched, how many tensors of
    /// each role they can read, and where a multiclass loss's per-pixel statistics sit among its spans. One description for
    /// every backend's kernels (the CPU path's <c>CpuKernel</c>s and the ILGPU <c>LossKernel</c>s alike).
    /// </summary>
    /// <summary>
    /// How a reduction's partials over the ranks of a sharded call combine. The generator derives each loss's rules from
    /// its reduction table (the accumulator column: additive partials add; a selecting one keeps the extreme its comparison
    /// picks; a log-sum-exp takes the global max, then the sum of e^(x − max)) and writes them into the loss's
    /// <c>LossDefinition</c>; the runtime's sharded torch-ops frame combines by them and by nothing else.
    /// </summary>
    public enum ShardCombine
    {
        /// <summary>Every rank's partial sum, all-reduced by sum.</summary>
        Additive,
        /// <summary>The partial maximum all-reduced by max; its position is the first global one holding it.</summary>
        SelectMax,
        /// <summary>The partial minimum all-reduced by min; its position is the first global one holding it.</summary>
        SelectMin,
        /// <summary>The partial max all-reduced by max (the shift M), then Σ e^(x − M) all-reduced by sum; R = M + log Σ.</summary>
        LogSumExp,
    }

    public static class KernelAbi
    {
        /// <summary>
        /// The most tensors of each role a kernel can take: float tensors over the elements of a row or set (spans), per-row
        /// or per-element float tensors (inputs) and int64 class indices (targets). The ILGPU views (<c>LossViews</c>) have
        /// a field per slot; the CPU arguments take any number, but the parser enforces one limit for every backend.
        /// </summary>
        public const int MaxSpans = 4, MaxInputs = 4, MaxTargets = 4;

        /// <summary>The entry point of a loss whose row or element one work item owns: forward and backward in one launch.</summary>
        public const string Fused = "Fused";

        /// <summary>The last entry point of a chunked (set) loss: combines the partials, writes the loss and the gradient.</summary>
        public const string Gradient = "Gradient";

        /// <summary>The entry point of reduction pass <paramref name="level"/> of a chunked loss: writes its per-(set, chunk) partials.</summary>
        public static string Pass(int level) => "Pass" + level.ToString(System.Globalization.CultureInfo.InvariantCulture);

        /// <summary>
        /// A loss's entry points in launch order: <see cref="Fused"/> alone, or for a chunked loss one <see cref="Pass"/> per
        /// reduction level (in the order given) and then <see cref="Gradient"/>. A backend names each as its own prefix, the
        /// entry point, and the compute type's suffix (<see cref="Suffix"/>); the runtime launches a backend's kernels in the
        /// order of its table row, which is this order.
        /// </summary>
        public static IReadOnlyList<string> EntryPoints(bool chunked, IEnumerable<int> passLevels)
            => chunked ? passLevels.Select(Pass).Concat(new[] { Gradient }).ToArray() : new[] { Fused };

        /// <summary>The suffix of a kernel computing in <paramref name="real"/> ("float" or "double").</summary>
        public static string Suffix(string real) => real == "float" ? "F32" : "F64";

        /// <summary>
        /// A multiclass set loss's spans, the same on every backend: the logits [N, C, *spatial], then per pixel ([N·S]) the
        /// class as a value of the compute type (−1 where ignored) and log Σ_c e^z. The class sits at the slot of the loss's
        /// own target span, so that the kernels read both user spans at their parameter slots.
        /// </summary>
        public static class MulticlassSpans
        {
            public const int Logits = 0, Classes = 1, LogSumExp = 2, Count = 3;
#if !LOSSDSL_GENERATOR

            /// <summary>The three spans in this order, whatever a launcher binds them as (pointers, views).</summary>
            public static T[] Of<T>(T logits, T classes, T logSumExp)
            {
                var spans = new T[Count];
                spans[Logits] = logits;
                spans[Classes] = classes;
                spans[LogSumExp] = logSumExp;
                return spans;
            }
#endif
        }
    }
}
