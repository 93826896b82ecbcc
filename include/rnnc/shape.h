// Static shapes: a list of extents, row-major. Rank 0 is a scalar.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace rnnc {

using Shape = std::vector<int64_t>;

// The element count; an error (not a wrapped number) when a partial product passes INT64_MAX.
int64_t numel(const Shape& s);
std::string to_string(const Shape& s);  // "[3, 4]"

// Row-major strides in elements.
std::vector<int64_t> strides_of(const Shape& s);

// NumPy broadcasting: align on the right, extents equal or 1. Returns false on mismatch.
bool broadcast_shapes(const Shape& a, const Shape& b, Shape& out);

// Normalises a possibly negative axis; returns -1 when out of range.
int normalize_axis(int64_t axis, int64_t rank);

}  // namespace rnnc
