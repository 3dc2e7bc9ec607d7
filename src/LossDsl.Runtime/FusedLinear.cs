using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using LossDsl.Runtime.Distributed;

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
    /// The loss of <paramref name="definition"/> (a class-row loss) on logits computed by linear heads, one per row of the
    /// loss: the prediction's first, then each other row in declaration order (a teacher's logits for distillation, a
    /// second model's for a symmetric KL). Differentiable with respect to every head's hidden, classifier and bias that
    /// require grad. <paramref name="rows"/> are the loss's other data tensors, one value per row of hidden: its class
    /// indices and per-row inputs, in declaration order.
    /// </summary>
    public static Tensor Apply(LossDefinition definition, LinearHead[] heads, Tensor[] rows, LossArguments arguments, long chunkRows = 0)
    {
        // Under no_grad (an evaluation pass) nothing will call backward, so no gradient is computed. (Inside the
        // function's forward grad mode is off, so this is read here.)
        var call = new FusedLinearCall(definition, heads, rows, arguments, chunkRows) { Differentiable = torch.is_grad_enabled() };
        var tensors = new List<object>();
        // Leaves go in as views, so that autograd can hand the gradients on without copying them into .grad.
        foreach (var head in heads) tensors.AddRange(head.Tensors.Select(LossAutograd.Prediction));
        tensors.Add(call);
        return LossAutograd.Output(FusedLinearFunction.apply(tensors.ToArray()));
    }
}

/// <summary>
/// One row of a loss computed by a linear head: <c>Hidden [N, D] · Classifierᵀ [D, V] + Bias [V]</c>. <paramref name="Prefix"/>
/// names its arguments in error messages: "" for hidden, classifier and bias; "teacher" for teacherHidden, ….
/// </summary>
public sealed record LinearHead(Tensor Hidden, Tensor Classifier, Tensor? Bias, string Prefix = "")
{
    /// <summary>Its tensors, as the autograd function takes them: hidden, classifier, and bias when there is one.</summary>
    public Tensor[] Tensors => Bias is null ? new[] { Hidden, Classifier } : new[] { Hidden, Classifier, Bias };

    public string Name(string what) => Prefix.Length == 0 ? what : Prefix + char.ToUpperInvariant(what[0]) + what.Substring(1);
}

/// <summary>One validated fused linear call: its loss, its heads' layout, its non-tensor arguments and what Mean divides by.</summary>
internal sealed class FusedLinearCall
{
    public FusedLinearCall(LossDefinition definition, LinearHead[] heads, Tensor[] rows, LossArguments arguments, long chunkRows)
    {
        string name = definition.Name + "Linear";
        var spans = Enumerable.Range(0, definition.Roles.Length).Where(i => definition.Roles[i] == TensorRole.Span).ToArray();
        if (definition.Layout is not ClassRowLayout || spans.Length != heads.Length)
            throw new NotSupportedException($"{name}: the fused linear form takes class-row losses, one head per row; {definition.Name} has {spans.Length} rows and {heads.Length} heads were given.");
        var first = heads[0];
        foreach (var head in heads)
        {
            var (hidden, classifier, bias) = (head.Hidden, head.Classifier, head.Bias);
            if (hidden.dim() != 2 || hidden.dtype is not (ScalarType.Float32 or ScalarType.Float64 or ScalarType.BFloat16 or ScalarType.Float16) || hidden.shape[0] != first.Hidden.shape[0] || hidden.dtype != first.Hidden.dtype)
                throw new ArgumentException($"{name}: '{head.Name("hidden")}' has shape [{string.Join(", ", hidden.shape)}] and dtype {hidden.dtype}; expected [{first.Hidden.shape[0]}, D] in float32, float64, bfloat16 or float16 (the same as 'hidden').", head.Name("hidden"));
            if (classifier.dim() != 2 || classifier.shape[1] != hidden.shape[1] || classifier.shape[0] != first.Classifier.shape[0] || classifier.dtype != hidden.dtype)
                throw new ArgumentException($"{name}: '{head.Name("classifier")}' has shape [{string.Join(", ", classifier.shape)}] and dtype {classifier.dtype}; expected [{first.Classifier.shape[0]}, {hidden.shape[1]}] in {hidden.dtype}, one row per class.", head.Name("classifier"));
            if (bias is not null && (bias.dim() != 1 || bias.shape[0] != classifier.shape[0] || bias.dtype != hidden.dtype))
                throw new ArgumentException($"{name}: '{head.Name("bias")}' has shape [{string.Join(", ", bias.shape)}]; expected [{classifier.shape[0]}] in {hidden.dtype}.", head.Name("bias"));
        }
        if (rows.Length != definition.TensorNames.Length - spans.Length)
            throw new ArgumentException($"{name} expects {definition.TensorNames.Length - spans.Length} per-row tensors, got {rows.Length}.");
        var rowNames = definition.TensorNames.Where((_, i) => definition.Roles[i] != TensorRole.Span).ToArray();
        for (int i = 0; i < rows.Length; i++)
            if (rows[i].dim() != 1 || rows[i].shape[0] != first.Hidden.shape[0])
                throw new ArgumentException($"{name}: '{rowNames[i]}' has shape [{string.Join(", ", rows[i].shape)}]; expected [{first.Hidden.shape[0]}], one per row of 'hidden'.", rowNames[i]);
        Definition = definition;
        Rows = rows;
        Arguments = arguments;
        HeadBiases = heads.Select(h => h.Bias is not null).ToArray();
        Shard = LossSharding.Current;
        // Vocabulary parallel: every rank goes through the same chunks (each chunk's reductions are collectives), so the
        // chunk size comes from the largest shard of the classifier. Data parallel: each rank's chunks are its own rows,
        // computed as one process computes them; the sums over the ranks come once, at the end (Reduced).
        long chunkClasses = Shard is { Axis: ShardAxis.Classes } ? Shard.Collective.Gather(first.Classifier.shape[0]).Max() : first.Classifier.shape[0];
        ChunkRows = FusedLinear.ChunkRows(chunkClasses, first.Hidden.dtype, chunkRows);
        ComputeType = first.Hidden.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
    }

