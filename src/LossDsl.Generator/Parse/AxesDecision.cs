using System;
using System.Collections.Generic;
using System.Linq;
using LossDsl.Generator.Model;
using Microsoft.CodeAnalysis;

namespace LossDsl.Generator.Parse;

/// <summary>
/// The one place the generator decides a loss's axes: from <c>[Loss(Shape = …, Sets = …)]</c>, the parameters and
/// <c>[Softmax]</c>, it infers the shape, checks that the parameters fit it, and describes it as an
/// <see cref="AxesDeclaration"/>. This is the only file of the generator's stages that names the shapes; every stage
/// after it asks the declaration.
/// </summary>
public static class AxesDecision
{
    /// <summary>The outcome: the axes, or the shape the declaration asked for and why the parameters do not fit it (LOSS0005).</summary>
    public sealed record Result(AxesDeclaration? Axes, string ShapeName, string? Problem);

    /// <summary>Decides the axes of a loss declared with <paramref name="attribute"/> (null: no named arguments).</summary>
    public static Result Decide(AttributeData? attribute, IReadOnlyList<LossParameter> parameters)
    {
        var requested = LossShape.Auto;
        LossSets? sets = null;
        foreach (var named in attribute?.NamedArguments ?? Enumerable.Empty<KeyValuePair<string, TypedConstant>>())
        {
            if (named.Key == "Shape" && named.Value.Value is int s) requested = (LossShape)s;
            if (named.Key == "Sets" && named.Value.Value is int k) sets = (LossSets)k;
        }
        return Decide(requested, sets, parameters);
    }

    /// <summary>
    /// Decides the axes from the requested shape, the named sets (null when <c>Sets</c> is not set) and the parameters.
    /// Naming the sets' axes (any value, <c>PerChannel</c> included) or a softmax over classes makes a set loss; a pair
    /// mask makes a pair loss; otherwise spans make a class row and no span an elementwise loss.
    /// </summary>
    public static Result Decide(LossShape requested, LossSets? sets, IReadOnlyList<LossParameter> parameters)
    {
        int spans = Count(parameters, ParameterKind.Span), targets = Count(parameters, ParameterKind.Target), inputs = Count(parameters, ParameterKind.Input);
        bool masks = parameters.Any(p => p.Mask != PairMask.None);
        bool multiclass = parameters.Count > 0 && parameters[0].Softmax;
        var shape = requested != LossShape.Auto ? requested
            : sets is not null || multiclass ? LossShape.ChannelSet
            : masks ? LossShape.Pairs
            : spans == 0 ? LossShape.Elementwise : LossShape.ClassRow;
        var scope = sets ?? LossSets.PerChannel;
        string? problem = shape switch
        {
            _ when !Enum.IsDefined(typeof(LossShape), shape) => "it is not a LossShape value",
            _ when !Enum.IsDefined(typeof(LossSets), scope) => "Sets is not a LossSets value",
            _ when sets is not null && shape != LossShape.ChannelSet => "Sets applies to set losses only",
            _ when spans + inputs + targets == 0 => "it has no data parameter",
            LossShape.Elementwise when spans > 0 => "an elementwise loss takes float values, not spans",
            LossShape.Elementwise when targets > 0 => "an elementwise loss takes float labels, not int class indices",
            LossShape.ClassRow when spans == 0 => "a class-row loss needs a ReadOnlySpan<float> row",
            LossShape.ChannelSet when spans == 0 => "a channel-set loss needs ReadOnlySpan<float> sets",
            LossShape.ChannelSet when targets > 0 => "a set loss takes spans, float values (one per set) and hyperparameters, not int class indices",
            _ when multiclass && inputs > 0 => "a multiclass set loss takes its spans and hyperparameters only",
            _ when multiclass && shape != LossShape.ChannelSet => "[Softmax] makes a multiclass set loss (LossShape.ChannelSet)",
            _ when multiclass && scope == LossSets.Whole => "a multiclass set loss has one set per class (LossSets.PerChannel) or per image and class (LossSets.PerImage), not one over the whole tensor",
            _ when multiclass && spans > 2 => "a multiclass set loss takes the [Softmax] probabilities and, optionally, the one-hot targets of a class mask: one or two spans",
            LossShape.Pairs when spans == 0 => "a pair loss needs a ReadOnlySpan<float> row of a pair matrix",
            LossShape.Pairs when parameters.Any(p => p.Name == "labels") => "its tensor overloads take the batch's labels as 'labels'; rename the parameter",
            LossShape.Pairs when targets + inputs > 0 => "a pair loss takes only spans: rows of [N, N] pair matrices and [Positives]/[Negatives] masks (and hyperparameters)",
            _ when masks && shape != LossShape.Pairs => "[Positives] and [Negatives] masks belong to pair losses (LossShape.Pairs)",
            _ when parameters.Count > 0 && (shape == LossShape.Elementwise ? parameters[0].Kind != ParameterKind.Input : parameters[0].Kind != ParameterKind.Span)
                => "the first parameter must be the prediction that the gradient is taken for (a span, or a float for elementwise losses)",
            _ => null,
        };
        if (problem is not null) return new Result(null, shape.ToString(), problem);

        var axes = shape switch
        {
            LossShape.Elementwise => new AxesDeclaration(SegmentAxis.Element, MemberAxis.None, Sets: null, PixelClasses: false,
                ClassTargets: false, TargetSets: false, inputs == 1 ? LossTask.Margin : LossTask.None),
            LossShape.ClassRow => new AxesDeclaration(SegmentAxis.Row, MemberAxis.Classes, Sets: null, PixelClasses: false,
                ClassTargets: targets > 0, TargetSets: false, spans == 1 && targets == 1 && inputs == 0 ? LossTask.Multiclass : LossTask.None),
            LossShape.Pairs => new AxesDeclaration(SegmentAxis.Row, MemberAxis.Batch, Sets: null, PixelClasses: false,
                ClassTargets: false, TargetSets: false, LossTask.None),
            _ => new AxesDeclaration(SegmentAxis.Set, MemberAxis.SetElements, scope, PixelClasses: multiclass,
                ClassTargets: false, TargetSets: spans > 1, LossTask.Segmentation),
        };
        return new Result(axes, shape.ToString(), null);
    }

    private static int Count(IReadOnlyList<LossParameter> parameters, ParameterKind kind) => parameters.Count(p => p.Kind == kind);
}
