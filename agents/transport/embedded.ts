/**
 * The embedded default broker: a nats-server with JetStream whose store lives under the
 * user's data directory (`<data>/nats/jetstream`), started in the background the first time
 * a daemon needs it and reused afterwards, so a user never has to run NATS by hand.
 * `<data>/nats/server.json` records its pid and URLs; a stale record (process gone or not
 * healthy) is replaced by a fresh server on the same store, so JetStream state carries over.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { parleyError } from '../../protocol/errors.js';
import { readJsonFile, writeJsonAtomic } from '../storage/atomic-file.js';
import { startNatsServer } from './nats-server.js';

export interface EmbeddedServer {
  url: string;
  /** the HTTP monitor, when it was started with one (`parley home start --monitor`) */
  monitorUrl?: string;
  pid: number;
  storeDir: string;
  /** true when a server from an earlier start was still running and is reused */
  reused: boolean;
  /** the configuration file it runs with (permissions, TLS), if any */
  configFile?: string;
}

interface Record_ {
  url: string;
  monitorUrl?: string;
  pid: number;
  storeDir: string;
  configFile?: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The server takes client connections (it answers with its INFO line on connect). */
function healthy(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const sock = connect({ host: u.hostname, port: Number(u.port) });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once('data', (d) => done(d.toString('latin1').startsWith('INFO ')));
    sock.once('error', () => done(false));
  });
}

export function embeddedPaths(dataDir: string): { dir: string; record: string; store: string; config: string } {
  const dir = join(dataDir, 'nats');
  return { dir, record: join(dir, 'server.json'), store: join(dir, 'jetstream'), config: join(dir, 'server.conf') };
}

/** The running embedded server, if any. */
export async function embeddedServerStatus(dataDir: string): Promise<EmbeddedServer | undefined> {
  const rec = readJsonFile<Record_>(embeddedPaths(dataDir).record);
  if (rec && alive(rec.pid) && (await healthy(rec.url))) return { ...rec, reused: true };
  return undefined;
}

/**
 * Returns the running embedded server or starts one (detached, outliving this process).
 * The configuration is `opts.configFile`, else `<data>/nats/server.conf` if present; a
 * running server started with another configuration is refused rather than silently used
 * (it may lack the permissions or TLS the caller expects).
 */
export async function ensureEmbeddedServer(dataDir: string, opts: { configFile?: string; monitor?: boolean } = {}): Promise<EmbeddedServer> {
  const paths = embeddedPaths(dataDir);
  const configFile = opts.configFile ? resolve(opts.configFile) : existsSync(paths.config) ? paths.config : undefined;
  const running = await embeddedServerStatus(dataDir);
  if (running) {
    if (opts.configFile && running.configFile !== configFile) {
      throw parleyError('ERR_CONFIG', `the embedded nats-server (pid ${running.pid}) runs ${running.configFile ? `with ${running.configFile}` : 'without a configuration'}, not ${configFile}; stop it with \`parley home nats --stop\` and start again`);
    }
    return running;
  }
  mkdirSync(paths.store, { recursive: true, mode: 0o700 });
  const srv = await startNatsServer({ storeDir: paths.store, detached: true, configFile, logFile: join(paths.dir, 'nats-server.log'), monitor: opts.monitor });
  const rec: Record_ = { url: srv.url, ...(srv.monitorUrl ? { monitorUrl: srv.monitorUrl } : {}), pid: srv.pid, storeDir: paths.store, ...(configFile ? { configFile } : {}) };
  writeJsonAtomic(paths.record, rec, 0o600);
  return { ...rec, reused: false };
}

/**
 * Makes the running embedded server re-read its configuration (SIGHUP: nats-server reloads
 * users and permissions without dropping connections), if it runs with `configFile`.
 * Returns whether a reload was signalled.
 */
export async function reloadEmbeddedServer(dataDir: string, configFile: string): Promise<boolean> {
  const running = await embeddedServerStatus(dataDir);
  if (!running || running.configFile !== resolve(configFile)) return false;
  process.kill(running.pid, 'SIGHUP');
  return true;
}

/** Stops the embedded server (SIGTERM, then SIGKILL); its JetStream store is kept. */
export async function stopEmbeddedServer(dataDir: string): Promise<boolean> {
  const paths = embeddedPaths(dataDir);
  const rec = readJsonFile<Record_>(paths.record);
  if (!rec) return false;
  let stopped = false;
  if (alive(rec.pid)) {
    process.kill(rec.pid, 'SIGTERM');
    for (let i = 0; i < 100 && alive(rec.pid); i++) await new Promise((r) => setTimeout(r, 50));
    if (alive(rec.pid)) process.kill(rec.pid, 'SIGKILL');
    stopped = true;
  }
  rmSync(paths.record, { force: true });
  return stopped;
}
