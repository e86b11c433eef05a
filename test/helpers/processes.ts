/**
 * `parley …` commands as OS processes for tests that kill them:
 *   const p = startParley(['home', 'start'], { PARLEY_HOME: dir });
 *   await p.waitFor(/running/);
 *   p.child.kill('SIGKILL');
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { REPO_ROOT } from './paths.js';
import { CLI } from './cli.js';

export interface ParleyProcess {
  child: ChildProcess;
  /** stdout and stderr, as they came */
  output(): string;
  /** stdout alone */
  stdout(): string;
  /** resolves with the first match of `re` in the output (rejects after `ms`, or once the process has ended without it) */
  waitFor(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then waits for the end */
  stop(): Promise<void>;
}

export function startParley(args: string[], env: Record<string, string>): ParleyProcess {
  const child = spawn(process.execPath, [...CLI, ...args], { cwd: REPO_ROOT, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let stdout = '';
  const waiters = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const w of waiters) w();
  };
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    onData(d);
  });
  child.stderr!.on('data', onData);
  let ended = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => {
      ended = true;
      r({ code, signal });
      // output still buffered in the pipes arrives after 'exit'
      setTimeout(() => {
        for (const w of waiters) w();
      }, 50);
    }),
  );
  return {
    child,
    output: () => out,
    stdout: () => stdout,
    exited,
    waitFor(re, ms = 20_000) {
      return new Promise((resolve, reject) => {
        let t: NodeJS.Timeout | undefined;
        const fail = (why: string) => {
          waiters.delete(check);
          clearTimeout(t);
          reject(new Error(`parley ${args.join(' ')}: no ${re} ${why}; output:\n${out}`));
        };
        const check = () => {
          const m = out.match(re);
          if (m) {
            waiters.delete(check);
            clearTimeout(t);
            resolve(m);
          } else if (ended) setTimeout(() => (out.match(re) ? check() : fail('before it ended')), 60);
        };
        t = setTimeout(() => fail(`within ${ms} ms`), ms);
        waiters.add(check);
        check();
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
