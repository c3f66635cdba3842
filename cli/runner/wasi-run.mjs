// The cargo runner for wasm32-wasip1: `node wasi-run.mjs PROGRAM.wasm ARGS...` runs a WASI
// command module with the host's file system visible at its real paths (so .npy paths and
// CARGO_MANIFEST_DIR work unchanged) and exits with the module's status.
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';

const [program, ...args] = process.argv.slice(2);
if (!program) {
  console.error('usage: node wasi-run.mjs PROGRAM.wasm [ARGS...]');
  process.exit(2);
}
const wasi = new WASI({
  version: 'preview1',
  args: [program, ...args],
  env: process.env,
  preopens: { '/': '/' },
  returnOnExit: true,
});
const module = await WebAssembly.compile(await readFile(program));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
