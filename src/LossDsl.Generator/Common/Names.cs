using Microsoft.CodeAnalysis.CSharp;

namespace LossDsl.Generator.Common;

/// <summary>Naming helpers the stages share (the parser's identifiers, the emitters' prose), so that no stage calls into another for them.</summary>
internal static class Names
{
    /// <summary>A name as a C# identifier: a keyword gets '@'.</summary>
    public static string Identifier(string name)
        => SyntaxFacts.GetKeywordKind(name) == SyntaxKind.None && SyntaxFacts.GetContextualKeywordKind(name) is SyntaxKind.None ? name : "@" + name;

    /// <summary>"1 reduction pass", "2 reduction passes".</summary>
    public static string Passes(int n) => Plural(n, "reduction pass", "reduction passes");

    /// <summary><paramref name="n"/> followed by the singular or plural noun.</summary>
    public static string Plural(int n, string one, string many) => $"{n} {(n == 1 ? one : many)}";
}
