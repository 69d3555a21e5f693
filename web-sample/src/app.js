// The page: a picked photo, the sample photo or the webcam through the
// Recognizer, boxes and labels drawn over the image. window.ferEdge is what
// the headless tests read (web-sample/test/browser.test.mjs).
import { Mean, Reader } from './baseline.js';
import { rawOutputs, Recognizer, timeModel } from './recognizer.js';

const $ = (id) => document.getElementById(id);
const view = $('view');
const ctx = view.getContext('2d', { willReadFrequently: true });
const state = { frames: 0, last: null, error: null, stream: null };
window.ferEdge = state;

function setStatus(text, error = false) {
  $('status').textContent = text;
  $('status').className = error ? 'error' : '';
}

function draw(faces) {
  const lw = Math.max(2, Math.round(view.width / 320));
  ctx.lineWidth = lw;
  ctx.font = `${Math.max(14, Math.round(view.width / 40))}px system-ui, sans-serif`;
  for (const f of faces) {
    const [x, y, w, h] = f.box;
    ctx.strokeStyle = '#ffd400';
    ctx.strokeRect(x, y, w, h);
    const text = f.baseline?.rise ? `${f.label} (vs your relaxed face)` : `${f.label} ${f.probabilities[f.label].toFixed(2)}`;
    const tw = ctx.measureText(text).width + 8;
    const th = parseInt(ctx.font, 10) + 6;
    const ty = y > th ? y - th : y + h;
    ctx.fillStyle = 'rgba(0, 0, 0, 0.7)';
    ctx.fillRect(x - lw / 2, ty, tw, th);
    ctx.fillStyle = '#fff';
    ctx.fillText(text, x + 4, ty + th - 6);
  }
  const how = (f) => (f.baseline?.rise ? ` (against your relaxed face; plainly ${f.baseline.plain_label})` : '');
  const rows = faces.map((f, i) => `<tr><td>face ${i + 1}: <b>${f.label}</b>${how(f)}</td>${
    Object.entries(f.probabilities).map(([l, p]) => `<td title="${l}">${l} ${p.toFixed(3)}</td>`).join('')}</tr>`);
  $('faces').innerHTML = rows.join('') || '<tr><td>no face found</td></tr>';
}

async function analyse(source, width, height) {
  view.width = width;
  view.height = height;
  ctx.drawImage(source, 0, 0, width, height);
  const pixels = ctx.getImageData(0, 0, width, height);
  const faces = await state.recognizer.predict(pixels);
  readAgainstBaseline(faces);
  draw(faces);
  const t = state.recognizer.lastTimings;
  $('timing').textContent = `${faces.length} face(s); detect ${t.detect_ms.toFixed(1)} ms, classify ${
    t.classify_ms.toFixed(1)} ms, frame ${t.total_ms.toFixed(1)} ms`;
  state.last = { width, height, faces, timings: t };
  state.frames += 1;
  return state.last;
}

/** Decode a photo with its bytes as stored (no colour management), as the Python runtime reads it. */
async function analyseBlob(blob) {
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  try {
    return await analyse(bitmap, bitmap.width, bitmap.height);
  } finally {
    bitmap.close();
  }
}

/** A reference photo or frame holds one person clearly when its second largest face is under this share of the largest's area. */
const EQUAL_FACES = 0.8;

/** The largest face, or null when there is none or two about as large (as runtime/photos.py's largest_face). */
function largestFace(faces) {
  const area = (f) => f.box[2] * f.box[3];
  const sorted = [...faces].sort((a, b) => area(b) - area(a));
  if (!sorted.length || (sorted.length > 1 && area(sorted[1]) >= EQUAL_FACES * area(sorted[0]))) return null;
  return sorted[0];
}

