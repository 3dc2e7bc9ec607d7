using System;
using System.Collections.Generic;
using System.Linq;
using LossDsl.Runtime;
using LossDsl.Samples;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LossDsl.Benchmarks;

/// <summary>The variants every case is measured in, side by side.</summary>
public enum VariantKind
{
    /// <summary>The generated loss on the fast CPU path (the default for CPU tensors), called on a leaf tensor.</summary>
    LossDsl,
    /// <summary>
    /// The same, on a non-leaf input (<c>leaf.view(shape)</c>), as in a training loop where the logits come out of
    /// a model. With a leaf input, TorchSharp's custom-function bridge keeps a .NET reference to the returned
    /// gradient, so autograd's AccumulateGrad cannot steal it and copies it into <c>.grad</c>.
    /// </summary>
    LossDslNonLeaf,
    /// <summary>(a) The same formula composed from TorchSharp ops, differentiated by TorchSharp autograd.</summary>
    TorchEager,
    /// <summary>(b) A TorchSharp built-in (cross_entropy, binary_cross_entropy_with_logits) where one exists.</summary>
    TorchBuiltIn,
    /// <summary>(c) The generated ILGPU kernels on ILGPU's CPU accelerator.</summary>
    Ilgpu,
    /// <summary>(c′) The generated TorchSharp-ops form of the loss and its derived gradient: the backend for devices
    /// without fused kernels, forced here onto CPU tensors. Its backward scales the saved derived gradient, as the fused paths do.</summary>
    TorchOps,
    /// <summary>(d) One multi-threaded vectorized pass: read every float input once, write one prediction-sized output.</summary>
    Roofline,
    /// <summary>(d′) The same pass into a freshly allocated output tensor, as a loss step's new gradient tensor is:
    /// the roofline plus the allocator's and the kernel's cost of fresh memory (page faults on first touch).</summary>
    RooflineFresh,
}

/// <summary>One way of computing a case. <see cref="Step"/> runs forward and backward once and returns the
/// leaf whose <c>.grad</c> holds the gradient (null for the roofline), plus the loss.</summary>
public sealed record Variant(VariantKind Kind, string Label, Func<(Tensor? Loss, Tensor? Leaf)> Step, string? Note = null);

/// <summary>A benchmark case: its inputs (created once, outside any dispose scope) and its variants.</summary>
public sealed class BenchCase : IDisposable
{
    public required string Name { get; init; }
    public required string Shape { get; init; }
    public required Tensor[] Inputs { get; init; }
    public required List<Variant> Variants { get; init; }

    /// <summary>Bytes the roofline pass moves: every float input read once plus one prediction-sized write.</summary>
    public long RooflineBytes { get; init; }

    /// <summary>Elements of the prediction: what the compute roofline multiplies the exps and logs per element by.</summary>
    public long Elements { get; init; }

    /// <summary>The exps and logs per element of the generated CPU kernels (<see cref="ComputeRoofline"/>), or null.</summary>
    public Transcendentals? Transcendentals { get; init; }

    /// <summary>Variants that quick mode leaves out (too slow to repeat in under a minute), with the reason.</summary>
    public Dictionary<VariantKind, string> QuickSkips { get; init; } = new();

    public Variant? Get(VariantKind kind) => Variants.FirstOrDefault(v => v.Kind == kind);

    public void Dispose()
    {
        foreach (var t in Inputs) t.Dispose();
        Roofline?.Dispose();
    }

    internal RooflinePass? Roofline { get; init; }

    /// <summary>For the profiler: the generated loss's name, its data tensors in declaration order and its hyperparameters.</summary>
    public (string Loss, Tensor[] Tensors, double[] Hyper) Direct { get; init; }

    // ---------------------------------------------------------------- the cases

    public const int Seed = 1234;

    public static IEnumerable<string> AllNames => new[] { "Poly1-4096x1000", "Poly1-512x32000", "CE-4096x1000", "Tversky-16x4x256x256", "SigmoidFocal-4M", "SupCon-4096", "DiceCE-8x21x256x256", FusedLinearBench.CaseName };

