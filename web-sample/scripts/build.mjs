// Build the static page into dist/: the page and its modules, LiteRT.js
// (from node_modules, single-threaded WebAssembly), the bundled fer-edge int8
// models, BlazeFace (from the cache `fer-infer --fetch-detector` fills; never
// committed) and the sample photo.
//
//   node scripts/build.mjs --detector PATH [--out dist]
//
// Exit codes: 0 built, 2 usage error or a missing input (one line on stderr).
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repo = resolve(here, '..');

let partial = null;     // the half-built folder, removed when the build fails

function fail(msg) {
  if (partial) rmSync(partial, { recursive: true, force: true });
  process.stderr.write(`build: ${msg}\n`);
  process.exit(2);
}

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  if (i + 1 >= args.length) fail(`${name} needs a value`);
  return args[i + 1];
};
for (const a of args) if (a.startsWith('--') && !['--detector', '--out'].includes(a)) fail(`unknown option ${a}`);
const detector = opt('--detector', process.env.FER_DETECTOR);
const out = resolve(opt('--out', join(here, 'dist')));
if (!detector) fail('no BlazeFace model: pass --detector PATH (run `fer-infer --fetch-detector` once to get it)');
if (!existsSync(detector)) fail(`${detector} does not exist: run \`fer-infer --fetch-detector\` once`);

const copy = (src, dst) => {
  if (!existsSync(src)) fail(`${src} is missing${src.includes('node_modules') ? ' (run npm ci in web-sample/)' : ''}`);
  mkdirSync(dirname(dst), { recursive: true });
  copyFileSync(src, dst);
};

// Build into a fresh folder beside the target, then swap it in: never half-written.
const tmp = `${out}.tmp`;
rmSync(tmp, { recursive: true, force: true });
mkdirSync(tmp, { recursive: true });
partial = tmp;
copy(join(here, 'index.html'), join(tmp, 'index.html'));
for (const f of readdirSync(join(here, 'src'))) copy(join(here, 'src', f), join(tmp, 'src', f));
const nm = join(here, 'node_modules', '@litertjs');
copy(join(nm, 'core', 'dist', 'index.js'), join(tmp, 'vendor', 'litertjs-core', 'index.js'));
copy(join(nm, 'wasm-utils', 'dist', 'index.js'), join(tmp, 'vendor', 'litertjs-wasm-utils', 'index.js'));
for (const f of ['litert_wasm_internal.js', 'litert_wasm_internal.wasm']) {
  copy(join(nm, 'core', 'wasm', f), join(tmp, 'vendor', 'litertjs-core', 'wasm', f));
}
const models = { release: 'fer_mobilenetv2_int8.tflite', micro: 'fer_mobilenetv2_micro_int8.tflite' };
for (const [tier, file] of Object.entries(models)) copy(join(repo, 'runtime', 'models', file), join(tmp, 'models', `${tier}.tflite`));
copy(detector, join(tmp, 'models', 'face_detection_short_range.tflite'));
copy(join(repo, 'runtime', 'samples', 'astronaut.png'), join(tmp, 'samples', 'astronaut.png'));
writeFileSync(join(tmp, 'config.json'), `${JSON.stringify({
  wasm: './vendor/litertjs-core/wasm/litert_wasm_internal.js',
  models: Object.fromEntries(Object.keys(models).map((t) => [t, `./models/${t}.tflite`])),
  model: './models/release.tflite',
  detector: './models/face_detection_short_range.tflite',
  sample: './samples/astronaut.png',
}, null, 1)}\n`);
rmSync(out, { recursive: true, force: true });
mkdirSync(dirname(out), { recursive: true });
(await import('node:fs')).renameSync(tmp, out);
process.stdout.write(`built ${out}\n`);
