using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using LossDsl.Generator.Differentiate;
using LossDsl.Generator.IR;
using LossDsl.Generator.Common;
using LossDsl.Generator.Model;
using LossDsl.Generator.Schedule;
using Microsoft.CodeAnalysis;
using Xunit;

namespace LossDsl.Generator.Tests;

/// <summary>
/// The models that flow through the incremental pipeline hold no Roslyn symbols, syntax or compilations (which
/// would defeat caching and keep compilations alive), and compare by value.
/// </summary>
public class ModelTests
{
    public static readonly Type[] ModelTypes =
    {
        typeof(LossModel), typeof(LossSignature), typeof(LossParameter), typeof(AxesDeclaration), typeof(ContainingType), typeof(DiagnosticInfo), typeof(LocationInfo),
        typeof(Graph), typeof(Node), typeof(DerivedLoss), typeof(Adjoint), typeof(KernelPlan), typeof(Pass),
        typeof(Staged<DerivedLoss>), typeof(Staged<KernelPlan>), typeof(Staged<GeneratedFile>), typeof(GeneratedFile),
    };

    private static readonly Type[] Forbidden =
    {
        typeof(ISymbol), typeof(SyntaxNode), typeof(SyntaxTree), typeof(Compilation), typeof(SemanticModel), typeof(Location),
        typeof(SyntaxToken), typeof(SyntaxTrivia), typeof(SyntaxReference), typeof(AttributeData), typeof(TypedConstant),
    };

    public static TheoryData<Type> Models => new(ModelTypes);

