// BlazeFace short-range: the letterboxed input and the decoding of its two
// outputs (SSD anchors, sigmoid scores, MediaPipe's blending NMS), as
// runtime/detect.py does them. Plain ES module; the model itself is run by
// whatever interpreter the caller has (LiteRT.js in the page).
import { scaleBox } from './resize.js';

export const INPUT = 128;
const LAYERS = [[16, 2], [8, 6]];      // (feature-map side, anchors per cell)

/** 896 anchor centres [x, y] in 0..1, as float32. */
export function anchors() {
  const out = [];
  for (const [side, perCell] of LAYERS) {
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        for (let k = 0; k < perCell; k++) out.push([Math.fround((x + 0.5) / side), Math.fround((y + 0.5) / side)]);
      }
    }
  }
  return out;
}

/**
 * The image scaled by 128 / max(width, height), whole pixels only, each
 * covering side/128 source pixels: {pixels, width, height, stride}.
 * `pixels`: interleaved RGB(A) bytes with `stride` bytes per pixel.
 */
export function letterbox(pixels, width, height, stride = 4) {
  const side = Math.max(width, height);
  const tw = Math.max(1, Math.floor((width * INPUT) / side));
  const th = Math.max(1, Math.floor((height * INPUT) / side));
  if (tw === width && th === height) return { pixels, width, height, stride };
  const bx = Math.min(width, (tw * side) / INPUT);
  const by = Math.min(height, (th * side) / INPUT);
  return { pixels: scaleBox(pixels, width, height, stride, tw, th, bx, by), width: tw, height: th, stride: 3 };
}

/**
 * The model input (Float32Array 128*128*3, in [-1, 1]): the letterboxed
 * image in the top-left corner, black (-1) right of and below it.
 */
export function inputTensor(pixels, width, height, stride = 4) {
  const small = letterbox(pixels, width, height, stride);
  const x = new Float32Array(INPUT * INPUT * 3).fill(-1.0);
  for (let y = 0; y < small.height; y++) {
    for (let i = 0; i < small.width; i++) {
      for (let c = 0; c < 3; c++) {
        const v = small.pixels[(y * small.width + i) * small.stride + c];
        x[(y * INPUT + i) * 3 + c] = Math.fround(Math.fround(v / 127.5) - 1.0);
      }
    }
  }
  return x;
}

function iou(a, b) {
  const x0 = Math.max(a[0], b[0]);
  const y0 = Math.max(a[1], b[1]);
  const x1 = Math.min(a[2], b[2]);
  const y1 = Math.min(a[3], b[3]);
  const inter = Math.max(x1 - x0, 0) * Math.max(y1 - y0, 0);
  const area = (z) => (z[2] - z[0]) * (z[3] - z[1]);
  return inter / Math.max(area(a) + area(b) - inter, 1e-9);
}

/**
 * Faces from the raw outputs: `regressors` (896*16 floats), `scores` (896
 * logits), for an image of width x height. Returns [{box: [x, y, w, h],
 * score, keypoints: [[x, y] x 6]}] in image pixels, best first.
 */
export function decode(regressors, logits, width, height, { minScore = 0.5, iouThreshold = 0.3 } = {}) {
  const side = Math.max(width, height);
  const anc = anchors();
  const cand = [];
  for (let i = 0; i < anc.length; i++) {
    const raw = Math.min(Math.max(logits[i], -80), 80);
    const score = 1.0 / (1.0 + Math.exp(-raw));
    if (score < minScore) continue;
    const r = Array.from(regressors.subarray(i * 16, i * 16 + 16), (v) => Math.fround(v / INPUT));
    const cx = Math.fround(r[0] + anc[i][0]);
    const cy = Math.fround(r[1] + anc[i][1]);
    const box = [Math.fround(cx - Math.fround(r[2] / 2)), Math.fround(cy - Math.fround(r[3] / 2)),
                 Math.fround(cx + Math.fround(r[2] / 2)), Math.fround(cy + Math.fround(r[3] / 2))];
    const kps = [];
    for (let k = 0; k < 6; k++) kps.push(Math.fround(r[4 + 2 * k] + anc[i][0]), Math.fround(r[5 + 2 * k] + anc[i][1]));
    cand.push({ box, score, kps });
  }
  // stable sort by descending score, as numpy's argsort(-scores)
  cand.sort((a, b) => b.score - a.score);
  const alive = cand.map(() => true);
  const faces = [];
  for (let i = 0; i < cand.length; i++) {
    if (!alive[i]) continue;
    let wsum = 0;
    const box = [0, 0, 0, 0];
    const kps = new Array(12).fill(0);
    for (let j = 0; j < cand.length; j++) {
      if (!alive[j] || (j !== i && !(iou(cand[i].box, cand[j].box) > iouThreshold))) continue;
      const w = cand[j].score;
      wsum += w;
      for (let k = 0; k < 4; k++) box[k] += cand[j].box[k] * w;
      for (let k = 0; k < 12; k++) kps[k] += cand[j].kps[k] * w;
      alive[j] = false;
    }
    const b = box.map((v) => (v / wsum) * side);
    const x0 = Math.max(0.0, b[0]);
    const y0 = Math.max(0.0, b[1]);
    const x1 = Math.min(width, b[2]);
    const y1 = Math.min(height, b[3]);
    if (x1 - x0 < 2 || y1 - y0 < 2) continue;
    const keypoints = [];
    for (let k = 0; k < 6; k++) keypoints.push([(kps[2 * k] / wsum) * side, (kps[2 * k + 1] / wsum) * side]);
    faces.push({ box: [x0, y0, x1 - x0, y1 - y0], score: cand[i].score, keypoints });
  }
  return faces;
}
