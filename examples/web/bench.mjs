// Times the web example's two modules in node, interleaved: simd128, and simd128 with
// relaxed-simd (run node with --experimental-wasm-relaxed-simd for the second).
//
//   examples/web/build.sh && node --experimental-wasm-relaxed-simd examples/web/bench.mjs [rounds]
//
// Prints the median milliseconds per classify() of each and their ratio (median of the
// per-round ratios). The input is the same fixed pattern for both.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const web = fileURLToPath(new URL('../../target/web/', import.meta.url));
const rounds = Number(process.argv[2] ?? 15);
const load = async (file) => {
  const { instance } = await WebAssembly.instantiate(readFileSync(web + file), {});
  const e = instance.exports;
  const input = new Float32Array(e.memory.buffer, e.input_ptr(), 3 * 224 * 224);
  for (let i = 0; i < input.length; i++) input[i] = ((i * 37) % 256) / 128 - 1;
  const name = new TextDecoder().decode(new Uint8Array(e.memory.buffer, e.simd_name_ptr(), e.simd_name_len()));
  return { name, run: () => e.classify() };
};
const modules = [await load('mobilenet_web.wasm'), await load('mobilenet_web_relaxed.wasm')];
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const time = (m) => {
  const runs = [];
  for (let i = 0; i < 10; i++) {
    const t = performance.now();
    if (m.run() !== 0) throw new Error('classify() failed');
    runs.push(performance.now() - t);
  }
  return median(runs);
};
modules.forEach((m) => time(m)); // warm-up
const ms = modules.map(() => []);
for (let r = 0; r < rounds; r++) {
  const order = r % 2 ? [1, 0] : [0, 1];
  for (const i of order) ms[i].push(time(modules[i]));
}
modules.forEach((m, i) => console.log(`${m.name}: ${median(ms[i]).toFixed(2)} ms`));
console.log(`ratio relaxed / simd128: ${median(ms[1].map((t, r) => t / ms[0][r])).toFixed(3)}`);
