// One definition of the loss tasks and calibration requirements, compiled into two assemblies, as LossShape.cs is: the
// attributes (public, what users write in [Loss(Task = ..., Require = ...)]) and the generator (its calibration
// analysis reads them; the generator cannot load the attributes assembly).
#if LOSSDSL_GENERATOR
namespace LossDsl.Generator.Model
#else
namespace LossDsl
#endif
{
    /// <summary>What a loss is for: decides which calibration check applies (docs/calibration.md).</summary>
    public enum LossTask
    {
        /// <summary>Inferred from the parameters (see <see cref="LossAttribute.Task"/>).</summary>
        Auto = 0,

        /// <summary>No calibration verdict (e.g. distillation, metric learning).</summary>
        None = 1,

        /// <summary>A margin loss φ(v) of v = y·f with y ∈ {−1, +1}: one data parameter, the margin.</summary>
        Margin = 2,

        /// <summary>A binary loss ℓ(x, y) of a logit x and a label y ∈ {0, 1}.</summary>
        BinaryLogit = 3,

        /// <summary>A binary loss ℓ(q, y) of a probability q ∈ [0, 1] and a label y ∈ {0, 1}.</summary>
        BinaryProbability = 4,

        /// <summary>A softmax loss ℓ(z, t) of a row of logits z and a class index t.</summary>
        Multiclass = 5,

        /// <summary>A regression loss: no calibration verdict.</summary>
        Regression = 6,

        /// <summary>A set (segmentation) loss such as Dice or Tversky.</summary>
        Segmentation = 7,
    }

    /// <summary>A calibration property that a loss can be required to have.</summary>
    public enum Calibration
    {
        /// <summary>Nothing is required; the analyzer still reports its verdict.</summary>
        None = 0,

        /// <summary>The Bayes-optimal prediction picks the most likely class (Bartlett, Jordan &amp; McAuliffe 2006).</summary>
        ClassificationCalibrated = 1,

        /// <summary>Strictly proper: the risk minimizer's probabilities equal the true conditional probabilities.</summary>
        Proper = 2,
    }
}
