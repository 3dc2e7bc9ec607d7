// CharLM: a small character-level language model, an MLP over the last 8 characters, trained on corpus.txt
// (public-domain texts: the Gettysburg Address, four of Shakespeare's sonnets, the opening of the Declaration of
// Independence). Its criterion is the fused linear form of the loss in Losses.cs: NextCharLinearLoss wraps the model's
// Linear head, and forward(hidden, next) computes the head and the loss a chunk of rows at a time, so the
// [positions, vocabulary] logits are never held (docs/fused-linear.md).
//
// Run:  dotnet run --project samples/CharLM -c Release [-- --quick]    (--quick: 2 epochs instead of 12, for CI)

using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using CharLM;
using TorchSharp;
using static TorchSharp.torch;

const int Context = 8, Embedding = 24, Hidden = 256, BatchSize = 256, ChunkRows = 128;
if (args.Any(a => a != "--quick"))
{
    Console.Error.WriteLine("usage: CharLM [--quick]");
    return 2;
}
int epochs = args.Contains("--quick") ? 2 : 12;
var clock = Stopwatch.StartNew();
torch.manual_seed(7);
var rng = new Random(7);
torch.set_num_threads(Math.Min(2, Environment.ProcessorCount));

// ---- Data: every position of the text, with the 8 characters before it (spaces before the start). ----
string text = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "corpus.txt")).Replace("\r\n", "\n");
var alphabet = text.Distinct().OrderBy(c => c).ToArray();
var id = alphabet.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => (long)p.i);
long vocabulary = alphabet.Length;
string padded = new string(' ', Context) + text;
var contexts = new long[text.Length, Context];
var nexts = new long[text.Length];
for (int p = 0; p < text.Length; p++)
{
    for (int k = 0; k < Context; k++) contexts[p, k] = id[padded[p + k]];
    nexts[p] = id[text[p]];
}
var allX = torch.tensor(contexts);
var allY = torch.tensor(nexts);
Console.WriteLine($"corpus: {text.Length} characters, vocabulary {vocabulary}; context {Context}, {epochs} epochs of batches of {BatchSize}");

// ---- Model: embedding, one hidden layer, and the Linear head the fused loss uses. ----
var embed = nn.Embedding(vocabulary, Embedding);
var trunk = nn.Sequential(nn.Flatten(), nn.Linear(Context * Embedding, Hidden), nn.Tanh());
var head = nn.Linear(Hidden, vocabulary);
var criterion = new Losses.NextCharLinearLoss(head, smoothing: 0.05, chunk_rows: ChunkRows);
Tensor Features(Tensor x) => trunk.forward(embed.forward(x));

var parameters = embed.parameters().Concat(trunk.parameters()).Concat(head.parameters()).ToList();
var optimizer = optim.Adam(parameters, lr: 3e-3);

bool finite = true;   // a NaN or infinite loss anywhere fails the run (exit code 1)
for (int epoch = 1; epoch <= epochs; epoch++)
{
    var order = torch.tensor(Enumerable.Range(0, text.Length).OrderBy(_ => rng.Next()).Select(i => (long)i).ToArray());
    double total = 0;
    int batches = 0;
    for (int first = 0; first < text.Length; first += BatchSize)
    {
        using var scope = torch.NewDisposeScope();
        var rows = order.narrow(0, first, Math.Min(BatchSize, text.Length - first));
        optimizer.zero_grad();
        var loss = criterion.forward(Features(allX.index_select(0, rows)), allY.index_select(0, rows));
        loss.backward();
        optimizer.step();
        total += loss.item<float>();
        batches++;
    }
    finite &= double.IsFinite(total);
    Console.WriteLine($"epoch {epoch,2}: loss {total / batches:F3} ({total / batches / Math.Log(2):F2} bits per character)");
}

// ---- What the loss layer holds: the whole corpus as one batch, fused against materialized. ----
using (torch.no_grad())
{
    var features = Features(allX);
    long materialized = 2L * text.Length * vocabulary * sizeof(float), fused = 2L * ChunkRows * vocabulary * sizeof(float);
    Console.WriteLine($"loss layer on all {text.Length} positions at once: logits and their gradient are {materialized / 1024.0:F0} KiB materialized, "
        + $"{fused / 1024.0:F0} KiB fused (chunks of {ChunkRows} rows); the saving grows with the vocabulary (docs/fused-linear.md).");
    var fusedLoss = criterion.forward(features, allY).item<float>();
    var materializedLoss = Losses.NextChar(head.forward(features), allY, smoothing: 0.05).item<float>();
    finite &= float.IsFinite(fusedLoss) && float.IsFinite(materializedLoss);
    Console.WriteLine($"the same loss both ways: fused {fusedLoss:F5}, materialized {materializedLoss:F5}");

    // ---- A sample, one character at a time, at temperature 0.7. ----
    var generated = new System.Text.StringBuilder("We hold ");
    for (int k = 0; k < 160; k++)
    {
        string last = generated.ToString()[^Context..];
        var x = torch.tensor(last.Select(c => id.TryGetValue(c, out var v) ? v : id[' ']).ToArray()).unsqueeze(0);
        var probabilities = nn.functional.softmax(head.forward(Features(x)) / 0.7, 1).squeeze(0);
        generated.Append(alphabet[torch.multinomial(probabilities, 1).item<long>()]);
    }
    Console.WriteLine("sample: " + generated.ToString().Replace("\n", " / "));
}
Console.WriteLine($"done in {clock.Elapsed.TotalSeconds:F1} s");
if (!finite) Console.Error.WriteLine("FAILED: a loss was NaN or infinite.");
return finite ? 0 : 1;
