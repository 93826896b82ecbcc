// Fuzz targets: functions of arbitrary bytes that may throw rnnc::Error (bad input, said clearly)
// and nothing else, never crash, never read out of bounds. libFuzzer runs them (fuzzer.cpp, built
// with clang by tests/fuzz/CMakeLists.txt and run by .ci/run); the ordinary test suite replays
// their corpora (test_fuzz_corpora.cpp), so every build checks what the fuzzers found.
#pragma once
#include <cstddef>
#include <cstdint>

namespace rnnc::fuzz {

// The checkpoint loader (safetensors) and the trainer's reader of its metadata: any bytes.
void checkpoint(const uint8_t* data, size_t size);
// The UTF-8 decoder and the vocabulary: a valid text round-trips exactly.
void text(const uint8_t* data, size_t size);
// The graph builder and the interpreter: the bytes choose ops, shapes, dtypes and attributes.
void graph(const uint8_t* data, size_t size);
// The run time's program reader (exec/serialize.h), what an exported model loads: any bytes.
void program(const uint8_t* data, size_t size);
// The kernel cache's file reader (codegen/object_cache.h): the bytes as a file, or (first byte
// odd) the rest as an object with a good trailer appended, so that what LLVM reads of an object
// the checksum lets through is fuzzed too. What it accepts is an object it reads back again.
void kernel_cache(const uint8_t* data, size_t size);

}  // namespace rnnc::fuzz
