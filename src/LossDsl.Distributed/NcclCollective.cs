using System;
using System.Linq;
using System.Runtime.InteropServices;
using LossDsl.Runtime.Distributed;
using static TorchSharp.torch;

namespace LossDsl.Distributed;

/// <summary>
/// NCCL's C API, as <c>nccl.h</c> declares it (NCCL 2.x): the calls <see cref="NcclCollective"/> makes. libnccl comes
/// with the CUDA stack or PyTorch's wheels (<c>nvidia-nccl-cu12</c>: <c>libnccl.so.2</c>).
/// </summary>
public static unsafe class NcclApi
{
    /// <summary>The library name the imports bind to (resolved by the loader's search path, or LD_LIBRARY_PATH).</summary>
    public const string Library = "libnccl.so.2";

    /// <summary>NCCL_UNIQUE_ID_BYTES: the size of <c>ncclUniqueId</c>, which rank 0 makes and MPI broadcasts.</summary>
    public const int UniqueIdBytes = 128;

    /// <summary><c>ncclUniqueId</c>: 128 opaque bytes, passed by value to ncclCommInitRank.</summary>
    [StructLayout(LayoutKind.Sequential, Size = UniqueIdBytes)]
    public struct UniqueId
    {
        private fixed byte _internal[UniqueIdBytes];

        public static UniqueId From(byte[] bytes)
        {
            if (bytes.Length != UniqueIdBytes) throw new ArgumentException($"An NCCL unique id has {UniqueIdBytes} bytes; got {bytes.Length}.", nameof(bytes));
            var id = new UniqueId();
            for (int i = 0; i < UniqueIdBytes; i++) id._internal[i] = bytes[i];
            return id;
        }

        public byte[] ToBytes()
        {
            var bytes = new byte[UniqueIdBytes];
            for (int i = 0; i < UniqueIdBytes; i++) bytes[i] = _internal[i];
            return bytes;
        }
    }

    /// <summary><c>ncclDataType_t</c>.</summary>
    public enum DataType { Int8 = 0, Uint8 = 1, Int32 = 2, Uint32 = 3, Int64 = 4, Uint64 = 5, Float16 = 6, Float32 = 7, Float64 = 8, Bfloat16 = 9 }

    /// <summary><c>ncclRedOp_t</c>.</summary>
    public enum RedOp { Sum = 0, Prod = 1, Max = 2, Min = 3, Avg = 4 }

    [DllImport(Library)] public static extern int ncclGetUniqueId(UniqueId* uniqueId);
    [DllImport(Library)] public static extern int ncclCommInitRank(IntPtr* comm, int nranks, UniqueId commId, int rank);
    [DllImport(Library)] public static extern int ncclCommDestroy(IntPtr comm);
    [DllImport(Library)] public static extern IntPtr ncclGetErrorString(int result);
    [DllImport(Library)] public static extern int ncclAllReduce(IntPtr sendbuff, IntPtr recvbuff, nuint count, DataType datatype, RedOp op, IntPtr comm, IntPtr stream);
    [DllImport(Library)] public static extern int ncclAllGather(IntPtr sendbuff, IntPtr recvbuff, nuint sendcount, DataType datatype, IntPtr comm, IntPtr stream);
    [DllImport(Library)] public static extern int ncclReduceScatter(IntPtr sendbuff, IntPtr recvbuff, nuint recvcount, DataType datatype, RedOp op, IntPtr comm, IntPtr stream);
    [DllImport("libcudart.so", EntryPoint = "cudaStreamSynchronize")] public static extern int cudaStreamSynchronize(IntPtr stream);

    /// <summary>Whether libnccl can be loaded here; <paramref name="why"/> says why not.</summary>
    public static bool Available(out string why)
    {
        if (NativeLibrary.TryLoad(Library, typeof(NcclApi).Assembly, null, out var handle))
        {
            bool bound = NativeLibrary.TryGetExport(handle, "ncclCommInitRank", out _) && NativeLibrary.TryGetExport(handle, "ncclAllReduce", out _)
                && NativeLibrary.TryGetExport(handle, "ncclAllGather", out _) && NativeLibrary.TryGetExport(handle, "ncclReduceScatter", out _);
            why = bound ? "" : $"{Library} loaded but lacks ncclCommInitRank/ncclAllReduce/ncclAllGather/ncclReduceScatter";
            return bound;
        }
        why = $"{Library} is not installed here (NCCL comes with the CUDA stack or PyTorch's nvidia-nccl wheel; put its folder on LD_LIBRARY_PATH)";
        return false;
    }
}

