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
/// The shared body of every generated torch.autograd function. Forward validates the tensors, lets
/// <see cref="LossBackend"/> choose a backend, runs it once (loss and gradients together) and saves the gradients:
/// the prediction's, and every other float tensor's that requires grad. Backward scales them by the upstream
/// gradient. Under <c>backward(create_graph: true)</c>, backward instead recomputes the derived gradients from the
/// saved inputs as differentiable torch ops, so second derivatives are exact.
/// </summary>
public static class LossAutograd
{
    private const string SavedDefinition = "lossdsl.definition";
    private const string SavedArguments = "lossdsl.arguments";
    private const string SavedLayout = "lossdsl.layout";
    private const string SavedGradients = "lossdsl.gradients";
    private const string SavedPixels = "lossdsl.pixels";
    private const string SavedBackend = "lossdsl.backend";
    private const string SavedHandedOut = "lossdsl.handedOut";
    private const string SavedShard = "lossdsl.shard";

    /// <summary>
    /// What the generated overloads pass as the prediction: a leaf tensor that requires grad is passed as a view.
    /// TorchSharp keeps a .NET handle on the gradient a custom function returns, so for a leaf autograd would
    /// copy it into <c>.grad</c>; through a view, the gradient flows on without that copy.
    /// </summary>
    public static Tensor Prediction(Tensor prediction)
        => prediction is { IsInvalid: false, requires_grad: true, is_leaf: true } ? prediction.view(prediction.shape) : prediction;

    /// <summary>
    /// What the generated overloads (and the fused linear form) return: the autograd function's output, times a saved
    /// 0-dim one when it has a graph. TorchSharp's custom-function node never releases what it saved (its native node
    /// does not override <c>release_variables</c>), so a second backward without <c>retain_graph</c> would run it again
    /// and add the gradients once more. The multiply is a native node, whose saved one the engine frees after a backward
    /// without <c>retain_graph</c>: a second backward then stops there, before this loss's node, with torch's own error
    /// ("Trying to backward through the graph a second time …"), and no gradient changes. Exact: x·1 = x and g·1 = g.
    /// First it lets go of the tensors that forward kept reachable while TorchSharp's bridge read their native handles
    /// (<see cref="NativeHandoff"/>); the operands of the multiply stay reachable until it has returned.
    /// </summary>
    public static Tensor Output(Tensor loss)
    {
        NativeHandoff.Release();
        if (!loss.requires_grad) return loss;
        using var one = torch.ones(Array.Empty<long>(), loss.dtype, loss.device);
        var result = loss * one;
        GC.KeepAlive(loss);
        return result;
    }

    public static Tensor Forward(autograd.AutogradContext ctx, LossDefinition def, object[] vars)
    {
        NativeHandoff.Release();
        // Every tensor made here belongs to this scope until forward returns, so that none is left to the finalizer while
        // native code may still read it; what outlives forward (the output, the saved tensors) moves out at the end.
        using var scope = torch.NewDisposeScope();
        using var call = LossCall.Bind(def, vars);
        // Gradients stay in the compute dtype until backward has applied the upstream gradient, so a half-precision
        // tensor's gradient is rounded once, as under PyTorch's autocast.
        var backend = LossBackend.Choose(call);
        var (rawLoss, rawGradients) = backend.Run(call);
        call.CountPositiveRows(rawLoss);
        var loss = call.Weighted(rawLoss);
        var gradients = call.CallerGradients(rawGradients);

        Tensor result;
        switch (call.Arguments.Reduction)
        {
            case Reduction.None:
                result = loss.reshape(call.PerSegmentShape);
                break;
            case Reduction.Sum:
                // Partial sums (float64) from a backend are summed in float64 too.
                result = call.LossIsPartialSums ? loss.sum().to(call.DType) : loss.sum();
                break;
            default:
                // Accumulate in float64: on the CPU in place (no float64 copy of the per-segment losses); on another
                // device with a float64 sum that stays there (no host round trip).
                result = LossBackend.DeviceOf(loss) == DeviceType.CPU
                    ? torch.tensor(LossSum.Sum(loss) / call.ReductionCount, dtype: call.DType, device: loss.device)
                    : TorchScalars.Div(loss.sum(ScalarType.Float64), call.ReductionCount).to(call.DType);
                break;
        }
        // Data parallel: each rank holds some segments, so Sum and Mean (already over the global count) add over the ranks.
        // The all-reduce's backward is the identity: every rank's gradient is its own segments' part of the global loss's.
        if (call.SegmentsSharded && call.Arguments.Reduction != Reduction.None)
        {
            result = result.contiguous();
            call.Shard!.Collective.AllReduce(result, CollectiveOp.Sum);
        }
        // Saved: the inputs (backward(create_graph: true) recomputes the gradients from them), then each computed gradient.
        int n = def.TensorNames.Length;
        var computed = Enumerable.Range(0, n).Where(i => gradients[i] is not null).ToArray();
        // A multiclass loss's per-pixel statistics from the fused kernels, for backward's softmax Jacobian.
        var pixels = def.Layout.Multiclass ? call.TakePixelStatistics() : null;
        var extra = pixels is var (lse, cls) ? new[] { lse, cls } : Array.Empty<Tensor>();
        var save = vars.Take(n).Cast<Tensor>().Concat(computed.Select(i => gradients[i]!)).Concat(extra).ToList();
        scope.MoveToOuter(save.Append(result));
        // The saved tensors stay referenced by ctx; the inputs and the output until apply has wrapped the output.
        ctx.save_for_backward(save);
        ctx.save_data(SavedPixels, pixels is not null);
        ctx.save_data(SavedDefinition, def);
        ctx.save_data(SavedArguments, vars[^1]);
        ctx.save_data(SavedGradients, computed);
        ctx.save_data(SavedLayout, call.GradientBroadcastShape);
        ctx.save_data(SavedBackend, backend);
        ctx.save_data(SavedHandedOut, new StrongBox<bool>());
        ctx.save_data(SavedShard, call.Shard!);
        NativeHandoff.Held(vars);
        return NativeHandoff.Made(result);
    }

