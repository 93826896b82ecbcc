// A libFuzzer entry point for one target of targets.h, chosen by RNNC_FUZZ_TARGET at compile time.
#include "targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rnnc::fuzz::RNNC_FUZZ_TARGET(data, size);
  return 0;
}
