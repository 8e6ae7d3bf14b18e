// A tiny static file server for ui/ (node's http module), on a free port, sending the strict
// Content-Security-Policy the app must live with inside Tauri (no inline script or style).

import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};

export const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'none'; " +
  "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * Serves `root`; resolves to `{ url, close, requests }` (requests: every path asked for).
 * With `mockScript(name)`, `index.html?mock=<name>` gets a classic script
 * `/__test__/mock.js?name=<name>` (whose body is `mockScript(name)`) ahead of the app's module:
 * the way to put a fake backend into a browser that has no init-script hook (WebKitGTK).
 */
export async function startServer(root, { mockScript } = {}) {
  const base = resolve(root);
  const requests = [];
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    const path = decodeURIComponent(url.pathname);
    requests.push(path);
    if (path === '/__test__/blank.html') {
      // A page of the origin that asks for nothing else: opening favicon.svg itself made
      // Chromium fetch /favicon.ico, whose 404 could land after a test had started listening.
      res.writeHead(200, { 'Content-Type': TYPES['.html'], 'Content-Security-Policy': CSP });
      res.end('<!doctype html><html lang="en"><title>blank</title><link rel="icon" href="data:,"></html>');
      return;
    }
    if (mockScript && path === '/__test__/mock.js') {
      const body = mockScript(url.searchParams.get('name'));
      res.writeHead(body ? 200 : 404, { 'Content-Type': TYPES['.js'], 'Content-Security-Policy': CSP });
      res.end(body || '');
      return;
    }
    const file = normalize(join(base, path === '/' ? 'index.html' : path));
    if (file !== base && !file.startsWith(base + sep)) {
      res.writeHead(403).end();
      return;
    }
    try {
      const info = await stat(file);
      if (!info.isFile()) throw new Error('not a file');
      let body = await readFile(file);
      const mock = url.searchParams.get('mock');
      if (mockScript && mock && file.endsWith('index.html')) {
        const tag = `<script src="/__test__/mock.js?name=${encodeURIComponent(mock)}"></script>\n    `;
        body = Buffer.from(body.toString('utf8').replace('<script type="module"', `${tag}<script type="module"`));
      }
      res.writeHead(200, {
        'Content-Type': TYPES[extname(file)] || 'application/octet-stream',
        'Content-Security-Policy': CSP,
        // A run never edits ui/, and each browser context starts with an empty cache.
        'Cache-Control': 'max-age=600',
      });
      res.end(body);
    } catch {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
    }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    close: () => new Promise((ok) => server.close(ok)),
  };
}
