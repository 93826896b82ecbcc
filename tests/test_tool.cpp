// The rnnc tool: `rnnc run` compiles once per source, passes arguments, shows compiler errors.
#include <catch2/catch.hpp>

#include "run_command.h"

#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <iterator>
#include <string>

#include <unistd.h>

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
  // The environment's switches reach the program's compile (EnvOptions::from_environment).
  Run dumped = run(box.env + "RNNC_DUMP=groups RNNC_PROFILE=1 RNNC_THREADS=1 " + RNNC_TOOL + " run " + file.string());
  INFO(dumped.output);
  CHECK(dumped.output.find("=== RNNC_DUMP groups ===") != std::string::npos);
  CHECK(dumped.output.find("rnnc profile (RNNC_PROFILE)") != std::string::npos);
  CHECK(dumped.output.find("grad f32[3]") != std::string::npos);
  CHECK(second.output.find("RNNC_DUMP") == std::string::npos);
  // A changed file compiles again.
  std::ofstream(file, std::ios::app) << "// changed\n";
  CHECK(run(cmd).output.find("rnnc run: compiling") != std::string::npos);
}

TEST_CASE("rnnc run: a damaged cached binary is built again, a cache others may write refused") {
  Sandbox box;
  const fs::path file = box.write("hello.cpp", "#include <iostream>\nint main() { std::cout << \"hello\\n\"; }\n");
  const std::string cmd = box.env + RNNC_TOOL + " run " + file.string();
  REQUIRE(run(cmd).status == 0);
  fs::path bin;
  for (const auto& e : fs::directory_iterator(box.dir / "cache" / "run"))
    if (e.path().filename().string().rfind("hello-", 0) == 0 && e.path().extension() != ".sum") bin = e.path();
  REQUIRE(!bin.empty());
  CHECK((fs::status(box.dir / "cache" / "run").permissions() & fs::perms::others_write) == fs::perms::none);
  for (int way = 0; way < 3; ++way) {
    INFO("way " << way);
    if (way == 0) {  // a byte flipped in its code
      std::string bytes;
      {
        std::ifstream in(bin, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      }
      bytes[bytes.size() / 2] ^= 0x5a;
      std::ofstream(bin, std::ios::binary | std::ios::trunc) << bytes;
    } else if (way == 1) {  // replaced by another program
      fs::remove(bin);
      fs::create_symlink("/bin/true", bin);
    } else {  // writable by anyone
      fs::permissions(bin, fs::perms::others_write, fs::perm_options::add);
    }
    Run r = run(cmd);
    INFO(r.output);
    CHECK(r.status == 0);
    CHECK(r.output.find("was damaged or changed; compiling it again") != std::string::npos);
    CHECK(r.output.find("hello\n") != std::string::npos);
    Run again = run(cmd);  // rebuilt: cached again, silently
    CHECK(again.output == "hello\n");
  }
  // A cache folder that others may write is not used: what is there is executed.
  fs::permissions(box.dir / "cache" / "run", fs::perms::all);
  Run refused = run(cmd);
  INFO(refused.output);
  CHECK(refused.status == 2);
  CHECK(refused.output.find("is not this user's alone") != std::string::npos);
  CHECK(refused.output.find("RNNC_CACHE_DIR") != std::string::npos);
  // With no home and no cache variable, the fallback is a private folder of this user's.
  Run homeless = run("env -u HOME -u XDG_CACHE_HOME -u RNNC_CACHE_DIR TMPDIR=" + box.dir.string() + " " + RNNC_TOOL +
                     " run " + file.string());
  INFO(homeless.output);
  CHECK(homeless.output.find("hello\n") != std::string::npos);
  const fs::path fallback = box.dir / ("rnnc-cache-" + std::to_string(::getuid()));
  REQUIRE(fs::is_directory(fallback));
  CHECK((fs::status(fallback).permissions() & (fs::perms::group_all | fs::perms::others_all)) == fs::perms::none);
}

TEST_CASE("rnnc run: a file that does not compile exits non-zero with the compiler's message") {
  Sandbox box;
  const fs::path file =
      box.write("broken.cpp", "#include <rnnc/rnnc.h>\nint main() { rnnc::Var x = 3; undefined_thing(); }\n");
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

TEST_CASE("rnnc info: the CPU and each per-CPU choice, as measured or as the environment says") {
  // Each shape's line says "N.NNx reading it transposed, used" or "..., not used": used exactly
  // where the measured speedup is 1.10x or more, unless RNNC_PRETRANSPOSE decides.
  auto shape_lines = [](const std::string& out) {
    std::vector<std::pair<double, bool>> lines;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);)
      if (line.starts_with("  [") && line.find("reading it transposed") != std::string::npos)
        lines.emplace_back(std::stod(line.substr(line.find("]: ") + 3)), !line.ends_with("not used"));
    return lines;
  };
  Run r = run(std::string(RNNC_TOOL) + " info");
  INFO(r.output);
  REQUIRE(r.status == 0);
  for (const char* field : {"cpu:", "kernels for:", "threads:", "float32 GEMMs:", "bf16 mode:", "int8 weights:"})
    CHECK(r.output.find(std::string("\n") + field) != std::string::npos);
  const auto measured = shape_lines(r.output);
  CHECK(measured.size() == 4);
  for (auto [speedup, used] : measured) {
    CHECK(speedup > 0);  // a ratio of two timings (any size: sanitizer builds time their own code)
    // (At the threshold the printed figure is rounded: 1.0996 prints as 1.10 and is not used.)
    if (std::abs(speedup - 1.1) > 0.006) CHECK(used == (speedup >= 1.1));
  }
  for (const char* forced : {"0", "1"}) {
    const auto lines = shape_lines(run("RNNC_PRETRANSPOSE=" + std::string(forced) + " " + RNNC_TOOL + " info").output);
    CHECK(lines.size() == 4);
    for (auto [speedup, used] : lines) CHECK(used == (forced[0] == '1'));
  }
}