    public static BenchCase Create(string name) => name switch
    {
        "Poly1-4096x1000" => Poly1(4096, 1000),
        "Poly1-512x32000" => WithQuickSkip(Poly1(512, 32000), VariantKind.Ilgpu, "ILGPU CPU accelerator not run in quick mode (about 1.3 s per step here); see the BenchmarkDotNet run"),
        "CE-4096x1000" => CrossEntropy(4096, 1000),
        "Tversky-16x4x256x256" => Tversky(16, 4, 256, 256),
        "SigmoidFocal-4M" => WithQuickSkip(SigmoidFocal(4096, 1024), VariantKind.Ilgpu, "ILGPU CPU accelerator not run in quick mode (about 17 s per step here: one simulated GPU thread per element); see the BenchmarkDotNet run"),
        "SupCon-4096" => WithQuickSkip(SupCon(4096), VariantKind.Ilgpu, "ILGPU CPU accelerator not run in quick mode (one simulated GPU thread per 4096-element row)"),
        "DiceCE-8x21x256x256" => DiceCE(8, 21, 256, 256),
        _ => Custom(name) ?? throw new ArgumentException($"Unknown case '{name}'. Cases: {string.Join(", ", AllNames)}, or Poly1-NxC, CE-NxC"),
    };

    /// <summary>Other row shapes for experiments: Poly1-NxC, CE-NxC.</summary>
    private static BenchCase? Custom(string name)
    {
        var m = System.Text.RegularExpressions.Regex.Match(name, @"^(Poly1|CE)-(\d+)x(\d+)$");
        if (!m.Success) return null;
        long n = long.Parse(m.Groups[2].Value), c = long.Parse(m.Groups[3].Value);
        return m.Groups[1].Value == "CE" ? CrossEntropy(n, c) : Poly1(n, c);
    }

    private static BenchCase WithQuickSkip(BenchCase c, VariantKind kind, string why)
    {
        c.QuickSkips[kind] = why;
        return c;
    }

    private static Generator Rng() => new Generator(Seed);

    private static Tensor Leaf(Tensor x) => x.detach().requires_grad_(true);

    private static (Tensor, Tensor) Backward(Tensor loss, Tensor leaf)
    {
        loss.backward();
        return (loss, leaf);
    }

    /// <summary>A non-leaf view of a fresh leaf: the loss sees the output of an op, as in a training loop.</summary>
    private static Variant NonLeaf(Tensor x, Func<Tensor, Tensor> loss)
        => new(VariantKind.LossDslNonLeaf, "LossDsl, non-leaf input", () =>
        {
            var xi = Leaf(x);
            return Backward(loss(xi.view(x.shape)), xi);
        }, "input = leaf.view(shape): no copy of the gradient into .grad");

    /// <summary>(d): the roofline pass into its preallocated output.</summary>
    private static Variant RooflineInto(RooflinePass roof, string op)
        => new(VariantKind.Roofline, $"Roofline ({op})", () => { roof.Run(); return (null, null); });

    /// <summary>The same pass into a fresh output every step.</summary>
    private static Variant RooflineFresh(RooflinePass roof)
        => new(VariantKind.RooflineFresh, "Roofline, fresh output", () => { roof.RunFresh(); return (null, null); });

    private static Variant Ilgpu(Func<(Tensor?, Tensor?)> step) => On(Backend.Ilgpu, VariantKind.Ilgpu, "ILGPU CPU accel.", step, "generated ILGPU kernels, ILGPU CPU accelerator");

    private static Variant TorchOps(Func<(Tensor?, Tensor?)> step) => On(Backend.TorchOps, VariantKind.TorchOps, "LossDsl torch-ops", step, "generated TorchSharp ops of the loss and its derived gradient");

    /// <summary>The generated loss forced onto one backend.</summary>
    private static Variant On(Backend backend, VariantKind kind, string label, Func<(Tensor?, Tensor?)> step, string note)
        => new(kind, label, () =>
        {
            using var _ = LossBackend.Use(backend);
            return step();
        }, note);

