using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Reflection.Emit;
using LossDsl.Runtime;
using TorchSharp;
using System.Threading;
using Xunit;

namespace LossDsl.Tests;

/// <summary>
/// TorchSharp 0.107 reads a <see cref="Scalar"/>'s native handle and keeps no reference to it, so a temporary Scalar
/// (the alpha 1 of <c>a + b</c>, the 2 of <c>x * 2</c>) may be finalized, and its native value freed, while libtorch
/// still reads it: an exception in forward, a process abort inside a backward callback (README, "The autograd path
/// under load"; upstream dotnet/TorchSharp pull request 1496). The rule that keeps LossDsl out of that race is
/// structural, so it is checked on the compiled code: no method of the runtime, of the library, or of any generated
/// torch-ops form makes a Scalar except through <see cref="TorchScalars"/>, and none calls a TorchSharp method that
/// makes one internally (found by scanning TorchSharp's own IL, transitively).
/// </summary>
public class ScalarTemporaryTests
{
    [Fact]
    public void RuntimeMakesNoTemporaryScalar()
        => AssertNone(Scan(typeof(LossDefinition).Assembly, _ => true));

    [Fact]
    public void LibraryLossesMakeNoTemporaryScalar()
        => AssertNone(Scan(typeof(LossDsl.Losses.Classification).Assembly, _ => true));

    [Fact]
    public void GeneratedTorchOpsFormsMakeNoTemporaryScalar()
    {
        // The torch-ops forms generated for this assembly's test losses (the rest of it is reference code).
        var found = Scan(typeof(ScalarTemporaryTests).Assembly, m => m.Name == "TorchOps");
        Assert.True(s_torchOpsMethods > 10, $"only {s_torchOpsMethods} generated TorchOps methods were scanned");
        AssertNone(found);
    }

    [Fact]
    public void SoakReferencesMakeNoTemporaryScalar()
    {
        // The soak counts any Scalar race as a failure, so its own reference code must not race either.
        static bool InSoak(Type? t) => t is not null && (t == typeof(AutogradSoakTests) || InSoak(t.DeclaringType));
        AssertNone(Scan(typeof(ScalarTemporaryTests).Assembly, m => InSoak(m.DeclaringType)));
    }

    [Fact]
    public void TheScanFindsTheKnownTemporaries()
    {
        // The scan itself: TorchSharp's Tensor + Tensor (alpha 1) and Tensor * double are the race's known sites.
        var unsafeMethods = UnsafeTorchSharpMethods.Value;
        Assert.Contains(unsafeMethods, m => m.Name == "op_Addition");
        Assert.Contains(unsafeMethods, m => m.Name == "add" && m.GetParameters() is [{ ParameterType.Name: "Tensor" }]);
        Assert.DoesNotContain(unsafeMethods, m => m.Name == "add" && m.DeclaringType == typeof(torch.Tensor) && m.GetParameters().Length == 2 && m.GetParameters()[1].ParameterType == typeof(Scalar));
        Assert.DoesNotContain(unsafeMethods, m => m.Name == "exp" && m.DeclaringType == typeof(torch.Tensor));
    }

    private static int s_torchOpsMethods;

    private static void AssertNone(List<string> found)
        => Assert.True(found.Count == 0, "Temporary Scalars (hold them in TorchScalars or pass TorchScalars.One):\n" + string.Join("\n", found.Distinct()));

    private const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    /// <summary>The call sites in <paramref name="assembly"/>'s methods (those <paramref name="include"/> accepts) that make a temporary Scalar.</summary>
    private static List<string> Scan(Assembly assembly, Func<MethodBase, bool> include)
    {
        var found = new List<string>();
        foreach (var type in assembly.GetTypes())
        {
            if (type == typeof(TorchScalars) || type.DeclaringType == typeof(TorchScalars)) continue;   // the holder and its lambdas
            foreach (var method in Methods(type).Where(include))
            {
                if (method.Name == "TorchOps") Interlocked.Increment(ref s_torchOpsMethods);
                foreach (var callee in Callees(method))
                {
                    if (MakesScalar(callee) || UnsafeTorchSharpMethods.Value.Contains(callee))
                        found.Add($"{type.FullName}.{method.Name} calls {callee.DeclaringType?.Name}.{callee.Name}({string.Join(", ", callee.GetParameters().Select(p => p.ParameterType.Name))})");
                }
            }
        }
        return found;
    }

    private static bool MakesScalar(MethodBase callee)
        => callee is MethodInfo { ReturnType: var r } && r == typeof(Scalar) && callee.DeclaringType != typeof(TorchScalars);

    /// <summary>TorchSharp's methods that make a Scalar in their own body, or call one that does: a fixed point over its IL.</summary>
    private static readonly Lazy<HashSet<MethodBase>> UnsafeTorchSharpMethods = new(() =>
    {
        var assembly = typeof(Scalar).Assembly;
        var calls = new Dictionary<MethodBase, List<MethodBase>>();
        foreach (var type in SafeTypes(assembly))
            foreach (var method in Methods(type))
                calls[method] = Callees(method).ToList();
        var result = new HashSet<MethodBase>(calls.Where(kv => kv.Value.Any(c => c is MethodInfo { ReturnType: var r } && r == typeof(Scalar))).Select(kv => kv.Key));
        for (bool changed = true; changed;)
        {
            changed = false;
            foreach (var (method, callees) in calls)
                if (!result.Contains(method) && callees.Any(result.Contains)) changed |= result.Add(method);
        }
        return result;
    });

    private static IEnumerable<Type> SafeTypes(Assembly assembly)
    {
        try { return assembly.GetTypes(); }
        catch (ReflectionTypeLoadException e) { return e.Types.Where(t => t is not null)!; }
    }

    private static IEnumerable<MethodBase> Methods(Type type)
        => type.GetMethods(All).Cast<MethodBase>().Concat(type.GetConstructors(All));

    private static readonly Dictionary<short, OpCode> s_opCodes = typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!).ToDictionary(o => o.Value);

    /// <summary>The methods a method's IL calls (call, callvirt, newobj, ldftn), as far as they resolve.</summary>
    private static IEnumerable<MethodBase> Callees(MethodBase method)
    {
        byte[]? il;
        try { il = method.GetMethodBody()?.GetILAsByteArray(); }
        catch (Exception) { yield break; }
        if (il is null) yield break;
        for (int i = 0; i < il.Length;)
        {
            var op = il[i] == 0xFE ? s_opCodes[(short)(0xFE00 | il[i + 1])] : s_opCodes[il[i]];
            i += op.Size;
            if (op.OperandType == OperandType.InlineMethod)
            {
                MethodBase? callee = null;
                try { callee = method.Module.ResolveMethod(BitConverter.ToInt32(il, i), method.DeclaringType?.GetGenericArguments(), method.IsGenericMethod ? method.GetGenericArguments() : null); }
                catch (Exception) { }
                if (callee is not null) yield return callee;
            }
            i += op.OperandType switch
            {
                OperandType.InlineNone => 0,
                OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                OperandType.InlineVar => 2,
                OperandType.InlineI8 or OperandType.InlineR => 8,
                OperandType.InlineSwitch => 4 + 4 * BitConverter.ToInt32(il, i),
                _ => 4,
            };
        }
    }
}
