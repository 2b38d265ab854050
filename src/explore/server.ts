// The explorer's HTTP server (Node's own http: a dozen routes need no framework). JSON in and
// out; an HttpError becomes its status with {error}, anything else a 500 with its message.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createReadStream } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { Explorer, type ExplorerOptions } from './explorer.js';
import { contentType, fileInside, UI_DIR, VENDOR } from './files.js';
import { HttpError, badRequest, notFound } from './validate.js';

/** Options of {@link startExplorer}: the folders, and where to listen. */
export interface StartOptions extends ExplorerOptions {
  /** 0 picks a free port. Default 8080. */
  port?: number;
  /** Default 127.0.0.1: the explorer runs models and reads folders for whoever connects. */
  host?: string;
}

/** A started explorer: where it listens, and how to stop it. */
export interface RunningExplorer {
  /** The address it serves, e.g. http://127.0.0.1:8080/. */
  url: string;
  /** The typed operations behind the routes (tests read them; not a stable API). @internal */
  explorer: Explorer;
  /** Node's HTTP server. */
  server: Server;
  /** Cancels running attacks, frees the loaded models and closes the server. */
  close(): Promise<void>;
}

const MAX_BODY = 16 * 1024;

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

function sendPng(res: ServerResponse, png: Buffer): void {
  res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'no-store' });
  res.end(png);
}

function sendFile(res: ServerResponse, path: string | null): void {
  if (!path) throw notFound('no such file');
  res.writeHead(200, { 'content-type': contentType(path) });
  createReadStream(path).pipe(res);
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, `the body is larger than ${MAX_BODY} bytes`);
    chunks.push(c as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw badRequest('the body is not valid JSON');
  }
}

async function route(ex: Explorer, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  // segments are decoded one by one, so an encoded '/' cannot add a level
  const raw = url.pathname.split('/').filter(Boolean);
  let parts: string[];
  try {
    parts = raw.map(decodeURIComponent);
  } catch {
    throw badRequest('the path is not valid percent-encoding');
  }
  const method = req.method ?? 'GET';
  const [a, b, c, d, e] = parts;
  if (method === 'GET' && parts.length === 0) return sendFile(res, fileInside(UI_DIR, 'index.html'));
  if (method === 'GET' && a === 'ui' && parts.length >= 2) return sendFile(res, fileInside(UI_DIR, parts.slice(1).join('/')));
  if (method === 'GET' && a === 'vendor' && b && parts.length === 2 && Object.hasOwn(VENDOR, b)) return sendFile(res, VENDOR[b]!());
  if (method === 'GET' && a === 'files' && b !== undefined) {
    const root = ex.sources.roots[/^\d+$/.test(b) ? Number(b) : -1];
    if (!root) throw notFound(`no folder ${b}`);
    return sendFile(res, fileInside(root, parts.slice(2).join('/')));
  }
  if (a !== 'api') throw notFound(`no page ${url.pathname}`);
  if (method === 'GET' && b === 'catalog' && parts.length === 2) return send(res, 200, ex.catalog());
  if (b === 'models' && c !== undefined && method === 'GET') {
    if (d === 'inputs' && parts.length === 4) return send(res, 200, await ex.inputs(c, url.searchParams));
    if (d === 'inputs' && e !== undefined && parts.length === 5) return send(res, 200, await ex.input(c, e));
    if (d === 'inputs' && e !== undefined && parts.length === 6 && parts[5] === 'image.png') return sendPng(res, await ex.inputImage(c, e));
    if (d === 'neurons' && e !== undefined && parts.length === 5) return send(res, 200, await ex.neuron(c, e));
    if (d === 'distribution' && parts.length === 4) return send(res, 200, await ex.distribution(c));
  }
  if (b === 'attacks') {
    if (method === 'POST' && parts.length === 2) return send(res, 202, await ex.submitAttack(await readBody(req)));
    if (c !== undefined && parts.length === 3 && method === 'GET') return send(res, 200, ex.job(c));
    if (c !== undefined && parts.length === 3 && method === 'DELETE') return send(res, 200, ex.cancel(c));
    if (c !== undefined && parts.length === 4 && method === 'GET' && d?.endsWith('.png'))
      return sendPng(res, await ex.jobImage(c, d.slice(0, -4)));
  }
  throw notFound(`no route ${method} ${url.pathname}`);
}

/**
 * Starts the explorer over the given folders; resolves once it listens.
 *
 * @example
 * ```ts
 * const ex = await startExplorer({ folders: ['runs'], port: 0 }); // 0: any free port
 * console.log(`open ${ex.url}`);
 * await ex.close();
 * ```
 */
export async function startExplorer(o: StartOptions): Promise<RunningExplorer> {
  const explorer = new Explorer(o);
  const server = createServer((req, res) => {
    route(explorer, req, res).catch((err: Error) => {
      if (res.headersSent) return void res.destroy(err);
      if (err instanceof HttpError) send(res, err.status, { error: err.message });
      // library errors on a validated request (a missing data set, a damaged file) are the folder's fault, not the request's
      else send(res, 500, { error: err.message });
    });
  });
  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 8080, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/`,
    explorer,
    server,
    close: async () => {
      await explorer.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
