using System.Diagnostics;
using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using LossDsl.Runtime;
using static TorchSharp.torch;

namespace LossDsl.GpuCheck;

/// <summary>
/// One loss on one set of random inputs: in host memory for the fused CPU kernels, and in accelerator memory
/// (<see cref="Memory"/>), stored as float32, bfloat16 or float64, for the ILGPU kernels, which read it through views that
/// allocate nothing. With bfloat16 storage the host values are the rounded ones, so both sides see the same numbers. With
/// float64 both sides compute in double (the float64 kernels) and the predictions are 25·N(0, 1), large enough that
/// Softplus, LogSigmoid and Log1p run in their tails. Mean reduction, nothing ignored.
/// </summary>
internal sealed unsafe class Problem : IDisposable
{
    private readonly LossDefinition _def;
    private readonly KernelShape _shape;
    private readonly long _numel;
    private readonly List<float[]> _spans = new(), _inputs = new();
    private readonly List<long[]> _targets = new();
    private readonly List<GCHandle> _pins = new();
    private readonly Memory _memory;
    private readonly List<(IntPtr Address, long Bytes)> _device = new();
    private IntPtr _dLoss, _dGrad, _dPartials, _dHyper;
    private readonly double[] _hyper;

    private readonly ScalarType _storage;

    private Problem(LossDefinition def, long[] dims, double[] hyper, Memory memory, int seed, ScalarType storage)
    {
        if (storage == ScalarType.BFloat16 && def.Layout.Multiclass)
            throw new NotSupportedException("multiclass kernels read float32 per-pixel statistics; half inputs are converted first");
        _storage = storage;
        _def = def;
        _memory = memory;
        _hyper = hyper;
        var layout = def.Layout.Segments(dims, def.PartialSlots);
        var shape = layout.Shape;
        shape.GradScale = 1.0 / Math.Max(1, layout.Count);
        shape.IgnoreIndex = def.Layout.RowTargets ? -100 : long.MinValue;
        _numel = dims.Aggregate(1L, (a, b) => a * b);
        var rng = new Random(seed);
        float scale = storage == ScalarType.Float64 ? 25 : 2;
        long perSegment = layout.PerSegment.Aggregate(1L, (a, b) => a * b);
        foreach (var role in def.Roles)
            switch (role)
            {
                case TensorRole.Span:
                    _spans.Add(Fill(_numel, _spans.Count == 0 ? () => scale * Normal(rng) : () => rng.Next(2)));
                    break;
                case TensorRole.Input:
                    bool prediction = def.Layout.PerElement && _inputs.Count == 0;
                    _inputs.Add(Fill(def.Layout.PerElement ? _numel : perSegment, prediction ? () => scale * Normal(rng) : () => (float)rng.NextDouble()));
                    break;
                case TensorRole.Target:
                    long classes = def.Layout is PairRowLayout ? Math.Min(8, dims[0]) : dims[1];
                    _targets.Add(Enumerable.Range(0, (int)dims[0]).Select(_ => rng.NextInt64(classes)).ToArray());
                    break;
                case TensorRole.ClassMask:
                    MulticlassSpans(masked: true);
                    break;
            }
        // A multiclass loss without a class mask reads only the probabilities: every pixel is kept (class 0).
        if (def.Layout.Multiclass && !def.Roles.Contains(TensorRole.ClassMask)) MulticlassSpans(masked: false);
        _shape = shape;
        if (storage == ScalarType.BFloat16)
            foreach (var a in _spans.Concat(_inputs))
                for (int i = 0; i < a.Length; i++) a[i] = BitConverter.UInt32BitsToSingle((uint)ToBFloat16(a[i]) << 16);
        int inputBytes = storage == ScalarType.BFloat16 ? 2 : Real;
        Bytes = inputBytes * (_spans.Sum(s => (long)s.Length) + _inputs.Sum(s => (long)s.Length)) + Real * (_numel + shape.Segments) + 8 * _targets.Sum(t => (long)t.Length);

        // Multiclass sets read the logits, then per pixel the class and log Σ_c e^z (as the runtime prepares them), in the
        // kernel ABI's order on every backend.
        void MulticlassSpans(bool masked)
        {
            long images = dims[0], c = dims[1], pixels = _numel / (images * c);
            var logits = _spans[0];
            var lse = new float[images * pixels];
            fixed (float* z = logits, l = lse) PixelSoftmax.LogSumExp(z, l, images, c, pixels);
            var pixelClasses = Enumerable.Range(0, lse.Length).Select(_ => masked ? (float)rng.Next((int)c) : 0f).ToArray();
            _spans.Clear();
            _spans.AddRange(KernelAbi.MulticlassSpans.Of(logits, pixelClasses, lse));
            shape.Classes = c;
            shape.Pixels = images * pixels;
            shape.Count = shape.Length;
        }
    }

