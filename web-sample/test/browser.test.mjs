// The page in headless Chromium against the Python runtime: the sample photo
// gives the faces, labels and probabilities of `fer-infer --json` (same label,
// probabilities within one output quantization step), and a fake camera fed
// a clip of the same photo gets its frames classified. `make web-test` builds
// the page and writes the fer-infer answers to FER_WEB_EXPECTED first.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { here, openPage } from '../scripts/browser.mjs';

const expectedDir = process.env.FER_WEB_EXPECTED;
const artifacts = process.env.FER_WEB_ARTIFACTS || join(here, 'test-artifacts');
mkdirSync(artifacts, { recursive: true });
const open = [];
after(async () => Promise.all(open.map((p) => p.close())));

function expected(name) {
  assert.ok(expectedDir, 'FER_WEB_EXPECTED is not set (run through make web-test)');
  return JSON.parse(readFileSync(join(expectedDir, name), 'utf8'));
}

async function result(p, until) {
  await p.page.waitForFunction(until, { timeout: 120000 });
  return p.page.evaluate(() => ({ last: window.ferEdge.last, error: window.ferEdge.error, frames: window.ferEdge.frames,
                                   scale: window.ferEdge.recognizer?.contract.output.scale }));
}

function sameFaces(got, want, scale) {
  assert.equal(got.faces.length, want.faces.length, 'number of faces');
  for (let i = 0; i < want.faces.length; i++) {
    const g = got.faces[i];
    const w = want.faces[i];
    assert.equal(g.label, w.label, `face ${i}: label`);
    g.box.forEach((v, k) => assert.ok(Math.abs(v - w.box[k]) <= 0.51, `face ${i}: box ${g.box} vs ${w.box}`));
    for (const [name, p] of Object.entries(w.probabilities)) {
      // fer-infer prints 4 decimals; one quantization step of the output is allowed
      assert.ok(Math.abs(g.probabilities[name] - p) <= scale + 1e-4, `face ${i}: ${name} ${g.probabilities[name]} vs ${p}`);
    }
  }
}

test('sample photo: the faces, labels and probabilities of fer-infer', async () => {
  const p = await openPage({ query: '?sample' });
  open.push(p);
  const r = await result(p, () => window.ferEdge && (window.ferEdge.last || window.ferEdge.error));
  assert.equal(r.error, null);
  assert.deepEqual(p.errors, []);
  sameFaces(r.last, expected('sample.json'), r.scale);
  await p.page.screenshot({ path: join(artifacts, 'web-sample.png') });
});

for (const tier of ['micro']) {
  test(`the ${tier} tier (?model=${tier}) answers as fer-infer --model ${tier}`, async () => {
    const p = await openPage({ query: `?model=${tier}&sample` });
    open.push(p);
    const r = await result(p, () => window.ferEdge && (window.ferEdge.last || window.ferEdge.error));
    assert.equal(r.error, null);
    sameFaces(r.last, expected(`sample-${tier}.json`), r.scale);
  });
}

test('fake camera: frames are classified as fer-infer classifies the frame', async () => {
  const p = await openPage({ query: '?camera', camera: join(expectedDir, 'camera.y4m') });
  open.push(p);
  const r = await result(p, () => window.ferEdge && (window.ferEdge.frames >= 5 || window.ferEdge.error));
  assert.equal(r.error, null);
  assert.ok(r.frames >= 5);
  const want = expected('camera.json');
  assert.equal(r.last.width, want.width);
  assert.equal(r.last.faces.length, want.faces.length);
  // The camera path goes through YUV 4:2:0 and back: same label, boxes within a few pixels.
  r.last.faces.forEach((f, i) => {
    assert.equal(f.label, want.faces[i].label);
    f.box.forEach((v, k) => assert.ok(Math.abs(v - want.faces[i].box[k]) <= 4, `box ${f.box} vs ${want.faces[i].box}`));
  });
  assert.ok(r.last.timings.total_ms > 0);
  await p.page.screenshot({ path: join(artifacts, 'web-camera.png') });
});

test('calibrate: the fake camera\'s relaxed frames become the reference, and faces are read against it', async () => {
  const p = await openPage({ query: '?camera&calibrate=1', camera: join(expectedDir, 'camera.y4m') });
  open.push(p);
  await result(p, () => window.ferEdge && (window.ferEdge.frames >= 2 || window.ferEdge.error));
  await p.page.click('#calibrate');
  const r = await result(p, () => window.ferEdge && (window.ferEdge.last?.faces[0]?.baseline?.mode === 'reference'
    || window.ferEdge.error));
  assert.equal(r.error, null);
  const want = expected('camera-neutral.json');       // fer-infer FRAME --neutral FRAME: the same face as its own reference
  assert.equal(r.last.faces.length, want.faces.length);
  r.last.faces.forEach((f, i) => {
    const w = want.faces[i];
    assert.equal(f.label, w.label);
    assert.equal(f.baseline.plain_label, w.baseline.plain_label);
    assert.ok(f.baseline.faces >= 1);
    // the camera's frames differ from the PNG by YUV 4:2:0; the reference is those frames: rises stay far under the margin
    f.baseline.rise.forEach((v) => assert.ok(Math.abs(v) < 0.5, `rise ${f.baseline.rise}`));
  });
  const text = await p.page.$eval('#faces', (el) => el.textContent);
  assert.match(text, /against your relaxed face/);
  await p.page.screenshot({ path: join(artifacts, 'web-calibrated.png') });
});
