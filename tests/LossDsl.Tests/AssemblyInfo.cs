using Xunit;

// The test classes run one at a time. TorchSharp's custom-autograd bridge calls managed code from native autograd
// callbacks (a node's backward, and its deletion when the graph is freed, possibly on the finalizer thread). Once in
// about fifteen runs of this suite with test classes in parallel, the test host died with no managed exception.
// Serial classes keep those callbacks from interleaving across tests; each test still uses libtorch's own threads.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
