// One definition of the loss shapes, compiled into two assemblies: the attributes (public, LossDsl.LossShape,
// what users write in [Loss(Shape = ...)] and what LossDsl.Runtime lays tensors out by) and the generator (its
// model, LossDsl.Generator.Model.LossShape; the generator cannot load the attributes assembly). The numeric values
// are the contract between [Loss] attributes, the generator and the generated LossDefinition.
#if LOSSDSL_GENERATOR
namespace LossDsl.Generator.Model
#else
namespace LossDsl
#endif
{
    /// <summary>How a loss's parameters map onto tensor axes.</summary>
    public enum LossShape
    {
        /// <summary>Elementwise when no parameter is a span; class row otherwise.</summary>
        Auto = 0,

        /// <summary>Every data parameter is a <c>float</c>: one evaluation per element of same-shape tensors.</summary>
        Elementwise = 1,

        /// <summary>Spans are rows of <c>[N, C]</c> tensors (class axis last); <c>int</c> parameters are <c>[N]</c> int64 targets.</summary>
        ClassRow = 2,

        /// <summary>
        /// Spans are sets: for <c>[N, C, *spatial]</c> tensors, one set per channel <c>c</c> over batch and spatial
        /// positions (segmentation_models_pytorch binary/multilabel mode). Per-channel losses are averaged by
        /// <c>Reduction.Mean</c>.
        /// </summary>
        ChannelSet = 3,

        /// <summary>
        /// Spans are rows of <c>[N, N]</c> pair matrices over one batch (a similarity or distance matrix): row <c>i</c>
        /// holds item <c>i</c>'s pairs with every item <c>j</c>. Spans marked <c>[Positives]</c> or <c>[Negatives]</c> are
        /// pair masks the runtime builds from the batch's labels, with the diagonal excluded (pytorch-metric-learning's
        /// <c>pos_mask</c> and <c>neg_mask</c>). <c>Reduction.Mean</c> averages the rows whose loss is positive, as
        /// pytorch-metric-learning's <c>AvgNonZeroReducer</c> does, so rows without a positive drop out.
        /// </summary>
        Pairs = 4,
    }

    /// <summary>Which axes a set loss's sets run over (<see cref="LossShape.ChannelSet"/>).</summary>
    public enum LossSets
    {
        /// <summary>One set per channel, over the batch and the spatial positions: <c>[N, C, *spatial]</c> gives C sets
        /// (segmentation_models_pytorch's binary and multilabel modes).</summary>
        PerChannel = 0,

        /// <summary>One set per image and channel, over the spatial positions: <c>[N, C, *spatial]</c> gives N·C sets
        /// (smp's per-image option); <c>reduction: None</c> returns <c>[N, C]</c>.</summary>
        PerImage = 1,

        /// <summary>One set over the whole tensor, any shape: batch-level losses such as a soft F1 or an AUC
        /// surrogate over the batch; <c>reduction: None</c> returns a scalar.</summary>
        Whole = 2,
    }
}
