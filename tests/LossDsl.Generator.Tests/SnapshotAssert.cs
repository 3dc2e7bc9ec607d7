using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using DiffPlex.DiffBuilder;
using DiffPlex.DiffBuilder.Model;
using Xunit.Sdk;

namespace LossDsl.Generator.Tests;

/// <summary>
/// A small snapshot workflow (Verify is not available): <c>Snapshots/NAME.verified.cs</c> in the test project
/// holds the accepted text. On a mismatch, or when no verified file exists, <c>NAME.received.cs</c> is written
/// beside it and the test fails with a line diff. With <c>LOSSDSL_ACCEPT=1</c> the received text overwrites
/// the verified file instead. See Snapshots/README.md.
/// </summary>
public static class SnapshotAssert
{
    public const string AcceptVariable = "LOSSDSL_ACCEPT";

    private const int Context = 3;

    public static string Directory => Path.Combine(Paths.TestProject, "Snapshots");

    public static bool Accepting => Environment.GetEnvironmentVariable(AcceptVariable) == "1";

    /// <summary>The snapshot name for a generated file: its hint name without the ".cs" extension.</summary>
    public static string NameOf(string hintName)
        => hintName.EndsWith(".cs", StringComparison.Ordinal) ? hintName.Substring(0, hintName.Length - 3) : hintName;

    public static string VerifiedPath(string name) => Path.Combine(Directory, name + ".verified.cs");

    public static string ReceivedPath(string name) => Path.Combine(Directory, name + ".received.cs");

    /// <summary>LF line endings and exactly one trailing newline, so that checkouts and platforms agree.</summary>
    public static string Normalize(string text) => text.Replace("\r\n", "\n").Replace('\r', '\n').TrimEnd('\n') + "\n";

    public static void Matches(string name, string actual)
    {
        string received = Normalize(actual);
        string verifiedPath = VerifiedPath(name), receivedPath = ReceivedPath(name);

        if (Accepting)
        {
            System.IO.Directory.CreateDirectory(Directory);
            File.WriteAllText(verifiedPath, received, new UTF8Encoding(false));
            File.Delete(receivedPath);
            return;
        }

        if (!File.Exists(verifiedPath))
        {
            File.WriteAllText(receivedPath, received, new UTF8Encoding(false));
            throw new XunitException(
                $"No verified snapshot for '{name}'.\nThe generated text was written to {receivedPath}.\n" +
                $"Review it, then rename it to {Path.GetFileName(verifiedPath)} or run the tests with {AcceptVariable}=1.");
        }

        string verified = Normalize(File.ReadAllText(verifiedPath));
        if (verified == received)
        {
            File.Delete(receivedPath);
            return;
        }

        File.WriteAllText(receivedPath, received, new UTF8Encoding(false));
        throw new XunitException(
            $"Snapshot '{name}' does not match.\n" +
            $"  verified: {verifiedPath}\n  received: {receivedPath}\n" +
            $"Run the tests with {AcceptVariable}=1 to accept the received text.\n\n" +
            UnifiedDiff(verified, received, Path.GetFileName(verifiedPath), Path.GetFileName(receivedPath)));
    }

    /// <summary>A unified diff (changed lines with <see cref="Context"/> lines of context, '-' verified, '+' received).</summary>
    public static string UnifiedDiff(string expected, string actual, string expectedName = "verified", string actualName = "received")
    {
        var lines = InlineDiffBuilder.Diff(expected, actual, ignoreWhiteSpace: false).Lines;

        // Old and new line numbers (1-based) of each diff line, to label the hunks.
        var oldLine = new int[lines.Count];
        var newLine = new int[lines.Count];
        int o = 1, n = 1;
        for (int i = 0; i < lines.Count; i++)
        {
            oldLine[i] = o;
            newLine[i] = n;
            switch (lines[i].Type)
            {
                case ChangeType.Deleted: o++; break;
                case ChangeType.Inserted: n++; break;
                default: o++; n++; break;
            }
        }

        var sb = new StringBuilder();
        sb.Append("--- ").Append(expectedName).Append('\n');
        sb.Append("+++ ").Append(actualName).Append('\n');
        int k = 0;
        while (k < lines.Count)
        {
            if (!IsChange(lines[k])) { k++; continue; }

            // Grow the hunk while the next change is within 2 * Context unchanged lines.
            int start = Math.Max(0, k - Context), end = k;
            while (true)
            {
                int next = end + 1;
                while (next < lines.Count && !IsChange(lines[next])) next++;
                if (next < lines.Count && next - end <= 2 * Context) { end = next; continue; }
                break;
            }
            int stop = Math.Min(lines.Count - 1, end + Context);

            int oldCount = 0, newCount = 0;
            for (int i = start; i <= stop; i++)
            {
                if (lines[i].Type != ChangeType.Inserted) oldCount++;
                if (lines[i].Type != ChangeType.Deleted) newCount++;
            }
            sb.Append($"@@ -{oldLine[start]},{oldCount} +{newLine[start]},{newCount} @@\n");
            for (int i = start; i <= stop; i++)
            {
                char prefix = lines[i].Type switch { ChangeType.Deleted => '-', ChangeType.Inserted => '+', _ => ' ' };
                sb.Append(prefix).Append(lines[i].Text).Append('\n');
            }
            k = stop + 1;
        }
        return sb.ToString();
    }

    private static bool IsChange(DiffPiece line) => line.Type is ChangeType.Deleted or ChangeType.Inserted or ChangeType.Modified;
}
