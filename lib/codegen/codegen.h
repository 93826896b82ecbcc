// Code generation: KernelDescs to machine code through LLVM's ORC JIT. The only place that sees
// LLVM; everything above it speaks KernelDesc and KernelFn.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "exec/program.h"
#include "lower/kernel.h"
#include "rnnc/env_options.h"

namespace llvm {
class Module;
class IRBuilderBase;
class Value;
}  // namespace llvm

namespace rnnc::codegen {

using exec::KernelFn;
using lower::Instr;
using lower::KernelArg;
using lower::KernelDesc;
using lower::Store;

struct JitStats {
  int kernels = 0;      // asked for
  int memory_hits = 0;  // already compiled in this process
  int disk_hits = 0;    // loaded from the on-disk object cache
  int compiled = 0;     // compiled by LLVM now
  double seconds = 0;   // wall time spent here
};

// Entry points for `kernels`, compiling those this process has not seen (as one LLVM module,
// through env's on-disk cache; env.dumps("llvm") prints the optimised IR). Thread-safe.
std::vector<KernelFn> get_kernels(const std::vector<const KernelDesc*>& kernels, const EnvOptions& env,
                                  JitStats* stats = nullptr);

// Bytes for an object file: `symbol` (const unsigned char[], 64-byte aligned) and symbol + "_size"
// (const uint64_t).
struct Blob {
  std::string symbol;
  std::string_view bytes;
};

// Ahead of time: kernels as one relocatable, position-independent ELF object (for a static or a
// shared library), kernel i named prefix + i, compiled as the JIT compiles them (the same
// optimisation, the host CPU's features), so they compute the same bits; with `data` beside them.
std::string kernel_object(const std::vector<const KernelDesc*>& kernels, const std::string& prefix,
                          const std::vector<Blob>& data = {});

// The host CPU's name as LLVM knows it ("znver4", "sapphirerapids"): what kernel_object targets.
std::string host_cpu();
// The features LLVM enables for it ("avx2", "avx512f", ...), sorted.
std::vector<std::string> host_features();

// The LLVM IR of one kernel before optimisation (for RNNC_DUMP=llvm and tests).
std::string kernel_ir(const KernelDesc& k);

// Whether this CPU multiplies bfloat16 natively (avx512_bf16): what the bf16 mode needs to pay.
bool host_has_bf16();

// Internal to lib/codegen.
void emit_kernel(llvm::Module& m, const KernelDesc& k, const std::string& name);
llvm::Value* emit_exp(llvm::IRBuilderBase& b, llvm::Value* x);
llvm::Value* emit_log(llvm::IRBuilderBase& b, llvm::Value* x);
llvm::Value* emit_tanh(llvm::IRBuilderBase& b, llvm::Value* x);
llvm::Value* emit_sigmoid(llvm::IRBuilderBase& b, llvm::Value* x);

}  // namespace rnnc::codegen
