// rnnc: automatic differentiation and a graph compiler for recurrent networks.
#pragma once
#include "rnnc/autodiff.h"
#include "rnnc/dtype.h"
#include "rnnc/error.h"
#include "rnnc/function.h"
#include "rnnc/gradcheck.h"
#include "rnnc/graph.h"
#include "rnnc/interpreter.h"
#include "rnnc/ops.h"
#include "rnnc/passes.h"
#include "rnnc/printer.h"
#include "rnnc/shape.h"
#include "rnnc/tensor.h"
