using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LossDsl.Runtime;

/// <summary>
/// The shared body of every generated torch.autograd function. Forward validates the tensors, runs the
/// generated kernels once (loss and gradient together) and saves the gradient; backward scales it by the
/// upstream gradient.
/// </summary>
public static class LossAutograd
{
    private const string SavedReduction = "lossdsl.reduction";
    private const string SavedLayout = "lossdsl.layout";
    private const string SavedArgumentCount = "lossdsl.arguments";
    private static int s_warnedDoubleBackward;

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
        var (loss, grad) = LossBackend.Current == Backend.Ilgpu ? KernelLauncher.Run(call) : CpuLauncher.Run(call);

        Tensor result;
        double count = call.ReductionCount;
        switch (call.Arguments.Reduction)
        {
            case Reduction.None:
                result = loss.reshape(call.LossShape);
                break;
            case Reduction.Sum:
                result = loss.sum();
                break;
            default:
                // Accumulate in float64, in place (no float64 copy of the per-segment losses).
                result = torch.tensor(LossSum.Sum(loss) / count, dtype: loss.dtype);
                break;
        }
        ctx.save_for_backward(new List<Tensor> { grad });
        ctx.save_data(SavedReduction, call.Arguments.Reduction);
        ctx.save_data(SavedLayout, call.GradientBroadcastShape);
        ctx.save_data(SavedArgumentCount, vars.Length);
        return result;
    }

    public static List<Tensor> Backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        // The saved gradient has no graph of its own, so second derivatives through it are zero. An exception here
        // would be thrown inside libtorch's autograd engine and end the process, so say it once, loudly, instead.
        if (torch.is_grad_enabled() && Interlocked.Exchange(ref s_warnedDoubleBackward, 1) == 0)
            Console.Error.WriteLine("LossDsl: backward(create_graph: true) through a LossDsl loss: the first derivative is exact, " +
                                    "but the loss is differentiable once, so second derivatives through it are zero.");
        var grad = ctx.get_saved_variables()[0];
        var reduction = (Reduction)ctx.get_data(SavedReduction);
        Tensor result;
        if (reduction == Reduction.None)
        {
            // One upstream value per row, set or element: broadcast it over that segment's gradient.
            var shape = (long[])ctx.get_data(SavedLayout);
            result = grad * gradOutput.to(grad.dtype).reshape(shape);
        }
        else
        {
            // The kernel already applied 1/count for Mean; a unit upstream gradient needs no extra pass.
            var g = gradOutput.to(ScalarType.Float64).item<double>();
            result = g == 1.0 ? grad : grad * g;
        }
        // One entry per forward argument: the prediction's gradient, nothing for targets and options.
        var grads = new List<Tensor> { result };
        for (int i = 1; i < (int)ctx.get_data(SavedArgumentCount); i++) grads.Add(null!);
        return grads;
    }
}
