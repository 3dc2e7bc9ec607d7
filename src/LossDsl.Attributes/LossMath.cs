using System;
using System.Runtime.CompilerServices;

namespace LossDsl
{
    /// <summary>
    /// The LossDsl intrinsics. Each one is a real, numerically careful C# method, so a loss body also runs on
    /// the CPU as a scalar reference. The generator knows the derivative of every method here; a call to any
    /// other method in a loss body is a compile error (LOSS0102).
    /// Use them with <c>using static LossDsl.LossMath;</c>.
    /// </summary>
    public static class LossMath
    {
        /// <summary>Natural logarithm.</summary>
        public static float Log(float x) => (float)Math.Log(x);

        /// <summary>e raised to <paramref name="x"/>.</summary>
        public static float Exp(float x) => (float)Math.Exp(x);

        /// <summary>Square root.</summary>
        public static float Sqrt(float x) => (float)Math.Sqrt(x);

        /// <summary>Absolute value; the generated backward uses the subgradient sign(0) = 0.</summary>
        public static float Abs(float x) => Math.Abs(x);

        /// <summary>x squared.</summary>
        public static float Square(float x) => x * x;

        /// <summary>Hyperbolic tangent.</summary>
        public static float Tanh(float x) => (float)Math.Tanh(x);

        /// <summary><paramref name="x"/> raised to <paramref name="y"/>.</summary>
        public static float Pow(float x, float y) => (float)Math.Pow(x, y);

        /// <summary>The larger of two values; at a tie the backward sends the gradient to <paramref name="a"/>.</summary>
        public static float Max(float a, float b) => a >= b ? a : b;

        /// <summary>The smaller of two values; at a tie the backward sends the gradient to <paramref name="a"/>.</summary>
        public static float Min(float a, float b) => a <= b ? a : b;

        /// <summary><paramref name="x"/> limited to [<paramref name="lo"/>, <paramref name="hi"/>].</summary>
        public static float Clamp(float x, float lo, float hi) => Min(Max(x, lo), hi);

        /// <summary>The logistic sigmoid 1 / (1 + e^-x), computed without overflow.</summary>
        public static float Sigmoid(float x)
            => x >= 0 ? (float)(1.0 / (1.0 + Math.Exp(-x))) : (float)(Math.Exp(x) / (1.0 + Math.Exp(x)));

        /// <summary>log(1 + e^x), computed without overflow.</summary>
        public static float Softplus(float x) => (float)(Math.Max(x, 0.0) + Log1P(Math.Exp(-Math.Abs(x))));

        /// <summary>log σ(x) = −softplus(−x), stable for large |x|.</summary>
        public static float LogSigmoid(float x) => -Softplus(-x);

        /// <summary>The error function erf x = 2/√π ∫₀ˣ e^(−t²) dt (HL-Gauss's Gaussian bin masses).</summary>
        public static float Erf(float x) => (float)ErfSeries.Erf(x);

        /// <summary>log(1 + x), accurate for small x.</summary>
        public static float Log1P(float x) => (float)Log1P((double)x);

        /// <summary>e^x − 1, accurate for small x.</summary>
        public static float Expm1(float x) => Math.Abs(x) < 1e-4 ? (float)(x + x * (double)x / 2 + x * (double)x * x / 6) : (float)(Math.Exp(x) - 1);

        /// <summary>Cosine.</summary>
        public static float Cos(float x) => (float)Math.Cos(x);

        /// <summary>Sine.</summary>
        public static float Sin(float x) => (float)Math.Sin(x);

        /// <summary>Arctangent, in (−π/2, π/2).</summary>
        public static float Atan(float x) => (float)Math.Atan(x);

        /// <summary>
        /// <paramref name="x"/> itself, with no gradient flowing through it: PyTorch's <c>detach()</c>, JAX's
        /// <c>stop_gradient</c>. E.g. circle loss's adaptive weights, which scale the gradient without being trained.
        /// </summary>
        public static float StopGradient(float x) => x;

        [ThreadStatic] private static int t_classes;

