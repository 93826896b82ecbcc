// export_program and export_stream (rnnc/export.h): the latest program's kernels through LLVM once
// more, as a position-independent object instead of into the JIT, each distinct kernel (by key)
// once, with the program's bytes beside them; for a stream, the C source, header and CMake file
// around them, and the libraries built with the system's C compiler and archiver.
#include "rnnc/export.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>

#include <fstream>
#include <map>
#include <set>

#include "codegen/codegen.h"
#include "compile/built.h"
#include "exec/serialize.h"
#include "rnnc/error.h"

#ifndef RNNC_VERSION
#define RNNC_VERSION "unknown"
#endif

namespace rnnc {

namespace {

bool c_identifier(const std::string& s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

void check_name(const std::string& name) {
  if (!c_identifier(name))
    throw Error(fmt::format("rnnc: export: the name '{}' is not a C identifier (it prefixes the symbols)", name));
}

void write(const std::filesystem::path& file, std::string_view bytes) {
  const std::filesystem::path tmp = file.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw Error(fmt::format("rnnc: export: cannot write {}", tmp.string()));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, file, ec);
  if (ec) throw Error(fmt::format("rnnc: export: cannot write {}: {}", file.string(), ec.message()));
}

void make_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error(fmt::format("rnnc: export: cannot create {}: {}", dir.string(), ec.message()));
}

// Programs' kernels, each distinct one (by key) once over all the programs added.
struct KernelTable {
  std::vector<const lower::KernelDesc*> distinct;
  std::map<std::string, int> symbol_of;
  // Adds l's kernels; per kernel index of l, the distinct kernel it is.
  std::vector<int> add(const lower::Lowered& l) {
    std::vector<int> index;
    for (const lower::Kernel& k : l.kernels) {
      auto [it, fresh] = symbol_of.try_emplace(k.desc.key(), static_cast<int>(distinct.size()));
      if (fresh) distinct.push_back(&k.desc);
      index.push_back(it->second);
    }
    return index;
  }
};

// C declarations of the distinct kernels NAME_k0, NAME_k1, ...
std::string kernel_declarations(const std::string& name, const KernelTable& t) {
  std::string c;
  for (size_t i = 0; i < t.distinct.size(); ++i)
    c += fmt::format("void {}_k{}(void* const*, int64_t, int64_t);\n", name, i);
  return c;
}

// A program's kernel table `array` (`storage` before it: "static " or "").
std::string kernel_array(const std::string& name, const std::vector<int>& index, const std::string& type,
                         const std::string& storage, const std::string& array) {
  std::string c = fmt::format("{}const {} {}[] = {{", storage, type, array);
  for (size_t i = 0; i < index.size(); ++i) c += fmt::format("{}{}_k{}", i ? ", " : "", name, index[i]);
  if (index.empty()) c += "0";
  return c + "};\n";
}

// A C string literal of s (UTF-8 bytes kept, escapes for the rest).
std::string c_string(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\')
      out += fmt::format("\\{}", static_cast<char>(c));
    else if (c == '\n')
      out += "\\n";
    else if (c < 0x20 || c == 0x7f || c == '?')
      out += fmt::format("\\{:03o}", c);  // '?': no trigraphs
    else
      out += static_cast<char>(c);
  }
  return out + "\"";
}

// A leaf path as a C identifier: "state.0.h" -> "state_0_h".
std::string c_name(const std::string& path) {
  std::string s = path;
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) s = "_" + s;
  return s;
}

const char* c_type(DType t) {
  switch (t) {
    case DType::f32: return "float";
    case DType::f64: return "double";
    case DType::i32: return "int32_t";
    case DType::bf16: return "uint16_t";  // bfloat16 bits
    case DType::i8: return "int8_t";
  }
  return "void";
}

std::string spec_text(const Spec& s) { return fmt::format("{}{}", name_of(s.dtype), to_string(s.shape)); }

