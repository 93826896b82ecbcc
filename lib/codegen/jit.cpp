// The JIT: one ORC LLJIT per process, a kernel cache keyed by KernelDesc::key(), and an on-disk
// cache of compiled objects.
//
// get_kernels() puts every kernel this process has not compiled yet into one LLVM module. The
// module is named by a hash of its kernels' keys, the host CPU and features, and the LLVM and
// rnnc versions; its object file is kept in <cache>/kernels/<hash>.o (cache: EnvOptions::cache_dir,
// from $RNNC_CACHE_DIR, else $XDG_CACHE_HOME/rnnc, else ~/.cache/rnnc; RNNC_DISK_CACHE=0 turns it off). A second process
// that compiles the same graph loads that object and never runs LLVM's optimiser or code
// generator. We emit the object ourselves (rather than through an ObjectCache) so that a hit
// skips IR construction and optimisation as well.
//
// The cache is not trusted (object_cache.h): each file ends with a trailer (a magic word and the
// xxh3 hash of the object before it), and a file that is not a regular file, is too large, whose
// trailer does not match or whose object LLVM cannot read is a miss: compiled again and replaced,
// with one line on stderr. A damaged disk or an interrupted copy cannot make every later run crash.
#include <llvm/Config/llvm-config.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/DiagnosticInfo.h>
#include <llvm/IR/DiagnosticPrinter.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/GlobalVariable.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/xxhash.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/Host.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <unistd.h>
#include <unordered_map>

#include "codegen/codegen.h"
#include "codegen/object_cache.h"
#include "rnnc/error.h"

namespace rnnc::codegen {

namespace {

// Bumped whenever emitted code changes meaning, so stale objects are never loaded.
constexpr int kCodegenVersion = 11;  // 5: transposes in tiles; 6: cache files with a checksum trailer;
                                     // 7: kernels in passes over rows, float32 sums at eight lanes;
                                     // 8: fused multiply-adds in exp, log and tanh;
                                     // 9: time-fused loop kernels (KernelDesc::steps);
                                     // 10: values kept across passes in a row on the stack,
                                     //     divisions by a row value as multiplies by its reciprocal;
                                     // 11: row totals stored, not added (writes_row_total)

template <class T> T check(llvm::Expected<T> v, const char* what) {
  if (!v) throw Error(fmt::format("rnnc: codegen: {}: {}", what, llvm::toString(v.takeError())));
  return std::move(*v);
}
void check(llvm::Error e, const char* what) {
  if (e) throw Error(fmt::format("rnnc: codegen: {}: {}", what, llvm::toString(std::move(e))));
}

std::filesystem::path kernel_cache_dir(const EnvOptions& env) {
  if (!env.disk_cache || env.cache_dir.empty()) return {};
  return std::filesystem::path(env.cache_dir) / "kernels";
}

class Jit {
 public:
  Jit() {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    auto jtmb = check(llvm::orc::JITTargetMachineBuilder::detectHost(), "detecting the host CPU");
    jtmb.setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
    cpu_ = jtmb.getCPU();
    features_ = jtmb.getFeatures().getString();
    tm_ = check(jtmb.createTargetMachine(), "creating the target machine");
    // Ahead of time: position-independent code, for a static or a shared library.
    auto aot = jtmb;
    aot.setRelocationModel(llvm::Reloc::PIC_);
    aot_tm_ = check(aot.createTargetMachine(), "creating the target machine for object files");
    jit_ = check(llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(std::move(jtmb)).create(), "creating the JIT");
    // Kernels call libm (float64 exp/log/tanh, pow) from this process.
    jit_->getMainJITDylib().addGenerator(
        check(llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(jit_->getDataLayout().getGlobalPrefix()),
              "finding this process's symbols"));
  }

  std::vector<KernelFn> get(const std::vector<const KernelDesc*>& kernels, const EnvOptions& env, JitStats* stats) {
    const auto t0 = std::chrono::steady_clock::now();
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> keys;
    keys.reserve(kernels.size());
    std::vector<const KernelDesc*> fresh;
    std::vector<std::string> fresh_keys;
    std::unordered_map<std::string, int> batch;  // key -> index in fresh
    for (const KernelDesc* k : kernels) {
      keys.push_back(k->key());
      if (by_key_.count(keys.back()) || batch.count(keys.back())) continue;
      batch.emplace(keys.back(), static_cast<int>(fresh.size()));
      fresh.push_back(k);
      fresh_keys.push_back(keys.back());
    }
    JitStats st;
    st.kernels = static_cast<int>(kernels.size());
    if (!fresh.empty()) add_module(fresh, fresh_keys, env, st);
    std::vector<KernelFn> out;
    out.reserve(keys.size());
    for (const std::string& k : keys) out.push_back(by_key_.at(k));
    st.memory_hits = st.kernels - static_cast<int>(fresh.size());
    st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (stats) *stats = st;
    return out;
  }

