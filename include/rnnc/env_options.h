// The switches rnnc reads from the environment, read once per process into one struct.
//
//   RNNC_DUMP        comma-separated: passes, times, groups, dot, llvm: what compile() prints to stderr
//   RNNC_PROFILE     1: wall time per kind of step, printed at exit; 2: also every top-level step
//   RNNC_THREADS     threads for kernels and GEMMs when CompileOptions::threads is 0
//                    (unset: every hardware thread)
//   RNNC_CACHE_DIR   the cache folder (else $XDG_CACHE_HOME/rnnc, else ~/.cache/rnnc)
//   RNNC_DISK_CACHE  0: compiled kernels are not kept on disk
//   RNNC_BF16        force: CompileOptions::bf16 takes effect on any CPU with avx512_bf16, even one
//                    where bfloat16 GEMMs are measured slower than float32's
//   RNNC_PRETRANSPOSE 1 or 0: a loop's transposed weight is (or is not) copied transposed before the
//                    loop, instead of as measured on this CPU (rnnc info shows the measurement)
//
// CompileOptions::env starts as EnvOptions::from_environment(); a program (or a test) sets any
// field for one compile instead of changing its environment.
#pragma once
#include <string>
#include <string_view>

namespace rnnc {

struct EnvOptions {
  std::string dump;         // RNNC_DUMP
  int profile = 0;          // RNNC_PROFILE
  int threads = 0;          // RNNC_THREADS (0: unset)
  std::string cache_dir;    // RNNC_CACHE_DIR or its fallbacks ("" when there is no home)
  bool disk_cache = true;   // RNNC_DISK_CACHE != 0
  bool bf16_force = false;  // RNNC_BF16=force
  int pretranspose = -1;    // RNNC_PRETRANSPOSE: 1, 0, or -1 (unset: measured)

  // Whether `dump` lists `what`.
  bool dumps(std::string_view what) const;
  // The process's environment, read at the first call.
  static const EnvOptions& from_environment();
};

}  // namespace rnnc