    public static BenchCase Poly1(long n, long c)
    {
        var g = Rng();
        var x = torch.randn(new[] { n, c }, generator: g);
        var y = torch.randint(0, c, new[] { n }, generator: g);
        const double eps = 1.0;
        Func<(Tensor?, Tensor?)> ours = () => { var xi = Leaf(x); return Backward(Losses.Poly1(xi, y, epsilon: eps), xi); };
        var roof = new RooflinePass(x, null);
        return new BenchCase
        {
            Name = $"Poly-1 [{n}, {c}]",
            Elements = n * c,
            Transcendentals = new Transcendentals(1, 0, "CpuFusedF32: the Σ e^(z − max) sweep parks e^(z − max) for the gradient sweep"),
            Direct = ("Poly1", new[] { x, y }, new[] { eps }),
            Shape = $"[{n}, {c}]",
            Inputs = new[] { x, y },
            Roofline = roof,
            RooflineBytes = roof.Bytes,
            Variants = new()
            {
                new(VariantKind.LossDsl, "LossDsl (CPU path)", ours),
                NonLeaf(x, xv => Losses.Poly1(xv, y, epsilon: eps)),
                new(VariantKind.TorchEager, "TorchSharp eager", () =>
                {
                    var xi = Leaf(x);
                    var logp = F.log_softmax(xi, 1).gather(1, y.unsqueeze(1)).squeeze(1);
                    return Backward((-logp + eps * (1 - logp.exp())).mean(), xi);
                }, "log_softmax, gather, exp, mean"),
                new(VariantKind.TorchBuiltIn, "TorchSharp built-in", () =>
                {
                    var xi = Leaf(x);
                    var ce = F.cross_entropy(xi, y, reduction: nn.Reduction.None);
                    return Backward((ce + eps * (1 - (-ce).exp())).mean(), xi);
                }, "the paper's form on the built-in: ce = cross_entropy(x, y, none); ce + ε(1 − e^−ce)"),
                Ilgpu(ours),
                TorchOps(ours),
                RooflineInto(roof, "copy"),
                RooflineFresh(roof),
            },
        };
    }

    public static BenchCase CrossEntropy(long n, long c)
    {
        var g = Rng();
        var x = torch.randn(new[] { n, c }, generator: g);
        var y = torch.randint(0, c, new[] { n }, generator: g);
        Func<(Tensor?, Tensor?)> ours = () => { var xi = Leaf(x); return Backward(BenchLosses.CrossEntropy(xi, y), xi); };
        var roof = new RooflinePass(x, null);
        return new BenchCase
        {
            Name = $"CE [{n}, {c}]",
            Elements = n * c,
            Transcendentals = new Transcendentals(1, 0, "CpuFusedF32: as Poly-1"),
            Direct = ("CrossEntropy", new[] { x, y }, Array.Empty<double>()),
            Shape = $"[{n}, {c}]",
            Inputs = new[] { x, y },
            Roofline = roof,
            RooflineBytes = roof.Bytes,
            Variants = new()
            {
                new(VariantKind.LossDsl, "LossDsl (CPU path)", ours),
                NonLeaf(x, xv => BenchLosses.CrossEntropy(xv, y)),
                new(VariantKind.TorchEager, "TorchSharp eager", () =>
                {
                    var xi = Leaf(x);
                    return Backward(-F.log_softmax(xi, 1).gather(1, y.unsqueeze(1)).mean(), xi);
                }, "log_softmax, gather, mean"),
                new(VariantKind.TorchBuiltIn, "TorchSharp built-in", () =>
                {
                    var xi = Leaf(x);
                    return Backward(F.cross_entropy(xi, y), xi);
                }, "cross_entropy"),
                Ilgpu(ours),
                TorchOps(ours),
                RooflineInto(roof, "copy"),
                RooflineFresh(roof),
            },
        };
    }

    public static BenchCase Tversky(long n, long c, long h, long w)
    {
        var g = Rng();
        var x = torch.randn(new[] { n, c, h, w }, generator: g);
        var t = (torch.rand(new[] { n, c, h, w }, generator: g) < 0.3).to(ScalarType.Float32);
        const double alpha = 0.5, beta = 0.5, eps = 1e-7;
        Func<(Tensor?, Tensor?)> ours = () => { var xi = Leaf(x); return Backward(Losses.Tversky(xi, t, alpha: alpha, beta: beta), xi); };
        var roof = new RooflinePass(x, t);
        return new BenchCase
        {
            Name = $"Tversky [{n}, {c}, {h}, {w}]",
            Elements = n * c * h * w,
            Transcendentals = new Transcendentals(4, 0, "CpuPass1F32 and CpuGradientF32: σ(x) and σ(−x) each"),
            Direct = ("Tversky", new[] { x, t }, new[] { alpha, beta, 0.0, eps }),
            Shape = $"[{n}, {c}, {h}, {w}]",
            Inputs = new[] { x, t },
            Roofline = roof,
            RooflineBytes = roof.Bytes,
            Variants = new()
            {
                new(VariantKind.LossDsl, "LossDsl (CPU path)", ours),
                NonLeaf(x, xv => Losses.Tversky(xv, t, alpha: alpha, beta: beta)),
                new(VariantKind.TorchEager, "TorchSharp eager", () =>
                {
                    // segmentation_models_pytorch's binary/multilabel Tversky: sums over batch and pixels, one set per channel.
                    var xi = Leaf(x);
                    var p = torch.sigmoid(xi);
                    var dims = new long[] { 0, 2, 3 };
                    var tp = (p * t).sum(dims);
                    var fp = (p * (1 - t)).sum(dims);
                    var fn = ((1 - p) * t).sum(dims);
                    var score = tp / (tp + alpha * fp + beta * fn).clamp_min(eps);
                    return Backward((1 - score).mean(), xi);
                }, "sigmoid, 3 masked sums over (N, H, W), clamp_min, mean (smp's form)"),
                Ilgpu(ours),
                TorchOps(ours),
                RooflineInto(roof, "add"),
                RooflineFresh(roof),
            },
        };
    }