  std::string object(const std::vector<const KernelDesc*>& kernels, const std::string& prefix,
                     const std::vector<Blob>& data) {
    std::lock_guard<std::mutex> lock(mu_);
    llvm::SmallVector<char, 0> bytes = compile(*aot_tm_, kernels, prefix, false, data);
    return std::string(bytes.data(), bytes.size());
  }

  std::string ir(const KernelDesc& k) {
    std::lock_guard<std::mutex> lock(mu_);
    llvm::LLVMContext ctx;
    llvm::Module m("rnnc_kernel", ctx);
    emit_kernel(m, k, "kernel");
    std::string s;
    llvm::raw_string_ostream os(s);
    m.print(os, nullptr);
    return s;
  }

 private:
  void add_module(const std::vector<const KernelDesc*>& fresh, const std::vector<std::string>& keys,
                  const EnvOptions& env, JitStats& st) {
    std::string all =
        fmt::format("rnnc codegen {} llvm {} cpu {} {}", kCodegenVersion, LLVM_VERSION_STRING, cpu_, features_);
    for (const std::string& k : keys) all += "\n" + k;
    const std::string hash = fmt::format("{:016x}", llvm::xxh3_64bits(all));
    const std::string prefix = "rnnc_k" + hash + "_";

    const std::filesystem::path dir = kernel_cache_dir(env);
    const std::filesystem::path file = dir.empty() ? dir : dir / (hash + ".o");
    std::unique_ptr<llvm::MemoryBuffer> obj = file.empty() ? nullptr : load(file, prefix);
    if (obj) st.disk_hits = static_cast<int>(fresh.size());
    if (!obj) {
      llvm::SmallVector<char, 0> bytes = compile(*tm_, fresh, prefix, env.dumps("llvm"));
      st.compiled = static_cast<int>(fresh.size());
      if (!file.empty()) store(file, bytes);
      obj = llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(bytes.data(), bytes.size()), prefix);
    }
    check(jit_->addObjectFile(std::move(obj)), "loading kernels");
    for (size_t i = 0; i < fresh.size(); ++i) {
      auto addr = check(jit_->lookup(prefix + std::to_string(i)), "looking up a kernel");
      by_key_.emplace(keys[i], addr.toPtr<KernelFn>());
    }
  }

  llvm::SmallVector<char, 0> compile(llvm::TargetMachine& tm, const std::vector<const KernelDesc*>& fresh,
                                     const std::string& prefix, bool dump, const std::vector<Blob>& data = {}) {
    llvm::LLVMContext ctx;
    // A forced vector width LLVM cannot honour is a remark, not a problem: only errors are shown.
    ctx.setDiagnosticHandlerCallBack([](const llvm::DiagnosticInfo* d, void*) {
      if (d->getSeverity() != llvm::DS_Error) return;
      llvm::DiagnosticPrinterRawOStream p(llvm::errs());
      d->print(p);
      llvm::errs() << "\n";
    });
    llvm::Module m(prefix, ctx);
    m.setDataLayout(tm.createDataLayout());
    m.setTargetTriple(tm.getTargetTriple().str());
    for (size_t i = 0; i < fresh.size(); ++i) emit_kernel(m, *fresh[i], prefix + std::to_string(i));
    for (llvm::Function& f : m) {
      if (f.isDeclaration()) continue;
      f.addFnAttr("target-cpu", cpu_);
      f.addFnAttr("target-features", features_);
    }
    std::string err;
    llvm::raw_string_ostream es(err);
    if (llvm::verifyModule(m, &es)) throw Error("rnnc: codegen: invalid LLVM IR: " + err);

    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PassBuilder pb(&tm);
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3).run(m, mam);
    if (dump) {
      std::string s;
      llvm::raw_string_ostream os(s);
      m.print(os, nullptr);
      std::cerr << "=== RNNC_DUMP llvm: module " << prefix << " (optimised) ===\n" << s;
    }

    // Data after the optimisation: nothing to optimise in it, and it may be large (a model's weights).
    for (const Blob& b : data) {
      auto* bytes = llvm::ConstantDataArray::getRaw(llvm::StringRef(b.bytes.data(), b.bytes.size()), b.bytes.size(),
                                                    llvm::Type::getInt8Ty(ctx));
      auto* g =
          new llvm::GlobalVariable(m, bytes->getType(), true, llvm::GlobalValue::ExternalLinkage, bytes, b.symbol);
      g->setAlignment(llvm::Align(64));
      new llvm::GlobalVariable(m, llvm::Type::getInt64Ty(ctx), true, llvm::GlobalValue::ExternalLinkage,
                               llvm::ConstantInt::get(llvm::Type::getInt64Ty(ctx), b.bytes.size()), b.symbol + "_size");
    }

