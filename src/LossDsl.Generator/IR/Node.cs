namespace LossDsl.Generator.IR;

/// <summary>
/// One node of the loss IR. Nodes live in a <see cref="Graph"/> and name their operands by index, so a graph is
/// a DAG in topological order: every operand index is smaller than the node's own index.
/// </summary>
/// <param name="Op">The operation.</param>
/// <param name="A">First operand, or -1.</param>
/// <param name="B">Second operand, or -1.</param>
/// <param name="C">Third operand (Select's else), or -1.</param>
/// <param name="Slot">Parameter index for leaves, span index for Elem and At.</param>
/// <param name="Value">The value of a Const.</param>
public sealed record Node(Op Op, int A = -1, int B = -1, int C = -1, int Slot = 0, double Value = 0)
{
    public int OperandCount => C >= 0 ? 3 : B >= 0 ? 2 : A >= 0 ? 1 : 0;

    public int Operand(int i) => i switch { 0 => A, 1 => B, _ => C };
}