    /// <summary>Bytes of a computed value: 8 in float64, 4 otherwise.</summary>
    private int Real => _storage == ScalarType.Float64 ? 8 : 4;

    /// <summary>Bytes the call must move at least: each input read once, the gradient and the loss written once.</summary>
    public long Bytes { get; }

    public static Problem Random(GpuCheckLoss loss, long[] dims, Memory memory, int seed, ScalarType storage = ScalarType.Float32)
        => new(loss.Definition, dims, loss.Hyper, memory, seed, storage);

    /// <summary>float32 to bfloat16, rounding to nearest even (NaN stays NaN).</summary>
    private static ushort ToBFloat16(float f)
    {
        uint bits = BitConverter.SingleToUInt32Bits(f);
        if (float.IsNaN(f)) return (ushort)((bits >> 16) | 0x40);
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }

    private static float Normal(Random rng) => (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));

    private float[] Fill(long n, Func<float> value)
    {
        var a = GC.AllocateUninitializedArray<float>(checked((int)n), pinned: true);
        for (long i = 0; i < n; i++) a[i] = value();
        return a;
    }

    /// <summary>The fused CPU kernels on the host arrays, one thread, one chunk per set.</summary>
    public (double[] Loss, double[] Grad) RunCpu()
        => _storage == ScalarType.Float64
            ? RunCpu(_spans.Select(Widen).ToArray(), _inputs.Select(Widen).ToArray(), new double[Math.Max(1, _shape.Segments)], new double[Math.Max(1, _numel)], ScalarType.Float64)
            : RunCpu(_spans.ToArray(), _inputs.ToArray(), new float[Math.Max(1, _shape.Segments)], new float[Math.Max(1, _numel)], ScalarType.Float32);

    private static double[] Widen(float[] a) => a.Select(f => (double)f).ToArray();

    private static double[] Widen(Array a) => a is double[] d ? d : Widen((float[])a);

    private (double[] Loss, double[] Grad) RunCpu(Array[] spans, Array[] inputs, Array loss, Array grad, ScalarType dtype)
    {
        var pins = spans.Concat(inputs).Select(a => GCHandle.Alloc(a, GCHandleType.Pinned)).Concat(_targets.Select(t => GCHandle.Alloc(t, GCHandleType.Pinned)))
            .Append(GCHandle.Alloc(loss, GCHandleType.Pinned)).Append(GCHandle.Alloc(grad, GCHandleType.Pinned)).ToList();
        try
        {
            nint At(object a) => pins.First(p => ReferenceEquals(p.Target, a)).AddrOfPinnedObject();
            var partials = new double[Math.Max(1, _shape.Segments * Math.Max(1, _shape.PartialSlots))];
            var args = new CpuArgs(_shape, spans.Select(At).ToArray(), inputs.Select(At).ToArray(), _targets.Select(At).ToArray(), _hyper, At(loss), At(grad), partials);
            int items = _shape.Segments;
            foreach (var kernel in _def.KernelsFor<CpuKernel>(Backend.Cpu, dtype)!) kernel(args, 0, items);
        }
        finally
        {
            foreach (var p in pins) p.Free();
        }
        return (Widen(loss), Widen(grad));
    }

    /// <summary>The ILGPU kernels on the accelerator memory: one call, forward and backward (not synchronized).</summary>
    public void RunIlgpu(Accelerator acc, Memory memory)
    {
        if (_dGrad == IntPtr.Zero) Upload(memory);
        if (_storage == ScalarType.BFloat16) Launch<BF16, float>(acc);
        else if (_storage == ScalarType.Float64) Launch<double, double>(acc);
        else Launch<F32, float>(acc);
    }

    private void Launch<TIn, T>(Accelerator acc) where TIn : unmanaged where T : unmanaged
    {
        var shape = _shape;
        var (group, groups) = KernelLauncher.Layout(acc, _def, ref shape, onlySum: false);
        var wrappers = new List<MemoryBuffer>();
        ArrayView<T> View<T>(IntPtr address, long n) where T : unmanaged
        {
            var w = new ForeignMemory(acc, address, n, sizeof(T));
            wrappers.Add(w);
            return new ArrayView<T>(w, 0, n);
        }
        var v = new LossViews<TIn, T>();
        int k = 0;
        for (int i = 0; i < _spans.Count; i++) v.SetSpan(i, View<TIn>(_device[k++].Address, _spans[i].Length));
        for (int i = 0; i < _inputs.Count; i++) v.SetInput(i, View<TIn>(_device[k++].Address, _inputs[i].Length));
        for (int i = 0; i < _targets.Count; i++) v.SetTarget(i, View<long>(_device[k++].Address, _targets[i].Length));
        v.Hyper = View<double>(_dHyper, Math.Max(1, _hyper.Length));
        v.Loss = View<T>(_dLoss, Math.Max(1, _shape.Segments));
        v.Grad = View<T>(_dGrad, Math.Max(1, _numel));
        v.Partials = View<double>(_dPartials, _partialsLength);
        var config = new KernelConfig(groups, group);
        foreach (var kernel in _def.KernelsFor<LossKernel<TIn, T>>(Backend.Ilgpu, _storage)!)
            LossAccelerator.Load(kernel)(acc.DefaultStream, config, shape, v);
        foreach (var w in wrappers) w.Dispose();
    }

    /// <summary>Doubles of partials the launch needs: per (set, chunk) for set losses, none otherwise (the check never sums losses in the kernel).</summary>
    private long _partialsLength;

    private void Upload(Memory memory)
    {
        foreach (var a in _spans.Concat(_inputs))
            _device.Add(_storage switch
            {
                ScalarType.BFloat16 => Put(memory, a.Select(f => ToBFloat16(f)).ToArray(), a.Length * 2L),
                ScalarType.Float64 => Put(memory, Widen(a), a.Length * 8L),
                _ => Put(memory, a, a.Length * 4L),
            });
        foreach (var t in _targets) _device.Add(Put(memory, t, t.Length * 8L));
        _dHyper = Put(memory, _hyper.Length == 0 ? new double[1] : _hyper, Math.Max(1, _hyper.Length) * 8L).Address;
        _dLoss = Alloc(memory, Math.Max(1, _shape.Segments) * (long)Real);
        _dGrad = Alloc(memory, Math.Max(1, _numel) * (long)Real);
        var shape = _shape;
        KernelLauncher.Layout(LossAccelerator.Current, _def, ref shape, onlySum: false);
        _partialsLength = _def.Chunked ? (long)shape.Segments * shape.Chunks * Math.Max(1, shape.PartialSlots) : 1;
        _dPartials = Alloc(memory, _partialsLength * 8);
    }

    private IntPtr Alloc(Memory memory, long bytes)
    {
        var p = memory.Alloc(bytes);
        _device.Add((p, bytes));
        return p;
    }

    private (IntPtr Address, long Bytes) Put(Memory memory, Array a, long bytes)
    {
        var p = memory.Alloc(bytes);
        var h = GCHandle.Alloc(a, GCHandleType.Pinned);
        try { memory.Upload(p, (void*)h.AddrOfPinnedObject(), bytes); }
        finally { h.Free(); }
        return (p, bytes);
    }

    public (double[] Loss, double[] Grad) Download(Memory memory)
    {
        Array loss = _storage == ScalarType.Float64 ? new double[Math.Max(1, _shape.Segments)] : new float[Math.Max(1, _shape.Segments)];
        Array grad = _storage == ScalarType.Float64 ? new double[Math.Max(1, _numel)] : new float[Math.Max(1, _numel)];
        memory.Synchronize(LossAccelerator.Current);
        var hl = GCHandle.Alloc(loss, GCHandleType.Pinned);
        var hg = GCHandle.Alloc(grad, GCHandleType.Pinned);
        try
        {
            memory.Download((void*)hl.AddrOfPinnedObject(), _dLoss, loss.Length * (long)Real);
            memory.Download((void*)hg.AddrOfPinnedObject(), _dGrad, grad.Length * (long)Real);
        }
        finally
        {
            hl.Free();
            hg.Free();
        }
        return (Widen(loss), Widen(grad));
    }

    public void Dispose()
    {
        foreach (var (p, _) in _device.DistinctBy(d => d.Address)) _memory.Free(p);
        _device.Clear();
    }
}

