// The on-disk kernel cache's files (lib/codegen/object_cache.h): a real cached object is read; a
// damaged one, or one whose trailer matches but whose object is not sound, is refused naming why.
// (test_tool damages a whole cache under rnnc train; tests/fuzz's kernel_cache target fuzzes it.)
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "codegen/object_cache.h"
#include "rnnc/rnnc.h"

using namespace rnnc;
namespace fs = std::filesystem;

TEST_CASE("the kernel cache's files: read only when the trailer and the object are sound") {
  // A real cached object: the kernels of a small function, compiled into a fresh cache folder.
  const fs::path dir = fs::temp_directory_path() / fmt::format("rnnc-object-cache-{}", ::getpid());
  fs::remove_all(dir);
  CompileOptions o;
  o.env.cache_dir = dir.string();
  auto f = compile([](const Var& x) { return sqrt(exp(x) + 0.123456) * -7.25; }, o);  // kernels of its own
  (void)f(Tensor::full({3, 5}, 0.5));
  std::string file;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().extension() == ".o") {
      std::ifstream in(e.path(), std::ios::binary);
      file.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
  fs::remove_all(dir);
  REQUIRE(file.size() > 100);
  const codegen::CachedObject good = codegen::read_cached_object(file);
  REQUIRE(good.why.empty());
  CHECK(codegen::cached_object_file(good.object) == file);
  const std::string object(good.object);

  std::string flipped = file;
  flipped[flipped.size() / 2] ^= 0x10;
  std::string sections = object;  // e_shoff: the section headers past the end
  sections[0x28] = '\x7f', sections[0x2f] = '\x7f';
  std::string foreign = object;  // e_machine: AArch64
  foreign[0x12] = '\xb7', foreign[0x13] = 0;
  const struct {
    const char* what;
    std::string bytes, why;
  } bad[] = {
      {"cut", file.substr(0, file.size() / 2), "its checksum does not match"},
      {"a flipped byte", flipped, "its checksum does not match"},
      {"too short", file.substr(0, 16), "16 bytes"},
      {"no object, a good trailer", codegen::cached_object_file(std::string(300, 'x')), "not an object file"},
      {"section headers elsewhere, a good trailer", codegen::cached_object_file(sections), "not an object file"},
      {"another machine's, a good trailer", codegen::cached_object_file(foreign), "another architecture"},
  };
  for (const auto& b : bad) {
    const codegen::CachedObject c = codegen::read_cached_object(b.bytes);
    INFO(b.what << ": " << c.why);
    CHECK(c.object.empty());
    CHECK(c.why.find(b.why) != std::string::npos);
  }
}
