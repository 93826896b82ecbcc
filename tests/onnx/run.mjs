// Runs ONNX models with onnxruntime (npm onnxruntime-node, CPU) for rnnc's tests.
//   node run.mjs JOBS.json   where JOBS.json is [{"model": path, "inputs": {name: {type, dims, data}}}, ...]
// prints [{name: {dims, data}}, ...], one object per job, in order. Exits 1 with a message on stderr
// when a model does not load or run.
import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';

const kinds = { float32: Float32Array, float64: Float64Array, int32: Int32Array };
const jobs = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const results = [];
for (const job of jobs) {
  let session;
  try {
    session = await ort.InferenceSession.create(job.model, { intraOpNumThreads: 1 });
  } catch (e) {
    console.error(`onnxruntime: ${job.model}: ${e.message}`);
    process.exit(1);
  }
  const feeds = {};
  for (const [name, t] of Object.entries(job.inputs)) feeds[name] = new ort.Tensor(t.type, kinds[t.type].from(t.data), t.dims);
  let out;
  try {
    out = await session.run(feeds);
  } catch (e) {
    console.error(`onnxruntime: ${job.model}: ${e.message}`);
    process.exit(1);
  }
  const result = {};
  for (const [name, t] of Object.entries(out)) result[name] = { dims: t.dims, data: Array.from(t.data) };
  results.push(result);
}
process.stdout.write(JSON.stringify(results));
