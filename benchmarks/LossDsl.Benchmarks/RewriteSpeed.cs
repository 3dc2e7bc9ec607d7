using System;
using System.Diagnostics;
using LossDsl.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace LossDsl.Benchmarks;

/// <summary>
/// Rewrite speed mode (<c>--rewrite-speed</c>, issue 25): the naive BCE and sigmoid focal bodies, rewritten by the
/// generator and computed literally (<c>[Loss(Literal = true)]</c>), forward and backward on the fused CPU path, float32,
/// 4M elements, side by side in one run, interleaved, minimum over the rounds.
/// </summary>
public static class RewriteSpeed
{
    public static int Run()
    {
        using var _ = LossBackend.Use(Backend.Cpu);
        const long n = 1 << 22;
        const int rounds = 101;
        var g = new Generator(BenchCase.Seed);
        var x = (torch.randn(new long[] { n }, generator: g) * 4).to(ScalarType.Float32);
        var y = (torch.rand(new long[] { n }, generator: g) < 0.5).to(ScalarType.Float32);
        var cases = new (string Name, Func<Tensor, Tensor> Loss)[]
        {
            ("BCE, rewritten", t => BenchLosses.NaiveBce(t, y)),
            ("BCE, literal", t => BenchLosses.NaiveBceLiteral(t, y)),
            ("focal γ=2, rewritten", t => BenchLosses.NaiveFocal(t, y)),
            ("focal γ=2, literal", t => BenchLosses.NaiveFocalLiteral(t, y)),
            // γ < 1: the regime split of σ(x)^γ is live (the exponential side for the vectors that need it).
            ("focal γ=0.5, rewritten", t => BenchLosses.NaiveFocal(t, y, gamma: 0.5)),
            ("focal γ=0.5, literal", t => BenchLosses.NaiveFocalLiteral(t, y, gamma: 0.5)),
        };
        var best = new double[cases.Length];
        Array.Fill(best, double.PositiveInfinity);
        for (int r = 0; r < rounds; r++)
            for (int c = 0; c < cases.Length; c++)
            {
                using var scope = torch.NewDisposeScope();
                var leaf = x.detach().requires_grad_(true);
                var sw = Stopwatch.StartNew();
                var loss = cases[c].Loss(leaf);
                loss.backward();
                sw.Stop();
                if (r > 0) best[c] = Math.Min(best[c], sw.Elapsed.TotalMilliseconds);
            }
        Console.WriteLine($"forward + backward, float32, {n} elements, min of {rounds - 1} rounds ({Environment.ProcessorCount} threads)");
        for (int c = 0; c < cases.Length; c++)
            Console.WriteLine($"{cases[c].Name,-24} {best[c],8:F2} ms" + (c % 2 == 0 ? $"   rewritten / literal = {best[c] / best[c + 1]:F3}" : ""));
        return 0;
    }
}
