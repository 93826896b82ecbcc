// Data-parallel training over MPI (`mpirun -np N program`): every rank holds the whole model,
// trains on its own share of the batch, and averages the gradients with the others before each
// update, so all ranks take the same step. MPI is Debian's OpenMPI; this header does not include
// it. A process not started by mpirun (or a build without MPI) is rank 0 of 1, and every call
// below is then a no-op that costs nothing.
//
//   nn::Gradients g = ...;                   // this rank's gradients (a tree)
//   dist::allreduce_mean(g);                 // the mean over ranks, on every rank, the same bits
//
// Gradients travel in buckets of at most 4 MB (PyTorch DDP's buckets, Horovod's tensor fusion; 4 MB
// rather than DDP's 25, measured: docs/distributed.md): the leaves end to end in the tree's order,
// cut every 4 MB (a large leaf spans buckets), so every rank reduces the same buckets in the same
// order and the result does not depend on timing. Every call first checks that all ranks pass the
// same leaves (count, shapes, dtypes); a mismatch is an Error on every rank, naming the ranks.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rnnc/tensor.h"
#include "rnnc/tree.h"

namespace rnnc::dist {

// Whether this build has MPI.
bool built_with_mpi();
// This process's rank and the number of ranks. Under mpirun the first call initialises MPI (and
// MPI is finalised at exit).
int rank();
int size();
inline bool is_root() { return rank() == 0; }

inline constexpr int64_t kBucketBytes = int64_t{4} << 20;

struct ReduceStats {
  int64_t bytes = 0;  // reduced by this call (each rank's share)
  int buckets = 0;
  double seconds = 0;       // spent in MPI, waiting for the slowest rank included
  int64_t early_bytes = 0;  // OverlappedMean: reduced while the backward pass still ran
};
// Replaces every tensor by its mean over the ranks (float tensors; others are left alone).
ReduceStats allreduce_mean(std::vector<Tensor>& tensors, int64_t bucket_bytes = kBucketBytes);
// Every rank's tensors become rank `root`'s.
void broadcast(std::vector<Tensor>& tensors, int root = 0);
// An Error on every rank when a tensor's bytes differ between ranks, naming the first such tensor
// (names[i]) and the ranks that disagree with rank 0.
void check_same(const std::vector<Tensor>& tensors, const std::vector<std::string>& names);
// Rows (axis 0) of every rank's t, in rank order: [size n, ...] from each rank's [n, ...] (the
// same shape on every rank). my_rows is its inverse: this rank's share of a [size n, ...] tensor.
Tensor allgather_rows(const Tensor& t);
Tensor my_rows(const Tensor& all);
// Waits for every rank.
void barrier();
// Ends the whole job from one rank, for an error the others cannot see: prints "rnnc: rank R:
// message" on stderr and aborts every rank with exit code 1 (mpirun names the rank too).
[[noreturn]] void abort_job(const std::string& message);

// Averaging that overlaps the backward pass (PyTorch DDP's and Horovod's scheme): hear of each
// gradient as soon as the compiled step has finished it (CallHooks in tree_function.h, which nn::fit
// passes), and the bucket it completes starts its reduction (a ring of non-blocking sends between
// neighbours) while the steps below still run; progress() between steps moves the reductions on,
// finish() waits for the rest and writes the means.
//
//   dist::OverlappedMean mean;
//   CallHooks hooks{[&](int i, const Tensor& g) { mean.ready(i, g); }, [&] { mean.progress(); }};
//   auto [loss, grads] = step.call(hooks, model, batch, rng);
//   mean.finish(grads);                      // grads: the mean over ranks, the same bits on every rank
//
// The buckets are cut once, at the first call's finish(), from the order that call's gradients
// arrived in (the compiled schedule's): a bucket closes where a step lies between two gradients
// (so that what is ready goes at once), at bucket_bytes, and where the dtype changes. Every rank
// checks that the others cut the same buckets; each segment's sum is added up by one rank in a
// fixed order and passed round, so the result does not depend on timing (with 2 ranks it is
// allreduce_mean's, bit for bit); a later call whose gradients arrive in another order (another
// shape signature) is as correct, with less overlap. The first call itself reduces at its end.
class OverlappedMean {
 public:
  explicit OverlappedMean(int64_t bucket_bytes = kBucketBytes);
  ~OverlappedMean();
  OverlappedMean(const OverlappedMean&) = delete;
  OverlappedMean& operator=(const OverlappedMean&) = delete;
  // Leaf i of the gradient tree (tree order) is final; its bytes are copied now.
  void ready(int leaf, const Tensor& grad);
  // Between steps: tests the reductions in flight (cheap when none is, or when called again
  // within a few microseconds).
  void progress();
  // Copies what was not reported, starts what has not started, waits, and writes the mean into
  // every float tensor of grads (tree order, the same tree every call).
  ReduceStats finish(std::vector<Tensor>& grads);
  template <class T> ReduceStats finish(T& tree) {
    std::vector<Tensor> t = tree::tensors(tree);
    return finish(t);
  }

  struct State;

 private:
  std::unique_ptr<State> s_;
};

// The same over trees of leaves (a model, its gradients).
template <class T> ReduceStats allreduce_mean(T& tree, int64_t bucket_bytes = kBucketBytes) {
  std::vector<Tensor> t = tree::tensors(tree);  // the tree's own storage: reduced in place
  return allreduce_mean(t, bucket_bytes);
}
template <class T> void broadcast(T& tree, int root = 0) {
  std::vector<Tensor> t = tree::tensors(tree);
  broadcast(t, root);
}
template <class T> void check_same(const T& tree, const std::string& prefix = "") {
  check_same(tree::tensors(tree), tree::paths(tree, prefix));
}

}  // namespace rnnc::dist