// Runs a shell command; an Error with its output when it fails.
void run_command(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) throw Error("rnnc: export: cannot run: " + cmd);
  std::array<char, 4096> buf;
  while (size_t n = std::fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  if (::pclose(p) != 0) throw Error(fmt::format("rnnc: export: this command failed:\n  {}\n{}", cmd, out));
}

std::string quote(const std::filesystem::path& p) {
  std::string s = "'";
  for (char c : p.string()) s += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return s + "'";
}

std::string env_or(const char* var, const char* fallback) {
  const char* v = std::getenv(var);
  return v && *v ? v : fallback;
}

// rnnc's run time for an export: installed, the archive beside the library that holds this code
// and the header in the installed include folder; else this build's.
struct RuntimeFiles {
  std::filesystem::path archive, header;
};
RuntimeFiles runtime_files() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&runtime_files), &info) && info.dli_fname) {
    const std::filesystem::path lib = std::filesystem::path(info.dli_fname).parent_path();
    RuntimeFiles installed{lib / "librnnc_runtime.a", lib / RNNC_INCLUDE_FROM_LIB / "rnnc" / "c_runtime.h"};
    if (std::filesystem::exists(installed.archive) && std::filesystem::exists(installed.header)) return installed;
  }
  RuntimeFiles built{RNNC_RUNTIME_ARCHIVE, RNNC_RUNTIME_HEADER};
  if (std::filesystem::exists(built.archive) && std::filesystem::exists(built.header)) return built;
  throw Error(
      fmt::format("rnnc: export: rnnc's run time is neither where it was built ({}) nor installed beside the "
                  "library: build the target rnnc_runtime, or install rnnc",
                  built.archive.string()));
}

std::string features_text() {
  // Those the run time's check knows (c_model.cpp); the others are implied by them or unused.
  static const std::set<std::string> checked = {
      "sse4.2",       "avx",        "avx2",       "fma",         "f16c",       "bmi",
      "bmi2",         "avx512f",    "avx512bw",   "avx512vl",    "avx512dq",   "avx512cd",
      "avx512vnni",   "avx512bf16", "avx512vbmi", "avx512vbmi2", "avx512ifma", "avx512vpopcntdq",
      "avx512bitalg", "avx512fp16", "avxvnni",    "gfni",        "vpclmulqdq", "vaes",
      "amx-tile",     "amx-bf16",   "amx-int8"};
  std::string s;
  for (const std::string& f : codegen::host_features())
    if (checked.count(f)) s += (s.empty() ? "" : ",") + f;
  return s;
}

// The generated files of a stream export.
struct StreamSources {
  std::string header, source, cmake;
};

// What the object holds: the kernels of the step (and of the batched step), the programs' bytes
// and the initial state's.
struct StreamParts {
  KernelTable table;
  std::vector<int> step_kernels, batch_kernels;
  std::string program, batch_program, state;
};

