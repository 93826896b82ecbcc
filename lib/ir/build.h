// Internal helpers shared by the front-end files of lib/ir.
#pragma once
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "rnnc/error.h"
#include "rnnc/ops.h"

namespace rnnc::ir {

// Interns a node built from its parts.
Var make(Op op, DType dtype, Shape shape, std::vector<NodePtr> inputs, const Loc& loc, std::vector<int64_t> ints = {},
         double scalar = 0);

// A Var's shape for an error message, with the leaf's path when it is a named input of a traced
// function: "[65, 128] ('head.weight')", or "[128, 65] (a view of 'head.weight' [65, 128])".
std::string shape_of(const Var& x);

// Throws unless x is floating point.
void require_float(std::string_view op, const Var& x, const Loc& loc);

// Normalised, sorted, de-duplicated axes; empty input means all axes.
std::vector<int64_t> normalize_axes(std::string_view op, std::vector<int64_t> axes, const Shape& shape, const Loc& loc);

}  // namespace rnnc::ir