/// <summary>Where the ILGPU kernels' data lives: CUDA device memory in the current (primary) context, or host memory.</summary>
internal abstract unsafe class Memory
{
    public abstract IntPtr Alloc(long bytes);
    public abstract void Free(IntPtr p);
    public abstract void Upload(IntPtr target, void* source, long bytes);
    public abstract void Download(void* target, IntPtr source, long bytes);
    public abstract void Copy(IntPtr target, IntPtr source, long bytes);
    public abstract void Synchronize(Accelerator acc);

    /// <summary>Bytes read + written per second by a device-to-device copy of <paramref name="bytes"/>.</summary>
    public double CopyBandwidth(long bytes, int reps)
    {
        var a = Alloc(bytes);
        var b = Alloc(bytes);
        try
        {
            Copy(b, a, bytes);
            Synchronize(LossAccelerator.Current);
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < reps; i++) Copy(b, a, bytes);
            Synchronize(LossAccelerator.Current);
            return 2.0 * bytes * reps / clock.Elapsed.TotalSeconds;
        }
        finally
        {
            Free(a);
            Free(b);
        }
    }
}

/// <summary>cuMemAlloc in the primary context, which the accelerator made current: how libtorch obtains CUDA memory.</summary>
internal sealed unsafe class CudaMemory : Memory
{
    public CudaMemory(Accelerator acc) => CudaPrimaryContext.MakeCurrent(acc);
    public override IntPtr Alloc(long bytes) => CudaDriver.Alloc(bytes);
    public override void Free(IntPtr p) => CudaDriver.Free(p);
    public override void Upload(IntPtr target, void* source, long bytes) => CudaDriver.CopyToDevice(target, source, bytes);
    public override void Download(void* target, IntPtr source, long bytes) => CudaDriver.CopyToHost(target, source, bytes);
    public override void Copy(IntPtr target, IntPtr source, long bytes) => CudaDriver.CopyOnDevice(target, source, bytes);
    public override void Synchronize(Accelerator acc) => CudaDriver.Synchronize();
}

/// <summary>Host memory, for ILGPU's CPU accelerator (the dry run).</summary>
internal sealed unsafe class HostMemory : Memory
{
    public override IntPtr Alloc(long bytes) => (IntPtr)NativeMemory.AlignedAlloc((nuint)Math.Max(1, bytes), 64);
    public override void Free(IntPtr p) => NativeMemory.AlignedFree((void*)p);
    public override void Upload(IntPtr target, void* source, long bytes) => Buffer.MemoryCopy(source, (void*)target, bytes, bytes);
    public override void Download(void* target, IntPtr source, long bytes) => Buffer.MemoryCopy((void*)source, target, bytes, bytes);
    public override void Copy(IntPtr target, IntPtr source, long bytes) => Buffer.MemoryCopy((void*)source, (void*)target, bytes, bytes);
    public override void Synchronize(Accelerator acc) => acc.Synchronize();
}