        /// <summary>
        /// In a set loss with a class (channel) axis: the number of classes C, the size of axis 1 (of a multiclass loss, the
        /// class axis the softmax runs over). The generated code reads it from the prediction's shape. When a body runs as plain C#, set
        /// it with <see cref="WithClasses"/>.
        /// </summary>
        public static int Classes => t_classes > 0 ? t_classes
            : throw new InvalidOperationException("LossMath.Classes is the class count of a set loss; outside the generated code, set it with LossMath.WithClasses(C).");

        /// <summary>Sets <see cref="Classes"/> for this thread until the returned scope is disposed (to run a multiclass body as plain C#).</summary>
        public static IDisposable WithClasses(int classes)
        {
            if (classes < 1) throw new ArgumentOutOfRangeException(nameof(classes), classes, "At least one class.");
            int previous = t_classes;
            t_classes = classes;
            return new Restore(() => t_classes = previous);
        }

        // Reductions across the classes (channels) of a set loss: one value from the per-class values of a body that is
        // evaluated per set (generalized Dice's class weights, smp's focal Tversky's mean over the classes). A loss that
        // reads one is a single value per call (per image with LossSets.PerImage), and every per-set value it returns must
        // pass through one. Run as plain C#, a body is one set, so each returns its argument (Mean too).

        /// <summary>Σ_c <paramref name="perClass"/> over the classes (channels) of the call, or of each image with <c>LossSets.PerImage</c>.</summary>
        public static float SumOverClasses(float perClass) => perClass;

        /// <summary>The mean of <paramref name="perClass"/> over the classes (channels): <see cref="SumOverClasses"/> / C.</summary>
        public static float MeanOverClasses(float perClass) => perClass;

        /// <summary>The largest <paramref name="perClass"/> over the classes (channels).</summary>
        public static float MaxOverClasses(float perClass) => perClass;

        /// <summary>The smallest <paramref name="perClass"/> over the classes (channels).</summary>
        public static float MinOverClasses(float perClass) => perClass;

        // Reductions across the anchor rows of a pair loss ([Positives]/[Negatives] masks): one value from the per-anchor
        // values, e.g. a mean over the pairs rather than over the anchors (pytorch-metric-learning's reducers). A loss that
        // reads one is a single value per call; as plain C#, a body is one anchor, so each returns its argument.

        /// <summary>Σ_i <paramref name="perAnchor"/> over the anchor rows of the batch.</summary>
        public static float SumOverAnchors(float perAnchor) => perAnchor;

        /// <summary>The mean of <paramref name="perAnchor"/> over the anchor rows: <see cref="SumOverAnchors"/> / N.</summary>
        public static float MeanOverAnchors(float perAnchor) => perAnchor;

        /// <summary>The largest <paramref name="perAnchor"/> over the anchor rows.</summary>
        public static float MaxOverAnchors(float perAnchor) => perAnchor;

        /// <summary>The smallest <paramref name="perAnchor"/> over the anchor rows.</summary>
        public static float MinOverAnchors(float perAnchor) => perAnchor;

        private sealed class Restore : IDisposable
        {
            private Action? _undo;
            public Restore(Action undo) => _undo = undo;
            public void Dispose() { _undo?.Invoke(); _undo = null; }
        }

        // Reductions over a row or set. The element function takes one element per span, plus optionally the
        // element's index j; Sum, Mean, Max, Min and LogSumExp take every form.

        /// <summary>The sum of <paramref name="f"/> over the elements of a row or set.</summary>
        public static float Sum(ReadOnlySpan<float> a, Func<float, float> f) { var x = a.ToArray(); return SumOf(x.Length, i => f(x[i])); }

        /// <summary>The sum of <paramref name="f"/>(element, index) over a row or set.</summary>
        public static float Sum(ReadOnlySpan<float> a, Func<float, int, float> f) { var x = a.ToArray(); return SumOf(x.Length, i => f(x[i], i)); }

