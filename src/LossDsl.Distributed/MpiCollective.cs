using System;
using System.Linq;
using System.Reflection;
using System.Runtime.InteropServices;
using LossDsl.Runtime.Distributed;
using static TorchSharp.torch;
using Mpi = MPI.Unsafe;

namespace LossDsl.Distributed;

/// <summary>
/// <see cref="ICollective"/> over MPI, for CPU tensors: MPI.NET 1.4.0's C-API bindings (<c>MPI.Unsafe</c>) on Debian's
/// MPICH. MPI.NET was built for MS-MPI, whose ABI is MPICH's (integer handles with the same values, e.g.
/// MPI_COMM_WORLD = 0x44000000), so a DLL-import resolver maps its <c>msmpi</c> imports to <c>libmpich.so.12</c>. Open
/// MPI's ABI (pointer handles) is not compatible: the same calls crash there (docs/distributed.md). Collectives go
/// straight between the tensors' memory, with no managed copy.
/// </summary>
public sealed unsafe class MpiCollective : ICollective, IDisposable
{
    /// <summary>The MPI library the resolver loads, unless LOSSDSL_MPI_LIBRARY names another MPICH-ABI library.</summary>
    public const string DefaultLibrary = "libmpich.so.12";

    private static readonly object s_lock = new();
    private static bool s_resolverSet;
    private static MpiCollective? s_world;
    private readonly int _comm;
    private bool _finalized;

    private MpiCollective(int comm)
    {
        _comm = comm;
        int rank, size;
        Check(Mpi.MPI_Comm_rank(comm, out rank), "MPI_Comm_rank");
        Check(Mpi.MPI_Comm_size(comm, out size), "MPI_Comm_size");
        Rank = rank;
        Size = size;
    }

    /// <summary>
    /// MPI_COMM_WORLD, initializing MPI on the first call (one per process; <see cref="Dispose"/> finalizes it). Throws a
    /// clear error when no MPICH library is installed (eng/mpi/install.sh).
    /// </summary>
    public static MpiCollective World()
    {
        lock (s_lock)
        {
            if (s_world is not null) return s_world;
            UseMpich();
            int argc = 0;
            byte** argv = null;
            try
            {
                Check(Mpi.MPI_Init(ref argc, ref argv), "MPI_Init");
            }
            catch (DllNotFoundException e)
            {
                throw new DllNotFoundException($"MPI: {Library} could not be loaded ({e.Message}). Install MPICH with `bash eng/mpi/install.sh` (Debian: apt-get install mpich libmpich-dev) and launch with `mpiexec.mpich -np N`.", e);
            }
            return s_world = new MpiCollective(Mpi.MPI_COMM_WORLD);
        }
    }

    /// <summary>The library the msmpi imports are resolved to.</summary>
    public static string Library => Environment.GetEnvironmentVariable("LOSSDSL_MPI_LIBRARY") is { Length: > 0 } l ? l : DefaultLibrary;

    /// <summary>Maps MPI.NET's msmpi imports to MPICH (once per process).</summary>
    public static void UseMpich()
    {
        lock (s_lock)
        {
            if (s_resolverSet) return;
            NativeLibrary.SetDllImportResolver(typeof(MPI.Environment).Assembly, (name, assembly, path) =>
                name.StartsWith("msmpi", StringComparison.OrdinalIgnoreCase) ? NativeLibrary.Load(Library) : IntPtr.Zero);
            s_resolverSet = true;
        }
    }

    public int Rank { get; }
    public int Size { get; }
    public string Engine => $"MPI ({Library} via MPI.NET)";

    /// <summary>The MPI communicator handle (for bootstrapping NCCL).</summary>
    public int Communicator => _comm;

    public void AllReduce(Tensor tensor, CollectiveOp op)
    {
        CheckCpu(tensor, nameof(AllReduce));
        if (!tensor.is_contiguous()) throw new ArgumentException("An in-place all-reduce needs a contiguous tensor; call .contiguous() first.", nameof(tensor));
        long n = tensor.numel();
        if (n == 0) return;
        using var send = tensor.clone();
        Check(Mpi.MPI_Allreduce(Pointer(send), Pointer(tensor), Count(n), DataType(tensor.dtype), Op(op), _comm), "MPI_Allreduce");
    }

