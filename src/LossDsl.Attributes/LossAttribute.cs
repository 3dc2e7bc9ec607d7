using System;

namespace LossDsl
{
    /// <summary>
    /// Marks a <c>static partial</c> method whose body is a loss written in the LossDsl subset of C#.
    /// The LossDsl generator derives the gradient symbolically and emits fused ILGPU kernels and
    /// TorchSharp autograd wrappers next to it, in the same partial class.
    /// </summary>
    /// <remarks>
    /// Parameters are read by kind:
    /// <list type="bullet">
    /// <item><c>ReadOnlySpan&lt;float&gt;</c>: a row (class-row shape) or a set (channel-set shape) of a tensor.</item>
    /// <item><c>int</c>: a class index per row (an int64 target tensor).</item>
    /// <item><c>float</c> without a default value: a data value per element (elementwise shape) or per row.</item>
    /// <item><c>float</c> with a default value: a hyperparameter, a runtime argument of the generated overloads.</item>
    /// </list>
    /// The first data parameter is the prediction and always gets its gradient; every other float tensor that
    /// requires grad gets its gradient too. <c>int</c> class indices never do.
    /// </remarks>
    [AttributeUsage(AttributeTargets.Method, AllowMultiple = false, Inherited = false)]
    public sealed class LossAttribute : Attribute
    {
        /// <summary>How the loss's parameters map onto tensor axes. <c>Auto</c>, the default, infers it from the parameters.</summary>
        public LossShape Shape { get; set; }

        /// <summary>
        /// Which axes the sets of a set loss run over: per channel (the default), per image and channel, or the whole
        /// tensor (batch-level losses). Setting it to <see cref="LossSets.PerImage"/> or <see cref="LossSets.Whole"/> makes the loss
        /// a set loss (<see cref="LossShape"/> <c>ChannelSet</c>); a per-channel set loss names that shape, since the default
        /// cannot be told from an explicit <see cref="LossSets.PerChannel"/>.
        /// </summary>
        public LossSets Sets { get; set; } = LossSets.PerChannel;

        /// <summary>
        /// What the loss is for, which decides the calibration check the LossDsl analyzers run on it (docs/calibration.md).
        /// <see cref="LossTask.Auto"/> infers it: a class row with an <c>int</c> target is <see cref="LossTask.Multiclass"/>,
        /// a channel-set loss is <see cref="LossTask.Segmentation"/>, an elementwise loss with one data parameter is
        /// <see cref="LossTask.Margin"/>; anything else (e.g. an elementwise loss with a prediction and a target) gets no
        /// calibration verdict unless the task is named.
        /// </summary>
        public LossTask Task { get; set; } = LossTask.Auto;

        /// <summary>
        /// The calibration property this loss must have. When the analyzer finds that it does not, it reports LOSS0204
        /// (a warning by default; raise it to an error in .editorconfig or with TreatWarningsAsErrors).
        /// </summary>
        public Calibration Require { get; set; } = Calibration.None;

        /// <summary>
        /// Compute the formula exactly as written. By default the generator rewrites the unstable forms papers write into
        /// stable equals before it differentiates, and again in the derived gradient: <c>Log(Sigmoid(x))</c> becomes
        /// <c>LogSigmoid(x)</c>, <c>1 - Sigmoid(x)</c> becomes <c>Sigmoid(-x)</c>, <c>Log(1 + u)</c> becomes <c>Log1P(u)</c>,
        /// <c>Exp(u) - 1</c> becomes <c>Expm1(u)</c>, and so on (docs/accuracy.md lists the rules), each reported as info
        /// LOSS0306 with the bits of float32 accuracy it saves. Set this to keep the literal formula, e.g. to reproduce a
        /// reference implementation's rounding bit for bit.
        /// </summary>
        public bool Literal { get; set; }
    }

    /// <summary>
    /// Marks a span of a pair loss (<see cref="LossShape"/> <c>Pairs</c>) as the <b>positive</b> pair mask: 1 where item <c>j</c>
    /// has the anchor's label and is not the anchor itself, 0 elsewhere. The generated tensor overloads take the batch's
    /// labels instead of this span and build the mask from them.
    /// </summary>
    [AttributeUsage(AttributeTargets.Parameter, AllowMultiple = false, Inherited = false)]
    public sealed class PositivesAttribute : Attribute
    {
    }

