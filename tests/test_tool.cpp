// The rnnc tool: `rnnc run` compiles once per source, passes arguments, shows compiler errors.
#include <catch2/catch.hpp>

#include "run_command.h"

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace fs = std::filesystem;

using rnnc::testing::Run;
using rnnc::testing::run;

namespace {

struct Sandbox {
  fs::path dir;
  std::string env;
  Sandbox() {
    char tmpl[] = "/tmp/rnnc-tool-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    env = "RNNC_CACHE_DIR=" + (dir / "cache").string() + " ";
  }
  ~Sandbox() { fs::remove_all(dir); }
  fs::path write(const std::string& name, const std::string& text) const {
    std::ofstream(dir / name) << text;
    return dir / name;
  }
};
}  // namespace

TEST_CASE("rnnc run: compiles a model file once, runs it with its arguments") {
  Sandbox box;
  const fs::path file = box.write("model.cpp", R"(
#include <rnnc/rnnc.h>
#include <iostream>
int main(int argc, char** argv) {
  using namespace rnnc;
  Function f = trace([](Var x) { return sum(tanh(x) * x); }, {Spec{{3}}});
  Compiled c = compile(grad(f));
  std::cout << "grad " << c({Tensor::from({0.5, -1, 2}, {3})})[0].str() << "\n";
  for (int i = 1; i < argc; ++i) std::cout << "arg " << argv[i] << "\n";
  return argc == 3 ? 7 : 0;
}
)");
  const std::string cmd = box.env + RNNC_TOOL + " run " + file.string();
  Run first = run(cmd + " -- --flag value");
  INFO(first.output);
  CHECK(first.output.find("rnnc run: compiling") != std::string::npos);
  CHECK(first.output.find("grad f32[3]") != std::string::npos);
  CHECK(first.output.find("arg --flag\narg value\n") != std::string::npos);
  CHECK(first.status == 7);  // the program's exit status is the tool's
  Run second = run(cmd);
  INFO(second.output);
  CHECK(second.output.find("compiling") == std::string::npos);  // cached: no compiler this time
  CHECK(second.output.find("grad f32[3]") != std::string::npos);
  CHECK(second.status == 0);
  // A changed file compiles again.
  std::ofstream(file, std::ios::app) << "// changed\n";
  CHECK(run(cmd).output.find("rnnc run: compiling") != std::string::npos);
}

TEST_CASE("rnnc run: a file that does not compile exits non-zero with the compiler's message") {
  Sandbox box;
  const fs::path file = box.write("broken.cpp", "#include <rnnc/rnnc.h>\nint main() { rnnc::Var x = 3; undefined_thing(); }\n");
  Run r = run(box.env + RNNC_TOOL + " run " + file.string());
  INFO(r.output);
  CHECK(r.status != 0);
  CHECK(r.output.find("broken.cpp:2") != std::string::npos);
  CHECK(r.output.find("error") != std::string::npos);
  CHECK(r.output.find("did not compile") != std::string::npos);
  Run missing = run(box.env + RNNC_TOOL + " run " + (box.dir / "nope.cpp").string());
  CHECK(missing.status != 0);
  CHECK(missing.output.find("no such file") != std::string::npos);
}

TEST_CASE("rnnc --version and --help") {
  Run v = run(std::string(RNNC_TOOL) + " --version");
  CHECK(v.status == 0);
  CHECK(v.output.find("rnnc 0.1.0") != std::string::npos);
  Run h = run(std::string(RNNC_TOOL) + " run --help");
  CHECK(h.status == 0);
  CHECK(h.output.find("--rebuild") != std::string::npos);
  CHECK(run(std::string(RNNC_TOOL)).status != 0);  // a verb is required
}

TEST_CASE("rnnc run works after cmake --install, from the installed tree") {
  Sandbox box;
  const fs::path prefix = box.dir / "prefix";
  Run inst = run(std::string("cmake --install ") + RNNC_BUILD_DIR + " --prefix " + prefix.string());
  INFO(inst.output);
  REQUIRE(inst.status == 0);
  REQUIRE(fs::exists(prefix / "bin" / "rnnc"));
  const fs::path file = box.write("installed.cpp", R"(
#include <rnnc/rnnc.h>
#include <iostream>
int main() { std::cout << "corpus " << RNNC_DEFAULT_CORPUS << "\n" << rnnc::Tensor::scalar(2).str() << "\n"; }
)");
  Run r = run(box.env + (prefix / "bin" / "rnnc").string() + " run -v " + file.string());
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(r.output.find((prefix / "include").string()) != std::string::npos);  // its own headers...
  CHECK(r.output.find("share/rnnc/corpus") != std::string::npos);            // ...and its own corpus
  CHECK(r.output.find("f32[] [2]") != std::string::npos);
}
