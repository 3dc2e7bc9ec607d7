using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Threading;
using LossDsl.Generator.Differentiate;
using LossDsl.Generator.Model;

namespace LossDsl.Generator.Analyze;

/// <summary>What the calibration analysis concluded.</summary>
public enum VerdictKind
{
    /// <summary>No verdict applies (regression, distillation, an elementwise loss of unknown task).</summary>
    NoVerdict,
    /// <summary>Strictly proper (and so classification-calibrated).</summary>
    Proper,
    /// <summary>Classification-calibrated; properness not defined (margin losses) or not checked.</summary>
    Calibrated,
    /// <summary>Classification-calibrated but not proper: the confidences are distorted.</summary>
    CalibratedNotProper,
    /// <summary>Calibrated for a decision threshold other than ½ (class weighting), and not proper.</summary>
    ThresholdShifted,
    /// <summary>Not classification-calibrated.</summary>
    NotCalibrated,
    /// <summary>A set loss: per-element probabilities are not calibrated by it.</summary>
    SetLoss,
    /// <summary>The analysis could not decide (budget spent, NaN values).</summary>
    Inconclusive,
}

/// <summary>The verdict of the calibration analysis, with its witness and what it cost.</summary>
/// <param name="Task">The task analysed (after inference).</param>
/// <param name="Kind">The verdict.</param>
/// <param name="Summary">A few words, e.g. "not proper (over-confident)".</param>
/// <param name="Witness">The evidence, e.g. "at η = 0.9 the risk minimizer is q = 0.78".</param>
/// <param name="Method">Which test was used, e.g. "convex: φ′(0) < 0 (Bartlett, Jordan &amp; McAuliffe 2006)".</param>
public sealed record CalibrationVerdict(LossTask Task, VerdictKind Kind, string Summary, string Witness, string Method)
{
    public long NodeEvaluations { get; init; }
    public double Milliseconds { get; init; }
}

/// <summary>
/// Calibration analysis (docs/calibration.md): runs numerically on the derived IR and its generated gradient, at the
/// hyperparameters' default values, in a bounded number of node evaluations.
/// </summary>
public static class CalibrationAnalysis
{
    /// <summary>The default node-evaluation budget per loss (see docs/calibration.md for what it costs in time).</summary>
    public const long DefaultBudget = 2_000_000;

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    internal static string F(double v, string format = "0.###")
        => double.IsNaN(v) ? "NaN" : double.IsPositiveInfinity(v) ? "∞" : double.IsNegativeInfinity(v) ? "−∞" : v.ToString(format, Inv).Replace("-", "−");

    /// <summary>The task of a loss: the declared one, or the one its axes and parameters suggest.</summary>
    public static LossTask ResolveTask(LossSignature signature, LossTask declared)
        => declared != LossTask.Auto ? declared : signature.Axes.SuggestedTask;

    public static CalibrationVerdict Run(DerivedLoss loss, LossTask task, long budget = DefaultBudget, CancellationToken ct = default)
    {
        var watch = Stopwatch.StartNew();
        var probe = new LossProbe(loss, budget);
        CalibrationVerdict v;
        try
        {
            v = task switch
            {
                LossTask.Margin => Margin(probe, ct),
                LossTask.BinaryLogit => Binary(probe, logit: true, ct),
                LossTask.BinaryProbability => Binary(probe, logit: false, ct),
                LossTask.Multiclass => Multiclass(probe, ct),
                LossTask.Segmentation => new(task, VerdictKind.SetLoss, "set loss: per-element probabilities not calibrated",
                    "the loss is a function of whole-set sums (TP, FP, FN), so its minimizer is not the per-element conditional probability", "set loss"),
                _ => new(task, VerdictKind.NoVerdict, "no verdict", "", ""),
            };
            if (!Shapes(loss.Signature, task)) v = new(task, VerdictKind.Inconclusive, "inconclusive", $"a {task} loss needs {Needs(task)}", "");
        }
        catch (AnalysisBudgetExceededException e)
        {
            v = new(task, VerdictKind.Inconclusive, "inconclusive (budget)", $"the analysis stopped after its {e.Budget:N0} node evaluations", "");
        }
        return v with { NodeEvaluations = probe.NodeEvaluations, Milliseconds = watch.Elapsed.TotalMilliseconds };
    }

