using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LossDsl.Runtime;

/// <summary>
/// The fused linear form of a class-row loss: the loss of the logits <c>hidden · classifierᵀ + bias</c>, with the
/// gradients of hidden, classifier and bias, computed a chunk of rows at a time so that the <c>[N, V]</c> logits are never
/// held (Cut Cross-Entropy's and Liger-Kernel's idea, for any class-row loss). Each chunk: one <c>mm</c> for its logits,
/// the loss's own backend for the loss and ∂loss/∂logits (the fused row kernels on the CPU), then two <c>mm</c>s and a sum
/// for the gradients, accumulated in place. See docs/fused-linear.md for the memory model.
/// </summary>
public static class FusedLinear
{
    /// <summary>
    /// The memory the chunk's logits and their gradient may take, in bytes (default 64 MiB): a chunk has
    /// ⌊budget / (2 · V · element size)⌋ rows, at least one. A call's <c>chunkRows</c> argument overrides it.
    /// </summary>
    public static long MemoryBudget { get; set; } = 64L << 20;

    /// <summary>The rows per chunk for a vocabulary of <paramref name="classes"/> in <paramref name="dtype"/>.</summary>
    public static long ChunkRows(long classes, ScalarType dtype, long requested = 0)
    {
        if (requested < 0) throw new ArgumentOutOfRangeException("chunkRows", requested, "Rows per chunk must be positive (or 0 for the memory budget).");
        if (requested > 0) return requested;
        long bytes = 2 * Math.Max(1, classes) * (dtype == ScalarType.Float64 ? 8 : 4);
        return Math.Max(1, MemoryBudget / bytes);
    }

    /// <summary>
    /// The loss of <paramref name="definition"/> (a class-row loss) on the logits hidden · classifierᵀ + bias, differentiable
    /// with respect to hidden, classifier and bias (whichever require grad). <paramref name="rows"/> are the loss's other
    /// data tensors, one value per row of hidden: its class indices and per-row inputs, in declaration order.
    /// </summary>
    public static Tensor Apply(LossDefinition definition, Tensor hidden, Tensor classifier, Tensor? bias, Tensor[] rows, LossArguments arguments, long chunkRows = 0)
    {
        var call = new FusedLinearCall(definition, hidden, classifier, bias, rows, arguments, chunkRows);
        var tensors = new List<object> { hidden, classifier };
        if (bias is not null) tensors.Add(bias);
        tensors.Add(call);
        return FusedLinearFunction.apply(tensors.ToArray());
    }
}

/// <summary>One validated fused linear call: its loss, its non-tensor arguments and what Mean divides by.</summary>
internal sealed class FusedLinearCall
{
    public FusedLinearCall(LossDefinition definition, Tensor hidden, Tensor classifier, Tensor? bias, Tensor[] rows, LossArguments arguments, long chunkRows)
    {
        string name = definition.Name + "Linear";
        if (definition.Shape != LossShape.ClassRow || definition.Roles.Count(r => r == TensorRole.Span) != 1)
            throw new NotSupportedException($"{name}: the fused linear form takes class-row losses with one row (the logits); {definition.Name} is not one.");
        if (hidden.dim() != 2 || !hidden.is_floating_point())
            throw new ArgumentException($"{name}: 'hidden' has shape [{string.Join(", ", hidden.shape)}] and dtype {hidden.dtype}; expected a float [N, D] tensor.", nameof(hidden));
        if (classifier.dim() != 2 || classifier.shape[1] != hidden.shape[1] || classifier.dtype != hidden.dtype)
            throw new ArgumentException($"{name}: 'classifier' has shape [{string.Join(", ", classifier.shape)}] and dtype {classifier.dtype}; expected [V, {hidden.shape[1]}] in {hidden.dtype}, one row per class.", nameof(classifier));
        if (bias is not null && (bias.dim() != 1 || bias.shape[0] != classifier.shape[0] || bias.dtype != hidden.dtype))
            throw new ArgumentException($"{name}: 'bias' has shape [{string.Join(", ", bias.shape)}]; expected [{classifier.shape[0]}] in {hidden.dtype}.", nameof(bias));
        if (hidden.dtype is not (ScalarType.Float32 or ScalarType.Float64))
            throw new ArgumentException($"{name}: 'hidden' has dtype {hidden.dtype}; the fused linear form computes in float32 or float64.", nameof(hidden));
        if (rows.Length != definition.TensorNames.Length - 1)
            throw new ArgumentException($"{name} expects {definition.TensorNames.Length - 1} per-row tensors ({string.Join(", ", definition.TensorNames.Skip(1))}), got {rows.Length}.");
        for (int i = 0; i < rows.Length; i++)
            if (rows[i].dim() != 1 || rows[i].shape[0] != hidden.shape[0])
                throw new ArgumentException($"{name}: '{definition.TensorNames[i + 1]}' has shape [{string.Join(", ", rows[i].shape)}]; expected [{hidden.shape[0]}], one per row of 'hidden'.", definition.TensorNames[i + 1]);
        Definition = definition;
        Rows = rows;
        Arguments = arguments;
        HasBias = bias is not null;
        ChunkRows = FusedLinear.ChunkRows(classifier.shape[0], hidden.dtype, chunkRows);
    }

