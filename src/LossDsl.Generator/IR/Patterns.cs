namespace LossDsl.Generator.IR;

/// <summary>
/// The specific math that stages recognise in a loss graph, each named once: the interval analysis and the stability
/// checks know more about a log-softmax or a mean than their generic rules say, and the emitters treat a log-sum-exp
/// specially. Every other use of a reduction goes through its row (<see cref="Reductions"/>).
/// </summary>
public static class Patterns
{
    /// <summary>
    /// Whether <paramref name="n"/> is a log-sum-exp reduction (log Σ_j e^body): the reduction whose softmax weight
    /// e^(f_j − R) the CPU path caches per element, and whose x − R the torch-ops path subtracts in two parts.
    /// </summary>
    public static bool IsLogSumExp(Node n) => n.Op == Op.ReduceLogSumExp;

    /// <summary>Whether <paramref name="n"/> is a sum reduction Σ_j body (a rewrite rule's pattern reads its body).</summary>
    public static bool IsSum(Node n) => n.Op == Op.ReduceSum;

    /// <summary>
    /// Whether node <paramref name="n"/> is a log-softmax: z_j − LogSumExp(z) or z[t] − LogSumExp(z), the
    /// element read from the same span as the LogSumExp's plain-element body. It is a log-probability: ≤ 0, and &lt; 0
    /// where the row has two or more elements.
    /// </summary>
    public static bool IsLogSoftmax(Graph g, int n)
    {
        var sub = g[n];
        return sub.Op == Op.Sub
            && g[sub.A].Op is Op.Elem or Op.At
            && IsLogSumExp(g[sub.B])
            && g[g[sub.B].A] is { Op: Op.Elem } e && e.Slot == g[sub.A].Slot;
    }

    /// <summary>Whether node <paramref name="n"/> is a mean, Σ_j f_j / Length; <paramref name="body"/> is f's node.</summary>
    public static bool IsMean(Graph g, int n, out int body)
    {
        var div = g[n];
        bool mean = div.Op == Op.Div && g[div.A].Op == Op.ReduceSum && g[div.B].Op == Op.Length;
        body = mean ? g[div.A].A : -1;
        return mean;
    }

    /// <summary>
    /// Whether node <paramref name="n"/> is a softmax probability of one element: e^(z[t] − LogSumExp(z)), or the
    /// hand-written ratio e^z[t] / Σ_j e^z_j; <paramref name="at"/> is the z[t] node.
    /// </summary>
    public static bool IsSoftmax(Graph g, int n, out int at)
    {
        at = -1;
        var node = g[n];
        if (node.Op == Op.Exp && IsLogSoftmax(g, node.A) && g[g[node.A].A].Op == Op.At)
        {
            at = g[node.A].A;
            return true;
        }
        if (node.Op == Op.Div && g[node.A].Op == Op.Exp && g[g[node.A].A].Op == Op.At && g[node.B].Op == Op.ReduceSum)
        {
            var body = g[g[node.B].A];
            if (body.Op == Op.Exp && g[body.A] is { Op: Op.Elem } e && e.Slot == g[g[node.A].A].Slot)
            {
                at = g[node.A].A;
                return true;
            }
        }
        return false;
    }
}
