// `rnnc plot RUN... -o F.svg`: the loss curves of runs (rnnc train's loss.csv, or a file in its
// format) on one chart, against steps or seconds: two runs, two recipes, two frameworks side by side.
#pragma once
#include <string>
#include <vector>

namespace rnnc::tool {

struct PlotOptions {
  std::vector<std::string> runs;    // loss.csv files, or folders that hold one (rnnc train --save)
  std::vector<std::string> labels;  // one per run (default: its folder's name)
  std::string x = "seconds";        // seconds or step
  std::string y = "val_loss";       // val_loss or train_loss
  std::string title;
  std::string out;
};

// Writes the chart and prints each run's lowest loss and when it was reached; returns the exit status.
int plot(const PlotOptions& o);

}  // namespace rnnc::tool
