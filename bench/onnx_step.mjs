// onnxruntime (npm onnxruntime-node, CPU) stepping an ONNX model from `bench_stream --onnx`:
// ids int32 [1, B] and the state in, logits and the next state out, the state fed back; each
// session.run timed alone (the JavaScript binding's cost per call included). Prints p50, p99 and the
// mean in microseconds.
//   NODE_PATH=tests/onnx/node_modules node bench/onnx_step.mjs MODEL.onnx STEPS THREADS
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node');
const [file, stepsArg, threadsArg] = process.argv.slice(2);
const steps = Number(stepsArg ?? 10000), threads = Number(threadsArg ?? 1);
const session = await ort.InferenceSession.create(file, {
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  graphOptimizationLevel: 'all',
});
const ids = session.inputMetadata.find((m) => m.name === 'input');
const [T, B] = ids.shape;
let state = {};
for (const m of session.inputMetadata)
  if (m.name !== 'input') state[m.name] = new ort.Tensor('float32', new Float32Array(m.shape.reduce((a, b) => a * b, 1)), m.shape);
const input = new ort.Tensor('int32', new Int32Array(T * B), [T, B]);
const us = [];
for (let k = 0; k < steps + steps / 10; ++k) {
  for (let i = 0; i < T * B; ++i) input.data[i] = (k * 7 + i) % 65;
  const t0 = process.hrtime.bigint();
  const out = await session.run({ ...state, input });
  const dt = Number(process.hrtime.bigint() - t0) / 1000;
  for (const name of Object.keys(state)) state[name] = out['next_' + name];
  if (k >= steps / 10) us.push(dt);  // the first tenth warms up
}
us.sort((a, b) => a - b);
const at = (q) => us[Math.min(us.length - 1, Math.floor(q * us.length))];
const mean = us.reduce((a, b) => a + b, 0) / us.length;
console.log(`${at(0.5).toFixed(1)} ${at(0.99).toFixed(1)} ${mean.toFixed(1)}`);