    /// <summary>
    /// What the chunks' logits, the loss and the gradients are computed and accumulated in: float32 for bfloat16 and
    /// float16 heads (as under autocast), so that the classifier's and bias's sums over the chunks round once, at the end.
    /// </summary>
    public ScalarType ComputeType { get; }

    public LossDefinition Definition { get; }
    public Tensor[] Rows { get; }
    public LossArguments Arguments { get; }
    public long ChunkRows { get; }

    /// <summary>Whether grad mode was on at the call: otherwise no gradient is computed.</summary>
    public bool Differentiable { get; init; } = true;

    /// <summary>Per head, whether it has a bias: the autograd function's tensors are each head's hidden, classifier and bias if any.</summary>
    public bool[] HeadBiases { get; }

    /// <summary>The shard declared around the call (the class axis: a classifier split by rows; the batch: the hidden rows split), or null; the backward pass runs under it too.</summary>
    public Shard? Shard { get; }

    /// <summary>The heads, from the autograd function's flat list of tensors.</summary>
    public LinearHead[] Heads(IReadOnlyList<Tensor> tensors)
    {
        var heads = new LinearHead[HeadBiases.Length];
        int k = 0;
        for (int h = 0; h < heads.Length; h++)
        {
            var hidden = tensors[k++];
            var classifier = tensors[k++];
            heads[h] = new LinearHead(hidden, classifier, HeadBiases[h] ? tensors[k++] : null);
        }
        return heads;
    }

