// The choices compile() makes per CPU, from what the CPU has and from GEMMs timed on it once per
// machine (internal to lib/compile; host_info() in rnnc/compile.h reports them).
#pragma once
#include "rnnc/env_options.h"
#include "rnnc/passes.h"

namespace rnnc {

// Whether the bf16 mode pays on this CPU (force: RNNC_BF16=force); say: tell stderr once why not.
bool bf16_pays(bool say, bool force);
// Whether a loop's weight transposed once before the loop pays, per GEMM shape, by 10% (the copy
// costs something), or as RNNC_PRETRANSPOSE says.
PretransposePays transposed_copy_pays(const EnvOptions& env);
// The measured figures behind them, kept per machine (measurements.h): bfloat16 GEMMs over
// float32's, and a GEMM [m, k] x [k, n] on the transposed copy over reading W^T in place.
double bf16_speedup();
double transposed_copy_speedup(int64_t m, int64_t k, int64_t n);

}  // namespace rnnc
