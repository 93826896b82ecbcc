// The README's tour, compiled and run by the tests so that it stays true.
#include <rnnc/rnnc.h>

#include <iostream>

using namespace rnnc;

int main() {
  // A model is ordinary C++ over symbolic tensors; a loop over time unrolls into the graph.
  Function loss = trace([](Var xs, Var h0, Var W, Var U, Var b) {
    Var h = h0, total = full({}, 0.0);
    for (int t = 0; t < 25; ++t) {
      h = tanh(matmul(reshape(slice(xs, 0, t, t + 1), {1, 8}), W) + matmul(h, U) + b);
      total = total + sum(h * h);
    }
    return total;
  }, {Spec{{25, 8}}, Spec{{1, 16}}, Spec{{8, 16}}, Spec{{16, 16}}, Spec{{16}}});

  std::mt19937_64 rng(0);
  std::vector<Tensor> args;
  for (const Spec& s : loss.input_specs()) args.push_back(Tensor::uniform(s.shape, -0.5, 0.5, rng));

  Function step = value_and_grad(loss);            // backpropagation through time, as a graph
  Compiled fast = compile(step);                    // fused kernels through LLVM, Eigen GEMMs
  std::vector<Tensor> out = fast(args);             // loss, then one gradient per input
  GradcheckReport r = gradcheck(loss, args);        // autodiff vs finite differences, float64
  std::cout << "loss " << out[0].item() << ", " << step.outputs.size() - 1 << " gradients\n"
            << fast.stats().str() << "\n"
            << r.str();
  // The compiled step and the reference interpreter agree.
  const double diff = max_abs_diff(out[0], interpret(step, args)[0]);
  std::cout << "compiled vs interpreted loss: " << diff << "\n";
  return r.ok && diff < 1e-4 ? 0 : 1;
}
