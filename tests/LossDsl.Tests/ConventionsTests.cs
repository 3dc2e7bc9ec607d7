using System;
using System.Linq;
using System.Reflection;
using LossDsl.Runtime;
using LossDsl.Samples;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LossDsl.Tests;

using Losses = LossDsl.Samples.Losses;

/// <summary>The generated API follows TorchSharp's losses: names, order, defaults, module base and properties, and argument checks.</summary>
public class ConventionsTests
{
    [Fact]
    public void OptionsFollowCrossEntropysNamesOrderAndDefaults()
    {
        var ce = typeof(nn.functional).GetMethods().Single(m => m.Name == "cross_entropy").GetParameters();
        var ours = typeof(Losses).GetMethods().Single(m => m.Name == nameof(Losses.Poly1) && m.ReturnType == typeof(Tensor)).GetParameters();
        // (logits, target, weight, ignore_index, reduction, then the loss's own hyperparameters where cross_entropy has label_smoothing)
        for (int i = 1; i < 5; i++)
        {
            Assert.Equal(ce[i].Name, ours[i].Name);
            Assert.Equal(Nullable.GetUnderlyingType(ce[i].ParameterType) ?? ce[i].ParameterType, Nullable.GetUnderlyingType(ours[i].ParameterType) ?? ours[i].ParameterType);
            if (i > 1) Assert.Equal(ce[i].DefaultValue, ours[i].DefaultValue);
        }
        Assert.Equal("epsilon", ours[5].Name);
    }

    [Fact]
    public void ModulesDeriveFromTorchSharpsLossBasesWithItsPropertyNames()
    {
        var w = tensor(new[] { 1.0f, 2.0f, 0.5f });
        var poly = new Losses.Poly1Loss(weight: w, ignore_index: 2, reduction: nn.Reduction.Sum, epsilon: 0.5);
        Assert.IsAssignableFrom<WeightedLoss<Tensor, Tensor, Tensor>>(poly);
        Assert.Same(w, poly.weight);
        Assert.Equal(2L, poly.ignore_index);
        Assert.Equal(nn.Reduction.Sum, poly.reduction);
        Assert.Equal(0.5, poly.epsilon);

        var tversky = new Losses.TverskyLoss(reduction: nn.Reduction.None, alpha: 0.3);
        Assert.IsAssignableFrom<Loss<Tensor, Tensor, Tensor>>(tversky);
        Assert.Equal(nn.Reduction.None, tversky.reduction);
        Assert.Null(tversky.ignore_index);

        // The module's forward is the functional form with the module's options.
        var logits = randn(6, 3, generator: new Generator(1));
        var target = tensor(new long[] { 0, 1, 2, 2, 1, 0 });
        var expected = Losses.Poly1(logits, target, weight: w, ignore_index: 2, reduction: nn.Reduction.Sum, epsilon: 0.5);
        Reference.Near(expected.item<float>(), poly.call(logits, target).item<float>(), 1e-6, 0, "the module's forward");

        // Hyperparameters are settable between steps (a schedule); the next forward uses the new value.
        poly.epsilon = 2.0;
        var scheduled = Losses.Poly1(logits, target, weight: w, ignore_index: 2, reduction: nn.Reduction.Sum, epsilon: 2.0);
        Reference.Near(scheduled.item<float>(), poly.call(logits, target).item<float>(), 1e-6, 0, "the module's forward after a schedule step");
    }

    [Fact]
    public void HyperparametersOutsideTheirDeclaredRangeThrowAsCrossEntropyDoes()
    {
        var logits = randn(4, 3, generator: new Generator(2));
        var target = tensor(new long[] { 0, 1, 2, 1 });
        // libtorch rejects label_smoothing outside [0, 1]; the generated overloads check [Range] the same way, before any work.
        Assert.ThrowsAny<Exception>(() => F.cross_entropy(logits, target, label_smoothing: 2).item<float>());

        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Losses.Poly1(logits, target, epsilon: -2));
        Assert.Equal("epsilon", e.ParamName);
        Assert.Contains("Poly1: epsilon = -2 is outside its valid range [-1, ∞)", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Losses.Poly1(logits, target, epsilon: double.NaN));
        Assert.True(float.IsFinite(Losses.Poly1(logits, target, epsilon: -1).item<float>()));   // the bound itself is inside

        // Exclusive bounds: eps and temperature must be strictly positive.
        var probs = randn(2, 1, 4, 4, generator: new Generator(3));
        var mask = (rand(2, 1, 4, 4, generator: new Generator(4)) > 0.5).to(ScalarType.Float32);
        var t = Assert.Throws<ArgumentOutOfRangeException>(() => { Losses.Tversky(probs, mask, eps: 0); });
        Assert.Contains("(0, ∞)", t.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new Losses.SupConLoss(temperature: 0).call(randn(4, 4), tensor(new long[] { 0, 0, 1, 1 })));

        // The fused linear form checks them too.
        Assert.Throws<ArgumentOutOfRangeException>(() => Losses.Poly1Linear(randn(4, 5), randn(3, 5), null, target, epsilon: -3));
    }

    [Fact]
    public void GeneratedOptionNamesAreTorchSharps()
    {
        var names = typeof(Losses).GetMethods(BindingFlags.Public | BindingFlags.Static)
            .Where(m => m.ReturnType == typeof(Tensor)).SelectMany(m => m.GetParameters()).Select(p => p.Name!).ToHashSet();
        Assert.Contains("ignore_index", names);
        Assert.Contains("chunk_rows", names);
        Assert.DoesNotContain("ignoreIndex", names);
        Assert.DoesNotContain("chunkRows", names);
    }
}