        /// <summary>The sum of <paramref name="f"/> over paired elements of two same-length rows or sets.</summary>
        public static float Sum(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Func<float, float, float> f) { var (x, y) = Pair(a, b); return SumOf(x.Length, i => f(x[i], y[i])); }

        /// <summary>The sum of <paramref name="f"/>(element of a, element of b, index) over two same-length rows or sets.</summary>
        public static float Sum(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Func<float, float, int, float> f) { var (x, y) = Pair(a, b); return SumOf(x.Length, i => f(x[i], y[i], i)); }

        /// <summary>The sum of the elements.</summary>
        public static float Sum(ReadOnlySpan<float> a) => Sum(a, x => x);

        // Three spans: e.g. a pair loss's row with its positive and negative masks.

        /// <summary>The sum of <paramref name="f"/> over paired elements of three same-length rows or sets.</summary>
        public static float Sum(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Func<float, float, float, float> f) { var (x, y, z) = Triple(a, b, c); return SumOf(x.Length, i => f(x[i], y[i], z[i])); }

        /// <summary>The sum of <paramref name="f"/>(elements, index) over three same-length rows or sets.</summary>
        public static float Sum(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Func<float, float, float, int, float> f) { var (x, y, z) = Triple(a, b, c); return SumOf(x.Length, i => f(x[i], y[i], z[i], i)); }

        /// <summary>The mean of <paramref name="f"/> over paired elements of three same-length rows or sets.</summary>
        public static float Mean(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Func<float, float, float, float> f) => Sum(a, b, c, f) / a.Length;

        /// <summary>The mean of <paramref name="f"/>(elements, index) over three same-length rows or sets.</summary>
        public static float Mean(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Func<float, float, float, int, float> f) => Sum(a, b, c, f) / a.Length;

        /// <summary>The largest value of <paramref name="f"/> over paired elements of three same-length rows or sets.</summary>
        public static float Max(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Func<float, float, float, float> f) { var (x, y, z) = Triple(a, b, c); return MaxOf(x.Length, i => f(x[i], y[i], z[i])); }

        /// <summary>The largest value of <paramref name="f"/>(elements, index) over three same-length rows or sets.</summary>
        public static float Max(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Func<float, float, float, int, float> f) { var (x, y, z) = Triple(a, b, c); return MaxOf(x.Length, i => f(x[i], y[i], z[i], i)); }

        /// <summary>log Σ exp(<paramref name="f"/>) over paired elements of three same-length rows or sets.</summary>
        public static float LogSumExp(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Func<float, float, float, float> f) { var (x, y, z) = Triple(a, b, c); return LogSumExpOf(x.Length, i => f(x[i], y[i], z[i])); }

        /// <summary>log Σ exp(<paramref name="f"/>(elements, index)) over three same-length rows or sets.</summary>
        public static float LogSumExp(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Func<float, float, float, int, float> f) { var (x, y, z) = Triple(a, b, c); return LogSumExpOf(x.Length, i => f(x[i], y[i], z[i], i)); }

        /// <summary>The mean of <paramref name="f"/> over the elements.</summary>
        public static float Mean(ReadOnlySpan<float> a, Func<float, float> f) => Sum(a, f) / a.Length;

        /// <summary>The mean of <paramref name="f"/>(element, index) over the elements.</summary>
        public static float Mean(ReadOnlySpan<float> a, Func<float, int, float> f) => Sum(a, f) / a.Length;

        /// <summary>The mean of <paramref name="f"/> over paired elements.</summary>
        public static float Mean(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Func<float, float, float> f) => Sum(a, b, f) / a.Length;

        /// <summary>The mean of <paramref name="f"/>(element of a, element of b, index) over paired elements.</summary>
        public static float Mean(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Func<float, float, int, float> f) => Sum(a, b, f) / a.Length;

        /// <summary>The mean of the elements.</summary>
        public static float Mean(ReadOnlySpan<float> a) => Sum(a) / a.Length;

        /// <summary>The largest element; the backward sends the gradient to the first maximal element.</summary>
        public static float Max(ReadOnlySpan<float> a) => Max(a, x => x);

