// The GEMM timings behind compile()'s per-CPU choices (bf16 mode, a loop's weight copied
// transposed), kept per machine in the cache folder, so that every process on one machine decides
// alike and compiles the same kernels: a timing near a threshold, taken again in each process,
// could fall either side of it.
#pragma once
#include <functional>
#include <string>

namespace rnnc::measurements {

// The figure named `key` on this machine: read from the file where an earlier process (or this
// one) kept it, else measure() now, kept. Without a cache folder (or RNNC_DISK_CACHE=0), measured
// once per process.
double remembered(const std::string& key, const std::function<double()>& measure);

// The file (cache_dir/host/<this CPU's key>.json), or "" where the figures are not kept.
std::string file();

}  // namespace rnnc::measurements