StreamSources stream_sources(const std::string& name, const StreamParts& parts, const exec::Schedule& s,
                             const detail::StreamExport& e, const ExportOptions& o, const std::string& cpu,
                             const std::string& features) {
  const size_t S = e.initial_state.size(), I = e.input_names.size(), O = e.output_names.size();
  const std::string N = name;
  StreamSources f;
  // ---- NAME.h
  std::string shapes;
  for (size_t i = 0; i < I; ++i)
    shapes += fmt::format(" *   input  {:24} {}\n", c_name(e.input_names[i]), spec_text(s.inputs[S + i]));
  for (size_t k = 0; k < O; ++k)
    shapes += fmt::format(" *   output {:24} {}\n", c_name(e.output_names[k]), spec_text(s.outputs[k]));
  for (size_t i = 0; i < S; ++i)
    shapes += fmt::format(" *   state  {:24} {}\n", c_name(e.state_names[i]), spec_text(s.inputs[i]));
  std::string params, sizes;
  for (size_t i = 0; i < I; ++i) {
    params += fmt::format(", const {}* {}", c_type(s.inputs[S + i].dtype), c_name(e.input_names[i]));
    sizes += fmt::format("  {}_{}_size = {},\n", N, c_name(e.input_names[i]), numel(s.inputs[S + i].shape));
  }
  for (size_t k = 0; k < O; ++k) {
    params += fmt::format(", {}* {}", c_type(s.outputs[k].dtype), c_name(e.output_names[k]));
    sizes += fmt::format("  {}_{}_size = {},\n", N, c_name(e.output_names[k]), numel(s.outputs[k].shape));
  }
  f.header = fmt::format(
      R"(/* {N}: a model exported by rnnc {version} for {cpu} ({features}).
 * Generated; do not edit. A stream steps (state, inputs) -> (outputs, next state):
 *
 *   char err[256];
 *   {N}* m = {N}_new(0, err, sizeof err);        (threads per stream; 0: one per core)
 *   {N}_state* s = {N}_state_new(m, err, sizeof err);
 *   if ({N}_step(m, s, <inputs>, <outputs>, err, sizeof err) != 0) fprintf(stderr, "%s\n", err);
 *   {N}_state_reset(s);  {N}_state_free(s);  {N}_free(m);
 *
 * Streams are independent: step many at once, from many threads (each stream from one thread at a
 * time); the model is only read. After a stream's first step, a step allocates nothing. Functions
 * that can fail return NULL or nonzero with the reason in err. Inputs and outputs are contiguous,
 * row-major (sizes below, in elements; bf16 as uint16_t bits):
{shapes} *
 * Link: cc app.c -I DIR DIR/lib{N}.so -Wl,-rpath,DIR       (the run time inside; no LLVM)
 *   or: cc app.c -I DIR DIR/lib{N}.a DIR/librnnc_runtime.a -lstdc++ {libs}
 *   or, in CMake: find_package({N} CONFIG REQUIRED PATHS DIR), then link {N}::shared or {N}::static.
 */
#ifndef {N}_H
#define {N}_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {{
#endif

typedef struct {N} {N};
typedef struct {N}_state {N}_state;
typedef struct {N}_batch {N}_batch;

enum {{
{sizes}  {N}_states = {states},
  {N}_batch_size = {batch} /* the most streams {N}_step_many steps at once (0: exported without it) */
}};

{N}* {N}_new(int threads, char* err, size_t err_size);
void {N}_free({N}* m);
{N}_state* {N}_state_new(const {N}* m, char* err, size_t err_size);
void {N}_state_reset({N}_state* s);
void {N}_state_free({N}_state* s);
/* One step of stream s; 0 on success. */
int {N}_step(const {N}* m, {N}_state* s{params}, char* err, size_t err_size);
/* Part i of the state as it is now (to read or set; it moves at each step), NULL out of range. */
void* {N}_state_part({N}_state* s, int i);
/* A value exported with the model (rnnc_model_metadata), NULL when absent. */
const char* {N}_metadata(const {N}* m, const char* key);

/* Streams stepped together, for a server (rnnc_batch_step): states[0 .. n) (distinct, n at most
 * {N}_batch_size) take one step as one batched step; each input holds the n streams' values one
 * after the other, each output receives theirs likewise. A batch is the memory this works in: one
 * per thread that calls {N}_step_many. */
{N}_batch* {N}_batch_new(const {N}* m, char* err, size_t err_size);
void {N}_batch_free({N}_batch* b);
int {N}_step_many({N}_batch* b, {N}_state* const* states, int n{params}, char* err, size_t err_size);

#ifdef __cplusplus
}}
#endif
#endif
)",
      fmt::arg("N", N), fmt::arg("version", RNNC_VERSION), fmt::arg("cpu", cpu), fmt::arg("features", features),
      fmt::arg("shapes", shapes),
      fmt::arg("libs", fmt::format("{}{}{}", RNNC_RUNTIME_LIBS, *RNNC_SANITIZE_LINK ? " " : "", RNNC_SANITIZE_LINK)),
      fmt::arg("sizes", sizes), fmt::arg("states", S), fmt::arg("batch", e.batch), fmt::arg("params", params));

  // ---- NAME.c
  std::string metadata;
  for (const auto& [k, v] : o.metadata) metadata += fmt::format("    {}, {},\n", c_string(k), c_string(v));
  std::string ins, outs;
  for (size_t i = 0; i < I; ++i) ins += fmt::format("{}{}", i ? ", " : "", c_name(e.input_names[i]));
  for (size_t k = 0; k < O; ++k) outs += fmt::format("{}{}", k ? ", " : "", c_name(e.output_names[k]));
  f.source = fmt::format(
      R"(/* {N}: the model's image for rnnc's run time (rnnc/c_runtime.h) and its C interface ({N}.h).
 * Generated by rnnc {version}; do not edit. The kernels, the program and the initial state are in
 * {N}_kernels.o. */
#include <stdint.h>

#include "rnnc/c_runtime.h"
#include "{N}.h"

{table}
extern const unsigned char {N}_program[];
extern const unsigned char {N}_initial_state[];{batch_extern}
static const char* const {N}_metadata_kv[] = {{
{metadata}    0, 0}};

static const rnnc_model_image {N}_image = {{
    RNNC_MODEL_FORMAT, {version_s}, {cpu_s}, {features_s},
    {N}_program, {program_bytes}u, {N}_kernels, {kernel_count}u,
    {states}, {N}_initial_state, {state_bytes}u, {N}_metadata_kv,
    {batch_image}}};

{N}* {N}_new(int threads, char* err, size_t err_size) {{
  return ({N}*)rnnc_model_new(&{N}_image, threads, err, err_size);
}}
void {N}_free({N}* m) {{ rnnc_model_free((rnnc_model*)m); }}
{N}_state* {N}_state_new(const {N}* m, char* err, size_t err_size) {{
  return ({N}_state*)rnnc_stream_new((const rnnc_model*)m, err, err_size);
}}
void {N}_state_reset({N}_state* s) {{ rnnc_stream_reset((rnnc_stream*)s); }}
void {N}_state_free({N}_state* s) {{ rnnc_stream_free((rnnc_stream*)s); }}
int {N}_step(const {N}* m, {N}_state* s{params}, char* err, size_t err_size) {{
  const void* in[] = {{{ins_or_null}}};
  void* out[] = {{{outs_or_null}}};
  return rnnc_stream_step((const rnnc_model*)m, (rnnc_stream*)s, in, out, err, err_size);
}}
void* {N}_state_part({N}_state* s, int i) {{ return rnnc_stream_state((rnnc_stream*)s, i); }}
const char* {N}_metadata(const {N}* m, const char* key) {{ return rnnc_model_metadata((const rnnc_model*)m, key); }}
{N}_batch* {N}_batch_new(const {N}* m, char* err, size_t err_size) {{
  return ({N}_batch*)rnnc_batch_new((const rnnc_model*)m, err, err_size);
}}
void {N}_batch_free({N}_batch* b) {{ rnnc_batch_free((rnnc_batch*)b); }}
int {N}_step_many({N}_batch* b, {N}_state* const* states, int n{params}, char* err, size_t err_size) {{
  const void* in[] = {{{ins_or_null}}};
  void* out[] = {{{outs_or_null}}};
  return rnnc_batch_step((rnnc_batch*)b, (rnnc_stream* const*)states, n, in, out, err, err_size);
}}
)",
      fmt::arg("N", N), fmt::arg("version", RNNC_VERSION),
      fmt::arg("table", kernel_declarations(N, parts.table) +
                            kernel_array(N, parts.step_kernels, "rnnc_kernel_fn", "static ", N + "_kernels") +
                            (e.batch > 0 ? kernel_array(N, parts.batch_kernels, "rnnc_kernel_fn", "static ",
                                                        N + "_batch_kernels")
                                         : "")),
      fmt::arg("metadata", metadata), fmt::arg("version_s", c_string(RNNC_VERSION)), fmt::arg("cpu_s", c_string(cpu)),
      fmt::arg("features_s", c_string(features)), fmt::arg("program_bytes", parts.program.size()),
      fmt::arg("kernel_count", parts.step_kernels.size()), fmt::arg("states", S),
      fmt::arg("state_bytes", parts.state.size()),
      fmt::arg("batch_extern", e.batch > 0 ? fmt::format("\nextern const unsigned char {}_batch_program[];", N) : ""),
      fmt::arg("batch_image", e.batch > 0 ? fmt::format("{}, {}_batch_program, {}u, {}_batch_kernels, {}u", e.batch, N,
                                                        parts.batch_program.size(), N, parts.batch_kernels.size())
                                          : std::string("0, 0, 0u, 0, 0u")),
      fmt::arg("params", params), fmt::arg("ins_or_null", I ? ins : "0"), fmt::arg("outs_or_null", O ? outs : "0"));

  // ---- NAME-config.cmake
  std::string libs;
  for (std::string_view rest = RNNC_RUNTIME_LIBS; !rest.empty();) {
    const size_t sp = rest.find(' ');
    const std::string_view w = rest.substr(0, sp);
    rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
    if (!w.empty()) libs += fmt::format(";{}", w);
  }
  f.cmake = fmt::format(
      R"(# {N}: an rnnc model (generated). find_package({N} CONFIG REQUIRED PATHS <this folder>), then link
# {N}::shared (the run time inside) or {N}::static (with rnnc's run time archive beside it).
if(NOT TARGET {N}::shared)
  add_library({N}::shared SHARED IMPORTED)
  set_target_properties({N}::shared PROPERTIES
    IMPORTED_LOCATION "${{CMAKE_CURRENT_LIST_DIR}}/lib{N}.so" IMPORTED_SONAME "lib{N}.so"
    INTERFACE_INCLUDE_DIRECTORIES "${{CMAKE_CURRENT_LIST_DIR}}")
  add_library({N}::static STATIC IMPORTED)
  set_target_properties({N}::static PROPERTIES
    IMPORTED_LOCATION "${{CMAKE_CURRENT_LIST_DIR}}/lib{N}.a"
    INTERFACE_INCLUDE_DIRECTORIES "${{CMAKE_CURRENT_LIST_DIR}}"
    INTERFACE_LINK_LIBRARIES "${{CMAKE_CURRENT_LIST_DIR}}/librnnc_runtime.a;stdc++{libs}")
{sanitize}endif()
)",
      fmt::arg("N", N), fmt::arg("libs", libs),
      fmt::arg("sanitize",
               *RNNC_SANITIZE_LINK
                   ? fmt::format("  # Exported from a sanitizer build: its programs link the sanitizer's run time.\n"
                                 "  set_property(TARGET {0}::shared {0}::static PROPERTY INTERFACE_LINK_OPTIONS {1})\n",
                                 N, RNNC_SANITIZE_LINK)
                   : std::string()));
  return f;
}

}  // namespace

