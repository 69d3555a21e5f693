// The page: a picked photo, the sample photo or the webcam through the
// Recognizer, boxes and labels drawn over the image. window.ferEdge is what
// the headless tests read (web-sample/test/browser.test.mjs).
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
    const text = `${f.label} ${f.probabilities[f.label].toFixed(2)}`;
    const tw = ctx.measureText(text).width + 8;
    const th = parseInt(ctx.font, 10) + 6;
    const ty = y > th ? y - th : y + h;
    ctx.fillStyle = 'rgba(0, 0, 0, 0.7)';
    ctx.fillRect(x - lw / 2, ty, tw, th);
    ctx.fillStyle = '#fff';
    ctx.fillText(text, x + 4, ty + th - 6);
  }
  const rows = faces.map((f, i) => `<tr><td>face ${i + 1}: <b>${f.label}</b></td>${
    Object.entries(f.probabilities).map(([l, p]) => `<td title="${l}">${l} ${p.toFixed(3)}</td>`).join('')}</tr>`);
  $('faces').innerHTML = rows.join('') || '<tr><td>no face found</td></tr>';
}

async function analyse(source, width, height) {
  view.width = width;
  view.height = height;
  ctx.drawImage(source, 0, 0, width, height);
  const pixels = ctx.getImageData(0, 0, width, height);
  const faces = await state.recognizer.predict(pixels);
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
  $('stop').disabled = true;
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
  if (params.has('sample')) await state.analyseUrl(config.sample);
  if (params.has('camera')) await startCamera();
}

function fail(e) {
  state.error = String(e && e.message ? e.message : e);
  setStatus(state.error, true);
}

state.ready = main().then(() => true, (e) => { fail(e); return false; });