        /// <summary>The largest value of <paramref name="f"/>; the backward sends the gradient to the first maximal element.</summary>
        public static float Max(ReadOnlySpan<float> a, Func<float, float> f) { var x = a.ToArray(); return MaxOf(x.Length, i => f(x[i])); }

        /// <summary>The largest value of <paramref name="f"/>(element, index); the backward sends the gradient to the first maximal element.</summary>
        public static float Max(ReadOnlySpan<float> a, Func<float, int, float> f) { var x = a.ToArray(); return MaxOf(x.Length, i => f(x[i], i)); }

        /// <summary>The largest value of <paramref name="f"/> over paired elements.</summary>
        public static float Max(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Func<float, float, float> f) { var (x, y) = Pair(a, b); return MaxOf(x.Length, i => f(x[i], y[i])); }

        /// <summary>The largest value of <paramref name="f"/>(element of a, element of b, index) over paired elements.</summary>
        public static float Max(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Func<float, float, int, float> f) { var (x, y) = Pair(a, b); return MaxOf(x.Length, i => f(x[i], y[i], i)); }

        /// <summary>The smallest element; the backward sends the gradient to the first minimal element.</summary>
        public static float Min(ReadOnlySpan<float> a) => Min(a, x => x);

        /// <summary>The smallest value of <paramref name="f"/>; the backward sends the gradient to the first minimal element.</summary>
        public static float Min(ReadOnlySpan<float> a, Func<float, float> f) { var x = a.ToArray(); return MinOf(x.Length, i => f(x[i])); }

        /// <summary>The smallest value of <paramref name="f"/>(element, index); the backward sends the gradient to the first minimal element.</summary>
        public static float Min(ReadOnlySpan<float> a, Func<float, int, float> f) { var x = a.ToArray(); return MinOf(x.Length, i => f(x[i], i)); }

        /// <summary>The smallest value of <paramref name="f"/> over paired elements.</summary>
        public static float Min(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Func<float, float, float> f) { var (x, y) = Pair(a, b); return MinOf(x.Length, i => f(x[i], y[i])); }

        /// <summary>The smallest value of <paramref name="f"/>(element of a, element of b, index) over paired elements.</summary>
        public static float Min(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Func<float, float, int, float> f) { var (x, y) = Pair(a, b); return MinOf(x.Length, i => f(x[i], y[i], i)); }

        /// <summary>The smallest value of <paramref name="f"/> over paired elements of three same-length rows or sets.</summary>
        public static float Min(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Func<float, float, float, float> f) { var (x, y, z) = Triple(a, b, c); return MinOf(x.Length, i => f(x[i], y[i], z[i])); }

        /// <summary>The smallest value of <paramref name="f"/>(elements, index) over three same-length rows or sets.</summary>
        public static float Min(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Func<float, float, float, int, float> f) { var (x, y, z) = Triple(a, b, c); return MinOf(x.Length, i => f(x[i], y[i], z[i], i)); }

        /// <summary>log Σ e^x over the elements, computed with the max shifted out.</summary>
        public static float LogSumExp(ReadOnlySpan<float> a) => LogSumExp(a, x => x);

        /// <summary>log Σ e^f(x) over the elements, computed with the max shifted out.</summary>
        public static float LogSumExp(ReadOnlySpan<float> a, Func<float, float> f) { var x = a.ToArray(); return LogSumExpOf(x.Length, i => f(x[i])); }

        /// <summary>log Σ e^f(x, j) over the elements, computed with the max shifted out.</summary>
        public static float LogSumExp(ReadOnlySpan<float> a, Func<float, int, float> f) { var x = a.ToArray(); return LogSumExpOf(x.Length, i => f(x[i], i)); }

        /// <summary>log Σ e^f(x, y) over paired elements, computed with the max shifted out.</summary>
        public static float LogSumExp(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Func<float, float, float> f) { var (x, y) = Pair(a, b); return LogSumExpOf(x.Length, i => f(x[i], y[i])); }