    [Theory]
    [MemberData(nameof(Models))]
    public void HoldsNoRoslynObjects(Type model)
    {
        var problems = new List<string>();
        Walk(model, model.Name, new HashSet<Type>(), problems);
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void TheWalkFindsForbiddenMembers()
    {
        var problems = new List<string>();
        Walk(typeof(BadModel), nameof(BadModel), new HashSet<Type>(), problems);
        Assert.Equal(4, problems.Count); // Wrapper.Symbol, Wrapper.List, Where, Anything
    }

    private sealed record BadModel(EquatableArray<Wrapper> Items, Location Where, object Anything);
    private sealed record Wrapper(ISymbol Symbol, IReadOnlyList<int> List) : IEquatable<Wrapper>;

    /// <summary>
    /// Every stored or exposed member type, recursively: fields and properties of our own types and of value types,
    /// element types of arrays, and generic arguments (e.g. the T of EquatableArray&lt;T&gt;).
    /// </summary>
    private static void Walk(Type type, string path, HashSet<Type> seen, List<string> problems)
    {
        if (Forbidden.FirstOrDefault(f => f.IsAssignableFrom(type)) is { } forbidden)
        {
            problems.Add($"{path}: {type} is a {forbidden.Name}");
            return;
        }
        if (type == typeof(object) || type.IsInterface || (type.IsAbstract && !type.IsSealed))
        {
            problems.Add($"{path}: {type} could hold anything, a symbol included; use a concrete equatable type");
            return;
        }
        if (type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(decimal) || !seen.Add(type)) return;

        if (type.IsArray)
        {
            Walk(type.GetElementType()!, path + "[]", seen, problems);
            return;
        }
        if (type.IsGenericType)
            foreach (var arg in type.GetGenericArguments())
                Walk(arg, $"{path}<{arg.Name}>", seen, problems);

        // Our own types and value types (TextSpan, EquatableArray<T>, …) are walked member by member; other
        // reference types from outside (there should be none) are judged by the checks above only.
        bool ours = type.Assembly == typeof(LossGenerator).Assembly || type.Assembly == typeof(ModelTests).Assembly;
        if (!ours && !type.IsValueType) return;

        const BindingFlags instance = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;
        foreach (var field in type.GetFields(instance))
            if (!field.Name.EndsWith(">k__BackingField", StringComparison.Ordinal)) // walked as its property below
                Walk(field.FieldType, $"{path}.{field.Name}", seen, problems);
        foreach (var property in type.GetProperties(instance))
        {
            if (property.Name == "EqualityContract") continue; // a record's System.Type, not state
            Walk(property.PropertyType, $"{path}.{property.Name}", seen, problems);
        }
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void IsARecordWithValueEquality(Type model)
    {
        Assert.True(model.GetMethod("<Clone>$") is not null, $"{model.Name} is not a record");
        Assert.True(model.IsSealed, $"{model.Name} should be sealed, so that equality cannot be weakened by a subtype");
        Assert.Contains(typeof(IEquatable<>).MakeGenericType(model), model.GetInterfaces());
    }

    private const string BrokenLoss = """
        namespace Tests;

        public static partial class Broken
        {
            [Loss] public static partial float F(float x)
            {
                string s = "a";
                return x % 2f;
            }

            [Loss] public static float G(ref float x) => x;
        }
        """;

    /// <summary>The outputs of every tracked step, over two independent compilations of the same text.</summary>
    private static List<object> StepOutputs(params string[] sources)
    {
        var driver = GeneratorHarness.Driver().RunGenerators(GeneratorHarness.Compile(sources));
        var result = Assert.Single(driver.GetRunResult().Results);
        Assert.Null(result.Exception);
        return new[] { LossGenerator.Steps.Parse, LossGenerator.Steps.Differentiate, LossGenerator.Steps.Schedule, LossGenerator.Steps.Emit }
            .SelectMany(step => result.TrackedSteps[step])
            .SelectMany(run => run.Outputs.Select(o => o.Value))
            .ToList();
    }

    [Fact]
    public void IndependentParsesOfTheSameSourceAreEqual()
    {
        string broken = GeneratorHarness.Usings + BrokenLoss;
        var first = StepOutputs(SampleLosses.Source, broken);
        var second = StepOutputs(SampleLosses.Source, broken);

        Assert.Equal(first.Count, second.Count);
        for (int i = 0; i < first.Count; i++)
        {
            Assert.NotSame(first[i], second[i]);
            Assert.Equal(first[i], second[i]);
            Assert.Equal(first[i].GetHashCode(), second[i].GetHashCode());
        }

        // Every model type was compared, directly or inside another.
        var covered = new HashSet<Type>();
        foreach (var o in first) Collect(o, covered);
        Assert.Empty(ModelTypes.Except(covered));
    }

    [Fact]
    public void DifferentSourcesGiveDifferentModels()
    {
        var a = StepOutputs(SampleLosses.Source);
        var b = StepOutputs(SampleLosses.Source.Replace("epsilon * (1 - Softmax(logits, target))", "epsilon * (2 - Softmax(logits, target))"));
        Assert.Equal(a.Count, b.Count);
        Assert.Contains(Enumerable.Range(0, a.Count), i => !a[i].Equals(b[i]));
    }

    /// <summary>The model types reachable from a value, by walking its public properties.</summary>
    private static void Collect(object? value, HashSet<Type> covered)
    {
        if (value is null || value is string || value.GetType().IsPrimitive || value.GetType().IsEnum) return;
        var type = value.GetType();
        if (ModelTypes.Contains(type)) covered.Add(type);
        if (value is System.Collections.IEnumerable items)
        {
            foreach (var item in items) Collect(item, covered);
            return;
        }
        if (type.IsGenericType && type.FullName!.StartsWith("System.ValueTuple", StringComparison.Ordinal))
        {
            foreach (var f in type.GetFields()) Collect(f.GetValue(value), covered);
            return;
        }
        if (type.Assembly != typeof(LossGenerator).Assembly) return;
        foreach (var p in type.GetProperties(BindingFlags.Instance | BindingFlags.Public))
            if (p.GetIndexParameters().Length == 0)
                Collect(p.GetValue(value), covered);
    }
}
