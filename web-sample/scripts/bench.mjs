// Crop time of every bundled tier in LiteRT.js (WebAssembly, one thread) in
// headless Chromium, as one JSON object on stdout; what `python -m benchmarks`
// reports beside the Python runtime.
//
//   node scripts/bench.mjs [--runs 300]
//
// Exit codes: 0 measured, 1 the page failed, 2 Chromium or the built page missing.
import { execFileSync } from 'node:child_process';

import { chromiumPath, openPage } from './browser.mjs';

const args = process.argv.slice(2);
const runs = args.includes('--runs') ? Number(args[args.indexOf('--runs') + 1]) : 300;
let p;
try {
  const chromium = chromiumPath();
  p = await openPage();
  const ok = await p.page.evaluate(() => window.ferEdge.ready);
  if (!ok) throw new Error(await p.page.evaluate(() => window.ferEdge.error));
  const tiers = await p.page.evaluate(async (n) => {
    const out = {};
    for (const [tier, url] of Object.entries(window.ferEdge.config.models)) out[tier] = await window.ferEdge.timeModel(url, { runs: n });
    return out;
  }, runs);
  const version = execFileSync(chromium, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  process.stdout.write(`${JSON.stringify({ browser: version, runtime: 'LiteRT.js @litertjs/core wasm, 1 thread', tiers })}\n`);
  await p.close();
} catch (e) {
  process.stderr.write(`bench: ${e.message.split('\n')[0]}\n`);
  if (p) await p.close();
  process.exit(/not found|not built/.test(e.message) ? 2 : 1);
}
