// The C interface of the run time (rnnc/c_runtime.h) over exec::Program: every exception stops
// here and becomes a return code and a message.
#include "rnnc/c_runtime.h"

#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "exec/c_interface.h"
#include "exec/executor.h"
#include "exec/serialize.h"
#include "rnnc/error.h"

struct rnnc_program {
  rnnc::exec::Program program;
};

using rnnc::exec::report;
using rnnc::exec::spec_of;

extern "C" {

rnnc_program* rnnc_program_new(const void* bytes, size_t size, const rnnc_kernel_fn* kernels, uint64_t kernel_count,
                               int threads, char* err, size_t err_size) {
  try {
    if (!bytes || (kernel_count > 0 && !kernels)) throw rnnc::Error("rnnc: program: no bytes or no kernels given");
    auto p = std::make_unique<rnnc_program>();
    p->program.schedule = rnnc::exec::deserialize(std::string_view(static_cast<const char*>(bytes), size));
    rnnc::exec::check_references(p->program.schedule, static_cast<size_t>(kernel_count));
    p->program.kernels.assign(kernels, kernels + kernel_count);
    p->program.threads = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    return p.release();
  } catch (const std::exception& e) {
    report(err, err_size, e.what());
    return nullptr;
  }
}

void rnnc_program_free(rnnc_program* p) { delete p; }

int rnnc_program_inputs(const rnnc_program* p) { return p ? static_cast<int>(p->program.schedule.inputs.size()) : 0; }
int rnnc_program_outputs(const rnnc_program* p) { return p ? static_cast<int>(p->program.schedule.outputs.size()) : 0; }
int rnnc_program_input(const rnnc_program* p, int i, rnnc_spec* spec) {
  return p ? spec_of(p->program.schedule.inputs, i, spec) : RNNC_ERROR;
}
int rnnc_program_output(const rnnc_program* p, int i, rnnc_spec* spec) {
  return p ? spec_of(p->program.schedule.outputs, i, spec) : RNNC_ERROR;
}

int rnnc_program_run(rnnc_program* p, const void* const* inputs, void* const* outputs, char* err, size_t err_size) {
  try {
    if (!p) throw rnnc::Error("rnnc: program: NULL program");
    const rnnc::exec::Schedule& s = p->program.schedule;
    if ((!inputs && !s.inputs.empty()) || (!outputs && !s.outputs.empty()))
      throw rnnc::Error("rnnc: program: NULL inputs or outputs");
    for (size_t i = 0; i < s.inputs.size(); ++i)
      if (!inputs[i] && rnnc::numel(s.inputs[i].shape) > 0)
        throw rnnc::Error("rnnc: program: input " + std::to_string(i) + " ('" + s.inputs[i].name + "') is NULL");
    for (size_t k = 0; k < s.outputs.size(); ++k)
      if (!outputs[k] && rnnc::numel(s.outputs[k].shape) > 0)
        throw rnnc::Error("rnnc: program: output " + std::to_string(k) + " is NULL");
    rnnc::exec::run_into(p->program, inputs, outputs);
    return RNNC_OK;
  } catch (const std::exception& e) {
    report(err, err_size, e.what());
    return RNNC_ERROR;
  }
}

}  // extern "C"