/// <summary>
/// What one NCCL collective moves, planned before any device call: NCCL's all-gather and reduce-scatter take equal
/// counts per rank, so uneven shards are padded to the largest and compacted after. The dry run (no GPU here) checks
/// these plans and byte counts against the MPI path's; a GPU machine runs them.
/// </summary>
/// <param name="Collective">"AllReduce", "AllGather" or "ReduceScatter".</param>
/// <param name="RowsPerRank">Rows (dim 0) each rank contributes or keeps.</param>
/// <param name="RowElements">Elements per row.</param>
/// <param name="ElementBytes">Bytes per element.</param>
public sealed record NcclPlan(string Collective, long[] RowsPerRank, long RowElements, int ElementBytes)
{
    /// <summary>The largest shard's rows: what each rank's padded slot holds.</summary>
    public long PaddedRows => RowsPerRank.Max();

    /// <summary>NCCL's per-rank count argument (all-reduce: the whole tensor; the others: one padded slot).</summary>
    public long Count => Collective == "AllReduce" ? RowsPerRank[0] * RowElements : PaddedRows * RowElements;

    /// <summary>The device buffer the padded collective needs, in bytes (all-gather's receive, reduce-scatter's send).</summary>
    public long BufferBytes => Collective == "AllReduce" ? Count * ElementBytes : RowsPerRank.Length * PaddedRows * RowElements * ElementBytes;

    /// <summary>
    /// Bytes each rank sends over the wire in a ring algorithm: 2(p−1)/p of the buffer for all-reduce, (p−1)/p of it for
    /// all-gather and reduce-scatter (NCCL's bus-bandwidth model).
    /// </summary>
    public double RingBytesPerRank
    {
        get
        {
            int p = RowsPerRank.Length;
            double buffer = Collective == "AllReduce" ? Count * (double)ElementBytes : BufferBytes;
            return Collective == "AllReduce" ? 2.0 * (p - 1) / p * buffer : (p - 1.0) / p * buffer;
        }
    }

    public static NcclPlan AllReduce(int ranks, long elements, int elementBytes) => new("AllReduce", Enumerable.Repeat(elements, ranks).ToArray(), 1, elementBytes);
    public static NcclPlan AllGather(long[] rows, long rowElements, int elementBytes) => new("AllGather", rows, rowElements, elementBytes);
    public static NcclPlan ReduceScatter(long[] rows, long rowElements, int elementBytes) => new("ReduceScatter", rows, rowElements, elementBytes);
}

/// <summary>
/// <see cref="ICollective"/> over NCCL for CUDA tensors, on their device pointers (<c>data_ptr</c>), on the default
/// stream. The communicator is bootstrapped through MPI: rank 0 makes the <c>ncclUniqueId</c> and MPI broadcasts its 128
/// bytes; every rank then calls <c>ncclCommInitRank</c>. Row counts (for uneven shards) go over MPI too. One GPU per rank.
/// </summary>
public sealed unsafe class NcclCollective : ICollective, IDisposable
{
    private readonly MpiCollective _mpi;
    private IntPtr _comm;

    /// <summary>Bootstraps NCCL over <paramref name="mpi"/>'s ranks; throws a clear error where libnccl is missing.</summary>
    public NcclCollective(MpiCollective mpi)
    {
        _mpi = mpi;
        if (!NcclApi.Available(out var why)) throw new DllNotFoundException($"NCCL: {why}.");
        var id = new NcclApi.UniqueId();
        if (mpi.Rank == 0) Check(NcclApi.ncclGetUniqueId(&id), "ncclGetUniqueId");
        var bytes = id.ToBytes();
        mpi.Broadcast(bytes, root: 0);
        id = NcclApi.UniqueId.From(bytes);
        IntPtr comm;
        Check(NcclApi.ncclCommInitRank(&comm, mpi.Size, id, mpi.Rank), "ncclCommInitRank");
        _comm = comm;
    }

    public int Rank => _mpi.Rank;
    public int Size => _mpi.Size;
    public string Engine => "NCCL (bootstrapped over MPI)";

    public void AllReduce(Tensor tensor, CollectiveOp op)
    {
        CheckCuda(tensor);
        var plan = NcclPlan.AllReduce(Size, tensor.numel(), (int)tensor.ElementSize);
        Check(NcclApi.ncclAllReduce((IntPtr)Collectives.DataPointer(tensor), (IntPtr)Collectives.DataPointer(tensor), (nuint)plan.Count, Type(tensor.dtype), Op(op), _comm, IntPtr.Zero), "ncclAllReduce");
        Sync();
    }

