using System;
using System.Linq;
using LossDsl.Generator.Differentiate;
using LossDsl.Generator.Model;

namespace LossDsl.Generator.Analyze;

/// <summary>Thrown when an analysis spends its node-evaluation budget.</summary>
public sealed class AnalysisBudgetExceededException : Exception
{
    public AnalysisBudgetExceededException(long budget) : base($"budget of {budget} node evaluations spent") => Budget = budget;
    public long Budget { get; }
}

/// <summary>
/// Calls a derived loss like a function: the loss value and its generated gradient with respect to the prediction,
/// for an elementwise input or a row, by interpreting the IR. Counts node evaluations against a budget.
/// </summary>
public sealed class LossProbe
{
    private readonly DerivedLoss _loss;
    private readonly IrEvaluator _eval;
    private readonly long _budget;
    private readonly int _inputs, _spans, _targets;

    public LossProbe(DerivedLoss loss, long budget, double[]? hypers = null)
    {
        _loss = loss;
        _budget = budget;
        _eval = new IrEvaluator(loss.Graph, loss.Loss, loss.Gradient);
        var ps = loss.Signature.Parameters;
        _inputs = ps.Count(p => p.Kind == ParameterKind.Input);
        _spans = ps.Count(p => p.Kind == ParameterKind.Span);
        _targets = ps.Count(p => p.Kind == ParameterKind.Target);
        _eval.Hypers = hypers ?? ps.Where(p => p.Kind == ParameterKind.Hyper).OrderBy(p => p.Slot).Select(p => p.Default).ToArray();
        _eval.Inputs = Enumerable.Repeat(1.0, _inputs).ToArray();
        _eval.Targets = new double[_targets];
        _eval.Spans = new double[_spans][];
        for (int s = 0; s < _spans; s++) _eval.Spans[s] = Array.Empty<double>();
    }

    public int InputCount => _inputs;
    public int SpanCount => _spans;
    public int TargetCount => _targets;
    public long NodeEvaluations => _eval.NodeEvaluations;
    public double[] Hypers => _eval.Hypers;

    private void Check()
    {
        if (_eval.NodeEvaluations > _budget) throw new AnalysisBudgetExceededException(_budget);
    }

    /// <summary>An elementwise loss at prediction <paramref name="x"/> and second data value <paramref name="y"/> (others are 1).</summary>
    public double Elementwise(double x, double y, out double gradient)
    {
        Check();
        if (_inputs > 0) _eval.Inputs[0] = x;
        if (_inputs > 1) _eval.Inputs[1] = y;
        _eval.Run();
        gradient = _eval.Value(_loss.Gradient);
        return _eval.Value(_loss.Loss);
    }

    /// <summary>A row loss at logits <paramref name="z"/> and class <paramref name="t"/>; other spans are zeros, other data 1.</summary>
    public double Row(double[] z, int t, double[] gradient)
    {
        Check();
        if (_spans > 0) _eval.Spans[0] = z;
        for (int s = 1; s < _spans; s++) if (_eval.Spans[s].Length != z.Length) _eval.Spans[s] = new double[z.Length];
        if (_targets > 0) _eval.Targets[0] = t;
        _eval.Run();
        _eval.ElementValues(_loss.Gradient, gradient);
        return _eval.Value(_loss.Loss);
    }
}
