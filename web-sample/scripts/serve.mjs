// A static file server for dist/ on 127.0.0.1 (the page needs http, not
// file://, for its module imports and WebAssembly).
//
//   node scripts/serve.mjs [--port 8000] [--root dist]
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.json': 'application/json', '.wasm': 'application/wasm', '.png': 'image/png', '.jpg': 'image/jpeg',
  '.tflite': 'application/octet-stream', '.y4m': 'video/x-raw',
};

/** Serve `root` on 127.0.0.1:`port` (0 = a free port); resolves to the server (server.address().port). */
export function serve(root, port = 0) {
  const base = resolve(root);
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const file = normalize(join(base, path.endsWith('/') ? `${path}index.html` : path));
    let size = -1;
    try {
      if (file === base || file.startsWith(base + sep)) size = statSync(file).isFile() ? statSync(file).size : -1;
    } catch { /* not found */ }
    if (size < 0) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': size,
                         'cache-control': 'no-store' });
    createReadStream(file).pipe(res);
  });
  return new Promise((ok, err) => {
    server.once('error', err);
    server.listen(port, '127.0.0.1', () => ok(server));
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (n, d) => (args.includes(n) ? args[args.indexOf(n) + 1] : d);
  const here = resolve(fileURLToPath(import.meta.url), '..', '..');
  const server = await serve(opt('--root', join(here, 'dist')), Number(opt('--port', 8000)));
  process.stdout.write(`serving on http://127.0.0.1:${server.address().port}/\n`);
}