    public Tensor AllGather(Tensor tensor)
    {
        CheckCuda(tensor);
        using var local = tensor.contiguous();
        long rowElements = local.shape.Skip(1).Aggregate(1L, (a, b) => a * b);
        var plan = NcclPlan.AllGather(_mpi.Gather(local.shape[0]), rowElements, (int)local.ElementSize);
        using var slot = zeros(new[] { plan.PaddedRows }.Concat(local.shape.Skip(1)).ToArray(), local.dtype, local.device);
        slot.narrow(0, 0, local.shape[0]).copy_(local);
        using var padded = empty(new[] { Size * plan.PaddedRows }.Concat(local.shape.Skip(1)).ToArray(), local.dtype, local.device);
        Check(NcclApi.ncclAllGather((IntPtr)Collectives.DataPointer(slot), (IntPtr)Collectives.DataPointer(padded), (nuint)plan.Count, Type(local.dtype), _comm, IntPtr.Zero), "ncclAllGather");
        Sync();
        return cat(plan.RowsPerRank.Select((rows, r) => padded.narrow(0, r * plan.PaddedRows, rows)).ToArray(), 0);
    }

    public Tensor ReduceScatter(Tensor tensor, long[] counts)
    {
        CheckCuda(tensor);
        using var all = tensor.contiguous();
        long rowElements = all.shape.Skip(1).Aggregate(1L, (a, b) => a * b);
        var plan = NcclPlan.ReduceScatter(counts, rowElements, (int)all.ElementSize);
        var rest = all.shape.Skip(1).ToArray();
        using var padded = zeros(new[] { Size * plan.PaddedRows }.Concat(rest).ToArray(), all.dtype, all.device);
        for (int r = 0, start = 0; r < Size; start += (int)counts[r], r++)
            padded.narrow(0, r * plan.PaddedRows, counts[r]).copy_(all.narrow(0, start, counts[r]));
        using var mine = empty(new[] { plan.PaddedRows }.Concat(rest).ToArray(), all.dtype, all.device);
        Check(NcclApi.ncclReduceScatter((IntPtr)Collectives.DataPointer(padded), (IntPtr)Collectives.DataPointer(mine), (nuint)plan.Count, Type(all.dtype), NcclApi.RedOp.Sum, _comm, IntPtr.Zero), "ncclReduceScatter");
        Sync();
        return mine.narrow(0, 0, counts[Rank]).clone();
    }

    public void Dispose()
    {
        if (_comm == IntPtr.Zero) return;
        NcclApi.ncclCommDestroy(_comm);
        _comm = IntPtr.Zero;
    }

    private static void Sync() => Check(NcclApi.cudaStreamSynchronize(IntPtr.Zero), "cudaStreamSynchronize");

    /// <summary>NCCL's data type for a tensor dtype.</summary>
    public static NcclApi.DataType Type(ScalarType t) => t switch
    {
        ScalarType.Float64 => NcclApi.DataType.Float64,
        ScalarType.Float32 => NcclApi.DataType.Float32,
        ScalarType.Float16 => NcclApi.DataType.Float16,
        ScalarType.BFloat16 => NcclApi.DataType.Bfloat16,
        ScalarType.Int64 => NcclApi.DataType.Int64,
        _ => throw new NotSupportedException($"NCCL collectives here take float64, float32, float16, bfloat16 and int64 tensors; got {t}."),
    };

    /// <summary>NCCL's reduction op.</summary>
    public static NcclApi.RedOp Op(CollectiveOp op) => op switch
    {
        CollectiveOp.Sum => NcclApi.RedOp.Sum,
        CollectiveOp.Max => NcclApi.RedOp.Max,
        CollectiveOp.Min => NcclApi.RedOp.Min,
        _ => throw new ArgumentOutOfRangeException(nameof(op)),
    };

    private static void CheckCuda(Tensor t)
    {
        if (t.device_type != TorchSharp.DeviceType.CUDA) throw new ArgumentException($"NCCL collectives take CUDA tensors; got one on {t.device} (CPU tensors go through MpiCollective).", nameof(t));
    }

    private static void Check(int rc, string call)
    {
        if (rc == 0) return;
        string? text = null;
        try { text = Marshal.PtrToStringAnsi(NcclApi.ncclGetErrorString(rc)); } catch (DllNotFoundException) { }
        throw new InvalidOperationException($"{call} failed: NCCL result {rc}{(text is null ? "" : $" ({text})")}.");
    }
}