    /// <summary>
    /// One pass over the chunks. Returns the per-row losses (weighted as the loss's own call weighs them), what Mean divides
    /// by (the chunks' own counts summed: rows not ignored, or the sum of their class weights), and, unless
    /// <paramref name="gradients"/> is false, the gradients of the heads' tensors (in the autograd function's flat order;
    /// null where not <paramref name="wanted"/>) for an upstream gradient of 1 on every row, times
    /// <paramref name="perRow"/>[i] on row i when given. The backend's ∂loss/∂logits is read, never written. The loss and
    /// the gradients are in <see cref="ComputeType"/>: a half head's hidden and classifier are converted a chunk, or
    /// once per pass, at a time.
    /// </summary>
    public (Tensor Loss, double Count, Tensor?[] Gradients) Run(LinearHead[] heads, bool gradients, Tensor? perRow, bool[] wanted)
    {
        // The chunks' calls run in the class axis's scope, or in none: a batch shard's chunks differ in number over the ranks.
        using var sharded = Shard is { Axis: ShardAxis.Classes } shard ? LossSharding.Over(shard.Collective, shard.Axis) : LossSharding.Within(null, suspend: true);
        double total = 0;
        var first = heads[0];
        long n = first.Hidden.shape[0], classes = first.Classifier.shape[0];
        var dtype = ComputeType;
        var device = first.Hidden.device;
        var loss = torch.empty(n, dtype, device);
        var flat = heads.SelectMany(h => h.Tensors).ToArray();
        var result = new Tensor?[flat.Length];
        var slots = new List<(int Hidden, int Classifier, int Bias)>();
        for (int h = 0, k = 0; h < heads.Length; h++)
        {
            int hidden = k++, classifier = k++, bias = heads[h].Bias is null ? -1 : k++;
            slots.Add((hidden, classifier, bias));
            if (!gradients) continue;
            if (wanted[hidden]) result[hidden] = torch.empty_like(heads[h].Hidden, dtype: dtype);
            if (wanted[classifier]) result[classifier] = torch.zeros_like(heads[h].Classifier, dtype: dtype);
            if (bias >= 0 && wanted[bias]) result[bias] = torch.zeros_like(heads[h].Bias!, dtype: dtype);
        }
        // A row other than the prediction gets its gradient from the backend only if its logits require grad.
        var headWanted = slots.Select(s => wanted[s.Hidden] || wanted[s.Classifier] || (s.Bias >= 0 && wanted[s.Bias])).ToArray();
        var spanIndex = Enumerable.Range(0, Definition.Roles.Length).Where(i => Definition.Roles[i] == TensorRole.Span).ToArray();

        var chunkArguments = new LossArguments(Arguments.Hyper, Reduction.None, Arguments.IgnoreIndex, Arguments.Backend, Arguments.Weight);
        var classifiers = heads.Select(h => h.Classifier.dtype == dtype ? h.Classifier.detach() : h.Classifier.to(dtype)).ToArray();
        var transposed = classifiers.Select(c => c.t()).ToArray();
        // One logits buffer per head and one gradient buffer for every chunk: fresh chunk-sized memory per chunk would cost
        // page faults, and the allocator may keep freed chunks resident.
        long rows = Math.Min(ChunkRows, n);
        var buffers = heads.Select(_ => torch.empty(new[] { rows, classes }, dtype, device)).ToArray();
        using var gradientBuffer = torch.empty(new[] { rows, classes }, dtype, device);
        try
        {
            for (long start = 0; start < n; start += ChunkRows)
            {
                using var scope = torch.NewDisposeScope();
                long count = Math.Min(ChunkRows, n - start);
                var logits = new Tensor[heads.Length];
                for (int h = 0; h < heads.Length; h++)
                {
                    var hidden = heads[h].Hidden.narrow(0, start, count).to(dtype);
                    logits[h] = buffers[h].narrow(0, 0, count);
                    if (heads[h].Bias is { } bias) logits[h].copy_(bias.expand(count, -1)).addmm_(hidden, transposed[h], beta: 1, alpha: 1);
                    else logits[h].addmm_(hidden, transposed[h], beta: 0, alpha: 1);
                    if (h > 0 && gradients && headWanted[h]) logits[h] = logits[h].detach().requires_grad_(true);
                }
                var vars = new object[Definition.Roles.Length + 1];
                for (int i = 0, s = 0, r = 0; i < Definition.Roles.Length; i++)
                    vars[i] = Definition.Roles[i] == TensorRole.Span ? logits[s++] : Rows[r++].narrow(0, start, count);
                vars[^1] = chunkArguments;
                using var call = LossCall.Bind(Definition, vars);
                call.GradientOutput = gradientBuffer.narrow(0, 0, count);
                var (rawLoss, rawGradients) = LossBackend.Choose(call).Run(call);
                loss.narrow(0, start, count).copy_(call.Weighted(rawLoss));
                total += call.ReductionCount;
                if (!gradients) continue;
                var perSpan = call.CallerGradients(rawGradients);
                for (int h = 0; h < heads.Length; h++)
                {
                    if (perSpan[spanIndex[h]] is not { } g) continue;
                    if (perRow is not null) g = g * perRow.narrow(0, start, count).unsqueeze(1);
                    var (hs, cs, bs) = slots[h];
                    result[hs]?.narrow(0, start, count).copy_(g.mm(classifiers[h]));
                    result[cs]?.addmm_(g.t(), heads[h].Hidden.narrow(0, start, count).to(dtype), 1, 1);
                    if (bs >= 0) result[bs]?.add_(g.sum(new long[] { 0 }), TorchScalars.One);   // a held alpha: the soak's most frequent crash site was here
                }
            }
        }
        finally
        {
            foreach (var t in buffers.Concat(transposed).Concat(classifiers)) t.Dispose();
        }
        // Vocabulary parallel: ∂/∂hidden = Σ over ranks of dlogits_r · W_r (the hidden rows are every rank's); the
        // classifier's and bias's gradients are the rank's own shard's.
        if (Shard is { Axis: ShardAxis.Classes } && gradients)
            foreach (var (hs, _, _) in slots)
                if (result[hs] is { } g) Shard.Collective.AllReduce(g, CollectiveOp.Sum);
        return (loss, total, result);
    }
}

/// <summary>
/// The autograd function of every fused linear form. With Mean or Sum, forward computes the loss and the gradients in
/// one pass over the chunks and saves the gradients; backward scales them (and after a saved gradient has been handed out
/// as it is, a later backward through a retained graph computes them again: <see cref="LossAutograd.HandOut"/>). With None,
/// the gradients depend on each row's upstream gradient, so backward makes a second pass over the chunks (the logits are
/// recomputed, not saved).
/// </summary>
public sealed class FusedLinearFunction : autograd.SingleTensorFunction<FusedLinearFunction>
{
    public override string Name => "LossDsl.FusedLinear";

