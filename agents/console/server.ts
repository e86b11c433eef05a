/**
 * The HTTP server every Parley console runs on (the arbiter's in agent-home/, the merchant's
 * in store/): a page shell, the browser modules of agents/console/web/ and uPlot from
 * node_modules, a JSON API the role supplies, and Server-Sent Events fed by the role's watch.
 *
 * Security (docs/consoles.md): it binds 127.0.0.1 unless told otherwise; every request needs
 * the console token (`?token=` once, which sets an HttpOnly SameSite=Strict cookie and
 * redirects to the same URL without it, then the cookie, or `Authorization: Bearer`); a
 * request whose Host is not the address the console listens on, or whose Origin is another
 * site, is refused before the token is even looked at (DNS rebinding, cross-site reads); every
 * answer carries a strict Content-Security-Policy (scripts and styles from this server only, no
 * inline script, nothing framed, no form posts). The API is read-only: GET only.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve, type ServerType } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { parleyError } from '../../protocol/errors.js';

/** A change a page may want to show: which record moved (the page fetches what it shows). */
export interface ConsoleChange {
  topic: string;
  key: string;
}

export interface ConsoleRole {
  /** shown in the title bar */
  title: string;
  /** the page's module in agents/console/web/ (e.g. `arbiter.js`) */
  page: string;
  /** GET /api/<name>?…: the data, or undefined for 404 */
  api: Record<string, (q: URLSearchParams) => Promise<unknown>>;
  /** starts watching the role's records; `send` once per change; returns a stopper */
  watch?: (send: (c: ConsoleChange) => void) => Promise<() => void | Promise<void>>;
}

export interface ConsoleOptions {
  /** default 127.0.0.1 */
  host?: string;
  /** default 0: a free port */
  port?: number;
  /** default: 32 random bytes */
  token?: string;
}

export interface RunningConsole {
  /** the URL to open, token included: print it to the user only */
  url: string;
  /** the same without the token */
  origin: string;
  port: number;
  close(): Promise<void>;
}

export const COOKIE = 'parley_console';

export const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), ...(import.meta.url.includes('/dist/') ? ['..', '..', '..'] : ['..', '..']));
/** the browser side, served as is (plain ES modules, no build step) */
export const WEB_DIR = join(ROOT, 'agents', 'console', 'web');
const require = createRequire(import.meta.url);

const TYPES: Record<string, string> = { js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };

/** Every static file, read once: names are fixed at start-up, so no path from a request reaches the file system. */
function staticFiles(): Map<string, { body: string; type: string }> {
  const files = new Map<string, { body: string; type: string }>();
  for (const name of readdirSync(WEB_DIR)) {
    const ext = name.split('.').pop() ?? '';
    if (TYPES[ext]) files.set(name, { body: readFileSync(join(WEB_DIR, name), 'utf8'), type: TYPES[ext]! });
  }
  const uplotDir = dirname(require.resolve('uplot'));
  files.set('uplot.js', { body: readFileSync(join(uplotDir, 'uPlot.esm.js'), 'utf8'), type: TYPES.js! });
  files.set('uplot.css', { body: readFileSync(join(uplotDir, 'uPlot.min.css'), 'utf8'), type: TYPES.css! });
  return files;
}

