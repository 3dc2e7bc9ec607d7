using System;
using System.Linq;
using System.Threading.Tasks;
using LossDsl.Runtime;
using LossDsl.Samples;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LossDsl.Tests;

using Losses = LossDsl.Samples.Losses;   // the sample class, not the namespace LossDsl.Losses (found first from LossDsl.Tests)

/// <summary>
/// The group kernels' launch paths on ILGPU's CPU accelerator, which simulates groups, warps and shared memory: staging
/// through accelerator buffers (the path of host tensors on a GPU), concurrent calls without a lock, and float32 accuracy
/// on long rows, where each group merges per-thread float accumulators. The gradient-truth suite covers every loss.
/// </summary>
public class IlgpuKernelTests
{
    private static (Tensor Loss, Tensor Grad) Run(Backend backend, Func<Tensor, Tensor> loss, Tensor x)
    {
        using var _ = LossBackend.Use(backend);
        var leaf = x.clone().requires_grad_(true);
        var value = loss(leaf);
        value.sum().backward();
        return (value.detach(), leaf.grad!);
    }

    public static TheoryData<string, nn.Reduction> Cases => new()
    {
        { "rows", nn.Reduction.Mean }, { "rows", nn.Reduction.None },
        { "sets", nn.Reduction.Mean }, { "sets", nn.Reduction.None },
        { "elementwise", nn.Reduction.Mean }, { "elementwise", nn.Reduction.Sum }, { "elementwise", nn.Reduction.None },
    };

