// What compile() chooses on this CPU, and host_info(), which reports it (rnnc info).
#include "compile/host.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <mutex>
#include <thread>

#include "codegen/codegen.h"
#include "compile/measurements.h"
#include "exec/gemm.h"
#include "rnnc/compile.h"

namespace rnnc {

// Whether the bf16 mode pays on this CPU: it has avx512_bf16, and bfloat16 GEMMs beat float32's
// by 10% (the casts around them cost something), measured once; or RNNC_BF16=force. On Zen 4 and
// 5 they run ~1.5-2x; on an Intel Xeon without AMX, 0.6x (docs/performance.md).
bool bf16_pays(bool say, bool force) {
  static const bool has = codegen::host_has_bf16();
  static std::once_flag said;
  if (!has) {
    if (say)
      std::call_once(said,
                     [] { fmt::print(stderr, "rnnc: bf16 mode: this CPU has no avx512_bf16; GEMMs stay float32\n"); });
    return false;
  }
  if (force) return true;
  const double speedup = bf16_speedup();
  if (speedup >= 1.1) return true;
  if (say)
    std::call_once(said, [speedup] {
      fmt::print(stderr,
                 "rnnc: bf16 mode: on this CPU bfloat16 GEMMs run at {:.2f}x float32's; GEMMs stay float32 "
                 "(RNNC_BF16=force uses them anyway)\n",
                 speedup);
    });
  return false;
}

// Whether a loop's weight transposed once before it makes its GEMMs faster on this CPU, by 10%
// (the copy costs something), measured once per shape: on Zen 4 oneDNN's sgemm ran 410 GFLOP/s
// on the copy against 236 reading W transposed; on Zen 3 the copy (aligned, rows 4 KB apart) ran
// 1.7-2x slower; on Zen 5 [32, 700] x [700, 2800] ran 1.44-1.52x faster on the copy, [128, 256] x
// [256, 1024] 0.98-1.00x (docs/performance.md).
PretransposePays transposed_copy_pays(const EnvOptions& env) {
  if (env.pretranspose >= 0) return [yes = env.pretranspose == 1](int64_t, int64_t, int64_t) { return yes; };
  return [](int64_t m, int64_t k, int64_t n) { return transposed_copy_speedup(m, k, n) >= 1.1; };
}

// The two timings, kept per machine (measurements.h).
double bf16_speedup() { return measurements::remembered("bf16 gemm 128x256x1024", exec::bf16_gemm_speedup); }
double transposed_copy_speedup(int64_t m, int64_t k, int64_t n) {
  const auto [pm, pk, pn] = exec::transposed_copy_probe(m, k, n);
  if (pm == 0) return 1.0;  // too small to time: read in place
  return measurements::remembered(fmt::format("transposed copy {}x{}x{}", pm, pk, pn),
                                  [=] { return exec::transposed_copy_speedup(pm, pk, pn); });
}

bool bf16_supported() { return bf16_pays(false, EnvOptions::from_environment().bf16_force); }

namespace {

// "model name (family F, model M)" from /proc/cpuinfo, or "" where there is none.
std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, model, family, number;
  auto value = [&] { return line.substr(std::min(line.size(), line.find(':') + 2)); };
  while (std::getline(in, line) && (model.empty() || family.empty() || number.empty())) {
    if (line.starts_with("model name") && model.empty()) model = value();
    if (line.starts_with("cpu family") && family.empty()) family = value();
    if (line.starts_with("model\t") && number.empty()) number = value();
  }
  if (model.empty()) return "";
  return family.empty() ? model : fmt::format("{} (family {}, model {})", model, family, number);
}

}  // namespace

HostInfo host_info() {
  const EnvOptions& env = EnvOptions::from_environment();
  HostInfo h;
  h.cpu = cpu_name();
  h.llvm_cpu = codegen::host_cpu();
  // The features rnnc's kernels and GEMMs are written for, of those LLVM enables on this CPU.
  const std::vector<std::string> all = codegen::host_features();
  for (const char* f : {"avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512vnni", "avx512bf16",
                        "avx512fp16", "avxvnni", "amx-tile", "amx-bf16", "amx-int8"})
    if (std::binary_search(all.begin(), all.end(), std::string(f))) h.features.emplace_back(f);
  h.threads = env.threads > 0 ? env.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  h.gemm = exec::gemm_library();
  const PretransposePays pays = transposed_copy_pays(env);
  for (auto [m, k, n] : {std::array<int64_t, 3>{8, 256, 1024}, {32, 256, 1024}, {32, 700, 2800}, {128, 256, 1024}})
    h.pretranspose.push_back({m, k, n, transposed_copy_speedup(m, k, n), pays(m, k, n)});
  h.bf16_speedup = codegen::host_has_bf16() ? bf16_speedup() : 0.0;
  h.measurements = measurements::file();
  h.bf16 = bf16_supported();
  h.int8 = exec::q8_path();
  return h;
}

}  // namespace rnnc
