// A benchmark worker for onnxruntime-web (wasm backend with SIMD, one thread) in node,
// speaking the protocol of bench/worker.py: `ready` once warm; for each `time MS` line,
// back-to-back inferences for MS ms answered with a JSON list of durations (ms); `quit` ends.
//
//   node bench/ort_web_worker.mjs MODEL.onnx
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import * as ort from 'onnxruntime-web';

ort.env.wasm.numThreads = 1;
ort.env.wasm.simd = true;
ort.env.logLevel = 'error';
const session = await ort.InferenceSession.create(readFileSync(process.argv[2]), {
  executionProviders: ['wasm'],
  graphOptimizationLevel: 'all',
});
const name = session.inputNames[0];
const meta = session.inputMetadata?.[0];
const shape = (meta?.shape ?? [1, 3, 224, 224]).map((d) => (typeof d === 'number' ? d : 1));
const size = shape.reduce((a, b) => a * b, 1);
const feeds = { [name]: new ort.Tensor('float32', new Float32Array(size).fill(0.5), shape) };
for (let i = 0; i < 3; i++) await session.run(feeds);
console.log('ready');
for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, arg] = line.trim().split(' ');
  if (cmd === 'quit') break;
  if (cmd !== 'time') throw new Error(`protocol: ${line}`);
  const times = [];
  const end = performance.now() + Number(arg);
  while (performance.now() < end || times.length === 0) {
    const t = performance.now();
    await session.run(feeds);
    times.push(performance.now() - t);
  }
  console.log(JSON.stringify(times));
}
process.exit(0);