    public LossDefinition Definition { get; }
    public Tensor[] Rows { get; }
    public LossArguments Arguments { get; }
    public bool HasBias { get; }
    public long ChunkRows { get; }

    /// <summary>
    /// One pass over the chunks. Returns the per-row losses (weighted as the loss's own call weighs them) and, unless
    /// <paramref name="gradients"/> is false, the wanted gradients of hidden, classifier and bias for an upstream gradient
    /// of <paramref name="scale"/> on every row, times <paramref name="perRow"/>[i] on row i when given. (Mean's 1/count,
    /// with the count over every row, is a scale.) The backend's ∂loss/∂logits is read, never written.
    /// </summary>
    public (Tensor Loss, Tensor? Hidden, Tensor? Classifier, Tensor? Bias) Run(Tensor hidden, Tensor classifier, Tensor? bias,
        bool gradients, double scale, Tensor? perRow, bool[] wanted)
    {
        long n = hidden.shape[0];
        var loss = torch.empty(n, hidden.dtype, hidden.device);
        Tensor? dHidden = gradients && wanted[0] ? torch.empty_like(hidden) : null;
        Tensor? dClassifier = gradients && wanted[1] ? torch.zeros_like(classifier) : null;
        Tensor? dBias = gradients && bias is not null && wanted[2] ? torch.zeros_like(bias) : null;
        var chunkArguments = new LossArguments(Arguments.Hyper, Reduction.None, Arguments.IgnoreIndex, Arguments.Backend, Arguments.Weight);
        using var weightT = classifier.t();
        // One logits buffer and one gradient buffer for every chunk: fresh chunk-sized memory per chunk would cost page
        // faults, and the allocator may keep freed chunks resident.
        long rows = Math.Min(ChunkRows, n);
        using var logitsBuffer = torch.empty(new[] { rows, classifier.shape[0] }, hidden.dtype, hidden.device);
        using var gradientBuffer = torch.empty_like(logitsBuffer);
        for (long first = 0; first < n; first += ChunkRows)
        {
            using var scope = torch.NewDisposeScope();
            long count = Math.Min(ChunkRows, n - first);
            var h = hidden.narrow(0, first, count);
            var logits = logitsBuffer.narrow(0, 0, count);
            if (bias is null) logits.addmm_(h, weightT, beta: 0, alpha: 1);
            else logits.copy_(bias.expand(count, -1)).addmm_(h, weightT, beta: 1, alpha: 1);
            var vars = new object[] { logits }.Concat(Rows.Select(r => r.narrow(0, first, count))).Append(chunkArguments).ToArray();
            using var call = LossCall.Bind(Definition, vars);
            call.GradientOutput = gradientBuffer.narrow(0, 0, count);
            var (rawLoss, rawGradients) = LossBackend.Choose(call).Run(call);
            loss.narrow(0, first, count).copy_(call.Weighted(rawLoss));
            if (!gradients) continue;
            var g = call.CallerGradients(rawGradients)[0]!;
            if (perRow is not null) g = g * perRow.narrow(0, first, count).unsqueeze(1);
            dHidden?.narrow(0, first, count).copy_(g.mm(classifier).mul_(scale));
            dClassifier?.addmm_(g.t(), h, 1, 1);
            dBias?.add_(g.sum(new long[] { 0 }));
        }
        // The scale once at the end (addmm_ takes a float32 alpha, which would round a float64 1/count).
        if (scale != 1)
        {
            dClassifier?.mul_(scale);
            dBias?.mul_(scale);
        }
        return (loss, dHidden, dClassifier, dBias);
    }

