/**
 * Part of cli/kit. One daemon per data directory: `parley store start` (and `parley home
 * start` unless told to join the processes already there) holds `<dir>/daemon.lock`, a file
 * naming its pid. A second start on the same directory is refused with that pid; a lock
 * whose process is gone (killed, crashed) is taken over, so a restart after SIGKILL works.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parleyError } from '../../protocol/errors.js';

export interface DataDirLock {
  path: string;
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function holder(path: string): { pid: number; what: string } | undefined {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as { pid?: unknown; what?: unknown };
    return typeof v.pid === 'number' ? { pid: v.pid, what: String(v.what ?? 'a daemon') } : undefined;
  } catch {
    return undefined;
  }
}

/** Takes the lock of `dir` for `what` (e.g. "store shop-a"); ERR_ALREADY_RUNNING when a live process holds it. */
export function lockDataDir(dir: string, what: string): DataDirLock {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, 'daemon.lock');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(path, JSON.stringify({ pid: process.pid, what, started: new Date().toISOString() }) + '\n', { flag: 'wx', mode: 0o600 });
      const release = () => {
        if (holder(path)?.pid === process.pid) rmSync(path, { force: true });
      };
      process.once('exit', release);
      return { path, release };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw parleyError('ERR_CONFIG', `cannot create the lock ${path}`, e);
      const h = holder(path);
      if (h && h.pid !== process.pid && alive(h.pid)) {
        throw parleyError('ERR_ALREADY_RUNNING', `${h.what} is already running on ${dir} (pid ${h.pid}); stop it first (Ctrl-C or kill ${h.pid})`);
      }
      rmSync(path, { force: true }); // stale: its process is gone
    }
  }
  throw parleyError('ERR_ALREADY_RUNNING', `cannot take the lock ${path}: another process keeps taking it`);
}