    /// <summary>
    /// Marks a span of a pair loss (<see cref="LossShape"/> <c>Pairs</c>) as the <b>negative</b> pair mask: 1 where item <c>j</c>
    /// has another label than the anchor, 0 elsewhere. The generated tensor overloads take the batch's labels instead of
    /// this span and build the mask from them.
    /// </summary>
    [AttributeUsage(AttributeTargets.Parameter, AllowMultiple = false, Inherited = false)]
    public sealed class NegativesAttribute : Attribute
    {
    }

    /// <summary>
    /// Makes a set loss (<see cref="LossShape"/> <c>ChannelSet</c>, per channel or per image) a <b>multiclass</b> one, as
    /// segmentation_models_pytorch's multiclass mode: the marked span (the prediction) holds the <b>softmax</b> across the
    /// class axis 1 of the logits <c>[N, C, *spatial]</c> the caller passes, and the loss's other span is the one-hot of an
    /// int64 class mask <c>[N, *spatial]</c>. The body runs once per class set. Inside it, <c>Log</c> of an element of the
    /// marked span is computed as the log-softmax (stable at any logit), and <see cref="LossMath.Classes"/> is the number
    /// of classes. Pixels whose mask equals <c>ignore_index</c> have probability 0 and target 0 in every set (smp's
    /// masking), are not counted by <c>Length</c>, and get no gradient.
    /// </summary>
    [AttributeUsage(AttributeTargets.Parameter, AllowMultiple = false, Inherited = false)]
    public sealed class SoftmaxAttribute : Attribute
    {
    }

    /// <summary>
    /// Declares the valid range of a hyperparameter (a <c>float</c> parameter with a default value) or of a data input. The generated
    /// overloads and the module check the value they are given and throw <see cref="ArgumentOutOfRangeException"/> when
    /// it lies outside, as <c>cross_entropy(label_smoothing: 2)</c> does. The bounds are inclusive unless
    /// <see cref="MinExclusive"/> or <see cref="MaxExclusive"/> says otherwise; use <see cref="double.PositiveInfinity"/>
    /// for a range open above.
    /// </summary>
    /// <para>
    /// On a float <b>data input</b> (a <c>ReadOnlySpan&lt;float&gt;</c> or a <c>float</c> without a default), it declares the
    /// range the caller's values lie in, e.g. a distance that is positive: the analyzers' interval analysis assumes it
    /// (so <c>Log(d[t])</c> on a <c>d</c> declared positive is not LOSS0303), and the generated tensor overload checks the
    /// tensor and throws <see cref="ArgumentOutOfRangeException"/> naming the parameter and the first element outside
    /// (NaN is outside every range), instead of computing a NaN loss. Not on class indices, pair masks or a
    /// <c>[Softmax]</c> span.
    /// </para>
    /// <example><c>[Range(0, 1)] float label_smoothing = 0f</c>, <c>[Range(0, double.PositiveInfinity, MinExclusive = true)] float temperature = 0.1f</c>,
    /// <c>[Range(0, double.PositiveInfinity, MinExclusive = true)] ReadOnlySpan&lt;float&gt; distance</c></example>
    [AttributeUsage(AttributeTargets.Parameter, AllowMultiple = false, Inherited = false)]
    public sealed class RangeAttribute : Attribute
    {
        /// <summary>The range [min, max] (bounds inclusive unless marked exclusive).</summary>
        public RangeAttribute(double min, double max)
        {
            Min = min;
            Max = max;
        }

        /// <summary>The lower bound.</summary>
        public double Min { get; }

        /// <summary>The upper bound.</summary>
        public double Max { get; }

        /// <summary>Whether the value must be strictly above <see cref="Min"/>.</summary>
        public bool MinExclusive { get; set; }

        /// <summary>Whether the value must be strictly below <see cref="Max"/>.</summary>
        public bool MaxExclusive { get; set; }
    }
}