        /// <summary>log Σ e^f(x, y, j) over paired elements, computed with the max shifted out.</summary>
        public static float LogSumExp(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Func<float, float, int, float> f) { var (x, y) = Pair(a, b); return LogSumExpOf(x.Length, i => f(x[i], y[i], i)); }

        /// <summary>log softmax(a)[t] = a[t] − LogSumExp(a).</summary>
        public static float LogSoftmax(ReadOnlySpan<float> a, int t) => a[t] - LogSumExp(a);

        /// <summary>softmax(a)[t].</summary>
        public static float Softmax(ReadOnlySpan<float> a, int t) => (float)Math.Exp(LogSoftmax(a, t));

        // Nested reductions: the element function also gets the row, whose Sum and Mean run over its elements k for the
        // current element j (an anchor's (positive, negative) pairs, an item's smoothed rank). Spans cannot be captured by a
        // lambda, so the row comes in as its last parameter.

        /// <summary>Σ_j f(x_j, row), where f may reduce the row again for its element j: <c>row.Sum(x_k =&gt; g(x_j, x_k))</c>.</summary>
        public static float SumWithRow(ReadOnlySpan<float> a, Func<float, Row1, float> f) { var x = a.ToArray(); var row = new Row1(x); return SumOf(x.Length, i => f(x[i], row)); }

        /// <summary>Σ_j f(x_j, j, row) (see the form without an index).</summary>
        public static float SumWithRow(ReadOnlySpan<float> a, Func<float, int, Row1, float> f) { var x = a.ToArray(); var row = new Row1(x); return SumOf(x.Length, i => f(x[i], i, row)); }

        /// <summary>Σ_j f(x_j, y_j, row) over two rows (see the one-span form).</summary>
        public static float SumWithRow(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Func<float, float, Row2, float> f) { var (x, y) = Pair(a, b); var row = new Row2(x, y); return SumOf(x.Length, i => f(x[i], y[i], row)); }

        /// <summary>Σ_j f(x_j, y_j, j, row) over two rows (see the one-span form).</summary>
        public static float SumWithRow(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Func<float, float, int, Row2, float> f) { var (x, y) = Pair(a, b); var row = new Row2(x, y); return SumOf(x.Length, i => f(x[i], y[i], i, row)); }

        /// <summary>Σ_j f(x_j, y_j, z_j, row) over three rows (see the one-span form).</summary>
        public static float SumWithRow(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Func<float, float, float, Row3, float> f) { var (x, y, z) = Triple(a, b, c); var row = new Row3(x, y, z); return SumOf(x.Length, i => f(x[i], y[i], z[i], row)); }

        /// <summary>Σ_j f(x_j, y_j, z_j, j, row) over three rows (see the one-span form).</summary>
        public static float SumWithRow(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Func<float, float, float, int, Row3, float> f) { var (x, y, z) = Triple(a, b, c); var row = new Row3(x, y, z); return SumOf(x.Length, i => f(x[i], y[i], z[i], i, row)); }

        /// <summary>The row of a <c>SumWithRow</c> over one span, for a nested Sum or Mean over its elements k.</summary>
        public sealed class Row1
        {
            private readonly float[] _x;
            internal Row1(float[] x) => _x = x;
            /// <summary>Σ_k f(x_k).</summary>
            public float Sum(Func<float, float> f) => SumOf(_x.Length, k => f(_x[k]));
            /// <summary>Σ_k f(x_k, k).</summary>
            public float Sum(Func<float, int, float> f) => SumOf(_x.Length, k => f(_x[k], k));
            /// <summary>Σ_k f(x_k) / n.</summary>
            public float Mean(Func<float, float> f) => Sum(f) / _x.Length;
            /// <summary>Σ_k f(x_k, k) / n.</summary>
            public float Mean(Func<float, int, float> f) => Sum(f) / _x.Length;
        }

