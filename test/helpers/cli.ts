/**
 * Running the `parley` CLI from tests as a user would: a child process with its own
 * PARLEY_HOME; one-shot commands return status and output, daemons are spawned and can be
 * read line by line. The child runs the compiled CLI (`bin/parley.js`, what users run) when
 * the test runner has just built it (PARLEY_TEST_CLI=dist, set by scripts/test.mjs), and the
 * TypeScript sources through tsx otherwise (a test file run on its own always sees the
 * current sources). Compiled, a command starts in half the time.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { REPO_ROOT } from './paths.js';

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

export const CLI = process.env.PARLEY_TEST_CLI === 'dist' ? [join(REPO_ROOT, 'bin', 'parley.js')] : ['--import', 'tsx', 'cli/index.ts'];

export function parleySync(args: string[], env: Record<string, string> = {}): Run {
  const r = spawnSync(process.execPath, [...CLI, ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `parleySync` without blocking the event loop, so several commands (and this process's servers) run at once. */
export function parleyRun(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...CLI, ...args], { cwd: REPO_ROOT, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Parses stdout as exactly one JSON document (what --json promises). */
export function jsonOf<T = Record<string, unknown>>(r: Run): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`stdout is not one JSON document:\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
}

export interface Daemon {
  child: ChildProcess;
  /** resolves with the first stdout line that parses as JSON */
  firstJson<T = Record<string, unknown>>(timeoutMs?: number): Promise<T>;
  stderr(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function spawnParley(args: string[], env: Record<string, string> = {}): Daemon {
  const child = spawn(process.execPath, [...CLI, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const lines = createInterface({ input: child.stdout! });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    child,
    firstJson<T>(timeoutMs = 20_000) {
      return new Promise<T>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no JSON line within ${timeoutMs} ms; stderr: ${err}`)), timeoutMs);
        let buf = '';
        lines.on('line', (line) => {
          buf += line;
          try {
            const v = JSON.parse(buf) as T;
            clearTimeout(t);
            resolve(v);
          } catch {
            // a pretty-printed document spans lines: keep reading
          }
        });
        void exited.then((code) => reject(new Error(`exited with ${code} before printing JSON; stderr: ${err}`)));
      });
    },
    stderr: () => err,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
