// Int8 weights for a program (CompileOptions::int8, `rnnc export --int8`): weight-only
// quantization per output channel, as PyTorch's dynamic quantization does for Linear and LSTM.
#pragma once
#include "exec/program.h"

namespace rnnc::exec {

// Every 2-D float32 GEMM whose B is a literal (a weight the function captured; inside a loop, a
// literal bound as an invariant) and whose A is row-major reads int8 weights instead: column j of
// B becomes q[j, :] = round(B[:, j] / scale_j) with scale_j = max |B[:, j]| / 127, stored [N, Kp]
// (Kp: K rounded up to 64, zeros after K), with scale_j and sum q[j, :] beside it (gemm.h's
// gemm_q8). Literals no step reads any more are dropped. Returns the GEMMs changed.
int quantize_weights(Schedule& s);

}  // namespace rnnc::exec