        /// <summary>The rows of a <c>SumWithRow</c> over two spans, for a nested Sum or Mean over their elements k.</summary>
        public sealed class Row2
        {
            private readonly float[] _x, _y;
            internal Row2(float[] x, float[] y) { _x = x; _y = y; }
            /// <summary>Σ_k f(x_k, y_k).</summary>
            public float Sum(Func<float, float, float> f) => SumOf(_x.Length, k => f(_x[k], _y[k]));
            /// <summary>Σ_k f(x_k, y_k, k).</summary>
            public float Sum(Func<float, float, int, float> f) => SumOf(_x.Length, k => f(_x[k], _y[k], k));
            /// <summary>Σ_k f(x_k, y_k) / n.</summary>
            public float Mean(Func<float, float, float> f) => Sum(f) / _x.Length;
            /// <summary>Σ_k f(x_k, y_k, k) / n.</summary>
            public float Mean(Func<float, float, int, float> f) => Sum(f) / _x.Length;
        }

        /// <summary>The rows of a <c>SumWithRow</c> over three spans, for a nested Sum or Mean over their elements k.</summary>
        public sealed class Row3
        {
            private readonly float[] _x, _y, _z;
            internal Row3(float[] x, float[] y, float[] z) { _x = x; _y = y; _z = z; }
            /// <summary>Σ_k f(x_k, y_k, z_k).</summary>
            public float Sum(Func<float, float, float, float> f) => SumOf(_x.Length, k => f(_x[k], _y[k], _z[k]));
            /// <summary>Σ_k f(x_k, y_k, z_k, k).</summary>
            public float Sum(Func<float, float, float, int, float> f) => SumOf(_x.Length, k => f(_x[k], _y[k], _z[k], k));
            /// <summary>Σ_k f(x_k, y_k, z_k) / n.</summary>
            public float Mean(Func<float, float, float, float> f) => Sum(f) / _x.Length;
            /// <summary>Σ_k f(x_k, y_k, z_k, k) / n.</summary>
            public float Mean(Func<float, float, float, int, float> f) => Sum(f) / _x.Length;
        }

        // Sorted sums: a reduction whose element function sees each element's place in an order of the row or set.

        /// <summary>
        /// The sum of <paramref name="f"/> over the elements of a row or set, where <paramref name="f"/> may read
        /// <see cref="CumSum"/>: the running sum of a value over the elements ranked at or before this one when the elements
        /// are sorted by <paramref name="key"/>, descending (ties: the earlier element first, as a stable sort). The sum itself
        /// does not depend on the order; the running sums do. The gradient flows back through the permutation: the order is
        /// constant, as <c>torch.sort</c>'s is.
        /// </summary>
        public static float SortedSum(ReadOnlySpan<float> a, Func<float, float> key, Func<float, float> f)
        { var x = a.ToArray(); return SortedSumOf(x.Length, i => key(x[i]), i => f(x[i])); }

        /// <summary>A sorted sum over paired elements of two rows or sets (see the one-span form).</summary>
        public static float SortedSum(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Func<float, float, float> key, Func<float, float, float> f)
        { var (x, y) = Pair(a, b); return SortedSumOf(x.Length, i => key(x[i], y[i]), i => f(x[i], y[i])); }

        /// <summary>A sorted sum over the elements of three rows or sets (see the one-span form).</summary>
        public static float SortedSum(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Func<float, float, float, float> key, Func<float, float, float, float> f)
        { var (x, y, z) = Triple(a, b, c); return SortedSumOf(x.Length, i => key(x[i], y[i], z[i]), i => f(x[i], y[i], z[i])); }

        /// <summary>
        /// Inside the element function of a <c>SortedSum</c>: Σ <paramref name="value"/> over the elements ranked at or before
        /// the current one (inclusive), e.g. the true positives among the top k of a ranking.
        /// </summary>
        /// <remarks>
        /// Run as plain C#, a running sum is told apart by its argument's text and line (<paramref name="expression"/>,
        /// <paramref name="line"/>, filled in by the compiler), and adds each element's value once however often it is
        /// called; a <c>CumSum</c> that a <c>?:</c> skips for some element misses that element's value there. The generated
        /// code has no such limit.
        /// </remarks>
        public static float CumSum(float value, [CallerArgumentExpression("value")] string expression = "", [CallerLineNumber] int line = 0)
        {
            var running = t_running ?? throw new InvalidOperationException("CumSum is the running sum inside the element function of a SortedSum.");
            var key = (expression, line);
            if (!running.TryGetValue(key, out var entry)) entry = (0, -1);
            if (entry.Element != t_element) entry = (entry.Sum + value, t_element);
            running[key] = entry;
            return (float)entry.Sum;
        }

