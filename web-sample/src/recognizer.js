// Faces and expressions in an image with LiteRT.js: BlazeFace finds the faces,
// each face is cut by the model's crop rule and classified by the fer-edge
// int8 model. The same steps as the Python Recognizer (runtime/recognizer.py).
import { loadAndCompile, loadLiteRt, Tensor } from '@litertjs/core';

import { anchors, decode, INPUT, inputTensor } from './blazeface.js';
import { readContract } from './modelfile.js';
import { calibrate, dequantize, label } from './postprocess.js';
import { cropBox, cut, grayFromPixels, inputData } from './preprocess.js';

const anchorCount = anchors().length;

async function fetchBytes(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function run(model, data, shape) {
  const input = new Tensor(data, shape);
  const outputs = await model.run([input]);
  input.delete();
  const arrays = outputs.map((t) => t.toTypedArray().slice());
  outputs.forEach((t) => t.delete());
  return arrays;
}

export class Recognizer {
  /** Load LiteRT.js (single-threaded WebAssembly), the classifier and BlazeFace. */
  static async create({ wasm, model, detector, minScore = 0.5 }) {
    await loadLiteRt(wasm);
    const bytes = await fetchBytes(model);
    const contract = await readContract(bytes);
    // LiteRT.js takes uint8, float32 and int32 tensors, not int8.
    if (!['uint8', 'float32'].includes(contract.input.dtype)) {
      throw new Error(`LiteRT.js cannot feed a ${contract.input.dtype} input; convert with uint8 I/O`);
    }
    const classifier = await loadAndCompile(bytes, { accelerator: 'wasm' });
    const blazeface = await loadAndCompile(await fetchBytes(detector), { accelerator: 'wasm' });
    return new Recognizer(contract, classifier, blazeface, minScore);
  }

  constructor(contract, classifier, blazeface, minScore) {
    Object.assign(this, { contract, classifier, blazeface, minScore });
    this.lastTimings = {};
  }

  /** {label, index, probabilities, raw} of one gray crop (Uint8Array size*size). */
  async classifyCrop(crop) {
    const { input } = this.contract;
    const [raw] = await run(this.classifier, inputData(crop, input), Array.from(input.shape));
    const probs = calibrate(dequantize(raw, this.contract.output), this.contract.temperature);
    return { ...label(probs, this.contract), raw: Array.from(raw) };
  }

  /** Faces in RGBA pixels (canvas ImageData): [{box, score, label, probabilities, crop}], image pixels. */
  async predict({ data, width, height }) {
    const t0 = performance.now();
    const outs = await run(this.blazeface, inputTensor(data, width, height, 4), [1, INPUT, INPUT, 3]);
    // [1, 896, 16] box and keypoint regressors, [1, 896, 1] score logits
    const regressors = outs.find((a) => a.length === 16 * anchorCount);
    const logits = outs.find((a) => a.length === anchorCount);
    if (!regressors || !logits) throw new Error('the detector is not BlazeFace short-range');
    const dets = decode(regressors, logits, width, height, { minScore: this.minScore });
    const t1 = performance.now();
    const gray = dets.length ? grayFromPixels(data, width, height, 4) : null;
    const faces = [];
    for (const d of dets) {
      const crop = cut(gray, width, height, cropBox(d.box, this.contract.crop), this.contract.input.size);
      const r = await this.classifyCrop(crop);
      const probabilities = Object.fromEntries(this.contract.labels.map((l, i) => [l, r.probabilities[i]]));
      faces.push({ box: d.box, score: d.score, label: r.label, probabilities, raw: r.raw, keypoints: d.keypoints });
    }
    const t2 = performance.now();
    this.lastTimings = { detect_ms: t1 - t0, classify_ms: t2 - t1, total_ms: t2 - t0 };
    return faces;
  }

}

/**
 * Crop time of a fer-edge model in LiteRT.js (wasm, the module's one thread):
 * {median_ms, mean_ms, runs} over `runs` crops after `warmup`, each run a
 * full classifyCrop (tensor in, invoke, tensor out, dequantize).
 */
export async function timeModel(url, { runs = 300, warmup = 20 } = {}) {
  const bytes = await fetchBytes(url);
  const contract = await readContract(bytes);
  const model = await loadAndCompile(bytes, { accelerator: 'wasm' });
  const rec = new Recognizer(contract, model, null, 0.5);
  const crop = new Uint8Array(contract.input.size ** 2);
  for (let i = 0; i < crop.length; i++) crop[i] = (i * 37) & 255;
  for (let i = 0; i < warmup; i++) await rec.classifyCrop(crop);
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await rec.classifyCrop(crop);
    times.push(performance.now() - t0);
  }
  model.delete();
  times.sort((a, b) => a - b);
  return { median_ms: times[Math.floor(runs / 2)], mean_ms: times.reduce((a, b) => a + b, 0) / runs, runs };
}

/**
 * Raw output tensors of a model (its bytes) for `n` crops packed one after
 * another in `crops` (Uint8Array n*size*size): an Array of n Arrays. What the
 * consistency matrix compares across interpreters (benchmarks/consistency.py).
 */
export async function rawOutputs(bytes, crops, n) {
  const contract = await readContract(bytes);
  const model = await loadAndCompile(bytes, { accelerator: 'wasm' });
  const size = contract.input.size;
  const out = [];
  for (let i = 0; i < n; i++) {
    const crop = crops.subarray(i * size * size, (i + 1) * size * size);
    const [raw] = await run(model, inputData(crop, contract.input), Array.from(contract.input.shape));
    out.push(Array.from(raw));
  }
  model.delete();
  return out;
}
