// Which loops are the library's cells (nn::RNNCell, LSTMCell, GRUCell run over a sequence by
// nn::run_cell, with or without lengths): those export as ONNX's own RNN, LSTM and GRU operators,
// which every runtime runs as one fused kernel. Decided from the graph: the cell is traced again
// on the loop's own inputs, and the body is that cell exactly when the nodes come back the same
// (nodes are hash-consed, graph.h). Anything else is a user's cell and exports as a Scan.
#pragma once
#include <optional>

#include "rnnc/graph.h"

namespace rnnc::onnx_export {

struct CellMatch {
  enum class Kind { RnnTanh, RnnRelu, Lstm, Gru } kind;
  // The body's nodes holding the weights: an invariant input of the loop, or a constant inside it.
  NodePtr weight_ih, weight_hh, bias_ih, bias_hh;
  bool masked;  // with per-row lengths: the loop's last sequence is sequence_mask(lengths)
  int64_t hidden;
};

std::optional<CellMatch> match_cell(const Loop& loop);

}  // namespace rnnc::onnx_export