    public static List<Tensor> Backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        NativeHandoff.Release();
        // As in forward: what is made here is disposed when backward returns, except the gradients, which TorchSharp's
        // bridge copies out of their native handles after backward has returned, so they are kept (NativeHandoff).
        using var scope = torch.NewDisposeScope();
        var saved = ctx.get_saved_variables();
        var def = (LossDefinition)ctx.get_data(SavedDefinition);
        var args = (LossArguments)ctx.get_data(SavedArguments);
        int n = def.TensorNames.Length;
        var inputs = saved.Take(n).ToArray();
        // Grad mode is on in backward only when the caller asked for create_graph: then the gradients must themselves be
        // differentiable, so they are recomputed from the inputs by the torch-ops form under grad mode.
        var gradients = new Tensor?[n];
        // A recomputation is sharded as forward was, even when backward runs outside the LossSharding scope.
        using var sharded = ctx.get_data(SavedShard) is Shard shard ? LossSharding.Over(shard.Collective, shard.Axis) : null;
        if (torch.is_grad_enabled()) gradients = Gradients(def, args, inputs, call => TorchOpsBackend.Instance.Run(call, createGraph: true));
        // A saved gradient handed out as it is (HandOut) may since have been changed in place through the caller's .grad,
        // so a later backward through a retained graph computes the gradients again, as forward did.
        else if (((StrongBox<bool>)ctx.get_data(SavedHandedOut)).Value) gradients = Gradients(def, args, inputs, ((ILossBackend)ctx.get_data(SavedBackend)).Run);
        else
        {
            var computed = (int[])ctx.get_data(SavedGradients);
            for (int k = 0; k < computed.Length; k++) gradients[computed[k]] = saved[n + k];
        }

