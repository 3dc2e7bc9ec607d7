using System;
using System.IO;

namespace LossDsl.Generator.Tests;

public static class Paths
{
    /// <summary>The repository root: the folder holding LossDsl.sln.</summary>
    public static string Root { get; } = Find(AppContext.BaseDirectory);

    public static string TestProject => Path.Combine(Root, "tests", "LossDsl.Generator.Tests");

    private static string Find(string from)
    {
        for (var dir = new DirectoryInfo(from); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "LossDsl.sln"))) return dir.FullName;
        throw new InvalidOperationException("LossDsl.sln not found above " + from);
    }
}
