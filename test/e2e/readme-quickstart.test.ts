/**
 * The README's by-hand quick start, run exactly as printed so the manual cannot drift from
 * the program. Every ```sh block after a `<!-- quickstart terminal=N … -->` marker runs in
 * bash from the clone, as a person would paste it, with HOME set to a fresh directory (the
 * blocks write to ~/parley-quickstart). A block marked `ready="TEXT"` ends with a daemon: it
 * keeps running in its own process group once TEXT is on its stdout. `after-stop` blocks run
 * once every daemon was stopped with Ctrl-C (SIGINT to its process group). Blocks of one
 * terminal share its `export` lines, as one shell would.
 *
 * It runs `npx parley`, i.e. the compiled CLI in dist/ (`npm test` builds it first).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, tempDir } from '../helpers/paths.js';

interface Block {
  terminal: string;
  ready?: string;
  afterStop: boolean;
  script: string;
}

/** The marked blocks of the README, in order. */
export function quickstartBlocks(readme: string): Block[] {
  const out: Block[] = [];
  const re = /<!-- quickstart ([^>]*)-->\s*\n```sh\n([\s\S]*?)```/g;
  for (const m of readme.matchAll(re)) {
    const attrs = m[1]!;
    const terminal = /terminal=(\S+)/.exec(attrs)?.[1];
    if (!terminal) throw new Error(`quickstart marker without terminal=: ${m[0].slice(0, 80)}`);
    out.push({ terminal, ready: /ready="([^"]*)"/.exec(attrs)?.[1], afterStop: /\bafter-stop\b/.test(attrs), script: m[2]! });
  }
  return out;
}

const test = suite('README quick start');
const tmp = tempDir('parley-readme-');
const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: tmp.path, LANG: 'C.UTF-8', NO_COLOR: '1', npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };

interface Running {
  block: Block;
  child: ChildProcess;
  stdout: string;
  stderr: string;
  /** the exit code, or the signal's name when it died of one */
  exited: Promise<number | string | null>;
}
const daemons: Running[] = [];

function run(script: string, daemon?: string): Running {
  // set -e: a failing command fails the block (a person would see it fail)
  const child = spawn('bash', ['-c', `set -e\n${script}`], { cwd: REPO_ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const r: Running = { block: { terminal: '', afterStop: false, script }, child, stdout: '', stderr: '', exited: new Promise((res) => child.once('exit', (code, signal) => res(code ?? signal))) };
  child.stdout!.on('data', (d: Buffer) => (r.stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (r.stderr += d.toString()));
  if (daemon) daemons.push(r);
  return r;
}

async function ready(r: Running, text: string, ms = 90_000): Promise<void> {
  const end = Date.now() + ms;
  while (!r.stdout.includes(text)) {
    if (r.child.exitCode !== null) throw new Error(`exited ${r.child.exitCode} before "${text}"\n${r.stdout}\n${r.stderr}`);
    if (Date.now() > end) throw new Error(`no "${text}" within ${ms} ms\n${r.stdout}\n${r.stderr}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

async function stopAll(signal: NodeJS.Signals): Promise<Array<number | string | null>> {
  const codes: Array<number | string | null> = [];
  for (const d of daemons.splice(0).reverse()) {
    if (d.child.exitCode === null) process.kill(-d.child.pid!, signal);
    const t = setTimeout(() => d.child.exitCode === null && process.kill(-d.child.pid!, 'SIGKILL'), 20_000);
    codes.push(await d.exited);
    clearTimeout(t);
    if (signal === 'SIGINT') {
      assert.match(d.stderr, /stopping /, `says it is stopping:\n${d.stderr}`);
      assert.match(d.stderr, /stopped, state saved/, `says it stopped:\n${d.stderr}`);
    }
  }
  return codes;
}

test.after(async () => {
  await stopAll('SIGTERM').catch(() => undefined);
  // the embedded nats-server outlives the Agent Home: make sure it is gone
  await new Promise((res) => spawn(process.execPath, [join(REPO_ROOT, 'bin', 'parley.js'), 'home', 'nats', '--stop'], { env: { ...env, PARLEY_HOME: join(tmp.path, 'parley-quickstart') }, stdio: 'ignore' }).once('exit', res));
  tmp.remove();
});

test('the blocks are marked, and every terminal sets the same PARLEY_HOME', () => {
  const blocks = quickstartBlocks(readFileSync(join(REPO_ROOT, 'README.md'), 'utf8'));
  assert.ok(blocks.length >= 5, `found ${blocks.length} marked blocks`);
  const terminals = new Set(blocks.map((b) => b.terminal));
  assert.ok(terminals.size >= 4, 'CA and Agent Home, two stores, a buyer');
  for (const t of terminals) assert.ok(blocks.find((b) => b.terminal === t)!.script.includes('export PARLEY_HOME=~/parley-quickstart'), `terminal ${t} sets PARLEY_HOME first`);
});

test('the quick start runs as printed: a session with two agreements, a signed contract that verifies, clean stops', async () => {
  const blocks = quickstartBlocks(readFileSync(join(REPO_ROOT, 'README.md'), 'utf8'));
  const exports = new Map<string, string>();
  let transcript = '';
  for (const b of blocks) {
    if (b.afterStop && daemons.length) {
      const codes = await stopAll('SIGINT');
      // parley exits 0 (its messages were checked); bash and npx, which got the Ctrl-C too, may end by that signal
      assert.ok(codes.every((c) => c === 0 || c === 'SIGINT' || c === 130), `every daemon ends cleanly on Ctrl-C: ${codes.join(', ')}`);
    }
    const script = (exports.get(b.terminal) ?? '') + b.script;
    const lines = b.script.split('\n').filter((l) => /^export /.test(l));
    exports.set(b.terminal, (exports.get(b.terminal) ?? '') + lines.map((l) => l + '\n').join(''));
    const r = run(script, b.ready);
    if (b.ready) {
      await ready(r, b.ready);
      continue;
    }
    const code = await r.exited;
    transcript += r.stdout + r.stderr;
    assert.is(code, 0, `terminal ${b.terminal} block failed (exit ${code}):\n${b.script}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  }
  assert.match(transcript, /complete; 2 merchants invited, 2 visited, 0 skipped, 2 sales agents/);
  assert.match(transcript, /shop-a: agreed at bid \d+\/\d+/, 'a progress line per merchant as it agrees');
  assert.match(transcript, /next: npx parley buyer sign [0-9a-f]{8} --merchant shop-a/, 'hints say npx parley under npx');
  assert.match(transcript, /with shop-a: complete/);
  assert.match(transcript, /: valid contract/);
  assert.match(transcript, /visit log:/, 'home show last printed the session');
  assert.match(transcript, /embedded nats-server stopped/);
});

test.run();
