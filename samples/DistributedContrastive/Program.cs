// DistributedContrastive: a small encoder trained with SupCon over global negatives by two MPI processes, against the
// same training in one process on the same global batches. Every step, each rank embeds its half of the global batch,
// all-gathers the embeddings with gradients (AllGatherFunction), and computes SupCon of its anchors against every
// rank's items under LossSharding.Over(comm, ShardAxis.Batch) (the labels gathered, Mean over the positive rows of the
// whole batch); the model's gradients are then all-reduced (sum) through the same ICollective. The two loss curves
// must agree, and are drawn to curves.png.
//
// Run:  dotnet run --project samples/DistributedContrastive -c Release [-- outdir] [--quick]
// (it launches the two ranks itself with mpiexec.mpich; bash eng/mpi/install.sh installs MPICH)

return LossDsl.Samples.DistributedContrastive.Sample.Run(args);
