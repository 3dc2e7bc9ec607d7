// MlpTraining: an ordinary TorchSharp training loop (MLP + Adam + mini-batches) whose criterion is the
// Poly-1 loss that LossDsl generated from the one-line [Loss] method in ../LossDsl.Samples/Losses.cs.
// Everything else is plain TorchSharp; swapping the loss in is a one-line change (see "criterion" below).
//
// Run:  dotnet run --project samples/MlpTraining -c Release
//       [-- --dtype float32|float16|bfloat16] [--backend auto|cpu|ilgpu|torchops] [--quick]
//
// --dtype float16 or bfloat16 trains the whole model in that dtype on the CPU: the loss computes in float32 and
// returns its gradient in the model's dtype, as under PyTorch's autocast. --backend forces where the loss runs
// (docs/backends.md); the default lets LossDsl choose. --quick trains 3 epochs instead of 15 (CI's samples check).

using System;
using System.Diagnostics;
using System.Linq;
using LossDsl.Runtime;
using LossDsl.Samples;
using TorchSharp;
using static TorchSharp.torch;

const int Classes = 3, PointsPerClass = 1500, BatchSize = 128;
const double LearningRate = 0.005;

int epochs = args.Contains("--quick") ? 3 : 15;
args = args.Where(a => a != "--quick").ToArray();
var dtype = ScalarType.Float32;
var backend = Backend.Auto;
for (int i = 0; i + 1 < args.Length; i += 2)
{
    switch (args[i])
    {
        case "--dtype" when args[i + 1] is "float32" or "float16" or "bfloat16":
            dtype = args[i + 1] switch { "float16" => ScalarType.Float16, "bfloat16" => ScalarType.BFloat16, _ => ScalarType.Float32 };
            break;
        case "--backend" when Enum.TryParse<Backend>(args[i + 1], ignoreCase: true, out var b):
            backend = b;
            break;
        default:
            Console.Error.WriteLine($"Unknown option {args[i]} {args[i + 1]}; use --dtype float32|float16|bfloat16, --backend auto|cpu|ilgpu|torchops and --quick.");
            return 2;
    }
}
if (args.Length % 2 == 1)
{
    Console.Error.WriteLine($"Option {args[^1]} needs a value.");
    return 2;
}

var clock = Stopwatch.StartNew();

// Seed everything, so every run prints the same table.
torch.manual_seed(42);
var rng = new Random(42);

// The model is tiny: one CPU thread for TorchSharp's ops is faster than several (less sync overhead).
torch.set_num_threads(1);

// ---- Data: three interleaved 2-D spirals with noise, shuffled, then split 80% train / 20% test. ----
var (points, labels) = MakeSpirals(Classes, PointsPerClass, noise: 0.3, rng);
int nTrain = points.GetLength(0) * 4 / 5;
var allX = torch.tensor(points).to(dtype);             // [N, 2] in the training dtype
var allY = torch.tensor(labels);                       // [N]    int64 class indices
var (trainX, trainY) = (allX[..nTrain], allY[..nTrain]);
var (testX, testY) = (allX[nTrain..], allY[nTrain..]);

// ---- Model: 2 -> 64 -> 64 -> 3, ReLU between the layers; outputs raw logits. ----
var model = nn.Sequential(
    nn.Linear(2, 64), nn.ReLU(),
    nn.Linear(64, 64), nn.ReLU(),
    nn.Linear(64, Classes));
model.to(dtype);
// float16 cannot hold Adam's default eps (1e-8 underflows to 0); 1e-4 is the usual half-precision choice.
var optimizer = optim.Adam(model.parameters(), lr: LearningRate, eps: dtype == ScalarType.Float16 ? 1e-4 : 1e-8);

// LossDsl: the one changed line (was: var criterion = nn.CrossEntropyLoss();)
var criterion = new Losses.Poly1Loss(epsilon: 1.0, backend: backend);

