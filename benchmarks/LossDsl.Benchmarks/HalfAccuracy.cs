using System;
using System.Collections.Generic;
using LossDsl.Runtime;
using LossDsl.Samples;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LossDsl.Benchmarks;

/// <summary>
/// Half-precision accuracy mode (<c>--half-accuracy</c>): the worst gradient error of float16 and bfloat16 calls on
/// every backend, against float64 TorchSharp autograd of the same formula on the same (already rounded) inputs. The
/// error is per element, relative to max(|expected|, the dtype's smallest normal), in units of the dtype's unit
/// roundoff u (2⁻¹¹ for float16, 2⁻⁸ for bfloat16): 1 u is a correctly rounded result.
/// </summary>
public static class HalfAccuracy
{
    private sealed record Probe(string Name, Func<ScalarType, Generator, (Tensor X, Func<Tensor, Tensor> Loss, Func<Tensor, Tensor> Reference)> Make);

    private static readonly Probe[] Probes =
    {
        new("Poly-1 [256, 100]", (dt, g) =>
        {
            var x = torch.randn(new long[] { 256, 100 }, generator: g).to(dt);
            var t = torch.randint(0, 100, new long[] { 256 }, generator: g);
            return (x, z => Losses.Poly1(z, t, reduction: nn.Reduction.Sum), z =>
            {
                var logp = F.log_softmax(z, 1).gather(1, t.unsqueeze(1));
                return (-logp + (1 - logp.exp())).sum();
            });
        }),
        new("Tversky [4, 3, 16, 16]", (dt, g) =>
        {
            var x = torch.randn(new long[] { 4, 3, 16, 16 }, generator: g).to(dt);
            var y = (torch.rand(new long[] { 4, 3, 16, 16 }, generator: g) < 0.3).to(dt);
            return (x, z => Losses.Tversky(z, y, reduction: nn.Reduction.Sum), z =>
            {
                var p = z.sigmoid();
                var y64 = y.to(ScalarType.Float64);
                var dims = new long[] { 0, 2, 3 };
                var tp = (p * y64).sum(dims);
                var fp = (p * (1 - y64)).sum(dims);
                var fn = ((1 - p) * y64).sum(dims);
                return (1 - tp / (tp + 0.5 * fp + 0.5 * fn).clamp_min(1e-7)).sum();
            });
        }),
        new("Sigmoid focal [64, 256]", (dt, g) =>
        {
            var x = torch.randn(new long[] { 64, 256 }, generator: g).to(dt);
            var y = (torch.rand(new long[] { 64, 256 }, generator: g) < 0.3).to(dt);
            return (x, z => Losses.SigmoidFocal(z, y, reduction: nn.Reduction.Sum), z =>
            {
                var y64 = y.to(ScalarType.Float64);
                var p = z.sigmoid();
                var ce = F.binary_cross_entropy_with_logits(z, y64, reduction: nn.Reduction.None);
                var pt = p * y64 + (1 - p) * (1 - y64);
                return ((0.25 * y64 + 0.75 * (1 - y64)) * ce * (1 - pt).pow(2)).sum();
            });
        }),
    };

    public static int Run()
    {
        Console.WriteLine("Worst gradient error against float64 autograd on the same rounded inputs, in units of u (1 u = correctly rounded):");
        foreach (var dt in new[] { ScalarType.Float16, ScalarType.BFloat16 })
        {
            double u = dt == ScalarType.Float16 ? Math.Pow(2, -11) : Math.Pow(2, -8);
            double smallestNormal = dt == ScalarType.Float16 ? Math.Pow(2, -14) : Math.Pow(2, -126);
            foreach (var backend in new[] { Backend.Cpu, Backend.Ilgpu, Backend.TorchOps })
            {
                using var scope = torch.NewDisposeScope();
                using var _ = LossBackend.Use(backend);
                var g = new Generator(7);
                var cells = new List<string>();
                foreach (var probe in Probes)
                {
                    var (x, loss, reference) = probe.Make(dt, g);
                    var x64 = x.to(ScalarType.Float64).requires_grad_(true);
                    reference(x64).backward();
                    var xh = x.detach().clone().requires_grad_(true);
                    loss(xh).backward();
                    var expected = x64.grad!;
                    double worst = ((xh.grad!.to(ScalarType.Float64) - expected).abs() / expected.abs().clamp_min(smallestNormal)).max().item<double>() / u;
                    cells.Add($"{probe.Name} {worst:F2} u");
                }
                Console.WriteLine($"  {dt,-9} {backend,-9} {string.Join(", ", cells)}");
            }
        }
        return 0;
    }
}