    /// <summary>What Mean divides by: the rows not ignored, or with class weights the sum of their weights (as cross_entropy).</summary>
    public double MeanCount()
    {
        int t = Array.IndexOf(Definition.Roles, TensorRole.Target) - 1;
        if (t < 0) return Rows.Length > 0 ? Rows[0].shape[0] : 0;
        var target = Rows[t];
        using var scope = torch.NewDisposeScope();
        var kept = target.ne(Arguments.IgnoreIndex);
        if (Arguments.Weight is not { } w) return kept.sum().item<long>();
        return (w.to(ScalarType.Float64).gather(0, target.masked_fill(kept.logical_not(), 0)) * kept).sum().item<double>();
    }
}

/// <summary>
/// The autograd function of every fused linear form. With Mean or Sum, forward computes the loss and the gradients in
/// one pass over the chunks and saves the gradients; backward scales them. With None, the gradients depend on each
/// row's upstream gradient, so backward makes a second pass over the chunks (the logits are recomputed, not saved).
/// </summary>
public sealed class FusedLinearFunction : autograd.SingleTensorFunction<FusedLinearFunction>
{
    public override string Name => "LossDsl.FusedLinear";

    public override Tensor forward(autograd.AutogradContext ctx, object[] vars)
    {
        var call = (FusedLinearCall)vars[^1];
        var hidden = (Tensor)vars[0];
        var classifier = (Tensor)vars[1];
        var bias = call.HasBias ? (Tensor)vars[2] : null;
        var wanted = new[] { hidden.requires_grad, classifier.requires_grad, bias?.requires_grad ?? false };
        ctx.save_data("call", call);
        ctx.save_data("wanted", wanted);
        var reduction = call.Arguments.Reduction;
        if (reduction == Reduction.None)
        {
            var (perRow, _, _, _) = call.Run(hidden, classifier, bias, gradients: false, 1, null, wanted);
            ctx.save_for_backward(bias is null ? new List<Tensor> { hidden, classifier } : new List<Tensor> { hidden, classifier, bias });
            return perRow;
        }
        double count = reduction == Reduction.Mean ? call.MeanCount() : 1;
        var (loss, dHidden, dClassifier, dBias) = call.Run(hidden, classifier, bias, gradients: true, count == 0 ? 0 : 1 / count, null, wanted);
        var saved = new List<Tensor>();
        foreach (var g in new[] { dHidden, dClassifier, dBias }) if (g is not null) saved.Add(g);
        ctx.save_for_backward(saved);
        var total = loss.sum(ScalarType.Float64);
        return (reduction == Reduction.Mean ? total / count : total).to(hidden.dtype);
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var call = (FusedLinearCall)ctx.get_data("call");
        var wanted = (bool[])ctx.get_data("wanted");
        var saved = ctx.get_saved_variables();
        Tensor? dHidden, dClassifier, dBias;
        if (call.Arguments.Reduction == Reduction.None)
        {
            // A second pass over the chunks, each row's gradient scaled by its upstream gradient.
            var bias = call.HasBias ? saved[2] : null;
            using var noGrad = torch.no_grad();
            (_, dHidden, dClassifier, dBias) = call.Run(saved[0], saved[1], bias, gradients: true, 1, gradOutput.to(saved[0].dtype), wanted);
        }
        else
        {
            int k = 0;
            dHidden = wanted[0] ? saved[k++] : null;
            dClassifier = wanted[1] ? saved[k++] : null;
            dBias = call.HasBias && wanted[2] ? saved[k] : null;
            var g = gradOutput.to(ScalarType.Float64).item<double>();
            if (g != 1.0)
            {
                dHidden = dHidden?.mul(g);
                dClassifier = dClassifier?.mul(g);
                dBias = dBias?.mul(g);
            }
        }
        var result = new List<Tensor> { dHidden!, dClassifier! };
        if (call.HasBias) result.Add(dBias!);
        result.Add(null!);
        return result;
    }
}