    llvm::SmallVector<char, 0> bytes;
    llvm::raw_svector_ostream os(bytes);
    llvm::legacy::PassManager pm;
    if (tm.addPassesToEmitFile(pm, os, nullptr, llvm::CodeGenFileType::ObjectFile))
      throw Error("rnnc: codegen: the target cannot emit object files");
    pm.run(m);
    return bytes;
  }

  // The object cached in `file` (its trailer checked and cut off), or null: absent, or damaged
  // (then removed, and said once on stderr, so that it is compiled again and replaced).
  static std::unique_ptr<llvm::MemoryBuffer> load(const std::filesystem::path& file, const std::string& name) {
    std::error_code ec;
    const auto status = std::filesystem::symlink_status(file, ec);
    if (ec || !std::filesystem::exists(status)) return nullptr;
    std::string why;
    std::unique_ptr<llvm::MemoryBuffer> buf;
    const uintmax_t size = std::filesystem::is_regular_file(status) ? std::filesystem::file_size(file, ec) : 0;
    if (!std::filesystem::is_regular_file(status)) {
      why = "not a regular file";
    } else if (ec || size > kMaxCachedObject) {
      why = fmt::format("{} bytes", size);
    } else if (auto read = llvm::MemoryBuffer::getFile(file.string(), false, false); !read) {
      return nullptr;  // unreadable (permissions): a miss, left alone
    } else {
      buf = std::move(*read);
      const CachedObject c = read_cached_object(std::string_view(buf->getBufferStart(), buf->getBufferSize()));
      if (c.why.empty())
        return llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(c.object.data(), c.object.size()), name);
      why = c.why;
    }
    std::filesystem::remove(file, ec);
    std::cerr << fmt::format("rnnc: kernel cache: {} was damaged ({}); compiling it again\n", file.string(), why);
    return nullptr;
  }

  // Writes the object and its trailer atomically (temporary file in the same folder, then rename);
  // a cache that cannot be written is not an error, only a slower next start.
  static void store(const std::filesystem::path& file, const llvm::SmallVector<char, 0>& bytes) {
    std::error_code ec;
    std::filesystem::create_directories(file.parent_path(), ec);
    if (ec) return;
    const std::filesystem::path tmp = file.string() + fmt::format(".tmp{}", static_cast<long>(::getpid()));
    {
      std::ofstream out(tmp, std::ios::binary);
      if (!out) return;
      const std::string file_bytes = cached_object_file(std::string_view(bytes.data(), bytes.size()));
      out.write(file_bytes.data(), static_cast<std::streamsize>(file_bytes.size()));
      if (!out) {
        std::filesystem::remove(tmp, ec);
        return;
      }
    }
    std::filesystem::rename(tmp, file, ec);
    if (ec) std::filesystem::remove(tmp, ec);
  }

  std::mutex mu_;
  std::string cpu_, features_;
  std::unique_ptr<llvm::TargetMachine> tm_, aot_tm_;
  std::unique_ptr<llvm::orc::LLJIT> jit_;
  std::unordered_map<std::string, KernelFn> by_key_;
};

Jit& jit() {
  static Jit* j = new Jit();  // never destroyed: kernels may run until the process exits
  return *j;
}

}  // namespace

std::vector<KernelFn> get_kernels(const std::vector<const KernelDesc*>& kernels, const EnvOptions& env,
                                  JitStats* stats) {
  return jit().get(kernels, env, stats);
}

std::string kernel_ir(const KernelDesc& k) { return jit().ir(k); }

std::string kernel_object(const std::vector<const KernelDesc*>& kernels, const std::string& prefix,
                          const std::vector<Blob>& data) {
  return jit().object(kernels, prefix, data);
}

std::string host_cpu() { return llvm::sys::getHostCPUName().str(); }

std::vector<std::string> host_features() {
  std::vector<std::string> out;
  for (const auto& [name, on] : llvm::sys::getHostCPUFeatures())
    if (on) out.push_back(name.str());
  std::sort(out.begin(), out.end());
  return out;
}

bool host_has_bf16() {
  static const bool has = [] {
    const auto features = llvm::sys::getHostCPUFeatures();
    auto it = features.find("avx512bf16");
    return it != features.end() && it->second;
  }();
  return has;
}

}  // namespace rnnc::codegen
