using System;
using System.Globalization;
using static TorchSharp.torch;

namespace LossDsl.Runtime;

/// <summary>The checks the generated tensor overloads make of the data inputs that declare a <c>[Range]</c>.</summary>
public static class DataRange
{
    /// <summary>
    /// Throws <see cref="ArgumentOutOfRangeException"/>, naming <paramref name="name"/>, its first offending element and
    /// its value, when an element of <paramref name="tensor"/> lies outside the declared range (NaN lies outside every
    /// range): the loss's analysis assumed the range, so a value outside would give a silent NaN or infinity instead.
    /// One pass over the tensor, and one read back of a flag (a device synchronization on a GPU).
    /// </summary>
    public static void Check(string loss, string name, Tensor tensor, double min, double max, bool minExclusive, bool maxExclusive)
    {
        ArgumentNullException.ThrowIfNull(tensor, name);
        if (tensor.numel() == 0) return;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var t = tensor.detach();
        var inside = TorchScalars.With(min, s => minExclusive ? t.gt(s) : t.ge(s)).logical_and(TorchScalars.With(max, s => maxExclusive ? t.lt(s) : t.le(s)));
        if (inside.all().item<bool>()) return;
        long first = inside.logical_not().reshape(-1).nonzero()[0, 0].item<long>();
        double value = t.reshape(-1)[first].to_type(ScalarType.Float64).item<double>();
        string range = (minExclusive || double.IsInfinity(min) ? "(" : "[") + Text(min) + ", " + Text(max) + (maxExclusive || double.IsInfinity(max) ? ")" : "]");
        throw new ArgumentOutOfRangeException(name, value,
            $"{loss}: '{name}', flattened, [{first}] = {Text(value)} is outside the range {range} its [Range] declares.");
    }

    private static string Text(double v) => double.IsPositiveInfinity(v) ? "∞" : double.IsNegativeInfinity(v) ? "-∞" : v.ToString("R", CultureInfo.InvariantCulture);
}
