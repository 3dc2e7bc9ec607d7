using System;
using System.Collections.Generic;
using System.Linq;
using LossDsl.Generator.Analyze;
using LossDsl.Generator.Differentiate;
using LossDsl.Generator.IR;
using LossDsl.Generator.Model;

namespace LossDsl.Generator.Rewrite;

/// <summary>
/// One rewrite the stage applied: the node of the input graph it replaced, the rule, and the accuracy of the sub-expression
/// before and after in float32 (bits of error against double-double, average and maximum over the samples).
/// </summary>
public sealed record AppliedRewrite(int Node, string Rule, double AverageBefore, double AverageAfter, double MaxBefore, double MaxAfter)
{
    /// <summary>The average bits of error the rewrite saves.</summary>
    public double BitsGained => AverageBefore - AverageAfter;
}

/// <summary>The rewrite stage's result: the rewritten graph, where each input node went, and the rewrites applied.</summary>
public sealed record Rewritten(Graph Graph, EquatableArray<int> Map, EquatableArray<AppliedRewrite> Applied)
{
    /// <summary>The node of the rewritten graph that input node <paramref name="node"/> became (−1 stays −1).</summary>
    public int this[int node] => node < 0 ? node : Map[node];
}

/// <summary>
/// Rewrite stage: replaces the unstable forms of <see cref="RewriteRules"/> by their stable equals, before differentiation
/// and again on the derived gradient.
/// <para>
/// One pass, bottom-up in node order: each node is rebuilt over its operands' rewritten nodes, then the rules are tried
/// on it in table order, at most <see cref="MaxRewritesPerNode"/> times, so the stage is deterministic and linear in the
/// graph's size. A rule's result is kept only where the accuracy measurement finds that it loses nothing: the matched
/// sub-expression and its replacement are evaluated in float32, as functions of the pattern's variables, at
/// <see cref="Samples"/> points drawn Herbie's way (sign and binary exponent uniform, so every magnitude of float32's
/// normal range, 2^-126 to 2^127, is as likely), against the double-double value of the replacement; at no point may the replacement be worse by
/// more than <see cref="NoiseBits"/> bits (rounding noise: a few ulp of a different but equally exact order of operations).
/// Finally the graph is compacted to the nodes the roots need.
/// </para>
/// </summary>
public static class Rewriter
{
    public const int MaxRewritesPerNode = 4;
    public const int Samples = 128;
    public const double NoiseBits = 2;

    /// <summary>The binary exponents the pattern variables are sampled over: float32's normal range, as Herbie samples it.</summary>
    public const int MinExponent = -126, MaxExponent = 127;

    /// <summary>The forward graph of <paramref name="model"/> rewritten, unless its <c>[Loss(Literal = true)]</c> asks for the formula as written.</summary>
    public static LossModel Apply(LossModel model)
    {
        if (model.Forward is null || model.Signature is null || model.Signature.Literal) return model;
        var r = Run(model.Forward, new[] { model.Root });
        return r.Applied.Count == 0 ? model : model with { Forward = r.Graph, Root = r[model.Root] };
    }

    /// <summary>The derived loss with its gradient rewritten (the loss value's nodes were rewritten before differentiation).</summary>
    public static DerivedLoss Apply(DerivedLoss derived)
    {
        if (derived.Signature.Literal) return derived;
        var r = Run(derived.Graph, derived.Roots());
        return r.Applied.Count == 0 ? derived : derived.Remapped(r.Graph, r.Map);
    }

    /// <summary>Rewrites <paramref name="graph"/>; the result holds only the nodes <paramref name="roots"/> need.</summary>
    public static Rewritten Run(Graph graph, IReadOnlyList<int> roots)
    {
        var applied = new List<AppliedRewrite>();
        var produced = RewriteRules.All.ToDictionary(rule => rule, rule => new HashSet<int>(rule.Produced?.Invoke(graph) ?? Enumerable.Empty<int>()));
        var (rewritten, map) = GraphTransform.Run(graph, roots, (b, i, r, _) =>
        {
            for (int step = 0; step < MaxRewritesPerNode; step++)
            {
                bool fired = false;
                foreach (var rule in RewriteRules.All)
                {
                    if (produced[rule].Contains(i) || rule.Apply(b, r) is not int t || t == r) continue;
                    var m = Measure(b.ToGraph(), r, t);
                    if (m is null) continue;
                    applied.Add(new AppliedRewrite(i, rule.Name, m.Value.AvgBefore, m.Value.AvgAfter, m.Value.MaxBefore, m.Value.MaxAfter));
                    r = t;
                    fired = true;
                    break;
                }
                if (!fired) break;
            }
            return r;
        });
        return applied.Count == 0
            ? new Rewritten(graph, Enumerable.Range(0, graph.Count).ToEquatableArray(), EquatableArray<AppliedRewrite>.Empty)
            : new Rewritten(rewritten, map, applied.ToEquatableArray());
    }

