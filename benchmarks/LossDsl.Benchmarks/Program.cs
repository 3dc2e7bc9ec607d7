// LossDsl benchmarks.
//   dotnet run -c Release --project benchmarks/LossDsl.Benchmarks -- --quick            ratio table in about two minutes
//   dotnet run -c Release --project benchmarks/LossDsl.Benchmarks -- --profile          where LossDsl's step time goes
//   dotnet run -c Release --project benchmarks/LossDsl.Benchmarks -- --filter '*'       BenchmarkDotNet, for the record
//   dotnet run -c Release --project benchmarks/LossDsl.Benchmarks -- --half-accuracy    float16/bfloat16 gradient error
//   dotnet run -c Release --project benchmarks/LossDsl.Benchmarks -- --float32-accuracy float32 ulps: intrinsics and losses against libtorch
//   dotnet run -c Release --project benchmarks/LossDsl.Benchmarks -- --rewrite-speed    rewritten against literal naive kernels
//   dotnet run -c Release --project benchmarks/LossDsl.Benchmarks -- --sort-nested-cost  Lovász, triplets, Smooth-AP against their compositions
// Quick/profile options: --rounds N, --case NAME[,NAME] (substring: Poly1, CE, Tversky, Focal), --no-ilgpu,
// --markdown FILE (quick: write the table as Markdown), --verbose.
// Environment switches for libtorch, set before it loads (any mode): --thp sets THP_MEM_ALLOC_ENABLE=1 (libtorch's
// CPU allocator asks for transparent huge pages), --omp-passive sets OMP_WAIT_POLICY=PASSIVE (libgomp workers sleep
// instead of spinning after a parallel op).

using System;
using System.Linq;
using BenchmarkDotNet.Running;
using LossDsl.Benchmarks;

args = NativeEnvironment.Apply(args);
if (args.Contains("--quick")) return QuickRunner.Run(Options.Parse(args));
if (args.Contains("--profile")) return Profiler.Run(Options.Parse(args));
if (args.Contains("--half-accuracy")) return HalfAccuracy.Run();
if (args.Contains("--float32-accuracy")) return Float32Accuracy.Run();
if (args.Contains("--rewrite-speed")) return RewriteSpeed.Run();
if (args.Contains("--sort-nested-cost")) return SortAndNestedCost.Run(args);
if (args.Contains("--sort-nested-child")) return SortAndNestedCost.Child(args);
BenchmarkSwitcher.FromAssembly(typeof(BenchCase).Assembly).Run(args, BdnConfig.Create());
return 0;
