using System.Collections.Generic;
using System.Linq;
using LossDsl.Generator.IR;
using LossDsl.Generator.Model;

namespace LossDsl.Generator.Emit;

/// <summary>
/// How a multiclass set loss's kernels read an element (pixel, class c) of a set: from the logits z and two per-pixel
/// arrays the runtime prepares, ℓse (log Σ_c e^z) and the pixel's class (−1 where ignored), at the spans
/// <see cref="KernelAbi.MulticlassSpans"/> names. The probability is
/// p = e^(z − ℓse), its log ℓ = z − ℓse, and the one-hot target is [class = c]; an ignored pixel reads p = ℓ = y = 0
/// (smp's masking of both). One description for the scalar code of the ILGPU kernels and the CPU tail, and the
/// CPU vector code.
/// </summary>
internal static class MulticlassCode
{
    /// <summary>Which of the three element values (probability, target, log-probability) the nodes read.</summary>
    public static (bool P, bool Y, bool LogP) Used(Graph g, LossSignature sig, IEnumerable<int> nodes)
    {
        bool Uses(int slot) => nodes.Any(i => g[i].Op == Op.Elem && g[i].Slot == slot);
        return (Uses(0), Uses(1), Uses(sig.LogSoftmaxSlot));
    }

    /// <summary>Scalar loads in <paramref name="real"/>: <paramref name="z"/>, <paramref name="lse"/> and <paramref name="cls"/> are the element's expressions, <paramref name="setClass"/> the set's class.</summary>
    public static void Scalar(IndentedWriter w, Graph g, LossSignature sig, IEnumerable<int> nodes, string z, string lse, string cls, string setClass, string real = "double")
    {
        var (p, y, logp) = Used(g, sig, nodes);
        if (!p && !y && !logp) return;
        w.Line($"{real} cls_j = {cls};");
        if (p || logp) w.Line($"{real} {Name(sig, sig.LogSoftmaxSlot)}_j = cls_j >= 0 ? {z} - {lse} : 0;");
        if (p) w.Line($"{real} {Name(sig, 0)}_j = cls_j >= 0 ? Exp({Name(sig, sig.LogSoftmaxSlot)}_j) : 0;");
        if (y) w.Line($"{real} {Name(sig, 1)}_j = cls_j == {setClass} ? {ScalarCode.Literal(1, real)} : {ScalarCode.Literal(0, real)};");
    }

    /// <summary>Vector loads of element type <paramref name="t"/> at element offset <c>off + k</c> and pixel offset <c>px + k</c>.</summary>
    public static void Vector(IndentedWriter w, Graph g, LossSignature sig, IEnumerable<int> nodes, string t)
    {
        var (p, y, logp) = Used(g, sig, nodes);
        if (!p && !y && !logp) return;
        string z = Name(sig, KernelAbi.MulticlassSpans.Logits) + "_0", logName = Name(sig, sig.LogSoftmaxSlot), cls = Name(sig, KernelAbi.MulticlassSpans.Classes) + "_0";
        w.Line($"var cls_v = Vector512.LoadUnsafe(ref {cls}, (nuint)(px + k));");
        if (p || logp)
        {
            w.Line($"var kept_v = Vector512.GreaterThanOrEqual(cls_v, Vector512<{t}>.Zero);");
            w.Line($"var {logName}_v = Vector512.ConditionalSelect(kept_v, Vector512.LoadUnsafe(ref {z}, (nuint)(off + k)) - Vector512.LoadUnsafe(ref lse_0, (nuint)(px + k)), Vector512<{t}>.Zero);");
        }
        if (p) w.Line($"var {Name(sig, 0)}_v = Vector512.ConditionalSelect(kept_v, LossVectorMath.Exp({logName}_v), Vector512<{t}>.Zero);");
        if (y) w.Line($"var {Name(sig, 1)}_v = Vector512.ConditionalSelect(Vector512.Equals(cls_v, class_v), Vector512<{t}>.One, Vector512<{t}>.Zero);");
    }

    /// <summary>Per run of contiguous elements at element offset <c>off</c>: its first pixel and its set's class.</summary>
    public static void RunHeader(IndentedWriter w, string t)
    {
        w.Line("long px = off / (shape.Inner * shape.Classes) * shape.Inner + off % shape.Inner;");
        w.Line("long setClass = off / shape.Inner % shape.Classes;");
        w.Line($"var class_v = Vector512.Create(({t})setClass);");
    }

    private static string Name(LossSignature sig, int slot) => "_" + sig.SpanName(slot);
}