    /// <summary>
    /// The float32 accuracy of <paramref name="before"/> and <paramref name="after"/> as functions of their pattern variables,
    /// or null where <paramref name="after"/> loses more than rounding noise at some sample.
    /// </summary>
    public static (double AvgBefore, double AvgAfter, double MaxBefore, double MaxAfter)? Measure(Graph g, int before, int after, Action<string>? rejected = null)
    {
        var inBefore = new HashSet<int>(GraphWalk.Reach(k => g[k], new[] { before }, _ => true));
        var inAfter = new HashSet<int>(GraphWalk.Reach(k => g[k], new[] { after }, _ => true));
        var holes = new SortedSet<int>();
        foreach (var (own, other) in new[] { (inAfter, inBefore), (inBefore, inAfter) })
            foreach (int p in own.Where(p => !other.Contains(p)))
            {
                var n = g[p];
                for (int k = 0; k < n.OperandCount; k++)
                {
                    int o = n.Operand(k);
                    // The naive form itself is no variable where the rewrite keeps it (a regime split's other side).
                    if (other.Contains(o) && g[o].Op != Op.Const && o != before) holes.Add(o);
                }
            }

        var scope = g.ElementScope();
        var single = new PrecisionEvaluator(g) { Precision = Precision.Single };
        var truth = new PrecisionEvaluator(g) { Precision = Precision.DoubleDouble };
        var random = new HerbieSampler(25);
        double sumBefore = 0, sumAfter = 0, maxBefore = 0, maxAfter = 0;
        int counted = 0;
        bool elementRoot = scope[after] || scope[before];
        for (int s = 0; s < Samples; s++)
        {
            single.Holes.Clear();
            truth.Holes.Clear();
            foreach (int h in holes)
            {
                var values = new double[scope[h] ? single.HoleLength : 1];
                for (int k = 0; k < values.Length; k++) values[k] = (float)random.Next(MinExponent, MaxExponent);
                single.Holes[h] = values;
                truth.Holes[h] = values;
            }
            single.Reset();
            truth.Reset();
            for (int j = 0; j < (elementRoot ? single.HoleLength : 1); j++)
            {
                var t = truth.Value(after, j);
                if (!t.IsFinite) continue;
                double eb = PrecisionEvaluator.BitsOfError(single.Value(before, j).ToDouble(), t, Precision.Single);
                double ea = PrecisionEvaluator.BitsOfError(single.Value(after, j).ToDouble(), t, Precision.Single);
                if (ea > eb + NoiseBits)
                {
                    rejected?.Invoke($"at holes {string.Join(", ", holes.Select(h => string.Join(" ", single.Holes[h])))}, element {j}: "
                        + $"{eb:0.0} → {ea:0.0} bits (naive {single.Value(before, j).ToDouble():R}, rewritten {single.Value(after, j).ToDouble():R}, truth {t.ToDouble():R})");
                    return null;
                }
                sumBefore += eb;
                sumAfter += ea;
                maxBefore = Math.Max(maxBefore, eb);
                maxAfter = Math.Max(maxAfter, ea);
                counted++;
            }
        }
        if (counted == 0) return null;
        return (sumBefore / counted, sumAfter / counted, maxBefore, maxAfter);
    }

}

/// <summary>
/// Sample points Herbie's way (Panchekha et al., PLDI 2015): a random sign, a binary exponent uniform over a range, and a
/// uniform significand, so that every magnitude in the range, tails included, is as likely. A fixed xorshift64* sequence:
/// the same points, and so the same rewrites, on every build.
/// </summary>
public sealed class HerbieSampler
{
    private ulong _state;

    public HerbieSampler(ulong seed) => _state = seed * 0x9E3779B97F4A7C15UL + 1;

    public double NextDouble()
    {
        _state ^= _state >> 12;
        _state ^= _state << 25;
        _state ^= _state >> 27;
        return ((_state * 2685821657736338717UL) >> 11) * (1.0 / (1UL << 53));
    }

    /// <summary>A magnitude 2^e·m, e uniform in [<paramref name="minExponent"/>, <paramref name="maxExponent"/>], m in [1, 2), of either sign.</summary>
    public double Next(int minExponent = -30, int maxExponent = 30, bool signed = true)
    {
        double m = 1 + NextDouble();
        int e = minExponent + (int)Math.Min(maxExponent - minExponent, Math.Floor(NextDouble() * (maxExponent - minExponent + 1)));
        double v = m * Math.Pow(2, e);
        return signed && NextDouble() < 0.5 ? -v : v;
    }

    /// <summary>A point of [<paramref name="lo"/>, <paramref name="hi"/>]: log-uniform in magnitude (from 2^-30) within it, either sign where the interval allows.</summary>
    public double Within(double lo, double hi)
    {
        for (int tries = 0; tries < 64; tries++)
        {
            int maxE = (int)Math.Ceiling(Math.Log(Math.Max(Math.Abs(lo), Math.Abs(hi)) + 1e-300, 2));
            double v = Next(-30, Math.Min(maxE, 30), signed: lo < 0);
            if (lo >= 0 && v < 0) v = -v;
            if (v >= lo && v <= hi) return v;
        }
        return lo + (hi - lo) * NextDouble();
    }
}
