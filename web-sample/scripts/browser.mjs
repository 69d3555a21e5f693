// Headless Chromium (Debian's package) driven over the DevTools protocol by
// puppeteer-core: open the built page from a local server and read back what
// it found. Shared by the browser test and the benchmark (scripts/bench.mjs).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import puppeteer from 'puppeteer-core';

import { serve } from './serve.mjs';

export const here = resolve(fileURLToPath(import.meta.url), '..', '..');

export function chromiumPath() {
  const candidates = [process.env.CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(Boolean);
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error('Chromium not found: apt-get install chromium (make web-test does), or set CHROMIUM');
  return found;
}

/** {page, url, close()} with the page open at `query` (e.g. '?sample'); `camera`: a .y4m for the fake camera. */
export async function openPage({ query = '', camera = null, root = join(here, 'dist') } = {}) {
  if (!existsSync(join(root, 'config.json'))) throw new Error(`${root} is not built: node scripts/build.mjs --detector PATH`);
  const server = await serve(root, 0);
  const args = ['--no-sandbox', '--disable-gpu', '--mute-audio'];
  if (camera) {
    args.push('--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
              `--use-file-for-fake-video-capture=${camera}`);
  }
  let browser;
  try {
    browser = await puppeteer.launch({ executablePath: chromiumPath(), headless: true, args });
  } catch (e) {
    server.close();
    throw e;
  }
  const page = await browser.newPage();
  await page.setViewport({ width: 900, height: 760 });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const url = `http://127.0.0.1:${server.address().port}/${query}`;
  await page.goto(url);
  const close = async () => {
    await browser.close();
    server.close();
  };
  return { page, url, errors, browser, close };
}