ExportedFiles export_program(const Compiled& c, const std::filesystem::path& dir, const std::string& name) {
  check_name(name);
  const Built b = built(c);
  make_dir(dir);
  KernelTable table;
  const std::vector<int> index = table.add(*b.lowered);
  ExportedFiles f;
  f.object = dir / (name + "_kernels.o");
  f.table = dir / (name + "_kernels.c");
  f.program = dir / (name + "_program.bin");
  f.kernels = static_cast<int>(table.distinct.size());
  f.cpu = codegen::host_cpu();
  write(f.object, codegen::kernel_object(table.distinct, name + "_k"));
  const std::string c_src = fmt::format(
      "// Generated by rnnc for {cpu}: the kernels of '{n}', in the order its program calls them.\n"
      "#include <stdint.h>\n\n"
      "typedef void (*{n}_kernel_fn)(void* const* args, int64_t begin, int64_t end);\n{table}"
      "const uint64_t {n}_kernel_count = {count};\n",
      fmt::arg("cpu", f.cpu), fmt::arg("n", name),
      fmt::arg("table", kernel_declarations(name, table) +
                            kernel_array(name, index, name + "_kernel_fn", "", name + "_kernels")),
      fmt::arg("count", index.size()));
  write(f.table, c_src);
  write(f.program, exec::serialize(b.program->schedule));
  return f;
}

