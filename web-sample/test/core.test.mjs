// The web core against the golden vectors the Android core is tested with
// (android-sample/core/goldens.py, made by the Python runtime): the same input
// bytes for the same image and box, the same probabilities and label for the
// same output tensor, the same contract read from the model file, and the same
// scaled image in BlazeFace's input.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import test from 'node:test';

import { letterbox } from '../src/blazeface.js';
import { readContract, tensors } from '../src/modelfile.js';
import { DEFAULT_RULE, Mean, Reader, ruleFrom, Track } from '../src/baseline.js';
import { calibrate, dequantize, label } from '../src/postprocess.js';
import { cropBox, cut, grayFromPixels, inputData } from '../src/preprocess.js';

const repo = new URL('../../', import.meta.url);
const goldens = JSON.parse(readFileSync(new URL('android-sample/core/src/test/resources/goldens.json', repo)));
const model = new Uint8Array(readFileSync(new URL(goldens.model, repo)));
const b64 = (s) => new Uint8Array(Buffer.from(s, 'base64'));

test('contract comes from the model file', async () => {
  const c = await readContract(model);
  assert.deepEqual(c.labels, goldens.labels);
  assert.equal(c.input.size, goldens.input_size);
  assert.deepEqual(Array.from(c.input.shape), [1, goldens.input_size, goldens.input_size, c.input.channels]);
  assert.equal(c.output.scale, goldens.cases[0].output_scale);
  assert.equal(c.output.zeroPoint, goldens.cases[0].output_zero_point);
  assert.ok(c.crop.scale > 1 && c.crop.shiftY < 0);
});

test('crop bytes are identical to the Python runtime', async () => {
  const c = await readContract(model);
  for (const g of goldens.cases) {
    const rgb = b64(g.rgb_b64);
    const gray = grayFromPixels(rgb, g.width, g.height, 3);
    const crop = cut(gray, g.width, g.height, cropBox(g.box, c.crop), c.input.size);
    assert.deepEqual(crop, b64(g.crop_b64), g.name);
    assert.deepEqual(new Uint8Array(inputData(crop, c.input).buffer), b64(g.crop_b64), `${g.name}: uint8 input`);
  }
});

test('RGBA pixels (canvas ImageData) give the same gray bytes as RGB', () => {
  const g = goldens.cases[0];
  const rgb = b64(g.rgb_b64);
  const rgba = new Uint8Array(g.width * g.height * 4);
  for (let i = 0; i < g.width * g.height; i++) rgba.set([rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2], 255], 4 * i);
  assert.deepEqual(grayFromPixels(rgba, g.width, g.height, 4), grayFromPixels(rgb, g.width, g.height, 3));
});

test('temperature scaling as the Python runtime does it', () => {
  const p = Float32Array.from([0.5, 0.25, 0.25, 0, 0, 0, 0]);
  assert.equal(calibrate(p, 1.0), p);
  const q = calibrate(p, 2.0);
  assert.ok(Math.abs(q.reduce((a, b) => a + b, 0) - 1) < 1e-6);
  assert.ok(q[0] < 0.5 && q[0] > q[1] && q[3] > 0);               // softer, same order, zeros floored
  // softmax(log(max(p, 1/512)) / 2): sqrt of the floored values, renormalized
  const r = [0.5, 0.25, 0.25, 1 / 512, 1 / 512, 1 / 512, 1 / 512].map(Math.sqrt);
  const sum = r.reduce((a, b) => a + b, 0);
  r.forEach((v, i) => assert.ok(Math.abs(q[i] - v / sum) < 1e-6));
});

test('probabilities and label from the raw output', async () => {
  const c = await readContract(model);
  for (const g of goldens.cases) {
    assert.equal(c.temperature, goldens.temperature);
    const probs = calibrate(dequantize(Uint8Array.from(g.raw_output), c.output), c.temperature);
    probs.forEach((p, i) => assert.ok(Math.abs(p - g.probabilities[i]) < 1e-6, `${g.name}[${i}]`));
    assert.equal(label(probs, c).label, g.label, g.name);
  }
});

