// Segmentation: a small U-Net trained on synthetic shapes (circles, squares and triangles on a noisy background) with
// the multiclass Dice + cross-entropy loss declared in Losses.cs. Prints the IoU per class after each epoch and saves
// input | true mask | prediction for a few test images.
//
// Run:  dotnet run --project samples/Segmentation -c Release [-- outdir] [--quick]

LossDsl.Samples.Segmentation.OneDnn.LimitIsa();   // before libtorch runs a convolution (OneDnn.cs)
return LossDsl.Samples.Segmentation.SegmentationSample.CommandLine(args);
