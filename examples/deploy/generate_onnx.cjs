// Text from a character model exported as ONNX, run by onnxruntime (npm onnxruntime-node):
//
//   rnnc train --save run && rnnc export run/best.safetensors --onnx model.onnx
//   npm install onnxruntime-node --ignore-scripts
//   node examples/deploy/generate_onnx.cjs model.onnx -p "The " -n 200 [-t 0.8] [-s 1]
//
// It does what `rnnc sample` does: the prime's characters one step each, then each character drawn
// from the last step's logits (the most likely one with -t 0) and fed back. The model takes ids
// int32 [T, B] (open axes, or 1 and 1) and the state "state.*", and returns logits [T, B, V] and the
// state "next_state.*"; its vocabulary (characters in id order) is the metadata "vocab".
const fs = require('node:fs');
const ort = require('onnxruntime-node');

function options(argv) {
  const o = { model: argv[0], prime: 'The ', n: 200, temperature: 0.8, seed: 1 };
  for (let i = 1; i + 1 < argv.length; i += 2) {
    const v = argv[i + 1];
    if (argv[i] === '-p') o.prime = v;
    else if (argv[i] === '-n') o.n = Number(v);
    else if (argv[i] === '-t') o.temperature = Number(v);
    else if (argv[i] === '-s') o.seed = Number(v);
    else throw new Error(`unknown option ${argv[i]}`);
  }
  if (!o.model) throw new Error('usage: generate_onnx.cjs MODEL.onnx [-p PRIME] [-n N] [-t T] [-s SEED]');
  return o;
}

// A small deterministic generator (mulberry32), so that -s gives the same text each run.
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// The model's metadata_props (ModelProto field 14: entries of key 1, value 2), read from the file's
// protobuf wire format, since onnxruntime's JavaScript API does not expose them.
function metadata(file) {
  const b = fs.readFileSync(file);
  const varint = (at) => {
    let v = 0n, shift = 0n, i = at;
    for (;;) {
      const byte = b[i++];
      v |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return [v, i];
      shift += 7n;
    }
  };
  // The fields of the message in b[from, to): [number, wire type, value start, value end].
  const fields = (from, to) => {
    const out = [];
    for (let at = from; at < to;) {
      const [key, next] = varint(at);
      const number = Number(key >> 3n), type = Number(key & 7n);
      let start = next, end;
      if (type === 0) end = varint(next)[1];
      else if (type === 1) end = next + 8;
      else if (type === 5) end = next + 4;
      else if (type === 2) {
        const [n, s] = varint(next);
        start = s;
        end = s + Number(n);
      } else throw new Error(`${file}: not an ONNX model (wire type ${type})`);
      out.push([number, type, start, end]);
      at = end;
    }
    return out;
  };
  const props = {};
  for (const [number, type, start, end] of fields(0, b.length)) {
    if (number !== 14 || type !== 2) continue;
    const entry = {};
    for (const [n, , s, e] of fields(start, end)) entry[n] = b.toString('utf8', s, e);
    props[entry[1]] = entry[2] ?? '';
  }
  return props;
}

function pick(logits, temperature, rand) {
  let best = 0;
  for (let i = 1; i < logits.length; ++i) if (logits[i] > logits[best]) best = i;
  if (temperature <= 0) return best;
  const p = Array.from(logits, (x) => Math.exp((x - logits[best]) / temperature));
  let u = rand() * p.reduce((a, b) => a + b, 0);
  for (let i = 0; i < p.length; ++i) if ((u -= p[i]) <= 0) return i;
  return p.length - 1;
}

async function main() {
  const o = options(process.argv.slice(2));
  const session = await ort.InferenceSession.create(o.model);
  const vocab = Array.from(metadata(o.model).vocab ?? '');
  if (vocab.length === 0) throw new Error(`${o.model}: no "vocab" metadata (export it with rnnc export --onnx)`);
  const id = new Map(vocab.map((c, i) => [c, i]));
  // One character of one stream per call: an open axis (named, not a number) taken at 1.
  const one = (shape) => shape.map((d) => (typeof d === 'number' ? d : 1));
  const ids = session.inputMetadata.find((m) => m.name === 'input');
  if (!ids || one(ids.shape).join() !== '1,1')
    throw new Error(`${o.model}: takes ids [${ids?.shape}]; this program steps one character of one stream ` +
                    'per call (rnnc export --onnx without --seq-length and --batch, or with 1 and 1)');
  // The state starts at zero: every input but "input".
  let state = {};
  for (const name of session.inputNames) {
    if (name === 'input') continue;
    const meta = session.inputMetadata.find((m) => m.name === name);
    const dims = one(meta.shape);
    state[name] = new ort.Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);
  }
  const step = async (c) => {
    const out = await session.run({ ...state, input: new ort.Tensor('int32', Int32Array.from([c]), [1, 1]) });
    for (const name of Object.keys(state)) state[name] = out['next_' + name];
    return out.output.data;
  };
  let logits;
  for (const ch of o.prime) {
    if (!id.has(ch)) throw new Error(`'${ch}' is not in the model's vocabulary`);
    logits = await step(id.get(ch));
  }
  const rand = random(o.seed);
  let text = o.prime;
  for (let k = 0; k < o.n; ++k) {
    const c = pick(logits, o.temperature, rand);
    text += vocab[c];
    logits = await step(c);
  }
  process.stdout.write(text + '\n');
}

main().catch((e) => {
  process.stderr.write(`generate_onnx: ${e.message}\n`);
  process.exit(1);
});
