using System;
using System.Reflection;
using TorchSharp;
using Xunit;
using Xunit.Sdk;

// The test classes run one at a time. This was a precaution against the intermittent native abort before its cause was
// known (a TorchSharp tensor finalized while native code read it: see NativeHandoff in the runtime and
// TensorScopePerTest below); it is kept, and has not been re-measured with the classes in parallel.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
[assembly: LossDsl.Tests.TensorScopePerTest]

namespace LossDsl.Tests;

/// <summary>
/// Every test runs inside a TorchSharp dispose scope, opened before and disposed after it on the test's thread. A
/// TorchSharp tensor's .NET object owns its native at::Tensor and its finalizer deletes it; TorchSharp passes raw
/// handles to native calls without keeping the object alive, so a temporary in a chain (<c>a.max(1).values.exp()</c>)
/// can be finalized by a collection on another thread while native code still reads it. A reference computation then
/// read freed or reused memory: the run-dependent "Dimension out of range" in DualFocal's reference. In a scope, every
/// tensor the test makes stays referenced until the test ends. (The runtime guards its own tensors: NativeHandoff.)
/// </summary>
[AttributeUsage(AttributeTargets.Assembly | AttributeTargets.Class | AttributeTargets.Method)]
public sealed class TensorScopePerTestAttribute : BeforeAfterTestAttribute
{
    [ThreadStatic] private static DisposeScope? t_scope;

    /// <summary>The scope of the test running on this thread, if any.</summary>
    public static DisposeScope? Current => t_scope;

    public override void Before(MethodInfo methodUnderTest) => t_scope = torch.NewDisposeScope();

    public override void After(MethodInfo methodUnderTest)
    {
        t_scope?.Dispose();
        t_scope = null;
    }
}
