using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace LossDsl.Samples.CalibrationStudy;

/// <summary>One calibration diagnostic (LOSS02xx) the LossDsl analyzer reported on a loss when this project was compiled.</summary>
/// <param name="Id">The diagnostic ID, e.g. LOSS0202.</param>
/// <param name="Level">SARIF's level: note (info), warning or error.</param>
/// <param name="Title">The rule's title from the log, e.g. "The loss is classification-calibrated but not proper".</param>
/// <param name="Message">The diagnostic's message, with its witness.</param>
/// <param name="Suppressed">How the diagnostic was suppressed in source (e.g. a #pragma), or null.</param>
/// <param name="Line">The line of the loss method's name in its source file.</param>
public sealed record Verdict(string Id, string Level, string Title, string Message, string? Suppressed, int Line)
{
    /// <summary>
    /// The verdict in a few words, from the message ("Loss 'Focal' is classification-calibrated but not proper
    /// (under-confident): at η = …" gives "classification-calibrated but not proper (under-confident)"), else the rule's title.
    /// </summary>
    public string Summary
    {
        get
        {
            var clause = Regex.Match(Message, @"^Loss '[^']+' is (.+?): ");
            return clause.Success ? clause.Groups[1].Value : Title;
        }
    }

    /// <summary>ID, level and summary, for a table cell or a plot title: "LOSS0201 (warning, suppressed in source): not classification-calibrated".</summary>
    public string Short => $"{Id} ({(Level == "note" ? "info" : Level)}{(Suppressed is null ? "" : ", suppressed in source")}): {Summary}";
}

/// <summary>
/// Reads the compiler's SARIF 2.1 log (the project's ErrorLog, copied next to the executable as diagnostics.sarif) and
/// picks each loss method's calibration diagnostics. The analyzer's messages start with "Loss 'Name'", and the
/// diagnostic sits on the method's name, so a result belongs to the loss that its message names.
/// </summary>
public static class Verdicts
{
    public const string FileName = "CalibrationStudy.diagnostics.sarif";

    /// <summary>The calibration diagnostics (LOSS02xx) per loss method name; empty when the log is missing.</summary>
    public static Dictionary<string, List<Verdict>> Read(string path)
    {
        var byLoss = new Dictionary<string, List<Verdict>>(StringComparer.Ordinal);
        if (!File.Exists(path)) return byLoss;

        using var document = JsonDocument.Parse(File.ReadAllBytes(path));
        foreach (var run in document.RootElement.GetProperty("runs").EnumerateArray())
        {
            var titles = new Dictionary<string, string>(StringComparer.Ordinal);
            if (run.TryGetProperty("tool", out var tool) && tool.TryGetProperty("driver", out var driver)
                && driver.TryGetProperty("rules", out var rules))
            {
                foreach (var rule in rules.EnumerateArray())
                    if (rule.TryGetProperty("id", out var id) && rule.TryGetProperty("shortDescription", out var description))
                        titles[id.GetString()!] = description.GetProperty("text").GetString()!;
            }
            if (!run.TryGetProperty("results", out var results)) continue;

            foreach (var result in results.EnumerateArray())
            {
                string ruleId = result.GetProperty("ruleId").GetString()!;
                if (!ruleId.StartsWith("LOSS02", StringComparison.Ordinal)) continue;
                string message = result.GetProperty("message").GetProperty("text").GetString()!;
                var name = Regex.Match(message, @"^Loss '([^']+)'");
                if (!name.Success) continue;   // LOSS0209 sits on a call's weight argument, not on a loss
                string level = result.TryGetProperty("level", out var l) ? l.GetString()! : "warning";
                string? suppressed = null;
                if (result.TryGetProperty("suppressions", out var suppressions) && suppressions.GetArrayLength() > 0)
                {
                    var first = suppressions[0];
                    suppressed = first.TryGetProperty("properties", out var p) && p.TryGetProperty("suppressionType", out var type)
                        ? type.GetString() : first.GetProperty("kind").GetString();
                }
                int line = 0;
                if (result.TryGetProperty("locations", out var locations) && locations.GetArrayLength() > 0
                    && locations[0].GetProperty("physicalLocation").TryGetProperty("region", out var region))
                    line = region.GetProperty("startLine").GetInt32();

                string loss = name.Groups[1].Value.Split('.').Last();
                if (!byLoss.TryGetValue(loss, out var list)) byLoss[loss] = list = new List<Verdict>();
                list.Add(new Verdict(ruleId, level, titles.GetValueOrDefault(ruleId, ruleId), message, suppressed, line));
            }
        }
        return byLoss;
    }
}