    public Tensor AllGather(Tensor tensor)
    {
        CheckCpu(tensor, nameof(AllGather));
        using var local = tensor.contiguous();
        long rowElements = local.shape.Skip(1).Aggregate(1L, (a, b) => a * b);
        var rows = GatherCounts(local.dim() == 0 ? 1 : local.shape[0]);
        var shape = local.dim() == 0 ? new[] { rows.Sum() } : local.shape.ToArray();
        shape[0] = rows.Sum();
        var result = empty(shape, local.dtype);
        var counts = rows.Select(r => Count(r * rowElements)).ToArray();
        var displs = new int[Size];
        for (int r = 1; r < Size; r++) displs[r] = checked(displs[r - 1] + counts[r - 1]);
        var type = DataType(local.dtype);
        Check(Mpi.MPI_Allgatherv(Pointer(local), counts[Rank], type, Pointer(result), counts, displs, type, _comm), "MPI_Allgatherv");
        return result;
    }

    public Tensor ReduceScatter(Tensor tensor, long[] counts)
    {
        CheckCpu(tensor, nameof(ReduceScatter));
        if (counts.Length != Size) throw new ArgumentException($"ReduceScatter takes one count per rank ({Size}); got {counts.Length}.", nameof(counts));
        if (tensor.dim() == 0 || tensor.shape[0] != counts.Sum())
            throw new ArgumentException($"ReduceScatter's tensor has {(tensor.dim() == 0 ? 0 : tensor.shape[0])} rows; the counts add up to {counts.Sum()}.", nameof(counts));
        using var all = tensor.contiguous();
        long rowElements = all.shape.Skip(1).Aggregate(1L, (a, b) => a * b);
        var shape = all.shape.ToArray();
        shape[0] = counts[Rank];
        var result = empty(shape, all.dtype);
        var recv = counts.Select(c => Count(c * rowElements)).ToArray();
        Check(Mpi.MPI_Reduce_scatter(Pointer(all), Pointer(result), recv, DataType(all.dtype), Mpi.MPI_SUM, _comm), "MPI_Reduce_scatter");
        return result;
    }

    /// <summary>Broadcasts <paramref name="bytes"/> from <paramref name="root"/> (NCCL's unique id).</summary>
    public void Broadcast(byte[] bytes, int root)
    {
        fixed (byte* p = bytes) Check(Mpi.MPI_Bcast((IntPtr)p, bytes.Length, Mpi.MPI_BYTE, root, _comm), "MPI_Bcast");
    }

    /// <summary>Waits for every rank.</summary>
    public void Barrier() => Check(Mpi.MPI_Barrier(_comm), "MPI_Barrier");

    /// <summary>Ends every rank's MPI at once (a failing rank, so that the others do not wait for it).</summary>
    public void Abort(int code) => Mpi.MPI_Abort(_comm, code);

    /// <summary>Finalizes MPI (after the last collective of the process).</summary>
    public void Dispose()
    {
        lock (s_lock)
        {
            if (_finalized) return;
            _finalized = true;
            Mpi.MPI_Finalize();
        }
    }

    private long[] GatherCounts(long count)
    {
        var all = new long[Size];
        fixed (long* p = all)
        {
            long mine = count;
            Check(Mpi.MPI_Allgather((IntPtr)(&mine), 1, Mpi.MPI_LONG_LONG, (IntPtr)p, 1, Mpi.MPI_LONG_LONG, _comm), "MPI_Allgather");
        }
        return all;
    }

    private static IntPtr Pointer(Tensor t) => (IntPtr)Collectives.DataPointer(t);

    private static int Count(long n) => n <= int.MaxValue ? (int)n
        : throw new NotSupportedException($"MPI counts are 32-bit: a collective of {n} elements is too large; split it.");

    private static int DataType(ScalarType t) => t switch
    {
        ScalarType.Float64 => Mpi.MPI_DOUBLE,
        ScalarType.Float32 => Mpi.MPI_FLOAT,
        ScalarType.Int64 => Mpi.MPI_LONG_LONG,
        _ => throw new NotSupportedException($"MPI collectives here take float64, float32 and int64 tensors; got {t}."),
    };

    private static int Op(CollectiveOp op) => op switch
    {
        CollectiveOp.Sum => Mpi.MPI_SUM,
        CollectiveOp.Max => Mpi.MPI_MAX,
        CollectiveOp.Min => Mpi.MPI_MIN,
        _ => throw new ArgumentOutOfRangeException(nameof(op)),
    };

    private static void CheckCpu(Tensor t, string what)
    {
        if (t is null || t.IsInvalid) throw new ArgumentNullException(nameof(t), $"{what} takes a tensor.");
        if (t.device_type != TorchSharp.DeviceType.CPU)
            throw new ArgumentException($"MPI {what} takes CPU tensors; '{t.device}' tensors go through NcclCollective.", nameof(t));
    }

    private static void Check(int rc, string call)
    {
        if (rc != 0) throw new InvalidOperationException($"{call} failed with MPI error code {rc}.");
    }
}