    public static BenchCase SigmoidFocal(long n, long c)
    {
        var g = Rng();
        var x = torch.randn(new[] { n, c }, generator: g);
        var t = (torch.rand(new[] { n, c }, generator: g) < 0.1).to(ScalarType.Float32);
        const double alpha = 0.25, gamma = 2.0;
        Func<(Tensor?, Tensor?)> ours = () => { var xi = Leaf(x); return Backward(Losses.SigmoidFocal(xi, t, alpha: alpha, gamma: gamma), xi); };
        var roof = new RooflinePass(x, t);
        return new BenchCase
        {
            Name = $"Sigmoid focal [{n}×{c} = {n * c / (1 << 20)}M]",
            Elements = n * c,
            Transcendentals = new Transcendentals(4, 2, "CpuFusedF32: 2 σ, 2 softplus (Pow by γ = 2 and γ − 1 multiplies)"),
            Direct = ("SigmoidFocal", new[] { x, t }, new[] { alpha, gamma }),
            Shape = $"[{n}, {c}]",
            Inputs = new[] { x, t },
            Roofline = roof,
            RooflineBytes = roof.Bytes,
            Variants = new()
            {
                new(VariantKind.LossDsl, "LossDsl (CPU path)", ours),
                NonLeaf(x, xv => Losses.SigmoidFocal(xv, t, alpha: alpha, gamma: gamma)),
                new(VariantKind.TorchEager, "TorchSharp eager", () =>
                {
                    // torchvision.ops.sigmoid_focal_loss, reduction mean.
                    var xi = Leaf(x);
                    var p = torch.sigmoid(xi);
                    var ce = F.binary_cross_entropy_with_logits(xi, t, reduction: nn.Reduction.None);
                    var pt = p * t + (1 - p) * (1 - t);
                    var loss = ce * (1 - pt).pow(gamma);
                    var at = alpha * t + (1 - alpha) * (1 - t);
                    return Backward((at * loss).mean(), xi);
                }, "torchvision's sigmoid_focal_loss (sigmoid, BCE-with-logits, pow, mean)"),
                new(VariantKind.TorchBuiltIn, "TorchSharp built-in", () =>
                {
                    var xi = Leaf(x);
                    return Backward(F.binary_cross_entropy_with_logits(xi, t), xi);
                }, "binary_cross_entropy_with_logits: the closest built-in, plain BCE without the focal term (less work)"),
                Ilgpu(ours),
                TorchOps(ours),
                RooflineInto(roof, "add"),
                RooflineFresh(roof),
            },
        };
    }