    public override Tensor forward(autograd.AutogradContext ctx, object[] vars)
    {
        // As LossAutograd's forward: temporaries belong to a scope, and the inputs and output stay reachable until apply
        // has read their native handles (NativeHandoff).
        NativeHandoff.Release();
        using var scope = torch.NewDisposeScope();
        NativeHandoff.Held(vars);
        var call = (FusedLinearCall)vars[^1];
        var tensors = vars.Take(vars.Length - 1).Cast<Tensor>().ToList();
        var heads = call.Heads(tensors);
        var wanted = tensors.Select(t => call.Differentiable && t.requires_grad).ToArray();
        ctx.save_data("call", call);
        ctx.save_data("wanted", wanted);
        var reduction = call.Arguments.Reduction;
        if (reduction == Reduction.None)
        {
            var (perRow, _, _) = call.Run(heads, gradients: false, null, wanted);
            ctx.save_for_backward(tensors);
            return NativeHandoff.Made(scope.MoveToOuter(perRow));
        }
        var (total, count, save) = Reduced(call, tensors, wanted);
        scope.MoveToOuter(save);
        // The inputs first, for a backward that must compute the gradients again.
        ctx.save_for_backward(tensors.Concat(save).ToList());
        ctx.save_data("handedOut", new StrongBox<bool>());
        return NativeHandoff.Made(scope.MoveToOuter((reduction == Reduction.Mean ? TorchScalars.Mul(total, 1 / count) : total).to(call.ComputeType)));
    }

    /// <summary>Mean's or Sum's total loss (float64), row count, and the gradients that are computed, in their tensors' dtypes.</summary>
    private static (Tensor Total, double Count, List<Tensor> Gradients) Reduced(FusedLinearCall call, IReadOnlyList<Tensor> tensors, bool[] wanted)
    {
        var (loss, count, gradients) = call.Run(call.Heads(tensors), gradients: true, null, wanted);
        var total = loss.sum(ScalarType.Float64);
        if (call.Shard is { Axis: ShardAxis.Batch } batch)
        {
            // Data parallel: the loss is the global one (every rank's rows), and Mean divides by the global count of the rows
            // that count; each rank's gradients are its rows' part of the global loss's (sum the model's over the ranks).
            total = torch.tensor(batch.Collective.Sum(total.item<double>()), ScalarType.Float64, total.device);
            count = batch.Collective.Sum(count);
        }
        if (call.Arguments.Reduction == Reduction.Sum) count = 1;
        // Mean's 1/count once at the end, over every row's count.
        if (count != 1)
            foreach (var g in gradients) if (g is not null) TorchScalars.Mul(g, count == 0 ? 0 : 1 / count, overwrite: true);
        var computed = gradients.Select((g, i) => g?.to(tensors[i].dtype)).Where(g => g is not null).Select(g => g!).ToList();
        return (total, count, computed);
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        NativeHandoff.Release();
        using var scope = torch.NewDisposeScope();
        var call = (FusedLinearCall)ctx.get_data("call");
        var wanted = (bool[])ctx.get_data("wanted");
        var saved = ctx.get_saved_variables();
        var gradients = new Tensor?[wanted.Length];
        if (call.Arguments.Reduction == Reduction.None)
        {
            // A second pass over the chunks, each row's gradient scaled by its upstream gradient.
            using var noGrad = torch.no_grad();
            var heads = call.Heads(saved);
            (_, _, gradients) = call.Run(heads, gradients: true, gradOutput.to(call.ComputeType), wanted);
            gradients = gradients.Select((g, i) => g?.to(saved[i].dtype)).ToArray();
        }
        else
        {
            var g = gradOutput.to(ScalarType.Float64).item<double>();
            var handedOut = (StrongBox<bool>)ctx.get_data("handedOut");
            var inputs = saved.Take(wanted.Length).ToList();
            List<Tensor> computed;
            if (handedOut.Value)
            {
                using var noGrad = torch.no_grad();
                computed = Reduced(call, inputs, wanted).Gradients;
            }
            else computed = saved.Skip(wanted.Length).ToList();
            for (int i = 0, k = 0; i < wanted.Length; i++)
                if (wanted[i]) gradients[i] = g == 1.0 ? LossAutograd.HandOut(computed[k++], handedOut) : TorchScalars.Mul(computed[k++], g);
        }
        // The bridge copies the gradients out of their native handles after backward returns (NativeHandoff).
        var result = gradients.Select(x => x is null ? null! : NativeHandoff.Made(scope.MoveToOuter(x))).ToList();
        result.Add(null!);
        GC.KeepAlive(gradOutput);
        return result;
    }
}