namespace {

// The program of a stream export (or of its batched step), checked against its leaves.
Built stream_program(const detail::StreamExport& e, bool batched = false) {
  const Built b = built(batched ? *e.batched : *e.compiled);
  const exec::Schedule& s = b.program->schedule;
  const size_t S = e.initial_state.size(), I = e.input_names.size(), O = e.output_names.size();
  if (s.inputs.size() != S + I || s.outputs.size() != O + S)
    throw Error(
        fmt::format("rnnc: export_stream: the program takes {} inputs and returns {} outputs, for {} state leaves, "
                    "{} inputs and {} outputs",
                    s.inputs.size(), s.outputs.size(), S, I, O));
  if (batched) {  // every output of the step with its leading axis of 1 made e.batch (inputs are so by construction)
    const exec::Schedule& one = built(*e.compiled).program->schedule;
    for (size_t k = 0; k < O; ++k) {
      Shape want = one.outputs[k].shape;
      const bool rows = !want.empty() && want[0] == 1;
      if (rows) want[0] = e.batch;
      if (!rows || s.outputs[k].shape != want)
        throw Error(
            fmt::format("rnnc: export_stream: a batched step needs outputs with a leading axis of 1 for the "
                        "streams' rows; '{}' is {} for one stream and {} for {}",
                        e.output_names[k], spec_text(one.outputs[k]), spec_text(s.outputs[k]), e.batch));
    }
  }
  return b;
}

// The initial state's bytes, its leaves one after the other.
std::string state_bytes(const detail::StreamExport& e) {
  std::string state;
  for (const Tensor& t : e.initial_state)
    state.append(static_cast<const char*>(t.raw()), static_cast<size_t>(t.numel()) * size_of(t.dtype()));
  return state;
}

}  // namespace

