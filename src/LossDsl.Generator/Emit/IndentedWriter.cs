using System;
using System.Text;

namespace LossDsl.Generator.Emit;

/// <summary>A small writer for generated C#: indentation by blocks, one line at a time.</summary>
public sealed class IndentedWriter
{
    private readonly StringBuilder _sb = new();
    private int _indent;

    public IndentedWriter Line(string text = "")
    {
        if (text.Length == 0) _sb.Append('\n');
        else _sb.Append(' ', _indent * 4).Append(text).Append('\n');
        return this;
    }

    /// <summary>Writes <paramref name="header"/>, then an indented block; dispose the result to close it.</summary>
    public IDisposable Block(string header, string close = "}")
    {
        Line(header);
        Line("{");
        _indent++;
        return new Closer(this, close);
    }

    public void Comment(string text)
    {
        foreach (var line in text.Split('\n')) Line(line.Length == 0 ? "//" : "// " + line);
    }

    public override string ToString() => _sb.ToString();

    private sealed class Closer : IDisposable
    {
        private readonly IndentedWriter _w;
        private readonly string _close;

        public Closer(IndentedWriter w, string close) { _w = w; _close = close; }

        public void Dispose()
        {
            _w._indent--;
            _w.Line(_close);
        }
    }
}
