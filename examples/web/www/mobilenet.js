// The glue between a page and mobilenet_web.wasm (examples/web/src/lib.rs): loads the module,
// turns an image into the model's input, runs it and ranks the scores. No dependencies.

const SIZE = 224;

// The smallest module with a relaxed-simd instruction (f32x4.relaxed_madd of its three v128
// parameters): it validates only where the engine has relaxed-simd.
const RELAXED_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 96, 3, 123, 123, 123, 1, 123, 3, 2, 1, 0,
  10, 13, 1, 11, 0, 32, 0, 32, 1, 32, 2, 253, 133, 2, 11,
]);

export class MobileNet {
  /** Whether this engine runs relaxed-simd (Chromium does; node 20 behind a flag). */
  static hasRelaxedSimd() {
    return WebAssembly.validate(RELAXED_PROBE);
  }

  /**
   * Loads the module (no imports: it is no_std and allocates nothing) and the labels: the
   * relaxed-simd build (`relaxedUrl`, fused multiply-adds) where the engine has relaxed-simd,
   * else the simd128 one.
   */
  static async load(wasmUrl, labelsUrl, relaxedUrl = null) {
    const url = relaxedUrl && MobileNet.hasRelaxedSimd() ? relaxedUrl : wasmUrl;
    const [{ instance }, labels] = await Promise.all([
      WebAssembly.instantiateStreaming(fetch(url), {}),
      fetch(labelsUrl).then((r) => r.text()).then((t) => t.split('\n')),
    ]);
    return new MobileNet(instance.exports, labels);
  }

  constructor(exports, labels) {
    this.exports = exports;
    this.labels = labels;
    const name = new Uint8Array(exports.memory.buffer, exports.simd_name_ptr(), exports.simd_name_len());
    this.simd = new TextDecoder().decode(name);
  }

  /**
   * Classifies an image (anything `drawImage` takes): the whole image resized to 224x224, each
   * channel value p as (p - 128) / 128, planes R, G, B (NCHW), as the bundled model expects.
   * Returns the top `k` as {index, label, score} and the milliseconds the model took.
   */
  classify(image, k = 5) {
    const canvas = document.createElement('canvas');
    canvas.width = SIZE;
    canvas.height = SIZE;
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    ctx.drawImage(image, 0, 0, SIZE, SIZE);
    const rgba = ctx.getImageData(0, 0, SIZE, SIZE).data;
    const plane = SIZE * SIZE;
    // The module's memory never grows (nothing is allocated), so these views stay valid.
    const input = new Float32Array(this.exports.memory.buffer, this.exports.input_ptr(), 3 * plane);
    for (let i = 0; i < plane; i++) {
      for (let c = 0; c < 3; c++) input[c * plane + i] = (rgba[4 * i + c] - 128) / 128;
    }
    const start = performance.now();
    const status = this.exports.classify();
    const ms = performance.now() - start;
    if (status !== 0) throw new Error(`classify() failed with status ${status}`);
    const scores = new Float32Array(this.exports.memory.buffer, this.exports.output_ptr(), this.exports.output_len());
    const top = Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a]).slice(0, k);
    return { ms, top: top.map((i) => ({ index: i, label: this.labels[i] ?? `class ${i}`, score: scores[i] })) };
  }
}
