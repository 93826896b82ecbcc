// What the MPI side of the distributed layer shares between its files (not a public header: it
// includes mpi.h).
#pragma once
#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "rnnc/tensor.h"

namespace rnnc::dist::detail {

struct World {
  int rank = 0, size = 1;
  bool mpi = false;
};
// MPI initialised on first use, under a launcher; rank 0 of 1 otherwise.
const World& world();
// An Error naming the call and the rank unless code is MPI_SUCCESS.
void check(int code, const char* call);
// FNV-1a over bytes.
uint64_t hash(const void* p, size_t n, uint64_t h = 1469598103934665603ull);
// Every rank's value of v, in rank order.
std::vector<uint64_t> gather_all(uint64_t v);
// The ranks whose value differs from rank 0's, as "1, 3".
std::string differing(const std::vector<uint64_t>& all);
// Every rank must pass the same leaves: the same count, dtypes and shapes, in the same order.
void check_layout(const std::vector<Tensor>& ts, const char* who);
MPI_Datatype mpi_type(DType t);
// to[e] = from[e] * scale over `bytes` of f32 or f64 elements (the product in double, then rounded:
// the same bits whichever way the sums travelled).
void copy_scaled(void* to, const void* from, int64_t bytes, DType dt, double scale);

}  // namespace rnnc::dist::detail
