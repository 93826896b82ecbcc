// Progress lines and loss curves.
#include <catch2/catch.hpp>
#include <rnnc/rnnc.h>

#include <cmath>
#include <limits>
#include <fstream>
#include <sstream>

#include <unistd.h>
#include <filesystem>

using namespace rnnc;

TEST_CASE("summary lines are JSON: non-finite and missing values are null, with the reason") {
  const std::string line = report::summary_line({{"train_loss", std::nan("")},
                                                 {"val_loss", std::nullopt, "no validation"},
                                                 {"chars_per_s", -std::numeric_limits<double>::infinity()},
                                                 {"compile_s", 0.25},
                                                 {"steps", 50.0}});
  CHECK(line ==
        "summary: {\"train_loss\":null,\"val_loss\":null,\"chars_per_s\":null,\"compile_s\":0.25,\"steps\":50,"
        "\"null_because\":{\"train_loss\":\"nan\",\"val_loss\":\"no validation\",\"chars_per_s\":\"-inf\"}}");
  CHECK(report::summary_line({{"loss", 1.5}}) == "summary: {\"loss\":1.5}");
}

TEST_CASE("loss curves: CSV with empty cells where validation was not measured, read back, an SVG chart") {
  const double none = std::nan("");
  report::LossCurve c;
  c.add({1, 0.25, 4.5, none});
  c.add({2, 0.5, 4.0, 4.2});
  c.add({3, 1.125, 3.5, none});
  const auto dir = std::filesystem::temp_directory_path();
  const auto path = dir / ("rnnc-curve-" + std::to_string(::getpid()) + ".csv");
  c.write_csv(path);
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  CHECK(ss.str() == "step,seconds,train_loss,val_loss\n1,0.250,4.5,\n2,0.500,4,4.2\n3,1.125,3.5,\n");
  const report::LossCurve back = report::LossCurve::read_csv(path);
  REQUIRE(back.points().size() == 3);
  CHECK((back.points()[1].step == 2 && back.points()[1].seconds == 0.5 && back.points()[1].val == 4.2));
  CHECK((std::isnan(back.points()[2].val) && back.points()[2].train == 3.5));
  const std::string svg = c.svg("LSTM <256>");
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(svg.find("LSTM &lt;256&gt;") != std::string::npos);  // the title is escaped
  CHECK(svg.find("training") != std::string::npos);
  CHECK(svg.find("validation") != std::string::npos);
  size_t lines = 0;
  for (size_t at = 0; (at = svg.find("<polyline", at)) != std::string::npos; ++at) ++lines;
  CHECK(lines == 2);
  // The steps' axis from 0 in round ticks (0.5 here), the losses' from 3.4 to 4.6 by 0.2.
  CHECK(svg.find(">0</text>") != std::string::npos);
  CHECK(svg.find(">2.5</text>") != std::string::npos);
  CHECK(svg.find(">4.6</text>") != std::string::npos);
  // A file that is not a curve is named with its line.
  const auto [text, why] = GENERATE(table<std::string, std::string>({
      {"step,train_loss,val_loss\n", ":1: not the header"},
      {"step,seconds,train_loss,val_loss\n1,2,3\n", ":2: 3 cells, not 4"},
      {"step,seconds,train_loss,val_loss\n1,0.5,3,\n2,x,3,\n", ":3: 'x' is not a number"},
      {"step,seconds,train_loss,val_loss\n,0.5,3,\n", ":2: '' is not a number"},
  }));
  std::ofstream(path) << text;
  CHECK_THROWS_WITH(report::LossCurve::read_csv(path), Catch::Contains(path.string() + why));
  std::filesystem::remove(path);
  CHECK_THROWS_WITH(report::LossCurve::read_csv(path), Catch::Contains("cannot read"));
}

TEST_CASE("progress: plain lines when the output is not a terminal") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f != nullptr);
  {
    report::Progress p(10, 100, 4, f);
    for (int s = 1; s <= 10; ++s) p.update(s, 5.0 - s * 0.1);
    p.finish();
  }
  std::rewind(f);
  std::string text;
  for (int c; (c = std::fgetc(f)) != EOF;) text += static_cast<char>(c);
  std::fclose(f);
  CHECK(text.find("step 4/10  loss 4.6000") != std::string::npos);
  CHECK(text.find("step 8/10") != std::string::npos);
  CHECK(text.find("step 10/10") != std::string::npos);  // the last step always
  CHECK(text.find("step 5/10") == std::string::npos);
  CHECK(text.find("chars/s") != std::string::npos);
  CHECK(text.find("ETA") != std::string::npos);
  CHECK(text.find('\r') == std::string::npos);
}

TEST_CASE("loss curves: a write that fails is an error and keeps the previous file") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("rnnc-test-curve-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  rnnc::report::LossCurve c;
  c.add({1, 0.1, 2.5, std::nan("")});
  c.write_csv(dir / "loss.csv");
  const auto before = fs::file_size(dir / "loss.csv");
  c.add({2, 0.2, 2.0, 2.2});
  // The temporary cannot be made (a folder holds its name), as on a full disk: the old file stays.
  fs::create_directories(dir / ("loss.csv.tmp" + std::to_string(::getpid())));
  CHECK_THROWS_WITH(c.write_csv(dir / "loss.csv"),
                    Catch::Contains("cannot write") && Catch::Contains("the previous file, if any, is kept"));
  CHECK(fs::file_size(dir / "loss.csv") == before);
  CHECK_THROWS_WITH(c.write_svg(dir / "no" / "such" / "loss.svg", "t"), Catch::Contains("cannot write"));
  fs::remove_all(dir);
}
