using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;

namespace LossDsl.Benchmarks;

/// <summary>
/// Sets environment variables that libtorch and its OpenMP runtime read natively, before they load. (On Unix,
/// <see cref="Environment.SetEnvironmentVariable(string, string)"/> changes only .NET's copy, so this calls libc's setenv.)
/// </summary>
internal static class NativeEnvironment
{
    [DllImport("libc", EntryPoint = "setenv")]
    private static extern int SetEnv(string name, string value, int overwrite);

    private static readonly Dictionary<string, (string Name, string Value)> Switches = new()
    {
        ["--thp"] = ("THP_MEM_ALLOC_ENABLE", "1"),
        ["--omp-passive"] = ("OMP_WAIT_POLICY", "PASSIVE"),
    };

    /// <summary>Applies the switches present in <paramref name="args"/> and returns the rest.</summary>
    public static string[] Apply(string[] args)
    {
        foreach (var a in args.Where(Switches.ContainsKey))
        {
            var (name, value) = Switches[a];
            if (OperatingSystem.IsWindows()) Environment.SetEnvironmentVariable(name, value);
            else SetEnv(name, value, 1);
            Environment.SetEnvironmentVariable(name, value);
        }
        return args.Where(a => !Switches.ContainsKey(a)).ToArray();
    }

    /// <summary>The libtorch-relevant environment, for the report header.</summary>
    public static string Describe()
    {
        var set = Switches.Values.Select(s => s.Name).Append("OMP_NUM_THREADS")
            .Select(n => (n, v: Environment.GetEnvironmentVariable(n))).Where(x => x.v is not null).Select(x => $"{x.n}={x.v}").ToList();
        return set.Count == 0 ? "environment: defaults (no THP_MEM_ALLOC_ENABLE, OMP_WAIT_POLICY, OMP_NUM_THREADS)" : "environment: " + string.Join(", ", set);
    }
}
