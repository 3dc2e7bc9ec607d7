using System;
using System.Globalization;

namespace LossDsl.Runtime;

/// <summary>Checks the generated overloads make of their hyperparameters.</summary>
public static class Hyperparameter
{
    /// <summary>
    /// Throws <see cref="ArgumentOutOfRangeException"/> when <paramref name="value"/> lies outside the range the loss
    /// declares with <c>[Range(min, max)]</c> (NaN lies outside every range), as <c>cross_entropy</c> does for
    /// <c>label_smoothing</c>.
    /// </summary>
    public static void CheckRange(string loss, string name, double value, double min, double max, bool minExclusive, bool maxExclusive)
    {
        bool inside = (minExclusive ? value > min : value >= min) && (maxExclusive ? value < max : value <= max);
        if (inside) return;
        string range = (minExclusive || double.IsInfinity(min) ? "(" : "[") + Text(min) + ", " + Text(max) + (maxExclusive || double.IsInfinity(max) ? ")" : "]");
        throw new ArgumentOutOfRangeException(name, value, $"{loss}: {name} = {Text(value)} is outside its valid range {range}.");
    }

    private static string Text(double v) => double.IsPositiveInfinity(v) ? "∞" : double.IsNegativeInfinity(v) ? "-∞" : v.ToString("R", CultureInfo.InvariantCulture);
}
