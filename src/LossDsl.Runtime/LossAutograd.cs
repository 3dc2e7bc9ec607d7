using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LossDsl.Runtime;

/// <summary>
/// The shared body of every generated torch.autograd function. Forward validates the tensors, lets
/// <see cref="LossBackend"/> choose a backend, runs it once (loss and gradient together) and saves the gradient;
/// backward scales it by the upstream gradient. Under <c>backward(create_graph: true)</c>, backward instead
/// recomputes the derived gradient from the saved inputs as differentiable torch ops, so second derivatives are exact.
/// </summary>
public static class LossAutograd
{
    private const string SavedDefinition = "lossdsl.definition";
    private const string SavedArguments = "lossdsl.arguments";
    private const string SavedLayout = "lossdsl.layout";

    /// <summary>
    /// What the generated overloads pass as the prediction: a leaf tensor that requires grad is passed as a view.
    /// TorchSharp keeps a .NET handle on the gradient a custom function returns, so for a leaf autograd would
    /// copy it into <c>.grad</c>; through a view, the gradient flows on without that copy.
    /// </summary>
    public static Tensor Prediction(Tensor prediction)
        => prediction is { IsInvalid: false, requires_grad: true, is_leaf: true } ? prediction.view(prediction.shape) : prediction;

    public static Tensor Forward(autograd.AutogradContext ctx, LossDefinition def, object[] vars)
    {
        using var call = LossCall.Bind(def, vars);
        // The gradient stays in the compute dtype until backward has applied the upstream gradient, so a half-precision
        // prediction's gradient is rounded once, as under PyTorch's autocast.
        var (loss, rowGradient) = LossBackend.Choose(call).Run(call);
        var grad = call.ToCallerLayout(rowGradient);

        Tensor result;
        switch (call.Arguments.Reduction)
        {
            case Reduction.None:
                result = loss.reshape(call.PerSegmentShape);
                break;
            case Reduction.Sum:
                result = loss.sum();
                break;
            default:
                // Accumulate in float64: on the CPU in place (no float64 copy of the per-segment losses); on another
                // device with a float64 sum that stays there (no host round trip).
                result = LossBackend.DeviceOf(loss) == DeviceType.CPU
                    ? torch.tensor(LossSum.Sum(loss) / call.ReductionCount, dtype: loss.dtype, device: loss.device)
                    : (loss.sum(ScalarType.Float64) / call.ReductionCount).to(loss.dtype);
                break;
        }
        // The inputs are saved too: backward(create_graph: true) recomputes the gradient from them.
        ctx.save_for_backward(new List<Tensor> { grad }.Concat(vars.Take(def.TensorNames.Length).Cast<Tensor>()).ToList());
        ctx.save_data(SavedDefinition, def);
        ctx.save_data(SavedArguments, vars[^1]);
        ctx.save_data(SavedLayout, call.GradientBroadcastShape);
        return result;
    }

    public static List<Tensor> Backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var saved = ctx.get_saved_variables();
        var def = (LossDefinition)ctx.get_data(SavedDefinition);
        var args = (LossArguments)ctx.get_data(SavedArguments);
        // Grad mode is on in backward only when the caller asked for create_graph: then the gradient must itself be
        // differentiable, so it is recomputed from the inputs by the torch-ops form under grad mode.
        var grad = torch.is_grad_enabled() ? DifferentiableGradient(def, args, saved) : saved[0];
        Tensor result;
        if (args.Reduction == Reduction.None)
        {
            // One upstream value per row, set or element: broadcast it over that segment's gradient.
            var shape = (long[])ctx.get_data(SavedLayout);
            result = grad * gradOutput.to(grad.dtype).reshape(shape);
        }
        else if (torch.is_grad_enabled() || gradOutput.requires_grad)
            result = grad * gradOutput.to(grad.dtype);
        else
        {
            // The forward already applied 1/count for Mean; a unit upstream gradient needs no extra pass.
            var g = gradOutput.to(ScalarType.Float64).item<double>();
            result = g == 1.0 ? grad : grad * g;
        }
        var prediction = saved[1];
        if (result.dtype != prediction.dtype) result = result.to(prediction.dtype);
        // One entry per forward argument: the prediction's gradient, nothing for targets and options.
        var grads = new List<Tensor> { result };
        for (int i = 0; i < def.TensorNames.Length; i++) grads.Add(null!);
        return grads;
    }

    private static Tensor DifferentiableGradient(LossDefinition def, LossArguments args, IList<Tensor> saved)
    {
        var vars = saved.Skip(1).Cast<object>().Append(args).ToArray();
        using var call = LossCall.Bind(def, vars);
        return call.ToCallerLayout(TorchOpsBackend.Instance.Run(call, createGraph: true).Gradient);
    }
}
