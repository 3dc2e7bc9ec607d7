using System;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using TorchSharp;

namespace LossDsl.Benchmarks;

internal static class MachineInfo
{
    public static string Describe()
    {
        string model = "unknown CPU";
        try
        {
            model = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"))?.Split(':', 2)[1].Trim() ?? model;
        }
        catch (IOException) { }
        string simd = Vector512.IsHardwareAccelerated ? "AVX-512" : Vector256.IsHardwareAccelerated ? "AVX2" : "SSE";
        return $"machine: {model}, {Environment.ProcessorCount} logical cores, {simd}, {RuntimeInformation.OSDescription}\n"
             + $"runtime: {RuntimeInformation.FrameworkDescription}, TorchSharp {typeof(torch).Assembly.GetName().Version} "
             + $"(libtorch intra-op threads {torch.get_num_threads()}), float32\n"
             + NativeEnvironment.Describe();
    }
}
