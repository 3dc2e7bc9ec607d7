using System;

namespace LossDsl
{
    /// <summary>
    /// erf in double precision, shared by <c>LossMath.Erf</c> (the DSL's C# reference) and the generator's op table (which
    /// links this file): erf x = 2/√π · e^(−x²) · Σ_n (2x²)^n·x / (1·3·…·(2n+1)), a series of positive terms (no
    /// cancellation) for |x| &lt; 6, and ±1 beyond (1 − erf 6 &lt; 2^-55).
    /// </summary>
    internal static class ErfSeries
    {
        public static double Erf(double x)
        {
            if (double.IsNaN(x)) return x;
            double a = Math.Abs(x);
            if (a >= 6) return x > 0 ? 1 : -1;
            double z = 2 * a * a, t = a, s = a;
            for (int n = 1; n < 300 && t > s * 1e-18; n++)
            {
                t *= z / (2 * n + 1);
                s += t;
            }
            double r = Math.Min(1, 1.1283791670955126 * Math.Exp(-a * a) * s);
            return x < 0 ? -r : r;
        }
    }
}
