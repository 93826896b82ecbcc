// The run time's library routines: the steps that are neither kernels nor GEMMs. Written here,
// not borrowed from the reference interpreter, so that the interpreter stays an independent check
// of them (every compiled result is compared with it). Memory comes from the executor: the output
// is written in place, never allocated.
#include "exec/library.h"

#include <fmt/format.h>

#include <cstring>

#include "rnnc/error.h"

namespace rnnc::exec {

std::string_view name_of(Routine r) {
  switch (r) {
    case Routine::Gather: return "gather";
    case Routine::ScatterAdd: return "scatter_add";
    case Routine::OneHot: return "one_hot";
    case Routine::SequenceMask: return "sequence_mask";
    case Routine::Pad: return "pad";
  }
  return "?";
}

namespace {

int64_t index_in(const LibraryStep& l, int32_t v, int64_t limit) {
  if (v < 0 || v >= limit)
    throw Error(
        fmt::format("rnnc: {}: index {} is out of range [0, {}) (at {})", name_of(l.routine), v, limit, l.where));
  return v;
}

// dst[j] += src[j] for j < n in dtype t (integers wrap, as the kernels' adds do).
void add_into(std::byte* dst, const std::byte* src, int64_t n, DType t) {
  auto add = [&]<class T, class U>(T, U) {
    T* d = reinterpret_cast<T*>(dst);
    const T* s = reinterpret_cast<const T*>(src);
    for (int64_t j = 0; j < n; ++j) d[j] = static_cast<T>(static_cast<U>(d[j]) + static_cast<U>(s[j]));
  };
  switch (t) {
    case DType::f32: return add(float{}, float{});
    case DType::f64: return add(double{}, double{});
    case DType::i32: return add(int32_t{}, uint32_t{});
    case DType::bf16:
    case DType::i8: break;
  }
  throw Error("rnnc: scatter_add: no arithmetic in bf16");  // the op's builder takes floats only
}

// Element i of a zero-filled tensor of dtype t set to one.
void set_one(std::byte* p, int64_t i, DType t) {
  switch (t) {
    case DType::f32: reinterpret_cast<float*>(p)[i] = 1.0f; return;
    case DType::f64: reinterpret_cast<double*>(p)[i] = 1.0; return;
    case DType::i32: reinterpret_cast<int32_t*>(p)[i] = 1; return;
    case DType::bf16: reinterpret_cast<bf16*>(p)[i] = bf16(1.0f); return;
    case DType::i8: reinterpret_cast<int8_t*>(p)[i] = 1; return;
  }
}

// Copies x (contiguous, shape xs) into out (contiguous, shape os) at offset `low` per axis, from
// axis k on; `at` is the element offset in out of the current slab.
void pad_copy(const std::byte*& x, std::byte* out, const Shape& xs, const Shape& os, const std::vector<int64_t>& low,
              size_t k, int64_t at, size_t esize) {
  int64_t inner = 1;  // elements of out from axis k + 1 on
  for (size_t j = k + 1; j < os.size(); ++j) inner *= os[j];
  if (k + 1 == xs.size()) {
    const size_t bytes = static_cast<size_t>(xs[k]) * esize;
    std::memcpy(out + static_cast<size_t>(at + low[k]) * esize, x, bytes);
    x += bytes;
    return;
  }
  for (int64_t i = 0; i < xs[k]; ++i) pad_copy(x, out, xs, os, low, k + 1, at + (low[k] + i) * inner, esize);
}

}  // namespace

void run_routine(const LibraryStep& l, std::span<const std::byte* const> in, std::byte* out) {
  const Access& o = l.out;
  const size_t esize = size_of(o.dtype);
  const int64_t n = numel(o.shape);
  switch (l.routine) {
    case Routine::Gather: {  // every row of out is written
      const Shape& table = l.inputs[0].shape;
      const int64_t rows = table[0], row = rows ? numel(table) / rows : 0;
      const auto* idx = reinterpret_cast<const int32_t*>(in[1]);
      const size_t bytes = static_cast<size_t>(row) * esize;
      for (int64_t i = 0, count = numel(l.inputs[1].shape); i < count; ++i)
        std::memcpy(out + static_cast<size_t>(i) * bytes,
                    in[0] + static_cast<size_t>(index_in(l, idx[i], rows)) * bytes, bytes);
      return;
    }
    case Routine::ScatterAdd: {
      std::memset(out, 0, static_cast<size_t>(n) * esize);
      const int64_t rows = o.shape[0], row = rows ? n / rows : 0;
      const auto* idx = reinterpret_cast<const int32_t*>(in[0]);
      const size_t bytes = static_cast<size_t>(row) * esize;
      for (int64_t i = 0, count = numel(l.inputs[0].shape); i < count; ++i)
        add_into(out + static_cast<size_t>(index_in(l, idx[i], rows)) * bytes, in[1] + static_cast<size_t>(i) * bytes,
                 row, o.dtype);
      return;
    }
    case Routine::OneHot: {
      std::memset(out, 0, static_cast<size_t>(n) * esize);
      const int64_t depth = o.shape.back();
      const auto* idx = reinterpret_cast<const int32_t*>(in[0]);
      for (int64_t i = 0, count = numel(l.inputs[0].shape); i < count; ++i)
        set_one(out, i * depth + index_in(l, idx[i], depth), o.dtype);
      return;
    }
    case Routine::SequenceMask: {
      std::memset(out, 0, static_cast<size_t>(n) * esize);
      const int64_t steps = o.shape[0], rows = o.shape[1];
      const auto* len = reinterpret_cast<const int32_t*>(in[0]);
      for (int64_t b = 0; b < rows; ++b) {
        if (len[b] < 0 || len[b] > steps)
          throw Error(fmt::format("rnnc: sequence_mask: lengths[{}] = {} is outside [0, {}] (at {})", b, len[b], steps,
                                  l.where));
        for (int64_t t = 0; t < len[b]; ++t) set_one(out, t * rows + b, o.dtype);
      }
      return;
    }
    case Routine::Pad: {
      std::memset(out, 0, static_cast<size_t>(n) * esize);
      const Shape& xs = l.inputs[0].shape;
      if (numel(xs) == 0) return;
      if (xs.empty()) {  // a scalar: nothing to pad
        std::memcpy(out, in[0], esize);
        return;
      }
      const std::byte* x = in[0];
      pad_copy(x, out, xs, o.shape, l.ints, 0, 0, esize);
      return;
    }
  }
}

}  // namespace rnnc::exec
