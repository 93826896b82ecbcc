// Open (symbolic) axes in an exported model, from two traces of one function (rnnc/onnx.h,
// OnnxOptions::dynamic_axes).
#pragma once
#include <onnx/onnx_pb.h>

#include "rnnc/onnx.h"

namespace rnnc::onnx_export {

// `m` and `wider` are one function written at the example sizes and with the open axes longer.
// Every dimension that differs between them becomes a dim_param in both: the declared axes under
// their names, the others (outputs, a Scan body's values) under the name of the declared axis that
// grew alike, or a name of their own. Then the two models must be the same bytes; an Error names
// the first node where they are not (a size baked into the graph).
void open_axes(onnx::ModelProto& m, onnx::ModelProto& wider, const DynamicAxes& axes);

}  // namespace rnnc::onnx_export