Console.WriteLine($"Spirals: {Classes} classes, {trainX.shape[0]} train / {testX.shape[0]} test points; "
                + $"MLP 2-64-64-{Classes} in {dtype}, Adam lr={LearningRate}, batch {BatchSize}, loss Poly-1 (LossDsl, backend {backend})");
Console.WriteLine();
Console.WriteLine($"{"epoch",5}  {"train loss",10}  {"train acc",9}  {"test acc",9}");
Console.WriteLine($"{new string('-', 5)}  {new string('-', 10)}  {new string('-', 9)}  {new string('-', 9)}");

double firstLoss = double.NaN, lastLoss = double.NaN;
for (int epoch = 1; epoch <= epochs; epoch++)
{
    model.train();
    var order = torch.randperm(nTrain);                     // a fresh shuffle each epoch (seeded by manual_seed)
    double lossSum = 0;
    for (int start = 0; start < nTrain; start += BatchSize)
    {
        // The dispose scope frees this batch's temporaries (indices, batch, activations, loss) at the end of the block.
        using var scope = torch.NewDisposeScope();
        var idx = order[start..Math.Min(start + BatchSize, nTrain)];
        var (xb, yb) = (trainX[idx], trainY[idx]);

        optimizer.zero_grad();
        var loss = criterion.call(model.call(xb), yb);   // mean Poly-1 loss of the batch
        loss.backward();                                 // gradient from the fused LossDsl kernel, then through the MLP
        optimizer.step();

        lossSum += loss.item<float>() * idx.shape[0];
    }
    order.Dispose();

    double meanLoss = lossSum / nTrain;
    if (epoch == 1) firstLoss = meanLoss;
    lastLoss = meanLoss;
    Console.WriteLine($"{epoch,5}  {meanLoss,10:F4}  {Accuracy(trainX, trainY),9:P1}  {Accuracy(testX, testY),9:P1}");
}

Console.WriteLine();
Console.WriteLine($"Done in {clock.Elapsed.TotalSeconds:F1} s.");

// Sanity check: training must have reduced the loss.
if (!(lastLoss < firstLoss))
{
    Console.Error.WriteLine($"FAILED: the final mean train loss {lastLoss:F4} is not below the first epoch's {firstLoss:F4}.");
    return 1;
}
return 0;

// Fraction of points whose highest logit is the true class (no gradients, eval mode).
double Accuracy(Tensor x, Tensor y)
{
    using var scope = torch.NewDisposeScope();
    using var noGrad = torch.no_grad();
    model.eval();
    var predicted = model.call(x).argmax(1);
    return predicted.eq(y).to_type(ScalarType.Float64).mean().item<double>();
}

// Class k is a spiral arm: radius grows from 0 to 1 while the angle turns 4 radians, starting at k * 4;
// Gaussian noise (std = noise) is added to the angle. The result is shuffled with rng.
static (float[,] Points, long[] Labels) MakeSpirals(int classes, int perClass, double noise, Random rng)
{
    int total = classes * perClass;
    var points = new float[total, 2];
    var labels = new long[total];
    for (int k = 0; k < classes; k++)
        for (int i = 0; i < perClass; i++)
        {
            double r = (double)i / (perClass - 1);
            double t = 4.0 * (k + r) + noise * Gaussian(rng);
            int row = k * perClass + i;
            points[row, 0] = (float)(r * Math.Sin(t));
            points[row, 1] = (float)(r * Math.Cos(t));
            labels[row] = k;
        }

    // Fisher-Yates shuffle of the rows, so the train/test split takes points from every class.
    for (int i = total - 1; i > 0; i--)
    {
        int j = rng.Next(i + 1);
        (points[i, 0], points[j, 0]) = (points[j, 0], points[i, 0]);
        (points[i, 1], points[j, 1]) = (points[j, 1], points[i, 1]);
        (labels[i], labels[j]) = (labels[j], labels[i]);
    }
    return (points, labels);
}

// A standard normal sample (Box-Muller transform).
static double Gaussian(Random rng)
    => Math.Sqrt(-2.0 * Math.Log(1.0 - rng.NextDouble())) * Math.Cos(2.0 * Math.PI * rng.NextDouble());
