using LossDsl.Samples;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LossDsl.Tests;

public class SmokeTests
{
    [Fact]
    public void Poly1RunsForwardAndBackward()
    {
        var x = torch.randn(4, 5, dtype: ScalarType.Float64).requires_grad_(true);
        var t = torch.tensor(new long[] { 0, 1, 2, 4 });
        var loss = Losses.Poly1(x, t, epsilon: 1.0);
        loss.backward();
        var (refValue, refGrad) = Reference.Autograd(z =>
        {
            var logp = nn.functional.log_softmax(z, 1).gather(1, t.unsqueeze(1)).squeeze(1);
            return (-logp + 1.0 * (1 - logp.exp())).mean();
        }, x);
        Reference.Close(refValue, loss.detach(), 1e-9, 1e-12, "value");
        Reference.Close(refGrad, x.grad!, 1e-9, 1e-12, "grad");
    }
}
