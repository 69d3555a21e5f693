// Raw output tensors of a model for a batch of crops in LiteRT.js (WebAssembly)
// in headless Chromium: the browser's column of the consistency matrix.
//
//   node scripts/outputs.mjs --model M.tflite --crops crops.u8 --n N --out raw.json
//
// crops.u8: N crops of the model's input size, uint8, one after another.
// Exit codes: 0 written, 1 the page failed, 2 Chromium or the built page missing, or bad flags.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';

import { openPage } from './browser.mjs';

const args = process.argv.slice(2);
const opt = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const [model, crops, n, out] = [opt('--model'), opt('--crops'), Number(opt('--n')), opt('--out')];
if (!model || !crops || !out || !(n > 0)) {
  process.stderr.write('outputs: --model, --crops, --n and --out are needed\n');
  process.exit(2);
}
let p;
try {
  p = await openPage();
  const ok = await p.page.evaluate(() => window.ferEdge.ready);
  if (!ok) throw new Error(await p.page.evaluate(() => window.ferEdge.error));
  const raw = await p.page.evaluate(async (m, c, k) => {
    const bytes = (b64) => Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
    return window.ferEdge.rawOutputs(bytes(m), bytes(c), k);
  }, readFileSync(model).toString('base64'), readFileSync(crops).toString('base64'), n);
  writeFileSync(`${out}.tmp`, JSON.stringify(raw));
  renameSync(`${out}.tmp`, out);
  await p.close();
} catch (e) {
  process.stderr.write(`outputs: ${e.message.split('\n')[0]}\n`);
  if (p) await p.close();
  process.exit(/not found|not built/.test(e.message) ? 2 : 1);
}