test('BlazeFace input: the same scaled image as Pillow in the Python runtime', () => {
  for (const g of goldens.letterbox) {
    const img = new Uint8Array(g.width * g.height * 4);
    for (let y = 0; y < g.height; y++) {
      for (let x = 0; x < g.width; x++) {
        for (let c = 0; c < 3; c++) {
          img[(y * g.width + x) * 4 + c] = (x * x * 3 + y * 7 + c * 85 + ((x * 13) ^ (y * 29))) & 255;
        }
      }
    }
    const s = letterbox(img, g.width, g.height, 4);
    assert.equal(s.width, g.scaled_width);
    assert.equal(s.height, g.scaled_height);
    const got = new Uint8Array(s.width * s.height * 3);
    for (let i = 0; i < s.width * s.height; i++) for (let c = 0; c < 3; c++) got[3 * i + c] = s.pixels[i * s.stride + c];
    const want = b64(g.scaled_b64);
    let diff = 0;
    for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) diff++;
    assert.equal(diff, 0, `${g.width}x${g.height}: ${diff} of ${want.length} bytes differ`);
  }
});

test('wrong files get one clear error', async () => {
  await assert.rejects(readContract(new Uint8Array(100)), /not a TensorFlow Lite model/);
  const cut_ = model.slice(0, 5000);
  await assert.rejects(readContract(cut_), /out of bounds|no fer_contract|subgraph/);
  assert.throws(() => tensors(new Uint8Array([1, 2, 3])), /not a TensorFlow Lite model/);
});

test('a three-label model (a user\'s own labels) gives its own labels', async () => {
  const g = JSON.parse(readFileSync(new URL('tests/fixtures/three_labels.json', repo)));
  const c = await readContract(new Uint8Array(readFileSync(new URL(g.model, repo))));
  assert.deepEqual(c.labels, g.labels);
  assert.equal(c.labels.length, 3);
  assert.equal(c.output.scale, g.output_scale);
  for (const k of g.cases) {
    const probs = calibrate(dequantize(Uint8Array.from(k.raw_output), c.output), c.temperature);
    assert.equal(probs.length, 3);
    probs.forEach((p, i) => assert.ok(Math.abs(p - k.probabilities[i]) < 1e-6, `${k.name}[${i}]`));
    assert.equal(label(probs, c).label, k.label, k.name);
  }
});

// The baseline rule (runtime/baseline.py) on the goldens' reference, track and sitting cases.
const bl = goldens.baseline;
const sameRise = (want, got, what) => {
  if (want === null) { assert.equal(got, null, `${what}: read plainly`); return; }
  want.forEach((w, i) => assert.ok(Math.abs(got[i] - w) <= 5.01e-4, `${what}: rise ${i} ${got[i]} vs ${w}`)); // Python rounds to 3 decimals
};

test('the baseline rule is the runtime contract\'s', async () => {
  const c = await readContract(model);
  assert.deepEqual({ ...c.baseline }, bl.rule);
  assert.deepEqual({ ...DEFAULT_RULE }, bl.rule);
  assert.equal(ruleFrom({ margin: -1 }), DEFAULT_RULE);
});

test('faces read against a reference as the Python runtime reads them', async () => {
  const c = await readContract(model);
  const base = new Mean();
  bl.reference.references.forEach((p) => base.add(p));
  const reader = new Reader(c.labels, c.baseline);
  bl.reference.faces.forEach((f, k) => {
    const got = reader.against(f.probabilities, base);
    assert.equal(got.label, f.label, `reference face ${k}`);
    sameRise(f.rise, got.rise, `reference face ${k}`);
  });
});

test('a track builds its own baseline as the Python runtime does', async () => {
  const c = await readContract(model);
  for (const t of bl.tracks) {
    const track = new Track(new Reader(c.labels, ruleFrom(t.rule)));
    t.frames.forEach((f, k) => {
      const got = track.read(f.probabilities);
      assert.equal(got.label, f.label, `${t.name} frame ${k}`);
      assert.equal(got.faces, f.faces, `${t.name} frame ${k}: faces`);
      sameRise(f.rise, got.rise, `${t.name} frame ${k}`);
    });
  }
});

test('a sitting of photos is read as the Python runtime reads it', async () => {
  const c = await readContract(model);
  const got = new Reader(c.labels, c.baseline).photos(bl.photos.map((p) => p.probabilities));
  bl.photos.forEach((f, k) => { assert.equal(got[k].label, f.label, `photo ${k}`); sameRise(f.rise, got[k].rise, `photo ${k}`); });
  assert.throws(() => new Reader(['a', 'b', 'c']), /needs a 'neutral' label/);
});