    private static bool Shapes(LossSignature s, LossTask task)
    {
        var ps = s.Parameters;
        bool elementwise = s.Axes.IsElementwise, row = s.Axes.FusedRows;
        return task switch
        {
            LossTask.Margin => elementwise && ps.Any(p => p.Kind == ParameterKind.Input),
            LossTask.BinaryLogit or LossTask.BinaryProbability => elementwise && ps.Count(p => p.Kind == ParameterKind.Input) >= 2,
            LossTask.Multiclass => row && ps.Any(p => p.Kind == ParameterKind.Target),
            _ => true,
        };
    }

    private static string Needs(LossTask task) => task switch
    {
        LossTask.Margin => "an elementwise margin parameter",
        LossTask.Multiclass => "a class row and an int class index",
        _ => "an elementwise prediction and a {0, 1} label",
    };

    private static bool Bad(double v) => double.IsNaN(v) || double.IsInfinity(v);

    // ---------------------------------------------------------------- margin losses φ(v)

    private static CalibrationVerdict Margin(LossProbe probe, CancellationToken ct)
    {
        const double A = 20, step = 0.05;
        int n = (int)Math.Round(A / step);
        var phi = new double[2 * n + 1];              // phi[k] = φ(α_k), α_k = (k − n)·step
        for (int k = 0; k <= 2 * n; k++)
        {
            if ((k & 63) == 0) ct.ThrowIfCancellationRequested();
            phi[k] = probe.Elementwise((k - n) * step, 1, out _);
        }
        var finite = phi.Where(x => !Bad(x)).ToArray();
        if (finite.Length < phi.Length / 2)
            return new(LossTask.Margin, VerdictKind.Inconclusive, "inconclusive", "φ is not finite on most of [−20, 20]", "");

        bool convex = true;
        for (int k = 1; k < 2 * n; k++)
        {
            if (Bad(phi[k - 1]) || Bad(phi[k]) || Bad(phi[k + 1])) continue;
            double second = phi[k - 1] - 2 * phi[k] + phi[k + 1];
            double scale = Math.Max(1, Math.Max(Math.Abs(phi[k - 1]), Math.Abs(phi[k + 1])));
            if (second < -1e-9 * scale) { convex = false; break; }
        }

        if (convex)
        {
            const string method = "convex φ: calibrated iff differentiable at 0 with φ′(0) < 0 (Bartlett, Jordan & McAuliffe 2006)";
            double h = 1e-6;
            double p0 = probe.Elementwise(0, 1, out double d0);
            double left = (p0 - probe.Elementwise(-h, 1, out _)) / h, right = (probe.Elementwise(h, 1, out _) - p0) / h;
            if (Math.Abs(left - right) > 1e-4 * (1 + Math.Abs(left) + Math.Abs(right)))
                return new(LossTask.Margin, VerdictKind.NotCalibrated, "not classification-calibrated",
                    $"φ is convex but not differentiable at 0: φ′(0−) = {F(left)}, φ′(0+) = {F(right)}", method);
            if (Bad(d0)) d0 = (left + right) / 2;
            if (d0 < 0)
                return new(LossTask.Margin, VerdictKind.Calibrated, "classification-calibrated",
                    $"φ is convex and φ′(0) = {F(d0, "0.####")} < 0", method);
            return new(LossTask.Margin, VerdictKind.NotCalibrated, "not classification-calibrated",
                $"φ is convex and φ′(0) = {F(d0, "0.####")} ≥ 0", method);
        }

        // Non-convex: H⁻(η) > H(η) for η ≠ ½, on an η grid (by symmetry η > ½ suffices).
        const string general = "non-convex φ: checked H⁻(η) > H(η) for η ∈ {0.55, 0.6, …, 0.95}";
        double worstGap = double.PositiveInfinity, worstEta = 0;
        for (int e = 11; e <= 19; e++)
        {
            double eta = e / 20.0;
            double h = double.PositiveInfinity, hMinus = double.PositiveInfinity;
            for (int k = 0; k <= 2 * n; k++)
            {
                double r = eta * phi[k] + (1 - eta) * phi[2 * n - k];
                if (double.IsNaN(r)) continue;
                if (r < h) h = r;
                if (k <= n && r < hMinus) hMinus = r;     // α ≤ 0, i.e. α(2η − 1) ≤ 0
            }
            double gap = hMinus - h;
            if (gap < worstGap) { worstGap = gap; worstEta = eta; }
            if (!(gap > 1e-9 * (1 + Math.Abs(h))))
                return new(LossTask.Margin, VerdictKind.NotCalibrated, "not classification-calibrated",
                    $"φ is not convex, so the general test was used: at η = {F(eta)}, H⁻(η) = {F(hMinus, "0.####")} is not above H(η) = {F(h, "0.####")}", general);
        }
        return new(LossTask.Margin, VerdictKind.Calibrated, "classification-calibrated",
            $"φ is not convex, so the general test was used: H⁻(η) − H(η) ≥ {F(worstGap, "0.####")} (at η = {F(worstEta)})", general);
    }

    // ---------------------------------------------------------------- binary losses ℓ(x, y), y ∈ {0, 1}

    private sealed class BinaryRisk
    {
        public readonly LossProbe Probe;
        public readonly bool Logit;
        public BinaryRisk(LossProbe probe, bool logit) { Probe = probe; Logit = logit; }

        public static double Sigmoid(double s) => s >= 0 ? 1 / (1 + Math.Exp(-s)) : Math.Exp(s) / (1 + Math.Exp(s));

        /// <summary>ℓ at parameter s (the logit, or the probability σ(s)) and label y, and dℓ/ds.</summary>
        public double At(double s, double y, out double ds)
        {
            double x = Logit ? s : Sigmoid(s);
            double v = Probe.Elementwise(x, y, out double dx);
            ds = Logit ? dx : dx * x * (1 - x);
            return v;
        }

        public double Risk(double eta, double s, out double ds)
        {
            double r1 = At(s, 1, out double d1), r0 = At(s, 0, out double d0);
            ds = eta * d1 + (1 - eta) * d0;
            return eta * r1 + (1 - eta) * r0;
        }

        /// <summary>The risk minimizer in s, refined from a grid with the generated gradient.</summary>
        public double Minimize(double eta, double[] grid, double[] l1, double[] l0)
        {
            int best = -1;
            double bestR = double.PositiveInfinity;
            for (int k = 0; k < grid.Length; k++)
            {
                double r = eta * l1[k] + (1 - eta) * l0[k];
                if (r < bestR) { bestR = r; best = k; }
            }
            if (best < 0) return double.NaN;
            if (best == 0 || best == grid.Length - 1) return grid[best];
            double a = grid[best - 1], b = grid[best + 1];
            Risk(eta, a, out double da);
            Risk(eta, b, out double db);
            if (da < 0 && db > 0)
            {
                for (int it = 0; it < 40; it++)
                {
                    double m = 0.5 * (a + b);
                    Risk(eta, m, out double dm);
                    if (double.IsNaN(dm)) break;
                    if (dm < 0) a = m; else b = m;
                }
                return 0.5 * (a + b);
            }
            // Golden section on the risk itself (a kink or a flat gradient).
            const double g = 0.6180339887498949;
            double c = b - g * (b - a), d = a + g * (b - a);
            double fc = Risk(eta, c, out _), fd = Risk(eta, d, out _);
            for (int it = 0; it < 40; it++)
            {
                if (fc <= fd) { b = d; d = c; fd = fc; c = b - g * (b - a); fc = Risk(eta, c, out _); }
                else { a = c; c = d; fc = fd; d = a + g * (b - a); fd = Risk(eta, d, out _); }
            }
            return 0.5 * (a + b);
        }
    }

    private static CalibrationVerdict Binary(LossProbe probe, bool logit, CancellationToken ct)
    {
        var task = logit ? LossTask.BinaryLogit : LossTask.BinaryProbability;
        var risk = new BinaryRisk(probe, logit);
        const int n = 200;
        var grid = new double[2 * n + 1];
        var l1 = new double[grid.Length];
        var l0 = new double[grid.Length];
        for (int k = 0; k < grid.Length; k++)
        {
            if ((k & 63) == 0) ct.ThrowIfCancellationRequested();
            grid[k] = (k - n) / 10.0;                  // s ∈ [−20, 20]; s = 0 is q = ½
            l1[k] = risk.At(grid[k], 1, out _);
            l0[k] = risk.At(grid[k], 0, out _);
        }
        int finite = Enumerable.Range(0, grid.Length).Count(k => !Bad(l1[k]) && !Bad(l0[k]));
        if (finite < grid.Length / 2)
            return new(task, VerdictKind.Inconclusive, "inconclusive", "the loss is not finite for most predictions", "");

        string qName = "q";
        var etas = Enumerable.Range(1, 19).Select(e => e / 20.0).ToArray();
        var qStar = new double[etas.Length];
        var ccFail = new List<(double Eta, string Why)>();
        for (int e = 0; e < etas.Length; e++)
        {
            ct.ThrowIfCancellationRequested();
            double eta = etas[e];
            double s = risk.Minimize(eta, grid, l1, l0);
            qStar[e] = BinaryRisk.Sigmoid(s);
            if (eta == 0.5) continue;
            double h = risk.Risk(eta, s, out _);
            double hMinus = double.PositiveInfinity;
            for (int k = 0; k < grid.Length; k++)
                if (eta > 0.5 ? grid[k] <= 0 : grid[k] >= 0)
                {
                    double r = eta * l1[k] + (1 - eta) * l0[k];
                    if (r < hMinus) hMinus = r;
                }
            h = Math.Min(h, Enumerable.Range(0, grid.Length).Min(k => eta * l1[k] + (1 - eta) * l0[k]));
            // The refined minimizer itself may lie on the wrong side, between grid points (ASL near η = 0.15: q* = 0.516, while
            // the wrong side's grid points are at q = ½ and 0.525): then it is the wrong side's minimum too.
            bool wrongSide = eta > 0.5 ? qStar[e] < 0.5 - 1e-6 : qStar[e] > 0.5 + 1e-6;
            if (wrongSide || !(hMinus - h > 1e-9 * (1 + Math.Abs(h))))
            {
                ccFail.Add((eta, wrongSide
                    ? $"at η = {F(eta, "0.##")} the risk minimizer is {qName} = {F(qStar[e])}, on the wrong side of ½"
                    : $"at η = {F(eta, "0.##")} the risk on the wrong side of ½ is as low as the minimum ({F(h, "0.####")})"));
            }
        }
        const string method = "minimized the conditional risk η·ℓ(1, q) + (1 − η)·ℓ(0, q) over q for η ∈ {0.05, 0.1, …, 0.95}";

        // Properness: q*(η) = η. The witness prefers η = 0.9, else the largest deviation.
        int witness = -1;
        double worst = 0;
        for (int e = 0; e < etas.Length; e++)
        {
            double dev = Math.Abs(qStar[e] - etas[e]);
            if (dev > worst) { worst = dev; witness = e; }
        }
        int at09 = Array.IndexOf(etas, 0.9);
        if (at09 >= 0 && Math.Abs(qStar[at09] - 0.9) > 2e-3) witness = at09;
        bool proper = worst <= 2e-3;
        string distortion = witness < 0 ? "" :
            $"at η = {F(etas[witness], "0.##")} the risk minimizer is {qName} = {F(qStar[witness])}";
        string direction = witness < 0 ? "" : Direction(etas[witness], qStar[witness]);

        if (ccFail.Count > 0)
        {
            // A monotone minimizer that crosses ½ at some η₀ ≠ ½ is calibrated for the cost-sensitive threshold η₀.
            bool monotone = true;
            for (int e = 1; e < etas.Length; e++) if (qStar[e] < qStar[e - 1] - 1e-9) monotone = false;
            if (monotone && qStar[0] < 0.5 && qStar[etas.Length - 1] > 0.5)
            {
                double lo = 0.05, hi = 0.95;
                for (int it = 0; it < 30; it++)
                {
                    double mid = 0.5 * (lo + hi);
                    if (BinaryRisk.Sigmoid(risk.Minimize(mid, grid, l1, l0)) < 0.5) lo = mid; else hi = mid;
                }
                double eta0 = 0.5 * (lo + hi);
                return new(task, VerdictKind.ThresholdShifted, $"decision threshold at η ≈ {F(eta0, "0.##")}, not proper",
                    $"the risk minimizer crosses ½ at η ≈ {F(eta0, "0.###")} instead of ½ (class weighting): it is calibrated only for the cost-sensitive 0-1 loss with that threshold; {distortion}",
                    method);
            }
            return new(task, VerdictKind.NotCalibrated, "not classification-calibrated", ccFail[0].Why, method);
        }
        if (proper)
            return new(task, VerdictKind.Proper, "proper", $"the risk minimizer is q = η within {F(Math.Max(worst, 1e-6), "0.#e0")} for η ∈ {{0.05, …, 0.95}}", method);
        return new(task, VerdictKind.CalibratedNotProper, $"classification-calibrated, not proper ({direction})", distortion, method);
    }

    private static string Direction(double eta, double q)
    {
        double e = Math.Abs(eta - 0.5), p = Math.Abs(q - 0.5);
        bool sameSide = (eta - 0.5) * (q - 0.5) >= 0;
        if (!sameSide) return "distorted";
        return p < e ? "under-confident" : "over-confident";
    }

    // ---------------------------------------------------------------- multiclass softmax losses ℓ(z, t)

    private static readonly double[][] EtaVectors =
    {
        new[] { 0.7, 0.2, 0.1 },
        new[] { 0.2, 0.1, 0.7 },
        new[] { 0.5, 0.3, 0.2 },
        new[] { 0.4, 0.35, 0.25 },
        new[] { 0.9, 0.06, 0.04 },
        new[] { 0.1, 0.4, 0.3, 0.2 },
    };

    private static CalibrationVerdict Multiclass(LossProbe probe, CancellationToken ct)
    {
        const string method = "minimized Σ_y η_y·ℓ(z, y) over the logits z (damped Newton on the generated gradient, 3 starts) for 6 vectors η with C = 3 and 4";
        string? ccWhy = null, properWhy = null, direction = "";
        double worst = 0;
        foreach (var eta in EtaVectors)
        {
            ct.ThrowIfCancellationRequested();
            // Multi-start (the risk need not be convex): keep the lowest risk found.
            double[] z = Array.Empty<double>();
            bool ok = false;
            double best = double.PositiveInfinity;
            foreach (double scale in new[] { 0.5, 1.0, 2.0 })
            {
                var zs = MinimizeRow(probe, eta, scale, ct, out bool oks, out double fs);
                if (oks && fs < best) { best = fs; z = zs; ok = true; }
            }
            if (!ok)
                return new(LossTask.Multiclass, VerdictKind.Inconclusive, "inconclusive", $"the risk is not finite at η = {Vec(eta)}", method);
            var p = Softmax(z);
            int am = ArgMax(eta), pm = ArgMax(p);
            double second = p.Where((_, i) => i != pm).DefaultIfEmpty(0).Max();
            if (am != pm || p[pm] - second < 1e-4)
            {
                // Not classification-calibrated: that is the verdict, whatever the other η give (and the slowest losses to
                // analyse are such ones, so stopping here keeps the analysis within an IDE keystroke's time).
                ccWhy = $"at η = {Vec(eta)} the risk minimizer is softmax(z*) = {Vec(p)}, whose argmax is not the most likely class {am}";
                break;
            }
            double dev = eta.Select((x, i) => Math.Abs(x - p[i])).Max();
            if (dev > worst) worst = dev;
            if (properWhy is null && dev > 2e-3)
            {
                properWhy = $"at η = {Vec(eta)} the risk minimizer is softmax(z*) = {Vec(p)}";
                direction = p[pm] < eta[am] ? "under-confident" : "over-confident";
            }
        }
        if (ccWhy is not null)
            return new(LossTask.Multiclass, VerdictKind.NotCalibrated, "not classification-calibrated", ccWhy, method);
        if (properWhy is null)
            return new(LossTask.Multiclass, VerdictKind.Proper, "proper", $"softmax(z*) = η within {F(Math.Max(worst, 1e-6), "0.#e0")} for every η tried", method);
        return new(LossTask.Multiclass, VerdictKind.CalibratedNotProper, $"classification-calibrated, not proper ({direction})", properWhy, method);
    }

    /// <summary>The class weights and conditional probabilities of <see cref="WeightedWitness"/>: class 1 is the most likely, class 0 the heaviest.</summary>
    private static readonly double[] WitnessWeights = { 2, 1, 1 }, WitnessEta = { 0.3, 0.45, 0.25 };

    /// <summary>
    /// For a classification-calibrated multiclass loss used with class weights w (PyTorch's <c>weight=</c>): the minimizer of
    /// the weighted risk Σ_c w_c·η_c·ℓ(z, c), which is the unweighted minimizer at η' ∝ w·η, at w = (2, 1, 1) and
    /// η = (0.3, 0.45, 0.25). Null when the risk cannot be minimized there, or the argmax does not move.
    /// </summary>
    public static string? WeightedWitness(DerivedLoss loss, CancellationToken ct)
    {
        var probe = new LossProbe(loss, DefaultBudget);
        if (probe.SpanCount != 1 || probe.TargetCount != 1) return null;
        double total = WitnessWeights.Zip(WitnessEta, (w, e) => w * e).Sum();
        var weighted = WitnessWeights.Zip(WitnessEta, (w, e) => w * e / total).ToArray();
        try
        {
            double[] z = Array.Empty<double>();
            double best = double.PositiveInfinity;
            foreach (double scale in new[] { 0.5, 1.0, 2.0 })
            {
                var zs = MinimizeRow(probe, weighted, scale, ct, out bool ok, out double risk);
                if (ok && risk < best) { best = risk; z = zs; }
            }
            if (z.Length == 0) return null;
            var p = Softmax(z);
            int predicted = ArgMax(p), likely = ArgMax(WitnessEta);
            return predicted == likely ? null
                : $"e.g. with w = {Vec(WitnessWeights)} at η = {Vec(WitnessEta)} the minimizer is softmax(z*) = {Vec(p)}, which predicts class {predicted}, not the most likely class {likely}";
        }
        catch (AnalysisBudgetExceededException) { return null; }
    }

    private static double Risk(LossProbe probe, double[] eta, double[] z, double[] grad, double[] scratch)
    {
        Array.Clear(grad, 0, grad.Length);
        double f = 0;
        for (int t = 0; t < eta.Length; t++)
        {
            double l = probe.Row(z, t, scratch);
            f += eta[t] * l;
            for (int j = 0; j < grad.Length; j++) grad[j] += eta[t] * scratch[j];
        }
        return f;
    }

    private static double[] MinimizeRow(LossProbe probe, double[] eta, double startScale, CancellationToken ct, out bool ok, out double risk)
    {
        int c = eta.Length;
        const double box = 40;
        // Start at a multiple of the cross-entropy solution log η: no ties between classes (a tie is a kink for losses
        // with a Max over classes); 0.5 and 2 are not the answer of a proper loss either.
        var z = eta.Select(e => startScale * Math.Log(e)).ToArray();
        var g = new double[c];
        var gh = new double[c];
        var scratch = new double[c];
        var trial = new double[c];
        var tg = new double[c];
        double f = Risk(probe, eta, z, g, scratch);
        risk = f;
        ok = !Bad(f) && !g.Any(Bad);
        if (!ok) return z;
        double mu = 1e-6;
        for (int it = 0; it < 100; it++)
        {
            ct.ThrowIfCancellationRequested();
            if (g.Max(Math.Abs) < 1e-11) break;
            // Forward-difference Hessian of the generated gradient, symmetrized.
            var hess = new double[c, c];
            const double h = 1e-6;
            for (int k = 0; k < c; k++)
            {
                Array.Copy(z, trial, c);
                trial[k] += h;
                Risk(probe, eta, trial, gh, scratch);
                for (int j = 0; j < c; j++) hess[j, k] = (gh[j] - g[j]) / h;
            }
            for (int a = 0; a < c; a++) for (int b = a + 1; b < c; b++) hess[a, b] = hess[b, a] = 0.5 * (hess[a, b] + hess[b, a]);

            double[]? d = null;
            for (int tries = 0; tries < 8 && d is null; tries++, mu *= 100)
            {
                d = Solve(hess, g, mu);
                if (d is not null && Dot(d, g) >= 0) d = null;
            }
            d ??= g.Select(x => -x).ToArray();
            mu = Math.Max(1e-9, mu / 1000);

            double slope = Dot(d, g), t = 1, ft = double.NaN;
            bool moved = false;
            for (int ls = 0; ls < 40; ls++, t *= 0.5)
            {
                for (int j = 0; j < c; j++) trial[j] = Math.Max(-box, Math.Min(box, z[j] + t * d[j]));
                ft = Risk(probe, eta, trial, tg, scratch);
                if (!Bad(ft) && ft <= f + 1e-4 * t * slope) { moved = true; break; }
            }
            if (!moved) break;
            double stepSize = 0;
            for (int j = 0; j < c; j++) stepSize = Math.Max(stepSize, Math.Abs(trial[j] - z[j]));
            Array.Copy(trial, z, c);
            Array.Copy(tg, g, c);
            bool tiny = f - ft <= 1e-15 * (1 + Math.Abs(f));
            f = ft;
            risk = f;
            if (stepSize < 1e-12 || (tiny && stepSize < 1e-9)) break;
        }
        return z;
    }

    private static double[]? Solve(double[,] hess, double[] g, double mu)
    {
        int n = g.Length;
        var m = new double[n, n + 1];
        double scale = 0;
        for (int i = 0; i < n; i++) scale = Math.Max(scale, Math.Abs(hess[i, i]));
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++) m[i, j] = hess[i, j];
            m[i, i] += mu * (1 + scale);
            m[i, n] = -g[i];
        }
        for (int col = 0; col < n; col++)
        {
            int piv = col;
            for (int r = col + 1; r < n; r++) if (Math.Abs(m[r, col]) > Math.Abs(m[piv, col])) piv = r;
            if (Math.Abs(m[piv, col]) < 1e-300) return null;
            if (piv != col) for (int k = 0; k <= n; k++) (m[col, k], m[piv, k]) = (m[piv, k], m[col, k]);
            for (int r = 0; r < n; r++)
            {
                if (r == col) continue;
                double f = m[r, col] / m[col, col];
                for (int k = col; k <= n; k++) m[r, k] -= f * m[col, k];
            }
        }
        var x = new double[n];
        for (int i = 0; i < n; i++) { x[i] = m[i, n] / m[i, i]; if (Bad(x[i])) return null; }
        return x;
    }

    private static double Dot(double[] a, double[] b) { double s = 0; for (int i = 0; i < a.Length; i++) s += a[i] * b[i]; return s; }

    private static double[] Softmax(double[] z)
    {
        double m = z.Max();
        var e = z.Select(x => Math.Exp(x - m)).ToArray();
        double s = e.Sum();
        return e.Select(x => x / s).ToArray();
    }

    private static int ArgMax(double[] v) { int a = 0; for (int i = 1; i < v.Length; i++) if (v[i] > v[a]) a = i; return a; }

    private static string Vec(double[] v) => "(" + string.Join(", ", v.Select(x => F(x, "0.###"))) + ")";
}
