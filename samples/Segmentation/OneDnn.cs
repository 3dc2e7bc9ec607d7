using System;
using System.Runtime.InteropServices;

namespace LossDsl.Samples.Segmentation;

/// <summary>
/// oneDNN, which runs libtorch's CPU convolutions, limited to SSE4.1. On some AMD EPYC VMs its AVX-512 and AVX2
/// convolution kernels intermittently gave NaN weight gradients in this U-Net's backward (none at SSE4.1);
/// docs/performance.md, "oneDNN and the Segmentation sample", has the evidence and the cost.
/// </summary>
static class OneDnn
{
    [DllImport("libc", EntryPoint = "setenv")]
    static extern int SetEnv(string name, string value, int overwrite);

    /// <summary>
    /// Sets DNNL_MAX_CPU_ISA=SSE41 in the native environment unless it is set already, so a user's own value wins.
    /// Call it before the first TorchSharp call: oneDNN reads the variable once, when it first dispatches a kernel.
    /// On Linux and macOS Environment.SetEnvironmentVariable changes only .NET's copy, which oneDNN never sees, so
    /// this calls libc's setenv.
    /// </summary>
    public static void LimitIsa()
    {
        if (!OperatingSystem.IsWindows() && SetEnv("DNNL_MAX_CPU_ISA", "SSE41", 0) != 0)
            Console.Error.WriteLine("warning: could not set DNNL_MAX_CPU_ISA; oneDNN keeps its default kernels");
    }
}
