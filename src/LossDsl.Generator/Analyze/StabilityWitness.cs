using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using LossDsl.Generator.IR;
using LossDsl.Generator.Model;

namespace LossDsl.Generator.Analyze;

/// <summary>
/// Confirms a stability warning that interval analysis raised: a bounded search for an input of the loss's domain at
/// which the quantity actually reaches the bad value. Interval arithmetic loses the correlation between operands
/// (1 − p_t·(1 − e^(−sm)) looks as if it could reach 0), so a warning is reported only with a witness; without one it is
/// an info. The search tries the domain's corners and then seeded random points: rows of 2, 3 and 5 elements, logits in
/// [−100, 100] (where float32 sigmoids and softmaxes underflow), probabilities and labels in [0, 1] with their ends,
/// every class index, hyperparameters at their defaults.
/// </summary>
internal static class StabilityWitness
{
    /// <summary>Evaluations per candidate: enough for the corners of small rows and a spread of random points.</summary>
    private const int Trials = 400;

    /// <summary>What counts as reaching 0: below float32's smallest normal value, where a log or a division is lost.</summary>
    public const double Tiny = 1.2e-38;

    /// <summary>A description of an input where <paramref name="node"/> is <paramref name="bad"/>, or null when none is found.</summary>
    public static string? Search(Graph g, LossSignature sig, LeafDomains d, int node, Func<double, bool> bad)
    {
        var eval = new IrEvaluator(g, node) { Hypers = d.Hypers };
        bool elementScope = g.ElementScope()[node];
        int inputs = d.Inputs.Length, spans = d.Spans.Length;
        int targets = sig.Parameters.Count(p => p.Kind == ParameterKind.Target);
        var rng = new Points(12345);
        int[] lengths = sig.Axes.IsElementwise ? new[] { 1 } : new[] { Math.Max(2, (int)d.MinLength), 3, 5 };
        var values = new double[8];
        for (int trial = 0; trial < Trials; trial++)
        {
            int length = lengths[trial % lengths.Length];
            // The first trials are corners: every leaf at one end of its domain (alternating by position), then the other.
            int corner = trial < 8 ? trial : -1;
            eval.Inputs = Enumerable.Range(0, inputs).Select(i => Pick(d.Inputs[i], corner, i, rng)).ToArray();
            eval.Spans = Enumerable.Range(0, spans).Select(s => Enumerable.Range(0, length).Select(j => Pick(d.Spans[s], corner, s * 7 + j, rng)).ToArray()).ToArray();
            eval.Targets = Enumerable.Range(0, targets).Select(_ => (double)rng.Next(length)).ToArray();
            eval.Run();
            if (elementScope)
            {
                if (values.Length < length) values = new double[length];
                eval.ElementValues(node, values);
                for (int j = 0; j < length; j++)
                    if (bad(values[j])) return Describe(sig, eval, j);
            }
            else if (bad(eval.Value(node))) return Describe(sig, eval, -1);
        }
        return null;
    }

    private static double Pick(Interval domain, int corner, int position, Points rng)
    {
        double lo = Math.Max(domain.Lo, -100), hi = Math.Min(domain.Hi, 100);
        if (corner >= 0)
        {
            // Corners 0–3: both ends, alternating; 4–7: the same, mirrored and shifted, so that mixed rows occur too.
            bool high = ((position + corner) & 1) == 1 ^ corner >= 4;
            return high ? hi : lo;
        }
        double u = rng.NextDouble();
        return u < 0.1 ? lo : u < 0.2 ? hi : lo + (hi - lo) * rng.NextDouble();
    }

    private static string Describe(LossSignature sig, IrEvaluator eval, int element)
    {
        var parts = new List<string>();
        foreach (var p in sig.Parameters)
            switch (p.Kind)
            {
                case ParameterKind.Input: parts.Add($"{p.Name} = {F(eval.Inputs[p.Slot])}"); break;
                case ParameterKind.Span: parts.Add($"{p.Name} = ({string.Join(", ", eval.Spans[p.Slot].Select(F))})"); break;
                case ParameterKind.Target: parts.Add($"{p.Name} = {F(eval.Targets[p.Slot])}"); break;
            }
        return "e.g. at " + string.Join(", ", parts) + (element >= 0 ? $", element {element}" : "");
    }

    private static string F(double v) => v.ToString("G4", CultureInfo.InvariantCulture);

    /// <summary>A fixed sequence of pseudo-random points (xorshift64*): the same witness on every build.</summary>
    private sealed class Points
    {
        private ulong _state;

        public Points(ulong seed) => _state = seed;

        public double NextDouble()
        {
            _state ^= _state >> 12;
            _state ^= _state << 25;
            _state ^= _state >> 27;
            return ((_state * 2685821657736338717UL) >> 11) * (1.0 / (1UL << 53));
        }

        public int Next(int bound) => Math.Min(bound - 1, (int)(NextDouble() * bound));
    }
}