std::vector<Tensor> detail::repeat_rows(const std::vector<Tensor>& leaves, const std::vector<std::string>& paths,
                                        int64_t rows) {
  std::vector<Tensor> out;
  for (size_t i = 0; i < leaves.size(); ++i) {
    const Tensor& t = leaves[i];
    if (t.shape().empty() || t.shape()[0] != 1)
      throw Error(fmt::format("rnnc: export_stream: a batched step adds rows to a leading axis of 1, and '{}' is {}{}",
                              i < paths.size() ? paths[i] : "?", name_of(t.dtype()), to_string(t.shape())));
    Shape shape = t.shape();
    shape[0] = rows;
    Tensor r = Tensor::empty(shape, t.dtype());
    const size_t row = static_cast<size_t>(t.numel()) * size_of(t.dtype());
    for (int64_t j = 0; j < rows; ++j)
      std::memcpy(static_cast<char*>(r.raw()) + static_cast<size_t>(j) * row, t.raw(), row);
    out.push_back(r);
  }
  return out;
}

std::shared_ptr<rnnc_model> detail::stream_model(const StreamExport& e, int threads) {
  const Built b = stream_program(e);
  // What an exported library holds, here in memory beside the model, which points into it.
  struct Image {
    std::string program, state, batch_program;
    std::vector<rnnc_kernel_fn> kernels, batch_kernels;
    rnnc_model_image image{};
  };
  auto im = std::make_shared<Image>();
  im->program = exec::serialize(b.program->schedule);
  im->state = state_bytes(e);
  im->kernels.assign(b.program->kernels.begin(), b.program->kernels.end());
  if (e.batch > 0) {
    const Built batched = stream_program(e, true);
    im->batch_program = exec::serialize(batched.program->schedule);
    im->batch_kernels.assign(batched.program->kernels.begin(), batched.program->kernels.end());
  }
  im->image = rnnc_model_image{RNNC_MODEL_FORMAT,
                               RNNC_VERSION,
                               "this process",
                               "",
                               im->program.data(),
                               im->program.size(),
                               im->kernels.data(),
                               im->kernels.size(),
                               static_cast<int>(e.initial_state.size()),
                               im->state.data(),
                               im->state.size(),
                               nullptr,
                               e.batch,
                               im->batch_program.data(),
                               im->batch_program.size(),
                               im->batch_kernels.data(),
                               im->batch_kernels.size()};
  char err[1024] = "";
  rnnc_model* m = rnnc_model_new(&im->image, threads > 0 ? threads : b.program->threads, err, sizeof err);
  if (!m) throw Error(err);
  return std::shared_ptr<rnnc_model>(m, [im](rnnc_model* p) { rnnc_model_free(p); });
}

