using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using Xunit;

namespace LossDsl.Distributed.Tests;

/// <summary>What one launch of the worker under mpiexec gave.</summary>
public sealed record Launch(int ExitCode, bool TimedOut, string Output, TimeSpan Elapsed)
{
    public string Describe() => $"mpiexec {(TimedOut ? "timed out and was killed" : $"exited {ExitCode}")} after {Elapsed.TotalSeconds:F1} s; output:\n{Output}";
}

/// <summary>
/// Launches tests/LossDsl.Distributed.Worker with <c>mpiexec.mpich -np N</c>, every wait bounded: past the timeout the
/// whole process tree (mpiexec, its proxies and every rank) is killed and the launch reports it, so a rank that hangs
/// fails the test instead of hanging it.
/// </summary>
public static class MpiLauncher
{
    public const string MpiExec = "mpiexec.mpich";

    /// <summary>The mpiexec found on PATH, or null.</summary>
    public static string? Find()
        => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(d => Path.Combine(d, MpiExec)).FirstOrDefault(File.Exists);

    /// <summary>The worker's dll: built beside this assembly's configuration.</summary>
    public static string Worker()
    {
        var here = AppContext.BaseDirectory;   // tests/LossDsl.Distributed.Tests/bin/<Configuration>/net10.0/
        var config = new DirectoryInfo(here).Parent!.Name;
        var tests = new DirectoryInfo(here).Parent!.Parent!.Parent!.Parent!.FullName;
        var dll = Path.Combine(tests, "LossDsl.Distributed.Worker", "bin", config, "net10.0", "LossDsl.Distributed.Worker.dll");
        if (!File.Exists(dll)) throw new FileNotFoundException($"The worker is not built at {dll}: dotnet build tests/LossDsl.Distributed.Tests builds it.", dll);
        return dll;
    }

    public static Launch Run(int ranks, string what, TimeSpan timeout)
    {
        var mpiexec = Find() ?? throw new InvalidOperationException($"{MpiExec} is not on PATH: run `bash eng/mpi/install.sh`.");
        var info = new ProcessStartInfo(mpiexec)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "-np", ranks.ToString(), "dotnet", Worker(), what }) info.ArgumentList.Add(a);
        info.Environment["OMP_NUM_THREADS"] = "1";
        var output = new StringBuilder();
        using var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        var clock = Stopwatch.StartNew();
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        bool exited = process.WaitForExit(timeout);
        if (!exited)
        {
            process.Kill(entireProcessTree: true);
            if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
                throw new TimeoutException($"mpiexec (pid {process.Id}) did not end 30 s after it was killed.");
        }
        else process.WaitForExit();   // drains the redirected streams
        lock (output) return new Launch(exited ? process.ExitCode : -1, !exited, output.ToString(), clock.Elapsed);
    }
}

/// <summary>
/// A test that launches MPI ranks: skipped, with the reason, where mpiexec.mpich is not installed, unless
/// LOSSDSL_REQUIRE_MPI=1 (CI sets it after eng/mpi/install.sh), where it runs and fails without MPI.
/// </summary>
public sealed class MpiFactAttribute : FactAttribute
{
    public MpiFactAttribute()
    {
        if (MpiLauncher.Find() is null && Environment.GetEnvironmentVariable("LOSSDSL_REQUIRE_MPI") != "1")
            Skip = $"{MpiLauncher.MpiExec} is not installed here (bash eng/mpi/install.sh installs MPICH; CI runs these tests).";
    }
}

/// <summary>As <see cref="MpiFactAttribute"/>, for a theory.</summary>
public sealed class MpiTheoryAttribute : TheoryAttribute
{
    public MpiTheoryAttribute()
    {
        if (MpiLauncher.Find() is null && Environment.GetEnvironmentVariable("LOSSDSL_REQUIRE_MPI") != "1")
            Skip = $"{MpiLauncher.MpiExec} is not installed here (bash eng/mpi/install.sh installs MPICH; CI runs these tests).";
    }
}