/** Text for an HTML attribute or element: the shell holds only the role's fixed title. */
function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function shell(role: ConsoleRole): string {
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(role.title)}</title>`,
    '<link rel="stylesheet" href="/static/uplot.css">',
    '<link rel="stylesheet" href="/static/console.css">',
    `<script type="module" src="/static/${escapeHtml(role.page)}"></script>`,
    '</head><body>',
    `<header><h1>${escapeHtml(role.title)}</h1><nav id="nav"></nav><span id="live" class="live">connecting…</span></header>`,
    '<main id="main"></main>',
    '</body></html>',
  ].join('\n');
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

function cookieToken(header: string | undefined): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === COOKIE) return part.slice(i + 1).trim();
  }
  return undefined;
}

function refuse(c: Context, status: 401 | 403 | 404 | 405, code: string, message: string): Response {
  return c.json({ error: { code, message } }, status);
}

/** The Hono app (exported for tests of the security rules without a socket). */
export function consoleApp(role: ConsoleRole, token: string, allowedHosts: () => readonly string[], subscribe: (fn: (c: ConsoleChange) => void) => () => void): Hono {
  const files = staticFiles();
  const wanted = digest(token);
  const page = shell(role);
  const app = new Hono();

  app.use('*', async (c, next) => {
    await next();
    c.header('Content-Security-Policy', CSP);
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'no-referrer');
    c.header('X-Frame-Options', 'DENY');
    c.header('Cross-Origin-Resource-Policy', 'same-origin');
    if (!c.res.headers.get('Cache-Control')) c.header('Cache-Control', 'no-store');
  });

  app.use('*', async (c, next) => {
    const host = c.req.header('host') ?? '';
    if (!allowedHosts().includes(host.toLowerCase())) return refuse(c, 403, 'ERR_CONSOLE_HOST', 'this console answers only on the address it listens on');
    const origin = c.req.header('origin');
    if (origin !== undefined && origin !== `http://${host}`) return refuse(c, 403, 'ERR_CONSOLE_ORIGIN', 'requests from another site are refused');
    if (c.req.header('sec-fetch-site') === 'cross-site') return refuse(c, 403, 'ERR_CONSOLE_ORIGIN', 'requests from another site are refused');
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') return refuse(c, 405, 'ERR_CONSOLE_READ_ONLY', 'the console is read-only');
    const url = new URL(c.req.url);
    const given = url.searchParams.get('token');
    if (given !== null) {
      if (!timingSafeEqual(digest(given), wanted)) return refuse(c, 401, 'ERR_CONSOLE_TOKEN', 'wrong console token');
      url.searchParams.delete('token');
      // the token leaves the address bar (and history) at once; the cookie carries it from now on
      c.header('Set-Cookie', `${COOKIE}=${given}; HttpOnly; SameSite=Strict; Path=/`);
      return c.redirect(`${url.pathname}${url.search}${url.hash}`, 303);
    }
    const auth = c.req.header('authorization');
    const bearer = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
    const presented = bearer ?? cookieToken(c.req.header('cookie'));
    if (presented === undefined) return refuse(c, 401, 'ERR_CONSOLE_TOKEN', 'console token required: open the URL the console printed');
    if (!timingSafeEqual(digest(presented), wanted)) return refuse(c, 401, 'ERR_CONSOLE_TOKEN', 'wrong console token');
    await next();
  });

  app.get('/static/:name', (c) => {
    const f = files.get(c.req.param('name'));
    if (!f) return refuse(c, 404, 'ERR_CONSOLE_NOT_FOUND', 'no such file');
    return c.body(f.body, 200, { 'Content-Type': f.type });
  });

  app.get('/api/events', (c) => {
    let stop = () => {};
    const enc = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      start(ctl) {
        const send = (text: string) => {
          try {
            ctl.enqueue(enc.encode(text));
          } catch {
            stop();
          }
        };
        send('retry: 2000\n: connected\n\n');
        const unsubscribe = subscribe((ch) => send(`event: change\ndata: ${JSON.stringify(ch)}\n\n`));
        const ping = setInterval(() => send(': ping\n\n'), 15_000);
        stop = () => {
          clearInterval(ping);
          unsubscribe();
        };
      },
      cancel() {
        stop();
      },
    });
    return new Response(body, { headers: { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive' } });
  });

  app.get('/api/:name', async (c) => {
    const handler = Object.hasOwn(role.api, c.req.param('name')) ? role.api[c.req.param('name')] : undefined;
    if (!handler) return refuse(c, 404, 'ERR_CONSOLE_NOT_FOUND', 'no such view');
    const data = await handler(new URL(c.req.url).searchParams);
    if (data === undefined) return refuse(c, 404, 'ERR_CONSOLE_NOT_FOUND', 'no such record');
    return c.json(data);
  });

  app.get('*', (c) => c.html(page));
  app.onError((e, c) => c.json({ error: { code: 'ERR_INTERNAL', message: e instanceof Error ? e.message : 'internal error' } }, 500));
  return app;
}

/** Names a browser uses in the Host header for this address (the port is added). */
function hostNames(host: string): string[] {
  if (host === '127.0.0.1' || host === 'localhost') return ['127.0.0.1', 'localhost'];
  if (host === '::1') return ['[::1]', 'localhost'];
  return [host.includes(':') ? `[${host}]` : host];
}

/** Starts a console; resolves once it listens. */
export async function startConsole(role: ConsoleRole, opts: ConsoleOptions = {}): Promise<RunningConsole> {
  const host = opts.host ?? '127.0.0.1';
  const token = opts.token ?? randomBytes(32).toString('base64url');
  if (token.length < 16 || !/^[A-Za-z0-9_-]+$/.test(token)) throw parleyError('ERR_CONFIG', 'a console token must be at least 16 base64url characters');
  const listeners = new Set<(c: ConsoleChange) => void>();
  const subscribe = (fn: (c: ConsoleChange) => void) => {
    listeners.add(fn);
    return () => listeners.delete(fn);
  };
  // one watch for the whole console, fanned out to every open page
  const stopWatch = role.watch ? await role.watch((c) => listeners.forEach((fn) => fn(c))) : undefined;
  let allowed: string[] = [];
  const app = consoleApp(role, token, () => allowed, subscribe);
  let server!: ServerType;
  const port = await new Promise<number>((res, rej) => {
    server = serve({ fetch: app.fetch, hostname: host, port: opts.port ?? 0 }, (info: AddressInfo) => res(info.port));
    server.once('error', rej);
  }).catch(async (e: unknown) => {
    await stopWatch?.();
    throw parleyError('ERR_CONFIG', `console cannot listen on ${host}:${opts.port ?? 0}: ${(e as Error).message}`);
  });
  allowed = hostNames(host).map((h) => `${h}:${port}`);
  const origin = `http://${allowed[0]}`;
  return {
    origin,
    url: `${origin}/?token=${token}`,
    port,
    async close() {
      listeners.clear();
      await stopWatch?.();
      await new Promise<void>((r) => {
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close(() => r());
      });
    },
  };
}

/** A browser file of agents/console/web/, as text (the buyer's report inlines them). */
export function webAsset(name: string): string {
  return readFileSync(join(WEB_DIR, name), 'utf8');
}

/** uPlot's own files: `uPlot.iife.min.js` (a classic script), `uPlot.min.css`. */
export function uplotAsset(name: 'uPlot.iife.min.js' | 'uPlot.min.css'): string {
  return readFileSync(join(dirname(require.resolve('uplot')), name), 'utf8');
}
