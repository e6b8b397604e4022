/*
 * The web view's files (the bundle the build writes to dist/web): GET and HEAD only, paths kept
 * inside the directory, a content type by extension. A path without an extension that is not a
 * file is the single-page app's own route: it gets index.html. Without a built web view, `/`
 * says so and where the API is.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type http from 'node:http';
import path from 'node:path';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.txt': 'text/plain; charset=utf-8',
};

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The page `/` answers when dist/web/index.html is not there. */
export function notBuiltPage(dir: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>AirDig</title></head>
<body>
<h1>AirDig</h1>
<p>The web view is not built: there is no <code>${escapeHtml(path.join(dir, 'index.html'))}</code>. Run <code>npm run build</code> to make it.</p>
<p>The GraphQL API is at <a href="/graphql"><code>/graphql</code></a> (POST or GET, GraphQL over HTTP; subscriptions over graphql-ws or SSE on the same path).</p>
</body></html>
`;
}

function send(res: http.ServerResponse, status: number, text: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(text), 'X-Content-Type-Options': 'nosniff' }).end(text);
}

async function fileAt(file: string): Promise<number | undefined> {
  try {
    const s = await stat(file);
    return s.isFile() ? s.size : undefined;
  } catch {
    return undefined;
  }
}

/** Answers a request for a file of dir (an absolute path). */
export async function serveStatic(dir: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    req.resume();
    res.setHeader('Allow', 'GET, HEAD');
    send(res, 405, `${req.method} is not served here: the web view's files take GET and HEAD; the API is POST /graphql\n`);
    return;
  }
  let pathname: string;
  try {
    pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  } catch {
    send(res, 400, 'the path is not valid percent-encoding\n');
    return;
  }
  if (pathname.includes('\0')) {
    send(res, 400, 'the path holds a NUL byte\n');
    return;
  }
  const root = path.resolve(dir);
  const wanted = path.resolve(root, `.${pathname.endsWith('/') ? `${pathname}index.html` : pathname}`);
  // Outside the directory (../, an encoded %2e%2e%2f): not a file of the web view.
  if (wanted !== root && !wanted.startsWith(`${root}${path.sep}`)) {
    send(res, 404, `nothing at ${pathname}\n`);
    return;
  }
  const index = path.join(root, 'index.html');
  let file = wanted;
  let size = await fileAt(file);
  if (size === undefined && path.extname(pathname) === '') {
    file = index;
    size = await fileAt(index);
    if (size === undefined) {
      send(res, 200, notBuiltPage(dir), 'text/html; charset=utf-8');
      return;
    }
  }
  if (size === undefined) {
    send(res, 404, `nothing at ${pathname}\n`);
    return;
  }
  res.writeHead(200, {
    'Content-Type': CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': size,
    'X-Content-Type-Options': 'nosniff',
    // The page is asked for again each time (a rebuilt bundle is seen at once); it is small.
    'Cache-Control': 'no-cache',
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  await new Promise<void>((resolve) => {
    const stream = createReadStream(file);
    stream.once('error', () => {
      res.destroy();
      resolve();
    });
    stream.once('end', resolve);
    stream.pipe(res);
  });
}
