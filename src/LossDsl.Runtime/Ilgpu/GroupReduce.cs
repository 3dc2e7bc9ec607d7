using ILGPU;

namespace LossDsl.Runtime;

/// <summary>
/// Group-wide reductions for the generated ILGPU kernels: each thread brings its own accumulators, and every thread of the
/// group gets the group's result. A warp merges with a butterfly of shuffles (every lane ends with the same value, since each
/// merge is commutative), then each warp's result goes through shared memory and every thread merges them in warp order,
/// so the result is deterministic and the same in every thread. Works for groups of up to 32 warps, on every accelerator
/// (ILGPU's CPU accelerator simulates warps and shared memory).
/// </summary>
public static class GroupReduce
{
    public static float Sum(float x) => AllReduce<float, SumF>(x);

    public static double Sum(double x) => AllReduce<double, SumD>(x);

    /// <summary>The group's maximum and the smallest index where it occurs; a NaN wins.</summary>
    public static void Max(ref float value, ref long index) => Select<Greater>(ref value, ref index);

    /// <inheritdoc cref="Max(ref float, ref long)"/>
    public static void Max(ref double value, ref long index) => Select<Greater>(ref value, ref index);

    /// <summary>The group's minimum and the smallest index where it occurs; a NaN wins.</summary>
    public static void Min(ref float value, ref long index) => Select<Less>(ref value, ref index);

    /// <inheritdoc cref="Min(ref float, ref long)"/>
    public static void Min(ref double value, ref long index) => Select<Less>(ref value, ref index);

    private static void Select<TOrder>(ref float value, ref long index) where TOrder : struct, IOrder
    {
        var r = AllReduce<ArgF<TOrder>, ArgF<TOrder>>(new ArgF<TOrder> { Value = value, Index = index });
        value = r.Value;
        index = r.Index;
    }

    private static void Select<TOrder>(ref double value, ref long index) where TOrder : struct, IOrder
    {
        var r = AllReduce<ArgD<TOrder>, ArgD<TOrder>>(new ArgD<TOrder> { Value = value, Index = index });
        value = r.Value;
        index = r.Index;
    }

    /// <summary>Merges online log-sum-exp accumulators (max, Σ e^(x − max)); an empty one has sum 0, a NaN sum propagates.</summary>
    public static void LogSumExp(ref float max, ref float sum)
    {
        var r = AllReduce<LseF, LseF>(new LseF { Max = max, Sum = sum });
        max = r.Max;
        sum = r.Sum;
    }

    /// <inheritdoc cref="LogSumExp(ref float, ref float)"/>
    public static void LogSumExp(ref double max, ref double sum)
    {
        var r = AllReduce<LseD, LseD>(new LseD { Max = max, Sum = sum });
        max = r.Max;
        sum = r.Sum;
    }

    private static T AllReduce<T, TMerge>(T x) where T : unmanaged where TMerge : struct, IMerge<T>
    {
        var perWarp = SharedMemory.Allocate<T>(32);
        for (int lanes = Warp.WarpSize / 2; lanes > 0; lanes >>= 1)
            x = default(TMerge).Merge(x, Warp.ShuffleXor(x, lanes));
        if (Warp.IsFirstLane) perWarp[Warp.WarpIdx] = x;
        Group.Barrier();
        int warps = (Group.DimX + Warp.WarpSize - 1) / Warp.WarpSize;
        x = perWarp[0];
        for (int w = 1; w < warps; w++) x = default(TMerge).Merge(x, perWarp[w]);
        // Before a later reduction of the same call site (a loop) overwrites perWarp.
        Group.Barrier();
        return x;
    }

    private interface IMerge<T> where T : unmanaged
    {
        T Merge(T a, T b);
    }

    private struct SumF : IMerge<float>
    {
        public readonly float Merge(float a, float b) => a + b;
    }

    private struct SumD : IMerge<double>
    {
        public readonly double Merge(double a, double b) => a + b;
    }

    /// <summary>The order a selecting reduction keeps the extreme of (the reduction table's <c>Compare</c>).</summary>
    private interface IOrder
    {
        /// <summary>Whether <paramref name="a"/> beats <paramref name="b"/> strictly.</summary>
        bool Beats(float a, float b);

        /// <inheritdoc cref="Beats(float, float)"/>
        bool Beats(double a, double b);
    }

    private struct Greater : IOrder
    {
        public readonly bool Beats(float a, float b) => a > b;
        public readonly bool Beats(double a, double b) => a > b;
    }

    private struct Less : IOrder
    {
        public readonly bool Beats(float a, float b) => a < b;
        public readonly bool Beats(double a, double b) => a < b;
    }

    /// <summary>
    /// (extreme, index) of a selecting reduction: the value that beats the other wins, on ties the smaller index (a thread
    /// that saw no element has index −1 and loses ties); a NaN wins, the earlier NaN among two.
    /// </summary>
    private struct ArgF<TOrder> : IMerge<ArgF<TOrder>> where TOrder : struct, IOrder
    {
        public float Value;
        public long Index;

        public readonly ArgF<TOrder> Merge(ArgF<TOrder> a, ArgF<TOrder> b)
        {
            bool aNaN = float.IsNaN(a.Value), bNaN = float.IsNaN(b.Value);
            bool takeB = aNaN || bNaN ? bNaN && (!aNaN || b.Index < a.Index)
                : default(TOrder).Beats(b.Value, a.Value) || (b.Value == a.Value && b.Index >= 0 && (a.Index < 0 || b.Index < a.Index));
            return takeB ? b : a;
        }
    }

    /// <inheritdoc cref="ArgF{TOrder}"/>
    private struct ArgD<TOrder> : IMerge<ArgD<TOrder>> where TOrder : struct, IOrder
    {
        public double Value;
        public long Index;

        public readonly ArgD<TOrder> Merge(ArgD<TOrder> a, ArgD<TOrder> b)
        {
            bool aNaN = double.IsNaN(a.Value), bNaN = double.IsNaN(b.Value);
            bool takeB = aNaN || bNaN ? bNaN && (!aNaN || b.Index < a.Index)
                : default(TOrder).Beats(b.Value, a.Value) || (b.Value == a.Value && b.Index >= 0 && (a.Index < 0 || b.Index < a.Index));
            return takeB ? b : a;
        }
    }

    private struct LseF : IMerge<LseF>
    {
        public float Max, Sum;

        public readonly LseF Merge(LseF a, LseF b)
        {
            float max = a.Max >= b.Max ? a.Max : b.Max;
            if (float.IsNaN(a.Max) || float.IsNaN(b.Max)) max = float.NaN;
            float sa = a.Sum == 0 ? 0 : a.Sum * LossKernelMath.Exp(a.Max - max), sb = b.Sum == 0 ? 0 : b.Sum * LossKernelMath.Exp(b.Max - max);
            return new LseF { Max = max, Sum = sa + sb };
        }
    }

    private struct LseD : IMerge<LseD>
    {
        public double Max, Sum;

        public readonly LseD Merge(LseD a, LseD b)
        {
            double max = a.Max >= b.Max ? a.Max : b.Max;
            if (double.IsNaN(a.Max) || double.IsNaN(b.Max)) max = double.NaN;
            double sa = a.Sum == 0 ? 0 : a.Sum * LossKernelMath.Exp(a.Max - max), sb = b.Sum == 0 ? 0 : b.Sum * LossKernelMath.Exp(b.Max - max);
            return new LseD { Max = max, Sum = sa + sb };
        }
    }
}
