// Lowering's result: the run time's program (exec/program.h), made by lower() (fuse.cpp,
// lower_loops.cpp) and placed in memory by plan_memory() (memory_plan.cpp), and beside it what
// only the compiler needs: each kernel's description, for code generation, and each graph node's
// step, for dumps. Views (broadcast_to, transpose, slice, contiguous reshape) produce no step: they
// are strides and offsets in the accesses of the steps that read them.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "exec/program.h"
#include "lower/kernel.h"
#include "rnnc/function.h"
#include "rnnc/graph.h"

namespace rnnc::lower {

using exec::Access;
using exec::ArenaBuffer;
using exec::BufferRef;
using exec::GemmStep;
using exec::KernelStep;
using exec::LibraryStep;
using exec::LoopStep;
using exec::RevolveStep;
using exec::Space;
using exec::Step;

// One kernel step's code, and the graph nodes fused into it (for dumps and tests).
struct Kernel {
  KernelDesc desc;
  int nodes = 0;
};

struct Lowered {
  exec::Schedule schedule;
  std::vector<Kernel> kernels;  // per KernelStep::kernel, loop bodies' included
  // Every graph node and the top-level step that computes it (-1: a view, a leaf or a constant,
  // computed by nobody), for drawing the fused groups.
  std::vector<std::pair<NodePtr, int>> placement;
};

// Lowers a graph (already optimised) to steps. Kernels are left to code generation.
Lowered lower(const std::vector<Var>& outputs, const std::vector<Var>& inputs);

// Assigns arena offsets: buffers whose lifetimes do not overlap share memory; a step never
// writes memory it reads.
void plan_memory(exec::Schedule& s);

// A human-readable listing (RNNC_DUMP=groups).
std::string str(const exec::Schedule& s, const std::vector<Kernel>& kernels);
// Graphviz: the graph, each fused kernel a box around its nodes.
std::string dot(const Lowered& l);

}  // namespace rnnc::lower