/** Calibrate: the next `seconds` of the camera are the person's relaxed face; later faces are read against it. */
function calibrate(seconds) {
  const c = state.recognizer.contract;
  state.calibration = { reader: new Reader(c.labels, c.baseline), base: new Mean(), until: performance.now() + seconds * 1000,
    frames: 0 };
  state.baseline = null;
  setStatus(`Relax your face and look at the camera for ${seconds} s: calibrating…`);
}

/** While calibrating, the largest face joins the reference; after, every face is read against it (baseline.js). */
function readAgainstBaseline(faces) {
  const labels = state.recognizer.contract.labels;
  const cal = state.calibration;
  if (cal) {
    if (performance.now() < cal.until) {
      cal.frames += 1;
      const f = largestFace(faces);
      if (f) cal.base.add(labels.map((l) => f.probabilities[l]));
      faces.forEach((g) => { g.baseline = { mode: 'plain', reason: 'calibrating' }; });
      return;
    }
    state.calibration = null;
    if (!cal.base.size) {
      fail(`no face seen while calibrating (${cal.frames} frames): face the camera alone and try again`);
      return;
    }
    state.baseline = { reader: cal.reader, base: cal.base };
    setStatus(`calibrated on ${cal.base.size} frames: faces are now read against your relaxed face`);
  }
  if (!state.baseline) return;
  for (const f of faces) {
    const r = state.baseline.reader.against(labels.map((l) => f.probabilities[l]), state.baseline.base);
    f.label = r.label;
    f.baseline = { mode: r.mode, faces: r.faces, plain_label: r.plain_label, rise: r.rise };
  }
}

state.calibrate = calibrate;
state.timeModel = timeModel;
state.rawOutputs = rawOutputs;
state.analyseUrl = async (url) => analyseBlob(await (await fetch(url)).blob());

async function startCamera() {
  state.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  const video = document.createElement('video');
  video.muted = true;
  video.playsInline = true;
  video.srcObject = state.stream;
  await video.play();
  $('stop').disabled = false;
  $('calibrate').disabled = false;
  const loop = async () => {
    if (!state.stream) return;
    if (video.videoWidth) await analyse(video, video.videoWidth, video.videoHeight);
    requestAnimationFrame(loop);
  };
  loop();
}

function stopCamera() {
  state.stream?.getTracks().forEach((t) => t.stop());
  state.stream = null;
  state.calibration = null;
  state.baseline = null;                 // a baseline belongs to one sitting
  $('stop').disabled = true;
  $('calibrate').disabled = true;
}

async function main() {
  const config = await (await fetch('./config.json')).json();
  state.config = config;
  const params = new URLSearchParams(location.search);
  const tier = params.get('model');           // ?model=release|micro
  if (tier && !config.models[tier]) throw new Error(`no model tier ${tier} (${Object.keys(config.models).join(', ')})`);
  state.recognizer = await Recognizer.create({ ...config, model: tier ? config.models[tier] : config.model });
  const c = state.recognizer.contract;
  setStatus(`${c.name} ${c.version}: ${c.labels.length} expressions, ${c.input.size}x${c.input.size} ${c.input.dtype} input`);
  $('file').addEventListener('change', (e) => e.target.files[0] && analyseBlob(e.target.files[0]).catch(fail));
  $('sample').addEventListener('click', () => state.analyseUrl(config.sample).catch(fail));
  $('camera').addEventListener('click', () => startCamera().catch(fail));
  $('stop').addEventListener('click', stopCamera);
  const seconds = Number(params.get('calibrate')) > 0 ? Number(params.get('calibrate')) : 3;
  $('calibrate').textContent = `Calibrate (relax for ${seconds} s)`;
  $('calibrate').addEventListener('click', () => calibrate(seconds));
  if (params.has('sample')) await state.analyseUrl(config.sample);
  if (params.has('camera')) await startCamera();
}

function fail(e) {
  state.error = String(e && e.message ? e.message : e);
  setStatus(state.error, true);
}

state.ready = main().then(() => true, (e) => { fail(e); return false; });
