// The allreduce's speed on this machine for a gradient of 40 MB (the 3-layer LSTM 700's), as a
// figure for docs/distributed.md's model (bench/dist_model.py takes the bandwidth):
//
//   mpirun --allow-run-as-root -np 2 build/bench/bench_allreduce [MB]
//
// Alone (one rank) there is nothing to measure, and it says so.
#include <fmt/format.h>

#include <cstdlib>
#include <vector>

#include "rnnc/rnnc.h"

int main(int argc, char** argv) {
  using namespace rnnc;
  const double mb = argc > 1 ? std::atof(argv[1]) : 40.0;
  if (!(mb > 0 && mb < 1e5)) {
    fmt::print(stderr, "bench_allreduce: MB must be in (0, 100000), got {}\n", argc > 1 ? argv[1] : "");
    return 2;
  }
  if (dist::size() == 1) {
    fmt::print("bench_allreduce: one rank, nothing crosses between processes; run it under mpirun -np 2\n");
    return 0;
  }
  std::vector<Tensor> g{Tensor::full({static_cast<int64_t>(mb * 1e6 / 4)}, 1.0f)};
  dist::allreduce_mean(g);  // warm up
  for (int i = 0; i < 3; ++i) {
    dist::barrier();
    const dist::ReduceStats st = dist::allreduce_mean(g);
    if (dist::is_root())
      fmt::print("{} ranks: allreduce of {:.1f} MB in {} buckets: {:.1f} ms ({:.2f} GB/s)\n", dist::size(),
                 st.bytes / 1e6, st.buckets, st.seconds * 1e3, st.bytes / st.seconds / 1e9);
  }
  return 0;
}
