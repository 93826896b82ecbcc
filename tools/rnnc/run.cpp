#include "run.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <cstring>
#include <sstream>

#include "build_info.h"
#include "rnnc/env_options.h"

namespace rnnc::tool {

namespace fs = std::filesystem;

uint64_t fnv1a(std::string_view s, uint64_t h) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

namespace {

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("cannot read '{}'", p.string()));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string cache_dir() {
  if (const std::string& d = EnvOptions::from_environment().cache_dir; !d.empty()) return d;
  return (fs::temp_directory_path() / fmt::format("rnnc-cache-{}", ::getuid())).string();
}

namespace {

// Creates `dir` (mode 0700) if missing; an Error unless it and its parent are folders of this user
// that nobody else may write: what is cached there is executed.
void check_private(const fs::path& dir) {
  if (::mkdir(dir.parent_path().c_str(), 0700) != 0 && errno != EEXIST) {
    std::error_code ec;
    fs::create_directories(dir.parent_path(), ec);
  }
  ::mkdir(dir.c_str(), 0700);
  for (const fs::path& d : {dir.parent_path(), dir}) {
    struct stat st {};
    if (::lstat(d.c_str(), &st) != 0)
      throw std::runtime_error(fmt::format("cannot create the cache folder {}: {}", d.string(), std::strerror(errno)));
    if (!S_ISDIR(st.st_mode) || st.st_uid != ::getuid() || (st.st_mode & 022) != 0)
      throw std::runtime_error(
          fmt::format("the cache folder {} is not this user's alone ({}owner uid {}, mode {:04o}), and what is cached "
                      "there is executed: set RNNC_CACHE_DIR to a folder of yours",
                      d.string(), S_ISDIR(st.st_mode) ? "" : "not a folder, ", st.st_uid, st.st_mode & 07777));
  }
}

// The checksum file beside a cached binary: its FNV-1a hash, written when it was built.
fs::path sum_file(const fs::path& bin) { return bin.string() + ".sum"; }
std::string checksum(const fs::path& bin) { return fmt::format("{:016x}", fnv1a(read_file(bin))); }

// Whether bin is a regular file of this user's that nobody else may write, holding what was built.
bool intact(const fs::path& bin) {
  struct stat st {};
  if (::lstat(bin.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::getuid() || (st.st_mode & 022) != 0)
    return false;
  try {
    return read_file(sum_file(bin)) == checksum(bin);
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

Layout find_layout() {
  // Installed: <prefix>/bin/rnnc next to <prefix>/<libdir>/librnnc.so and <prefix>/include/rnnc.
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path prefix = exe.parent_path().parent_path();
    const fs::path lib = prefix / RNNC_INSTALL_LIBDIR, inc = prefix / RNNC_INSTALL_INCLUDEDIR;
    if (fs::exists(lib / "librnnc.so") && fs::exists(inc / "rnnc" / "rnnc.h"))
      return {inc.string(), lib.string(), (prefix / RNNC_INSTALL_DATADIR / "rnnc" / "corpus").string()};
  }
  return {RNNC_SOURCE_INCLUDE, RNNC_LIB_DIR, RNNC_SOURCE_CORPUS};
}

int run(const RunOptions& o) {
  const fs::path src = fs::absolute(o.file);
  if (!fs::exists(src)) {
    fmt::print(stderr, "rnnc run: no such file: {}\n", o.file);
    return 2;
  }
  if (!fs::is_regular_file(src)) {
    fmt::print(stderr, "rnnc run: {} is not a C++ file (a folder?)\n", o.file);
    return 2;
  }
  const Layout l = find_layout();
  const fs::path lib = fs::path(l.lib_dir) / "librnnc.so";
  std::error_code ec;
  const auto lib_size = fs::file_size(lib, ec);
  if (ec) {
    fmt::print(stderr, "rnnc run: the library is missing: {}\n", lib.string());
    return 2;
  }
  const auto lib_time = fs::last_write_time(lib).time_since_epoch().count();

  // Everything the binary depends on goes into its name.
  const std::string flags = fmt::format("{} -I{} -DRNNC_DEFAULT_CORPUS={}", RNNC_RUN_FLAGS, quote(l.include_dir),
                                        quote("\"" + l.corpus_dir + "\""));
  const std::string libs = fmt::format("-L{} -Wl,-rpath,{} -lrnnc -lfmt -pthread", quote(l.lib_dir), quote(l.lib_dir));
  uint64_t h = fnv1a(read_file(src));
  h = fnv1a(fmt::format("{}|{}|{}|{}|{}|{}", RNNC_CXX, flags, libs, RNNC_VERSION_STRING, lib_size, lib_time), h);
  const fs::path dir = fs::path(cache_dir()) / "run";
  const fs::path bin = dir / fmt::format("{}-{:016x}", src.stem().string(), h);
  try {
    check_private(dir);
  } catch (const std::exception& e) {
    fmt::print(stderr, "rnnc run: {}\n", e.what());
    return 2;
  }

  const bool cached = !o.rebuild && fs::exists(fs::symlink_status(bin)), usable = cached && intact(bin);
  if (cached && !usable)
    fmt::print(stderr, "rnnc run: the cached build of {} ({}) was damaged or changed; compiling it again\n", o.file,
               bin.string());
  if (!usable) {
    const fs::path tmp = bin.string() + fmt::format(".tmp{}", ::getpid());
    const std::string cmd =
        fmt::format("{} {} {} -o {} {}", quote(RNNC_CXX), flags, quote(src.string()), quote(tmp.string()), libs);
    fmt::print(stderr, "rnnc run: compiling {}\n", o.file);
    if (o.verbose) fmt::print(stderr, "{}\n", cmd);
    const int status = std::system(cmd.c_str());
    if (status != 0) {
      fs::remove(tmp, ec);
      fmt::print(stderr, "rnnc run: {} did not compile\n", o.file);
      return 1;
    }
    fs::remove(sum_file(bin), ec);
    fs::rename(tmp, bin);
    std::ofstream(sum_file(bin), std::ios::binary | std::ios::trunc) << checksum(bin);
  }

  std::vector<std::string> argv_s = {bin.string()};
  argv_s.insert(argv_s.end(), o.args.begin(), o.args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execv(bin.c_str(), argv.data());
  fmt::print(stderr, "rnnc run: cannot start {}: {}\n", bin.string(), std::strerror(errno));
  return 127;
}

}  // namespace rnnc::tool
