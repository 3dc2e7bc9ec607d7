namespace LossDsl.Analyzers.Tests;

/// <summary>
/// The coverage section of docs/losses.md: every loss of the catalogue (../shared/LOSSES.md) and of issue 23's list,
/// by shape, and whether the DSL writes it fully, with a workaround, or not at all. Kept by hand (it is a judgement of
/// what a loss needs); <see cref="LossLibraryCatalogueTests.Page"/> appends it to the generated page.
/// </summary>
internal static class CoverageTable
{
    public const string Text = """

## Coverage of the loss catalogue

Every loss of the catalogue (`LOSSES.md`, the product brief's list) and of the losses issue 23 names, by shape:
**written** means the DSL writes it as its source defines it (the library's name, or the test catalogue's, where it
is not a library loss); **workaround** that it is written with a stated compromise; **no** that the DSL cannot write
it, and why.

| shape | loss | status | how, or why not |
|---|---|---|---|
| class row | cross-entropy | written | `Classification.CrossEntropy` |
| class row | label-smoothed CE | written | `Classification.LabelSmoothingCrossEntropy` |
| class row | Poly-1 | written | `Classification.Poly1` |
| class row | Poly-N | workaround | `Classification.PolyN` stops at N = 3: the DSL has no loops, so each term is written out |
| class row | softmax focal | written | `Classification.Focal` |
| class row | dual focal | written | `Classification.DualFocal` |
| class row | generalized CE (GCE) | written | `Classification.GeneralizedCrossEntropy` |
| class row | MAE | written | `Classification.Mae` |
| class row | normalized CE (NCE) | written | `Classification.NormalizedCrossEntropy` |
| class row | reverse CE (RCE) | written | `Classification.ReverseCrossEntropy` |
| class row | squentropy | written | `Classification.Squentropy` |
| class row | z-loss regularizer | written | `Classification.ZLoss` |
| class row | KL distillation | written | `Distillation.KL` |
| class row | supervised contrastive (one anchor row) | written | `MetricLearning.SupCon` (pair rows, masks from the labels) |
| class row | circle loss (one anchor row) | written | `MetricLearning.Circle` |
| class row | entropy minimization | written | `Unsupervised.Entropy` (a row without a target) |
| class row | HL-Gauss | written | `Distributional.HLGauss` (the Erf intrinsic; the target is clamped into the support) |
| elementwise | BCE with logits | written | `Binary.BceWithLogits` |
| elementwise | sigmoid focal | written | `Binary.SigmoidFocal` |
| elementwise | asymmetric loss (ASL) | written | `Binary.Asymmetric` |
| elementwise | Huber | written | `Regression.Huber` |
| elementwise | quantile (pinball) | written | `Regression.Quantile` |
| elementwise | logistic margin | written | test catalogue `Logistic` (Softplus(−v)) |
| elementwise | hinge | written | test catalogue `Hinge` |
| elementwise | squared hinge | written | test catalogue `SquaredHinge` |
| elementwise | exponential | written | test catalogue `Exponential` |
| elementwise | a non-calibrated control | written | test catalogue `SquaredControl`; the analyzer flags it (LOSS0201) |
| elementwise | Welsch, Cauchy, Geman-McClure (kornia) | written | `Robust.Welsch`, `Robust.Cauchy`, `Robust.GemanMcClure` |
| set | soft Dice | written | `Segmentation.Dice`, `Segmentation.MulticlassDice` |
| set | Tversky | written | `Segmentation.Tversky`, `Segmentation.MulticlassTversky` |
| set | focal Tversky (Abraham and Khan: per class) | written | `Segmentation.FocalTversky` |
| set | focal Tversky (smp: (mean over classes of the Tversky loss)^γ) | written | `Segmentation.SmpFocalTversky` (`MeanOverClasses`, a reduction across the classes; torch-ops backend) |
| set | soft Jaccard | written | `Segmentation.Jaccard`, `Segmentation.MulticlassJaccard` |
| set | self-adjusting Dice | written | `Overlap.SelfAdjustingDice` |
| set | AnyLoss F-β | written | `Overlap.AnyLossFBeta` (one set over the batch) |
| set | log-cosh Dice | written | `Overlap.LogCoshDice` |
| set | weighted Dice | written | per-class weights: the `weight` argument of every per-channel or per-image set loss (cross_entropy's semantics); a per-pixel weight map: `Overlap.WeightedDice` |
| set | smp's empty-channel convention | written | the option `skip_empty` of Dice, Jaccard and Tversky (binary, multilabel, multiclass) |
| set | generalized Dice (Sudre 2017, w_c = 1/(Σy_c)²) | written | `Overlap.GeneralizedDice` (per image, MONAI's default) and `Overlap.GeneralizedDiceBatch` (`SumOverClasses`, `MaxOverClasses` for an absent class's weight; torch-ops backend) |
| set | MCC | written | `Segmentation.Mcc` (per channel; smp pools the channels) |
| set | information maximization | written | `Unsupervised.InformationMaximization`: a `[Softmax]` set loss without a target span, which takes the logits alone |
| set | Lovász hinge | written | `Lovasz.LovaszHinge`, `Lovasz.LovaszHingePerImage` (`SortedSum` with `CumSum`; the torch-ops backend runs it, the fused kernels decline it) |
| set | Lovász-Softmax | written | `Lovasz.LovaszSoftmax`, `Lovasz.LovaszSoftmaxPerImage` (smp's `classes="all"`); `classes="present"` is `Lovasz.LovaszSoftmaxPresent`, which averages the per-class losses over the classes present with torch ops (a reduction across sets) |
| metric learning | SupCon | written | `MetricLearning.SupCon` |
| metric learning | NT-Xent / InfoNCE | written | `MetricLearning.NTXent` |
| metric learning | circle loss | written | `MetricLearning.Circle` |
| metric learning | batch-hard triplet | written | `MetricLearning.BatchHardTriplet` |
| metric learning | multi-similarity | written | `MetricLearning.MultiSimilarity` |
| metric learning | NCA | written | `PairLosses.Nca` |
| metric learning | contrastive, per-pair mean (PML) | written | `PairLosses.Contrastive`: a pair loss on the labels whose per-anchor sums are reduced across the anchors (`SumOverAnchors`; torch-ops backend) |
| metric learning | triplet margin over all triplets (PML default) | written | `Ranking.TripletMarginAllTriplets` (a nested reduction inside the anchor's row); PML's `AvgNonZeroReducer` is `Ranking.TripletMarginLoss`, which divides the sum by the count of active triplets, counted per block of anchors |
| metric learning | Smooth-AP | written | `Ranking.SmoothAP` (each item's rank is a sum over the row: a nested reduction) |
| metric learning | rank-based AP, Plackett–Luce, soft top-k | no | `SortedSum` sorts within an axis, but these need more than running sums over the order (a likelihood over the permutation, a differentiable top-k); not planned |
| several inputs | DPO (sigmoid) | written | `Preference.Dpo` |
| several inputs | symmetric KL | written | `Distillation.SymmetricKL` |
| sequence | CTC | no | a dynamic program over alignments |

Totals of the table's 56 rows (a row may name several losses of one kind):

| shape | written | workaround | no |
|---|---|---|---|
| class row | 16 | 1 | 0 |
| elementwise | 11 | 0 | 0 |
| set | 15 | 0 | 0 |
| metric learning | 9 | 0 | 1 |
| several inputs | 2 | 0 | 0 |
| sequence | 0 | 0 | 1 |
| **all** | **53** | **1** | **2** |

The intrinsics Erf, Log1P, Expm1, Cos, Sin and Atan have no row of their own (docs/dsl.md lists them; docs/accuracy.md
gives their float32 accuracy against libtorch).
""";
}