        [ThreadStatic] private static System.Collections.Generic.Dictionary<(string, int), (double Sum, int Element)>? t_running;
        [ThreadStatic] private static int t_element;

        private static float SortedSumOf(int n, Func<int, float> key, Func<int, float> value)
        {
            var keys = new float[n];
            for (int i = 0; i < n; i++) keys[i] = key(i);
            // Descending by key, ties in element order (OrderBy is stable); NaN keys first, as torch.sort(descending) puts them.
            var order = System.Linq.Enumerable.OrderByDescending(System.Linq.Enumerable.Range(0, n), i => float.IsNaN(keys[i]) ? float.PositiveInfinity : keys[i]);
            var (outer, outerElement) = (t_running, t_element);
            t_running = new System.Collections.Generic.Dictionary<(string, int), (double Sum, int Element)>();
            try
            {
                double s = 0;
                t_element = 0;
                foreach (int i in order)
                {
                    s += value(i);
                    t_element++;
                }
                return (float)s;
            }
            finally { (t_running, t_element) = (outer, outerElement); }
        }

        private static double Log1P(double x) => Math.Abs(x) < 1e-4 ? x - x * x / 2 + x * x * x / 3 : Math.Log(1 + x);

        private static (float[] A, float[] B) Pair(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
        {
            if (a.Length != b.Length)
                throw new ArgumentException($"Rows or sets of different lengths: {a.Length} and {b.Length}.");
            return (a.ToArray(), b.ToArray());
        }

        private static (float[] A, float[] B, float[] C) Triple(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c)
        {
            if (a.Length != b.Length || a.Length != c.Length)
                throw new ArgumentException($"Rows or sets of different lengths: {a.Length}, {b.Length} and {c.Length}.");
            return (a.ToArray(), b.ToArray(), c.ToArray());
        }

        // The reductions over element values value(0), …, value(n − 1), accumulated in double.

        private static float SumOf(int n, Func<int, float> value)
        {
            double s = 0;
            for (int i = 0; i < n; i++) s += value(i);
            return (float)s;
        }

        private static float MaxOf(int n, Func<int, float> value)
        {
            if (n == 0) throw new ArgumentException("Max of an empty row or set.");
            float m = value(0);
            for (int i = 1; i < n; i++) m = Math.Max(m, value(i));
            return m;
        }

        private static float MinOf(int n, Func<int, float> value)
        {
            if (n == 0) throw new ArgumentException("Min of an empty row or set.");
            float m = value(0);
            for (int i = 1; i < n; i++) m = Math.Min(m, value(i));
            return m;
        }

        private static float LogSumExpOf(int n, Func<int, float> value)
        {
            float m = MaxOf(n, value);
            if (float.IsNegativeInfinity(m)) return float.MinValue;   // nothing kept: the lowest finite value, as the kernels
            double s = 0;
            for (int i = 0; i < n; i++) s += Math.Exp(value(i) - m);
            return (float)(m + Math.Log(s));
        }
    }
}

namespace System.Runtime.CompilerServices
{
    /// <summary>The compiler's CallerArgumentExpression (in the framework from .NET Core 3.0), for netstandard2.0.</summary>
    [AttributeUsage(AttributeTargets.Parameter, AllowMultiple = false, Inherited = false)]
    internal sealed class CallerArgumentExpressionAttribute : Attribute
    {
        public CallerArgumentExpressionAttribute(string parameterName) => ParameterName = parameterName;

        public string ParameterName { get; }
    }
}