TEST_CASE("rnnc info: the timings are kept per machine, so every process decides alike") {
  Sandbox box;  // its own cache folder
  auto read_file = [](const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string info = box.env + RNNC_TOOL + " info";
  auto kept_in = [](const std::string& out) {
    const size_t at = out.find("timings kept:   ");
    return at == std::string::npos ? std::string() : out.substr(at + 16, out.find('\n', at) - at - 16);
  };
  auto figures = [](const std::string& out) {  // every "N.NNx" the report prints, in order
    std::vector<std::string> all;
    std::istringstream in(out);
    for (std::string word; in >> word;)
      if (word.size() > 1 && word.ends_with("x") && std::isdigit(static_cast<unsigned char>(word[0])))
        all.push_back(word);
    return all;
  };
  const Run first = run(info);
  INFO(first.output);
  REQUIRE(first.status == 0);
  const std::string file = kept_in(first.output);
  REQUIRE(file.starts_with(box.dir.string()));
  REQUIRE(fs::exists(file));
  CHECK(!figures(first.output).empty());
  // A second process reads them instead of timing again: the same figures, to the last digit.
  const Run second = run(info);
  CHECK(figures(second.output) == figures(first.output));
  // A figure in the file is what every process uses (here one made up, far from any measurement).
  nlohmann::json kept = nlohmann::json::parse(read_file(file));
  REQUIRE(kept["figures"].contains("transposed copy 32x256x1024"));
  kept["figures"]["transposed copy 32x256x1024"] = 7.25;
  std::ofstream(file) << kept.dump();
  CHECK(run(info).output.find("[32, 256] x [256, 1024]: 7.25x reading it transposed, used") != std::string::npos);
  // A file that does not parse is timed over and written again.
  std::ofstream(file) << "{ not json";
  const Run over = run(info);
  CHECK(over.status == 0);
  CHECK(nlohmann::json::parse(read_file(file), nullptr, false).is_object());
  // Without the disk cache, nothing is kept.
  CHECK(kept_in(run("RNNC_DISK_CACHE=0 " + info).output).starts_with("no"));
}

TEST_CASE("the tool refuses bad input when it parses it, and says each error once, in words") {
  Sandbox box;
  const std::string tool = std::string(RNNC_TOOL) + " ";
  auto refused = [&](const std::string& args, const std::string& says) {
    Run r = run(box.env + tool + args);
    INFO(args << "\n" << r.output);
    CHECK(r.status != 0);
    CHECK(r.output.find(says) != std::string::npos);
    CHECK(r.output.find("rnnc: rnnc") == std::string::npos);
    CHECK(r.output.find("sample: rnnc:") == std::string::npos);
  };
  refused("frobnicate", "'frobnicate' is not a verb");
  refused("run " + box.dir.string(), "is not a C++ file");
  refused("sample " + box.dir.string(), "is a folder, not a checkpoint file");
  const std::string ckpt = (box.dir / "x.safetensors").string();
  for (const char* bad : {"-t -1", "-t nan", "-t inf", "-n -5", "-k -3", "-n x", "-s -1", "-s ''"})
    refused("sample " + ckpt + " " + bad, "not");
  // A seed of -1 or 2^64 is refused, not wrapped; a memory budget past int64's bytes likewise.
  for (const char* bad :
       {"--lr nan", "--lr 0", "--hidden 0", "--seq-length 0", "--threads -3", "--dropout 1", "--batch -1", "--clip -1",
        "--seed -1", "--seed 18446744073709551616", "--seed ''", "--memory-budget 1e30", "--time nan", "--epochs -1"})
    refused("train --steps 1 " + std::string(bad), "not");
  // A library error reaches the user once, without the library's own prefix doubled.
  std::ofstream(ckpt) << "not a checkpoint";
  refused("sample " + ckpt, "rnnc sample: checkpoint '");
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

namespace {
std::string summary_field(const std::string& out, const std::string& key) {
  const nlohmann::json s = rnnc::testing::summary_of(out);
  return s.contains(key) ? s[key].dump() : "";
}
}  // namespace

TEST_CASE("kernel cache: damaged objects are compiled again and replaced, never loaded") {
  Sandbox box;
  // Every run must compile the same kernels: the copy of a loop's weight is fixed, not measured
  // (a measurement near its threshold could differ from run to run).
  const std::string cmd =
      box.env + "RNNC_PRETRANSPOSE=0 " + RNNC_TOOL +
      " train --steps 3 --hidden 16 --layers 1 --seq-length 8 --batch 4 --validate-every 3 --threads 1";
  Run first = run(cmd);
  INFO(first.output);
  REQUIRE(first.status == 0);
  std::vector<fs::path> objects;
  for (const auto& e : fs::directory_iterator(box.dir / "cache" / "kernels"))
    if (e.path().extension() == ".o") objects.push_back(e.path());
  REQUIRE(!objects.empty());
  // Each object damaged one way (a flipped byte, cut in half, a link to /dev/zero, bytes appended,
  // emptied), in two rounds so that every way is tried.
  for (size_t round = 0; round < 2; ++round) {
    for (size_t i = 0; i < objects.size(); ++i) {
      const fs::path& f = objects[i];
      std::string bytes;
      {
        std::ifstream in(f, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      }
      REQUIRE(bytes.size() > 100);
      switch ((i + 3 * round) % 5) {
        case 0: bytes[bytes.size() / 2] ^= 0x10; break;
        case 1: bytes.resize(bytes.size() / 2); break;
        case 2: fs::remove(f), fs::create_symlink("/dev/zero", f); continue;
        case 3: bytes += "garbage"; break;
        case 4: bytes.clear(); break;
      }
      std::ofstream(f, std::ios::binary | std::ios::trunc) << bytes;
    }
    Run damaged = run(cmd);
    INFO("round " << round << ": " << damaged.output);
    CHECK(damaged.status == 0);
    CHECK(damaged.output.find("rnnc: kernel cache: ") != std::string::npos);
    CHECK(damaged.output.find("was damaged") != std::string::npos);
    CHECK(summary_field(damaged.output, "train_loss") == summary_field(first.output, "train_loss"));
  }
  Run repaired = run(cmd);  // the entries were replaced: loaded without a word
  INFO(repaired.output);
  CHECK(repaired.status == 0);
  CHECK(repaired.output.find("kernel cache") == std::string::npos);
  for (const fs::path& f : objects) CHECK(fs::is_regular_file(fs::symlink_status(f)));
}

TEST_CASE("rnnc train: trains on the project's corpus and on a text file, rnnc sample reads what it saved") {
  Sandbox box;
  const std::string tool = std::string(RNNC_TOOL) + " ";
  const std::string small = " --hidden 32 --layers 1 --seq-length 16 --batch 8 --threads 2 ";
  Run r = run(box.env + tool + "train --steps 120" + small + "--save " + (box.dir / "cv").string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(std::stod(summary_field(r.output, "val_loss")) < std::log(80.0));  // below uniform guessing (~90 characters)
  CHECK(fs::exists(box.dir / "cv" / "best.safetensors"));
  CHECK(fs::exists(box.dir / "cv" / "last.safetensors"));
  CHECK(fs::exists(box.dir / "cv" / "loss.svg"));
  Run s = run(tool + "sample " + (box.dir / "cv" / "best.safetensors").string() + " -n 40 --prime 'The '");
  INFO(s.output);
  CHECK(s.status == 0);
  CHECK(s.output.rfind("The ", 0) == 0);
  Run b = run(tool + "sample " + (box.dir / "cv" / "best.safetensors").string() + " -n 40 --prime 'The ' --bf16");
  INFO(b.output);
  CHECK(b.status == 0);  // the flag is taken (test_bf16 checks what it does)
  // Where the CPU cannot pay for bf16 (no avx512_bf16), one line says so before the text.
  std::string sampled = b.output;
  if (sampled.rfind("rnnc: bf16 mode: ", 0) == 0) sampled = sampled.substr(sampled.find('\n') + 1);
  CHECK(sampled.rfind("The ", 0) == 0);
  CHECK(sampled.find("bf16 mode") == std::string::npos);

  std::string text;
  for (int i = 0; i < 300; ++i) text += "the quick brown fox jumps over the lazy dog. ";
  const fs::path file = box.write("fox.txt", text);
  Run f = run(box.env + tool + "train --cell gru --time 3 --data " + file.string() + small + "--dropout 0.1 --save " +
              (box.dir / "fox").string());
  INFO(f.output);
  REQUIRE(f.status == 0);
  CHECK(std::stod(summary_field(f.output, "train_loss")) < 2.0);  // 28 characters: ln 28 = 3.3 uniform
  Run g =
      run(tool + "sample " + (box.dir / "fox" / "best.safetensors").string() + " -n 30 --greedy --prime 'the quick'");
  CHECK(g.status == 0);
  // The recipe as options (bench/quality.sh hands it to PyTorch), and the two runs on one chart.
  CHECK(r.output.find("options: --cell lstm --layers 1 --hidden 32 --embedding 0 --dropout 0.4 --batch 8 "
                      "--seq-length 16 --optimizer adam --lr 0.002 --anneal 0.5 --clip 5") != std::string::npos);
  const std::string svg = (box.dir / "both.svg").string();
  Run p =
      run(tool + "plot " + (box.dir / "cv").string() + " " + (box.dir / "fox" / "loss.csv").string() + " -o " + svg);
  INFO(p.output);
  CHECK(p.status == 0);
  CHECK(p.output.find("cv: lowest val_loss ") != std::string::npos);
  CHECK(p.output.find("fox: lowest val_loss ") != std::string::npos);
  std::ifstream in(svg);
  const std::string chart((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(chart.find(">seconds</text>") != std::string::npos);
  size_t lines = 0;
  for (size_t at = 0; (at = chart.find("<polyline", at)) != std::string::npos; ++at) ++lines;
  CHECK(lines == 2);
  for (const auto& [args, says] : std::vector<std::pair<std::string, std::string>>{
           {"--y accuracy", "--y: 'accuracy' is not val_loss or train_loss"},
           {"--label one --label two", "2 labels for 1 runs"},
           {"--x steps", "--x: 'steps' is not seconds or step"}}) {
    Run bad = run(tool + "plot " + (box.dir / "cv").string() + " -o " + svg + " " + args);
    INFO(bad.output);
    CHECK(bad.status != 0);
    CHECK(bad.output.find("rnnc plot: ") != std::string::npos);
    CHECK(bad.output.find(says) != std::string::npos);
  }
  Run not_csv = run(tool + "plot " + file.string() + " -o " + svg);
  CHECK(not_csv.status != 0);
  CHECK(not_csv.output.find(file.string() + ":1: not the header") != std::string::npos);
}

TEST_CASE("rnnc train: a --save folder it may not write is named before the first step") {
  // A folder of mode 0555: as root (whom no mode stops) the tool runs without the capability to
  // override file modes (setpriv drops CAP_DAC_OVERRIDE), so the check is the one a user meets.
  char tmpl[] = "/tmp/rnnc-readonly-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  const fs::path dir = tmpl;
  std::string text;
  for (int i = 0; i < 300; ++i) text += "the quick brown fox jumps over the lazy dog. ";
  std::ofstream(dir / "text.txt") << text;
  fs::create_directory(dir / "ro");
  fs::permissions(dir / "ro", fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                                  fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
  const std::string as = ::geteuid() == 0 ? "setpriv --bounding-set=-dac_override,-dac_read_search " : "";
  Run r = run("RNNC_DISK_CACHE=0 " + as + RNNC_TOOL + " train --steps 50 --hidden 8 --layers 1 --seq-length 8 " +
              "--batch 2 --data " + (dir / "text.txt").string() + " --save " + (dir / "ro").string());
  fs::remove_all(dir);
  INFO(r.output);
  CHECK(r.status != 0);
  CHECK(r.output.find("--save: '" + (dir / "ro").string() + "' is not writable") != std::string::npos);
  CHECK(r.output.find("step 1") == std::string::npos);  // nothing trained first
  CHECK(r.output.find("a bug in rnnc") == std::string::npos);
}

TEST_CASE("rnnc train: a resumed run ends where the uninterrupted one does, bad input is named") {
  Sandbox box;
  // --anneal 0: "half" stands for the straight run interrupted at step 25, but as a run of its own
  // its budget is 25 steps, and an annealed rate would fall to 0 at step 25 (the straight run's at 50).
  const std::string base = box.env + RNNC_TOOL +
                           " train --layers 2 --dropout 0.2 --seq-length 12 --batch 4 "
                           "--threads 2 --validate-every 10 --anneal 0 ";
  const std::string tool = base + "--hidden 24 ";
  Run straight = run(tool + "--steps 50 --save " + (box.dir / "a").string());
  Run half = run(tool + "--steps 25 --save " + (box.dir / "b").string());
  Run rest = run(tool + "--steps 50 --save " + (box.dir / "b").string() + " --resume " +
                 (box.dir / "b" / "last.safetensors").string());
  INFO(straight.output << half.output << rest.output);
  REQUIRE(straight.status == 0);
  REQUIRE(rest.status == 0);
  CHECK(summary_field(rest.output, "steps") == "50");
  CHECK(summary_field(rest.output, "train_loss") == summary_field(straight.output, "train_loss"));

  Run other = run(base + "--steps 5 --hidden 16 --resume " + (box.dir / "a" / "last.safetensors").string() +
                  " --save " + (box.dir / "c").string());
  INFO(other.output);
  CHECK(other.status != 0);
  CHECK(other.output.find("'rnn.layers.0.weight_ih' is f32[96,") != std::string::npos);
  // A checkpoint without the training state: named once, not "rnnc train: train: ..." (the key renamed
  // in place, so the header keeps its length).
  {
    std::ifstream in(box.dir / "a" / "last.safetensors", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t at = bytes.find("\"train.step\"");
    REQUIRE(at != std::string::npos);
    bytes.replace(at, 12, "\"train.xtep\"");
    std::ofstream(box.dir / "stateless.safetensors", std::ios::binary) << bytes;
  }
  Run stateless = run(tool + "--steps 5 --resume " + (box.dir / "stateless.safetensors").string());
  INFO(stateless.output);
  CHECK(stateless.status != 0);
  CHECK(stateless.output.find("rnnc train: resume: the checkpoint holds no training state") != std::string::npos);
  CHECK(stateless.output.find("train: train:") == std::string::npos);
  Run cell = run(tool + "--steps 5 --cell foo");
  CHECK(cell.status != 0);
  CHECK(cell.output.find("--cell: 'foo' is not one of lstm, gru, rnn") != std::string::npos);
  Run none = run(tool + "--data /nonexistent/text.txt --steps 5");
  CHECK(none.status != 0);
  CHECK(none.output.find("/nonexistent/text.txt") != std::string::npos);
  Run budget = run(tool);
  CHECK(budget.status != 0);
  CHECK(budget.output.find("give a budget") != std::string::npos);
  // Resumed at or past its budget: nothing trained, nothing claimed (it said "saved" and 0 loss).
  Run done = run(tool + "--steps 20 --save " + (box.dir / "d").string() + " --resume " +
                 (box.dir / "b" / "last.safetensors").string());
  INFO(done.output);
  CHECK(done.status == 0);
  CHECK(done.output.find("nothing to train") != std::string::npos);
  CHECK(done.output.find("saved") == std::string::npos);
  CHECK(summary_field(done.output, "train_loss") == "null");
  CHECK(!std::filesystem::exists(box.dir / "d" / "last.safetensors"));
  // --lr given again is honoured on resume (it was ignored: the checkpoint's rate won).
  const std::string from_a = " --resume " + (box.dir / "a" / "last.safetensors").string();
  Run same = run(tool + "--steps 55 --save " + (box.dir / "g").string() + from_a);
  Run faster = run(tool + "--steps 55 --lr 0.05 --save " + (box.dir / "h").string() + from_a);
  REQUIRE(same.status == 0);
  REQUIRE(faster.status == 0);
  CHECK(summary_field(same.output, "train_loss") != summary_field(faster.output, "train_loss"));
  // Another text of the same characters: refused (the checkpoint keeps the text's digest).
  {
    std::ofstream(box.dir / "one.txt") << std::ifstream(RNNC_TEST_CORPUS).rdbuf();
    std::ofstream(box.dir / "two.txt") << std::ifstream(RNNC_TEST_CORPUS).rdbuf() << " ";
    Run first =
        run(tool + "--steps 2 --data " + (box.dir / "one.txt").string() + " --save " + (box.dir / "f").string());
    REQUIRE(first.status == 0);
    Run text = run(tool + "--steps 4 --data " + (box.dir / "two.txt").string() + " --save " + (box.dir / "f").string() +
                   " --resume " + (box.dir / "f" / "last.safetensors").string());
    INFO(text.output);
    CHECK(text.status != 0);
    CHECK(text.output.find("was trained on another text (its digest") != std::string::npos);
  }
  // A --save that cannot hold checkpoints is named before any step, not reported as a bug.
  for (const std::string& save : {std::string("''"), (box.dir / "a" / "loss.csv").string()}) {
    Run bad = run(tool + "--steps 5 --save " + save);
    INFO(bad.output);
    CHECK(bad.status != 0);
    CHECK(bad.output.find("--save") != std::string::npos);
    CHECK(bad.output.find("a bug in rnnc") == std::string::npos);
  }
  // Unbounded work refused before it starts: a device as data, a model larger than the machine.
  Run device = run(tool + "--steps 5 --data /dev/zero");
  CHECK(device.status != 0);
  CHECK(device.output.find("not a regular file") != std::string::npos);
  Run huge = run(box.env + RNNC_TOOL + " train --steps 5 --layers 2147483647");
  INFO(huge.output);
  CHECK(huge.status != 0);
  CHECK(huge.output.find("more than this machine's") != std::string::npos);
  // No validation text: only what was written is named, and sampling points at last.
  Run unvalidated = run(tool + "--steps 3 --val-frac 0 --save " + (box.dir / "e").string());
  INFO(unvalidated.output);
  CHECK(unvalidated.status == 0);
  CHECK(unvalidated.output.find("best") == std::string::npos);
  CHECK(unvalidated.output.find("rnnc sample " + (box.dir / "e" / "last.safetensors").string()) != std::string::npos);
}
