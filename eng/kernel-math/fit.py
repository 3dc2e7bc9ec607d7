#!/usr/bin/env python3
"""Fits the polynomial coefficients of LossKernelMath (src/LossDsl.Runtime/LossKernelMath.cs).

Each polynomial is fitted in 60-digit arithmetic by Lawson's iteratively reweighted least squares on Chebyshev
nodes, which converges to the minimax (equal-ripple) fit of the relative error; the script prints each coefficient
as C# literals and the maximum relative error of the fit with the coefficients as rounded to float or double.

    python3 eng/kernel-math/fit.py [exp-float exp-double log-float log-double tanh-float]   (needs mpmath)
"""
import mpmath as mp

mp.mp.dps = 60


def lawson(f, a, b, degree, nodes=400, iters=60):
    """Coefficients c_0..c_degree of p(t) = sum c_i t^i minimising max |p(t) - f(t)| / |f(t)| on [a, b]."""
    ts = [(a + b) / 2 + (b - a) / 2 * mp.cos(mp.pi * (2 * i + 1) / (2 * nodes)) for i in range(nodes)]
    fs = [f(t) for t in ts]
    w = [mp.mpf(1) / nodes] * nodes
    c = None
    for _ in range(iters):
        n = degree + 1
        A = mp.matrix(n, n)
        y = mp.matrix(n, 1)
        for t, ft, wi in zip(ts, fs, w):
            s = wi / (ft * ft)
            pw = [t ** k for k in range(2 * n)]
            for i in range(n):
                y[i] += s * pw[i] * ft
                for j in range(n):
                    A[i, j] += s * pw[i + j]
        c = mp.lu_solve(A, y)
        err = [abs(sum(c[k] * t ** k for k in range(n)) - ft) / abs(ft) for t, ft in zip(ts, fs)]
        total = sum(wi * e for wi, e in zip(w, err))
        w = [wi * e / total for wi, e in zip(w, err)]
    return [c[k] for k in range(degree + 1)]


def report(name, f, a, b, degree, kind):
    c = lawson(f, a, b, degree)
    rounded = [mp.mpf(float(x)) if kind == "double" else mp.mpf(float(mp.mpf(struct_f32(x)))) for x in c]
    worst = max(abs(sum(r * t ** k for k, r in enumerate(rounded)) - f(t)) / abs(f(t))
                for t in [a + (b - a) * i / 4000 for i in range(4001)] if f(t) != 0)
    suffix = "" if kind == "double" else "f"
    print(f"// {name}: degree {degree}, {kind}, max relative error {mp.nstr(worst, 3)} (2^{mp.nstr(mp.log(worst, 2), 4)})")
    print(", ".join(repr(float(r)) + suffix if kind == "double" else f"{float(r):.9g}f" for r in rounded))


def struct_f32(x):
    import struct
    return struct.unpack("f", struct.pack("f", float(x)))[0]


half_ln2 = mp.log(2) / 2
# e^r = 1 + r + r^2 P(r) on |r| <= ln2/2 (also expm1(r) = r + r^2 P(r)).
P = lambda r: (mp.exp(r) - 1 - r) / (r * r) if r != 0 else mp.mpf(1) / 2
# log(1+f) = 2 atanh(s), s = f/(2+f), |s| <= (sqrt2-1)/(sqrt2+1); z = s^2.
smax = (mp.sqrt(2) - 1) / (mp.sqrt(2) + 1)
Q = lambda z: (2 * mp.atanh(mp.sqrt(z)) - 2 * mp.sqrt(z)) / (z * mp.sqrt(z)) if z != 0 else mp.mpf(2) / 3
R = lambda z: (2 * mp.atanh(mp.sqrt(z)) - 2 * mp.sqrt(z) - mp.mpf(2) / 3 * z * mp.sqrt(z)) / (z * z * mp.sqrt(z)) if z != 0 else mp.mpf(2) / 5

# tanh x = x + x·z·T(z), z = x^2, |x| <= 0.55 (float; larger |x| go through exp).
T = lambda z: (mp.tanh(mp.sqrt(z)) - mp.sqrt(z)) / (z * mp.sqrt(z)) if z != 0 else -mp.mpf(1) / 3

FITS = {
    "exp-float": lambda: report("exp P(r) float", P, -half_ln2, half_ln2, 5, "float"),
    "exp-double": lambda: report("exp P(r) double", P, -half_ln2, half_ln2, 10, "double"),
    "log-float": lambda: report("log Q(z) float", Q, mp.mpf(0), smax ** 2, 2, "float"),
    "log-double": lambda: report("log R(z) double", R, mp.mpf(0), smax ** 2, 7, "double"),
    "tanh-float": lambda: report("tanh T(z) float", T, mp.mpf(0), mp.mpf("0.3025"), 4, "float"),
}

if __name__ == "__main__":
    import sys
    for name in sys.argv[1:] or FITS:
        FITS[name]()
