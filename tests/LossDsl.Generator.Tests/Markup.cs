using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Text;
using Microsoft.CodeAnalysis.Text;

namespace LossDsl.Generator.Tests;

/// <summary>
/// Analyzer-test markup: <c>{|LOSS0101:while (x &gt; 0) { }|}</c> marks the span where diagnostic LOSS0101 is
/// expected. <see cref="Parse"/> strips the markers and returns the clean source with the expected spans,
/// which are positions in the clean source. Markers may nest.
/// </summary>
public static class Markup
{
    public readonly record struct Expected(string Id, TextSpan Span)
    {
        public override string ToString() => $"{Id} at {Span}";
    }

    public static (string Source, ImmutableArray<Expected> Expected) Parse(string markup)
    {
        var source = new StringBuilder(markup.Length);
        var open = new Stack<(string Id, int Start, int MarkupIndex)>();
        var expected = ImmutableArray.CreateBuilder<Expected>();
        int i = 0;
        while (i < markup.Length)
        {
            if (string.CompareOrdinal(markup, i, "{|", 0, 2) == 0)
            {
                int colon = markup.IndexOf(':', i + 2);
                if (colon < 0) throw new FormatException($"Markup at {i}: '{{|' without ':' after the diagnostic ID.");
                string id = markup.Substring(i + 2, colon - i - 2);
                if (id.Length == 0 || !IsId(id)) throw new FormatException($"Markup at {i}: '{id}' is not a diagnostic ID.");
                open.Push((id, source.Length, i));
                i = colon + 1;
            }
            else if (string.CompareOrdinal(markup, i, "|}", 0, 2) == 0)
            {
                if (open.Count == 0) throw new FormatException($"Markup at {i}: '|}}' closes nothing.");
                var (id, start, _) = open.Pop();
                expected.Add(new Expected(id, TextSpan.FromBounds(start, source.Length)));
                i += 2;
            }
            else
                source.Append(markup[i++]);
        }
        if (open.Count > 0) throw new FormatException($"Markup at {open.Peek().MarkupIndex}: '{{|{open.Peek().Id}:' is never closed.");
        expected.Sort((a, b) => a.Span.Start != b.Span.Start ? a.Span.Start.CompareTo(b.Span.Start) : string.CompareOrdinal(a.Id, b.Id));
        return (source.ToString(), expected.ToImmutable());
    }

    private static bool IsId(string id)
    {
        foreach (char c in id)
            if (!char.IsLetterOrDigit(c)) return false;
        return true;
    }
}
