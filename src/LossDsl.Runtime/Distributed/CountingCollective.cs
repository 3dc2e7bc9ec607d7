using System.Diagnostics;
using static TorchSharp.torch;

namespace LossDsl.Runtime.Distributed;

/// <summary>
/// A collective that counts what goes through another: calls, the bytes this rank hands in (the payload; an engine's
/// ring algorithm moves about twice that for an all-reduce) and the time spent inside, waiting included. For measuring
/// a sharded loss's communication (docs/distributed.md).
/// </summary>
public sealed class CountingCollective(ICollective inner) : ICollective
{
    private readonly Stopwatch _time = new();

    public int Rank => inner.Rank;
    public int Size => inner.Size;
    public string Engine => inner.Engine;

    /// <summary>Collective calls so far.</summary>
    public long Calls { get; private set; }

    /// <summary>Payload bytes this rank handed in so far (all-gather: its rows; reduce-scatter: the whole tensor).</summary>
    public long Bytes { get; private set; }

    /// <summary>Time spent inside the collectives so far.</summary>
    public System.TimeSpan Time => _time.Elapsed;

    /// <summary>Starts counting again.</summary>
    public void Reset()
    {
        Calls = 0;
        Bytes = 0;
        _time.Reset();
    }

    public void AllReduce(Tensor tensor, CollectiveOp op)
    {
        Count(tensor);
        _time.Start();
        try { inner.AllReduce(tensor, op); } finally { _time.Stop(); }
    }

    public Tensor AllGather(Tensor tensor)
    {
        Count(tensor);
        _time.Start();
        try { return inner.AllGather(tensor); } finally { _time.Stop(); }
    }

    public Tensor ReduceScatter(Tensor tensor, long[] counts)
    {
        Count(tensor);
        _time.Start();
        try { return inner.ReduceScatter(tensor, counts); } finally { _time.Stop(); }
    }

    private void Count(Tensor t)
    {
        Calls++;
        Bytes += t.numel() * t.ElementSize;
    }
}