        // One entry per forward argument: a gradient for each differentiated tensor, nothing for targets and options.
        var result = new List<Tensor>();
        for (int i = 0; i < n; i++)
        {
            if (gradients[i] is not { } g) { result.Add(null!); continue; }
            var upstream = Upstream(ctx, def, args, i, g, gradOutput);
            if (def.Layout.Multiclass && i == 0)
                upstream = SoftmaxJacobian(args, inputs, upstream, (bool)ctx.get_data(SavedPixels) ? (saved[^2], saved[^1]) : null);
            result.Add(NativeHandoff.Made(scope.MoveToOuter(upstream.to(inputs[i].dtype))));
        }
        result.Add(null!);
        GC.KeepAlive(gradOutput);
        return result;
    }

    /// <summary>A saved gradient times the upstream gradient of the loss.</summary>
    private static Tensor Upstream(autograd.AutogradContext ctx, LossDefinition def, LossArguments args, int i, Tensor grad, Tensor gradOutput)
    {
        if (args.Reduction == Reduction.None)
        {
            // One upstream value per row, set or element: a span's gradient broadcasts it over the segment's
            // elements, a per-row or elementwise value's gradient has the upstream's own shape.
            var shape = def.Roles[i] == TensorRole.Span ? (long[])ctx.get_data(SavedLayout) : grad.shape;
            return grad * gradOutput.to(grad.dtype).reshape(shape);
        }
        if (torch.is_grad_enabled() || gradOutput.requires_grad) return grad * gradOutput.to(grad.dtype);
        // The forward already applied 1/count for Mean; a unit upstream gradient needs no extra pass.
        var g = gradOutput.to(ScalarType.Float64).item<double>();
        return g == 1.0 ? HandOut(grad, (StrongBox<bool>)ctx.get_data(SavedHandedOut)) : TorchScalars.Mul(grad, g);
    }

    /// <summary>
    /// A saved gradient returned from backward as it is, without a copy (autograd then keeps its memory as the input's
    /// .grad), and marked as handed out, so that a later backward through a retained graph does not read it again.
    /// <para>
    /// Without this the caller's .grad and the saved gradient were one tensor: the engine's accumulation in a second
    /// retained backward (or any in-place change of .grad, such as clipping or zero_) changed the saved gradient, and
    /// the third backward either read the changed values or, through the version counter they share, raised
    /// "modified by an inplace operation" inside the autograd callback, which ends the process. So the tensor returned
    /// shares the saved gradient's memory but not its version counter (<c>set_</c> on a new tensor), and once a
    /// gradient has been handed out, backward recomputes the gradients from the saved inputs instead.
    /// </para>
    /// </summary>
    internal static Tensor HandOut(Tensor saved, StrongBox<bool> handedOut)
    {
        handedOut.Value = true;
        return torch.empty(0, saved.dtype, saved.device).set_(saved);
    }

    /// <summary>
    /// A multiclass set loss's logits gradient from the backends' a = p·∂L/∂p + ∂L/∂log p, after the upstream gradient
    /// (which may differ per class set, so it must come first): ∂L/∂z_c = a_c − p_c·Σ_k a_k at each pixel, 0 where the
    /// pixel is ignored. On host memory with the fused kernels' statistics, one vectorized pass; otherwise torch ops,
    /// differentiable under create_graph.
    /// </summary>
    private static Tensor SoftmaxJacobian(LossArguments args, Tensor[] inputs, Tensor a, (Tensor LogSumExp, Tensor Classes)? pixels)
    {
        var logits = inputs[0];
        if (pixels is var (lse, cls) && !torch.is_grad_enabled() && a.device_type == DeviceType.CPU && a.dtype == lse.dtype && a.is_contiguous())
        {
            using var z = logits.to(a.dtype).contiguous();
            var dz = torch.empty_like(a);
            unsafe
            {
                long images = z.shape[0], classes = z.shape[1], perImage = z.numel() / Math.Max(1, images * classes);
                if (a.dtype == ScalarType.Float32)
                    PixelSoftmax.Jacobian((float*)TensorMemory.Pointer(z), (float*)TensorMemory.Pointer(a), (float*)TensorMemory.Pointer(lse), (float*)TensorMemory.Pointer(cls), (float*)TensorMemory.Pointer(dz), images, classes, perImage);
                else
                    PixelSoftmax.Jacobian((double*)TensorMemory.Pointer(z), (double*)TensorMemory.Pointer(a), (double*)TensorMemory.Pointer(lse), (double*)TensorMemory.Pointer(cls), (double*)TensorMemory.Pointer(dz), images, classes, perImage);
            }
            GC.KeepAlive(a);
            return dz;
        }
        using var scope = torch.NewDisposeScope();
        var p = torch.nn.functional.softmax(logits.to(a.dtype), 1);
        var gradient = a - p * a.sum(1, keepdim: true);
        if (inputs.Length < 2) return gradient.MoveToOuterDisposeScope();   // no class mask: every pixel kept
        var kept = TorchScalars.With(args.IgnoreIndex, inputs[1].ne).unsqueeze(1);
        return torch.where(kept, gradient, torch.zeros(1, a.dtype, a.device)).MoveToOuterDisposeScope();
    }

    /// <summary>The gradients forward computes, computed again from the saved inputs by <paramref name="run"/>.</summary>
    private static Tensor?[] Gradients(LossDefinition def, LossArguments args, Tensor[] inputs, Func<LossCall, (Tensor Loss, Tensor?[] Gradients)> run)
    {
        using var call = LossCall.Bind(def, inputs.Cast<object>().Append(args).ToArray());
        var (loss, gradients) = run(call);
        call.CountPositiveRows(loss);
        return call.CallerGradients(gradients);
    }
}
