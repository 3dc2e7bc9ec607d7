using System;
using System.Collections.Generic;
using System.Linq;

namespace LossDsl.Benchmarks;

/// <summary>Command line of quick and profile modes.</summary>
public sealed class Options
{
    public int Rounds { get; private set; } = 7;
    public List<string> Cases { get; private set; } = BenchCase.AllNames.ToList();
    public HashSet<VariantKind> Variants { get; } = Enum.GetValues<VariantKind>().ToHashSet();
    public string? Markdown { get; private set; }
    public bool Verbose { get; private set; }

    /// <summary>Profile mode: instead of the phase table, run one variant's step in a loop for this many seconds (for perf).</summary>
    public double SpinSeconds { get; private set; }
    public VariantKind SpinVariant { get; private set; } = VariantKind.LossDsl;

    public static Options Parse(IEnumerable<string> args)
    {
        var o = new Options();
        var a = args.ToList();
        for (int i = 0; i < a.Count; i++)
        {
            switch (a[i])
            {
                case "--quick": case "--profile": break;
                case "--rounds": o.Rounds = int.Parse(a[++i]); break;
                case "--case":
                    var want = a[++i].Split(',', StringSplitOptions.RemoveEmptyEntries);
                    o.Cases = BenchCase.AllNames.Where(n => want.Any(w => n.Contains(w, StringComparison.OrdinalIgnoreCase)))
                        .Concat(want.Where(w => System.Text.RegularExpressions.Regex.IsMatch(w, @"^(Poly1|CE)-\d+x\d+$") && !BenchCase.AllNames.Contains(w)))
                        .Distinct().ToList();
                    if (o.Cases.Count == 0) throw new ArgumentException($"No case matches '{a[i]}'. Cases: {string.Join(", ", BenchCase.AllNames)}");
                    break;
                case "--no-ilgpu": o.Variants.Remove(VariantKind.Ilgpu); break;
                case "--markdown": o.Markdown = a[++i]; break;
                case "--verbose": o.Verbose = true; break;
                case "--spin": o.SpinSeconds = double.Parse(a[++i], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--variant": o.SpinVariant = Enum.Parse<VariantKind>(a[++i], ignoreCase: true); break;
                default: throw new ArgumentException($"Unknown option '{a[i]}'. Options: --rounds N, --case NAME[,NAME], --no-ilgpu, --markdown FILE, --verbose");
            }
        }
        return o;
    }
}
