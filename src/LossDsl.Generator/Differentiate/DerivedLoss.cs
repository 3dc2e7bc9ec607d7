using System.Collections.Generic;
using System.Linq;
using LossDsl.Generator.IR;
using LossDsl.Generator.Model;

namespace LossDsl.Generator.Differentiate;

/// <summary>∂L/∂<paramref name="Variable"/> = node <paramref name="Value"/> (a reduction or a row entry <c>z[t]</c>).</summary>
public sealed record Adjoint(int Variable, int Value);

/// <summary>
/// The differentiate stage's output: one graph holding the loss and its gradient with respect to the
/// prediction, the first data parameter.
/// </summary>
/// <param name="Loss">Node of the loss value (outer scope).</param>
/// <param name="Gradient">
/// Node of ∂L/∂x: element scope (per element of the row or set) for span losses, outer scope for elementwise ones.
/// </param>
/// <param name="Adjoints">The total derivative of the loss with respect to each reduction and row entry it uses.</param>
/// <param name="Gradients">
/// One node per data parameter, in declaration order: ∂L/∂ that parameter (element scope for a span, outer scope for a
/// per-row or elementwise value), or −1 for a class-index target. Entry 0 is <paramref name="Gradient"/>. The fused
/// kernels compute the prediction's gradient; the torch-ops form computes every one.
/// </param>
public sealed record DerivedLoss(LossSignature Signature, Graph Graph, int Loss, int Gradient, EquatableArray<Adjoint> Adjoints, EquatableArray<int> Gradients)
{
    /// <summary>Whether the loss reduces across its segments, classes or anchors (<see cref="Op.Across"/>): one value per call or per image.</summary>
    public bool ReducesAcross => Graph.Nodes.Any(n => n.Op == Op.Across);

    /// <summary>Every node the later stages name: the loss, the gradients, and each adjoint's variable and value.</summary>
    public List<int> Roots()
    {
        var roots = new List<int> { Loss, Gradient };
        roots.AddRange(Gradients.Where(g => g >= 0));
        foreach (var a in Adjoints) { roots.Add(a.Variable); roots.Add(a.Value); }
        return roots;
    }

    /// <summary>The same loss over <paramref name="graph"/>, where node i of this graph is node <paramref name="map"/>[i] (−1 stays −1).</summary>
    public DerivedLoss Remapped(Graph graph, EquatableArray<int> map)
    {
        int At(int i) => i < 0 ? i : map[i];
        return this with
        {
            Graph = graph,
            Loss = At(Loss),
            Gradient = At(Gradient),
            Adjoints = Adjoints.Select(a => new Adjoint(At(a.Variable), At(a.Value))).ToEquatableArray(),
            Gradients = Gradients.Select(At).ToEquatableArray(),
        };
    }
}
