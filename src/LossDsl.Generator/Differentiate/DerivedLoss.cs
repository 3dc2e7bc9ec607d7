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
public sealed record DerivedLoss(LossSignature Signature, Graph Graph, int Loss, int Gradient, EquatableArray<Adjoint> Adjoints, EquatableArray<int> Gradients);
