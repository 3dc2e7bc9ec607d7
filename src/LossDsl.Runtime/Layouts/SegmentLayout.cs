namespace LossDsl.Runtime;

/// <summary>
/// How a layout splits a prediction of given dimensions into segments (rows, sets or elements): the kernels'
/// <see cref="KernelShape"/>, the shape of the loss per segment (reduction None, in the caller's layout), the shape an
/// upstream per-segment value is viewed as to broadcast over the prediction's gradient (in the caller's layout), and the
/// count Mean divides by before ignored rows and weights. Made by <see cref="LossLayout.Segments"/>; it needs no tensor,
/// so that a launcher can lay out raw device memory too.
/// </summary>
public sealed record SegmentLayout(KernelShape Shape, long[] PerSegment, long[] GradientBroadcast, long Count);