    private static (Func<Tensor, Tensor> Loss, Tensor X) Case(string shape, nn.Reduction reduction)
    {
        var g = new Generator(11);
        switch (shape)
        {
            case "rows":
                var t = torch.randint(0, 300, new long[] { 37 }, generator: g);
                return (x => Losses.Poly1(x, t, reduction: reduction), torch.randn(37, 300, generator: g));
            case "sets":
                var y = torch.rand(2, 3, 9, 11, generator: g).gt(0.5).to(ScalarType.Float32);
                return (x => Losses.Tversky(x, y, reduction: reduction), torch.randn(2, 3, 9, 11, generator: g));
            default:
                var target = torch.rand(5, 1001, generator: g).gt(0.7).to(ScalarType.Float32);
                return (x => Losses.SigmoidFocal(x, target, reduction: reduction), torch.randn(5, 1001, generator: g) * 3);
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void StagedThroughAcceleratorBuffersMatchesTheCpuPath(string shape, nn.Reduction reduction)
    {
        var (loss, x) = Case(shape, reduction);
        var (expectedLoss, expectedGrad) = Run(Backend.Cpu, loss, x);
        LossAccelerator.StageHostTensors = true;
        try
        {
            var (stagedLoss, stagedGrad) = Run(Backend.Ilgpu, loss, x);
            Reference.Close(expectedLoss.to(ScalarType.Float64), stagedLoss.to(ScalarType.Float64), 1e-5, 1e-6, "loss");
            Reference.Close(expectedGrad.to(ScalarType.Float64), stagedGrad.to(ScalarType.Float64), 1e-5, 1e-7, "gradient");
        }
        finally
        {
            LossAccelerator.StageHostTensors = false;
        }
    }

    /// <summary>
    /// float16 and bfloat16 inputs are read in place and compute exactly what the float32 path computes on the same values
    /// converted to float32: the same float operations in the same order, so the loss and gradient are bitwise equal.
    /// The ILGPU kernels load them through their storage instantiations (BF16, F16); the fused CPU kernels widen a block
    /// of rows or elements at a time into a per-thread scratch (HalfRows). Neither makes a float32 copy of the input,
    /// except the CPU path on sets, whose chunks stride across the tensor.
    /// </summary>
    [Theory]
    [InlineData(Backend.Ilgpu, "rows", ScalarType.BFloat16)]
    [InlineData(Backend.Ilgpu, "rows", ScalarType.Float16)]
    [InlineData(Backend.Ilgpu, "sets", ScalarType.BFloat16)]
    [InlineData(Backend.Ilgpu, "elementwise", ScalarType.Float16)]
    [InlineData(Backend.Cpu, "rows", ScalarType.BFloat16)]
    [InlineData(Backend.Cpu, "rows", ScalarType.Float16)]
    [InlineData(Backend.Cpu, "sets", ScalarType.BFloat16)]
    [InlineData(Backend.Cpu, "elementwise", ScalarType.Float16)]
    [InlineData(Backend.Cpu, "elementwise", ScalarType.BFloat16)]
    public void HalfInputsAreLoadedInPlaceAndComputeAsFloat32(Backend backend, string shape, ScalarType half)
    {
        var (_, x) = Case(shape, nn.Reduction.None);
        var g = new Generator(5);
        Tensor? other = shape switch
        {
            "sets" => torch.rand(x.shape, generator: g).gt(0.5).to(half),
            "elementwise" => torch.rand(x.shape, generator: g).gt(0.7).to(half),
            _ => null,
        };
        var t = torch.randint(0, x.shape[^1], new long[] { x.shape[0] }, generator: g);
        Tensor Loss(Tensor z, Tensor? y) => shape switch
        {
            "rows" => Losses.Poly1(z, t, reduction: nn.Reduction.None),
            "sets" => Losses.Tversky(z, y!, reduction: nn.Reduction.None),
            _ => Losses.SigmoidFocal(z, y!, reduction: nn.Reduction.None),
        };
        var xh = x.to(half);
        var def = BackendChoiceTests.GeneratedDefinitionOf(shape switch { "rows" => nameof(Losses.Poly1), "sets" => nameof(Losses.Tversky), _ => nameof(Losses.SigmoidFocal) });
        var hyper = def.HyperNames.Select(_ => 0.5).ToArray();
        using (var call = LossCall.Bind(def, (other is null ? new object[] { xh, t } : new object[] { xh, other }).Append(new LossArguments(hyper, nn.Reduction.None, -100)).ToArray()))
        {
            Assert.Equal(half, call.StoredAs);
            var (_, gradients) = (backend == Backend.Cpu ? FusedBackend.Cpu : FusedBackend.Ilgpu).Run(call);
            bool convertsFirst = backend == Backend.Cpu && shape == "sets";
            Assert.Equal(convertsFirst ? ScalarType.Float32 : half, call.Prediction.dtype);   // in place: no float32 copy was made
            Assert.Equal(ScalarType.Float32, gradients[0]!.dtype);                             // the gradient is in the compute dtype
        }

        var (halfLoss, halfGrad) = Run(backend, z => Loss(z, other), xh);
        var (floatLoss, floatGrad) = Run(backend, z => Loss(z, other?.to(ScalarType.Float32)), xh.to(ScalarType.Float32));
        Assert.True(halfLoss.equal(floatLoss).all().item<bool>(), "loss");
        Assert.True(halfGrad.to(ScalarType.Float32).equal(floatGrad.to(half).to(ScalarType.Float32)).all().item<bool>(), "gradient");
    }

    /// <summary>bfloat16 widens to float32 as libtorch widens it, on the vector path and the scalar tail alike.</summary>
    [Fact]
    public void BFloat16WidensAsLibtorchDoes()
    {
        var values = torch.cat(new[] { torch.randn(997, generator: new Generator(3)) * 1e3, torch.tensor(new[] { float.PositiveInfinity, float.NegativeInfinity, float.NaN, 1e-40f, -0f }) });
        var bf16 = values.to(ScalarType.BFloat16);
        var bits = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(bf16.bytes.ToArray());
        var widened = new float[bits.Length];
        HalfRows.WidenBFloat16(bits, widened);
        var expected = bf16.to(ScalarType.Float32).data<float>().ToArray();
        for (int i = 0; i < bits.Length; i++)
            Assert.Equal(BitConverter.SingleToInt32Bits(expected[i]), BitConverter.SingleToInt32Bits(widened[i]));
    }

    /// <summary>
    /// The address the launcher gives the kernels for a CUDA tensor is libtorch's data_ptr(), which no CPU test can show on
    /// a CUDA tensor; on host tensors it must equal the address the CPU path uses, for every dtype and for a view that
    /// starts inside its storage.
    /// </summary>
    [Fact]
    public void DataPointerIsTheFirstElementsAddressForEveryDtypeAndOffset()
    {
        var x = torch.arange(0, 64, dtype: ScalarType.Float32).reshape(8, 8);
        foreach (var t in new[] { x, x.to(ScalarType.BFloat16), x.to(ScalarType.Float16), x.to(ScalarType.Int64), x.narrow(0, 3, 2) })
            Assert.Equal(TensorMemory.Pointer(t), TensorMemory.DataPointer(t));
    }

    /// <summary>Calls from several threads at once each rent their own lane (stream and buffers) and get their own results.</summary>
    [Fact]
    public void ConcurrentCallsGetTheirOwnResults()
    {
        var def = BackendChoiceTests.GeneratedDefinitionOf(nameof(Losses.Tversky));
        var inputs = Enumerable.Range(0, 8).Select(i =>
        {
            var g = new Generator((ulong)(100 + i));
            return (X: torch.randn(2, 3, 16, 16, generator: g), Y: torch.rand(2, 3, 16, 16, generator: g).gt(0.5).to(ScalarType.Float32));
        }).ToArray();
        (double[] Loss, float[] Grad) RunOn(Backend backend, int i)
        {
            var args = new LossArguments(new[] { 0.3, 0.7, 1.0, 1e-7 }, nn.Reduction.None, long.MinValue, backend);
            using var call = LossCall.Bind(def, new object[] { inputs[i].X, inputs[i].Y, args });
            var (loss, gradients) = LossBackend.Choose(call).Run(call);
            return (loss.to(ScalarType.Float64).data<double>().ToArray(), gradients[0]!.data<float>().ToArray());
        }
        var expected = Enumerable.Range(0, inputs.Length).Select(i => RunOn(Backend.Cpu, i)).ToArray();
        var actual = new (double[] Loss, float[] Grad)[inputs.Length];
        Parallel.For(0, inputs.Length, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i => actual[i] = RunOn(Backend.Ilgpu, i));
        for (int i = 0; i < inputs.Length; i++)
        {
            for (int k = 0; k < expected[i].Loss.Length; k++) Reference.Near(expected[i].Loss[k], actual[i].Loss[k], 1e-5, 1e-7, $"call {i}, loss {k}");
            for (int k = 0; k < expected[i].Grad.Length; k++) Reference.Near(expected[i].Grad[k], actual[i].Grad[k], 1e-5, 1e-7, $"call {i}, gradient {k}");
        }
    }

    /// <summary>
    /// float32 kernels on long rows, against the float64 reference on the same (float32) inputs: each thread accumulates in
    /// float, groups merge in float. On ILGPU's CPU accelerator a group has 16 threads, so each thread sums 2,000 of the
    /// 32,000 terms of Σ e^(x − max) in float; the sum's relative error, a few 10⁻⁶, becomes the softmax's. Measured: loss
    /// 2.5·10⁻⁷ relative, gradient 4.3·10⁻⁶ of the row's largest. Bounds: 2·10⁻⁶ and 10⁻⁵. (A GPU group of 256 threads sums
    /// 125 terms per thread.)
    /// </summary>
    [Fact]
    public void Float32RowsOf32000ClassesStayWithinTenMillionthsOfFloat64()
    {
        var g = new Generator(3);
        var x = torch.randn(4, 32000, generator: g) * 4;
        var t = torch.randint(0, 32000, new long[] { 4 }, generator: g);
        var (loss, grad) = Run(Backend.Ilgpu, z => Losses.Poly1(z, t, reduction: nn.Reduction.None), x);
        var (refLoss, refGrad) = Reference.Autograd(z =>
        {
            var logp = F.log_softmax(z, 1).gather(1, t.unsqueeze(1)).squeeze(1);
            return (-logp + (1 - logp.exp())).sum();
        }, x.to(ScalarType.Float64));
        var refRows = -F.log_softmax(x.to(ScalarType.Float64), 1).gather(1, t.unsqueeze(1)).squeeze(1);
        refRows = refRows + (1 - (-refRows).exp());
        double lossErr = ((loss.to(ScalarType.Float64) - refRows).abs() / refRows.abs()).max().item<double>();
        double gradErr = ((grad.to(ScalarType.Float64) - refGrad).abs().amax(1) / refGrad.abs().amax(1)).max().item<double>();
        Assert.True(lossErr < 2e-6, $"loss relative error {lossErr:E2}");
        Assert.True(gradErr < 1e-5, $"gradient error {gradErr:E2} of the row's largest");
    }
}
