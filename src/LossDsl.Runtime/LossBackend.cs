using System;
using System.Threading;

namespace LossDsl.Runtime;

/// <summary>Where a loss call runs.</summary>
public enum Backend
{
    /// <summary>The generated, vectorized, multi-threaded CPU path: the default for CPU tensors.</summary>
    Cpu,
    /// <summary>The generated ILGPU kernels on <see cref="LossAccelerator.Current"/> (CUDA, or ILGPU's CPU accelerator).</summary>
    Ilgpu,
}

/// <summary>
/// Chooses the backend. Default: <see cref="Backend.Cpu"/>; the environment variable LOSSDSL_BACKEND=ilgpu
/// changes the process default, and <see cref="Use"/> overrides it for the current async flow (tests use it to
/// run the same checks through both paths).
/// </summary>
public static class LossBackend
{
    private static readonly AsyncLocal<Backend?> s_override = new();

    private static readonly Backend s_default =
        string.Equals(Environment.GetEnvironmentVariable("LOSSDSL_BACKEND"), "ilgpu", StringComparison.OrdinalIgnoreCase) ? Backend.Ilgpu : Backend.Cpu;

    public static Backend Current => s_override.Value ?? s_default;

    /// <summary>Runs loss calls on <paramref name="backend"/> until the returned scope is disposed.</summary>
    public static IDisposable Use(Backend backend)
    {
        var previous = s_override.Value;
        s_override.Value = backend;
        return new Scope(() => s_override.Value = previous);
    }

    private sealed class Scope : IDisposable
    {
        private Action? _restore;
        public Scope(Action restore) => _restore = restore;
        public void Dispose() { _restore?.Invoke(); _restore = null; }
    }
}