ExportedModel detail::export_stream(const StreamExport& e, const std::filesystem::path& dir, const ExportOptions& o) {
  const std::string& N = o.name;
  check_name(N);
  const Built b = stream_program(e);
  const exec::Schedule& s = b.program->schedule;
  make_dir(dir);

  StreamParts parts;
  parts.step_kernels = parts.table.add(*b.lowered);
  parts.program = exec::serialize(s);
  parts.state = state_bytes(e);
  std::vector<codegen::Blob> data = {{N + "_program", parts.program}, {N + "_initial_state", parts.state}};
  if (e.batch > 0) {
    const Built batched = stream_program(e, true);
    parts.batch_kernels = parts.table.add(*batched.lowered);  // kernels the two share, once
    parts.batch_program = exec::serialize(batched.program->schedule);
    data.push_back({N + "_batch_program", parts.batch_program});
  }
  ExportedModel x;
  x.cpu = codegen::host_cpu();
  x.features = features_text();
  x.kernels = static_cast<int>(parts.table.distinct.size());
  x.object = dir / (N + "_kernels.o");
  x.header = dir / (N + ".h");
  x.source = dir / (N + ".c");
  x.static_library = dir / ("lib" + N + ".a");
  x.shared_library = dir / ("lib" + N + ".so");
  x.runtime_library = dir / "librnnc_runtime.a";
  std::string lower = N;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  x.cmake_config = dir / (lower + "-config.cmake");

  write(x.object, codegen::kernel_object(parts.table.distinct, N + "_k", data));
  const StreamSources src = stream_sources(N, parts, s, e, o, x.cpu, x.features);
  write(x.header, src.header);
  write(x.source, src.source);
  write(x.cmake_config, src.cmake);
  // The run time, beside the model: its C header (what the source includes) and its archive.
  make_dir(dir / "rnnc");
  const RuntimeFiles rt = runtime_files();
  x.runtime_source = rt.archive;
  std::error_code ec;
  std::filesystem::copy_file(rt.header, dir / "rnnc" / "c_runtime.h", std::filesystem::copy_options::overwrite_existing,
                             ec);
  if (!ec)
    std::filesystem::copy_file(rt.archive, x.runtime_library, std::filesystem::copy_options::overwrite_existing, ec);
  if (ec)
    throw Error(fmt::format("rnnc: export: cannot copy rnnc's run time ({}, {}) into {}: {}", rt.header.string(),
                            rt.archive.string(), dir.string(), ec.message()));
  if (!o.build) return x;

  const std::filesystem::path obj = dir / (N + ".o");
  const std::string cc = env_or("CC", "cc"), cxx = env_or("CXX", "c++");
  run_command(fmt::format("{} -std=c11 -O2 -fPIC -Wall -Werror -c {} -I {} -o {}", cc, quote(x.source), quote(dir),
                          quote(obj)));
  std::filesystem::remove(x.static_library, ec);
  run_command(fmt::format("{} rcs {} {} {}", env_or("AR", "ar"), quote(x.static_library), quote(obj), quote(x.object)));
  // Everything in one shared library; the run time's own symbols kept inside (two models' libraries
  // in one process each keep theirs), every symbol resolved now.
  run_command(fmt::format("{} -shared -Wl,-soname,lib{}.so -Wl,-z,defs -Wl,--exclude-libs,ALL -o {} {} {} {} {} {}",
                          cxx, N, quote(x.shared_library), quote(obj), quote(x.object), quote(x.runtime_library),
                          RNNC_RUNTIME_LIBS, RNNC_SANITIZE_LINK));
  return x;
}

}  // namespace rnnc
