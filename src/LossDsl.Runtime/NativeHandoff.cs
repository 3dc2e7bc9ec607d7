using System;
using System.Collections.Generic;
using TorchSharp;
using static TorchSharp.torch;

namespace LossDsl.Runtime;

/// <summary>
/// Keeps reachable the .NET tensors whose native handles TorchSharp's custom-autograd bridge reads after the managed
/// forward or backward has returned.
/// <para>
/// A TorchSharp <see cref="Tensor"/> owns a heap-allocated native <c>at::Tensor</c>, which its finalizer deletes. After
/// <c>forward</c> returns, <c>Function.apply</c> passes the handles of the inputs and of the returned tensor to native
/// <c>THSAutograd_Function_wrapOutputs</c>; after <c>backward</c> returns, native <c>CSharpNode::apply</c> copies the
/// returned gradients out of their handles. Nothing in TorchSharp keeps those .NET objects reachable meanwhile, so a
/// garbage collection started by another thread can finalize one and free its <c>at::Tensor</c> while native code reads
/// it: a use-after-free that aborts the process (SIGSEGV on a refcount increment in <c>wrapOutputs</c>), or silently
/// reads another tensor that reused the memory.
/// </para>
/// <para>
/// So forward and backward hand their tensors to <see cref="Made"/> and <see cref="Held"/>, and they stay referenced until it is safe to let
/// them go: when <see cref="LossAutograd.Output"/> runs after <c>apply</c> has returned, or at the next forward or
/// backward on the same thread (the bridge finishes reading one call's handles before that thread can start another).
/// Nothing is kept across threads, and no tensor is kept by the autograd node itself, which would make a cycle
/// (an output's grad_fn is the node).
/// </para>
/// </summary>
internal static class NativeHandoff
{
    /// <summary>Tensors the runtime made (disposed at release) and the caller's tensors (only dropped), kept on this thread.</summary>
    [ThreadStatic] private static List<Tensor>? t_made, t_held;

    /// <summary>Keeps a tensor the runtime made and hands to the bridge; <see cref="Release"/> disposes it.</summary>
    public static Tensor Made(Tensor tensor)
    {
        (t_made ??= new List<Tensor>()).Add(tensor);
        return tensor;
    }

    /// <summary>Keeps the caller's tensors reachable until <see cref="Release"/>, which does not dispose them.</summary>
    public static void Held(IEnumerable<object?> tensors)
    {
        foreach (var v in tensors)
            if (v is Tensor t) (t_held ??= new List<Tensor>()).Add(t);
    }

    /// <summary>Lets go of what this thread kept, once the bridge has read its handles.</summary>
    public static void Release()
    {
        t_held?.Clear();
        if (t_made is not { Count: > 0 } made) return;
        t_made = null;
        foreach (var t in made) t.Dispose();
    }
}
