/**
 * The embedded default broker: a nats-server with JetStream whose store lives under the
 * user's data directory (`<data>/nats/jetstream`), started in the background the first time
 * a daemon needs it and reused afterwards, so a user never has to run NATS by hand.
 * `<data>/nats/server.json` records its pid and URLs; a stale record (process gone or not
 * healthy) is replaced by a fresh server on the same store, so JetStream state carries over.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonFile, writeJsonAtomic } from '../storage/atomic-file.js';
import { startNatsServer } from './nats-server.js';

export interface EmbeddedServer {
  url: string;
  monitorUrl: string;
  pid: number;
  storeDir: string;
  /** true when a server from an earlier start was still running and is reused */
  reused: boolean;
}

interface Record_ {
  url: string;
  monitorUrl: string;
  pid: number;
  storeDir: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function healthy(monitorUrl: string): Promise<boolean> {
  try {
    const r = await fetch(`${monitorUrl}/healthz?js-enabled-only=true`, { signal: AbortSignal.timeout(1000) });
    return r.ok;
  } catch {
    return false;
  }
}

export function embeddedPaths(dataDir: string): { dir: string; record: string; store: string; config: string } {
  const dir = join(dataDir, 'nats');
  return { dir, record: join(dir, 'server.json'), store: join(dir, 'jetstream'), config: join(dir, 'server.conf') };
}

/** The running embedded server, if any. */
export async function embeddedServerStatus(dataDir: string): Promise<EmbeddedServer | undefined> {
  const rec = readJsonFile<Record_>(embeddedPaths(dataDir).record);
  if (rec && alive(rec.pid) && (await healthy(rec.monitorUrl))) return { ...rec, reused: true };
  return undefined;
}

/** Returns the running embedded server or starts one (detached, outliving this process). */
export async function ensureEmbeddedServer(dataDir: string, opts: { configFile?: string } = {}): Promise<EmbeddedServer> {
  const running = await embeddedServerStatus(dataDir);
  if (running) return running;
  const paths = embeddedPaths(dataDir);
  mkdirSync(paths.store, { recursive: true, mode: 0o700 });
  const configFile = opts.configFile ?? (existsSync(paths.config) ? paths.config : undefined);
  const srv = await startNatsServer({ storeDir: paths.store, detached: true, configFile, logFile: join(paths.dir, 'nats-server.log') });
  const rec: Record_ = { url: srv.url, monitorUrl: srv.monitorUrl, pid: srv.pid, storeDir: paths.store };
  writeJsonAtomic(paths.record, rec, 0o600);
  return { ...rec, reused: false };
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