    /// <summary>
    /// SupCon on a similarity matrix [n, n] (the leaf), labels from 100 classes; mean over rows with a positive. Every
    /// variant builds its pair masks from the labels inside the step, as pytorch-metric-learning does.
    /// </summary>
    public static BenchCase SupCon(long n)
    {
        var g = Rng();
        var x = torch.tanh(torch.randn(new[] { n, n }, generator: g));
        var labels = torch.randint(0, 100, new[] { n }, generator: g);
        var positive = PairMasks.Positives(labels, x);
        var negative = PairMasks.Negatives(labels, x);
        const double tau = 0.1;
        Tensor Ours(Tensor s) => Losses.SupCon(s, labels, temperature: tau);
        Func<(Tensor?, Tensor?)> ours = () => { var xi = Leaf(x); return Backward(Ours(xi), xi); };
        var roof = new RooflinePass(x, null);
        return new BenchCase
        {
            Name = $"SupCon [{n}, {n}]",
            Elements = n * n,
            Transcendentals = new Transcendentals(1, 0, "CpuFusedF32: the masked LogSumExp sweep parks its weights"),
            Direct = ("SupCon", new[] { x, positive, negative }, new[] { tau }),
            Shape = $"[{n}, {n}]",
            Inputs = new[] { x, labels, positive, negative },
            Roofline = roof,
            RooflineBytes = roof.Bytes,
            Variants = new()
            {
                new(VariantKind.LossDsl, "LossDsl (CPU path)", ours),
                NonLeaf(x, Ours),
                new(VariantKind.TorchEager, "TorchSharp eager", () =>
                {
                    // pytorch-metric-learning's SupConLoss on a precomputed similarity matrix, with its AvgNonZeroReducer.
                    var xi = Leaf(x);
                    var same = labels.unsqueeze(0).eq(labels.unsqueeze(1));
                    var self = torch.eye(n, dtype: ScalarType.Bool);
                    var pos = same.logical_and(self.logical_not()).to(ScalarType.Float32);
                    var logits = (xi / tau).masked_fill(self, double.NegativeInfinity);
                    var logProb = xi / tau - logits.logsumexp(1, keepdim: true);
                    var perRow = -(pos * logProb).sum(new long[] { 1 }) / pos.sum(new long[] { 1 }).clamp_min(1);
                    var kept = (perRow > 0).to(ScalarType.Float32);
                    return Backward((perRow * kept).sum() / kept.sum().clamp_min(1), xi);
                }, "masks from labels, masked logsumexp, log-prob, masked mean per row, mean over non-zero rows (pytorch-metric-learning's form)"),
                Ilgpu(ours),
                TorchOps(ours),
                RooflineInto(roof, "copy"),
                RooflineFresh(roof),
            },
        };
    }

    /// <summary>
    /// Multiclass Dice + CE on logits [n, c, h, w] (the leaf) with an int64 mask, as smp and cross_entropy define them:
    /// LossDsl's multiclass set loss (the sample's DiceCE) against smp's composition, which builds the one-hot inside the step.
    /// </summary>
    public static BenchCase DiceCE(long n, long c, long h, long w)
    {
        var g = Rng();
        var x = torch.randn(new[] { n, c, h, w }, generator: g);
        var mask = torch.randint(0, c, new[] { n, h, w }, generator: g);
        Tensor Ours(Tensor z) => Losses.DiceCE(z, mask);
        Func<(Tensor?, Tensor?)> ours = () => { var xi = Leaf(x); return Backward(Ours(xi), xi); };
        var roof = new RooflinePass(x, null);
        return new BenchCase
        {
            Name = $"Dice+CE [{n}, {c}, {h}, {w}]",
            Elements = n * c * h * w,
            Transcendentals = new Transcendentals(3, 1.0 / c, "host pixel softmax: 1 exp per element, 1 log per pixel; CpuPass1F32 and CpuGradientF32: 1 exp each"),
            Shape = $"[{n}, {c}, {h}, {w}]",
            Inputs = new[] { x, mask },
            Roofline = roof,
            RooflineBytes = roof.Bytes,
            Variants = new()
            {
                new(VariantKind.LossDsl, "LossDsl (CPU path)", ours, "one multiclass set loss: per-pixel log-sum-exp, the fused class-set kernels, the softmax Jacobian in backward"),
                NonLeaf(x, Ours),
                new(VariantKind.TorchEager, "TorchSharp eager", () =>
                {
                    // smp's DiceLoss(mode="multiclass", from_logits=True) + cross_entropy.
                    var xi = Leaf(x);
                    var p = F.softmax(xi, 1);
                    var y = F.one_hot(mask, c).permute(0, 3, 1, 2).to(ScalarType.Float32);
                    var dims = new long[] { 0, 2, 3 };
                    var dice = 2 * (p * y).sum(dims) / (p + y).sum(dims).clamp_min(1e-7);
                    var present = (y.sum(dims) > 0).to(ScalarType.Float32);
                    return Backward(((1 - dice) * present).mean() + F.cross_entropy(xi, mask), xi);
                }, "softmax, one-hot, per-class sums, absent classes masked, cross_entropy (smp's DiceLoss + CE)"),
                TorchOps(ours),
                RooflineInto(roof, "copy"),
                RooflineFresh(roof),
            },
        };
    }
}
