/**
 * A whole Parley deployment on this machine for the `session` and `load` benchmarks, run
 * the way users run it: one nats-server, one or more `parley home start` processes sharing
 * its JetStream, one `parley store start` process per merchant, and buyers driven in this
 * process with the buyer library (BuyerClient), each with its own identity and files.
 *
 * Merchants sell `bench-widget` with a linear concession list of `bids` bids; the buyer's
 * rules accept from about the 80th percentile of the list on, so most bids are revealed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { NatsConnection } from 'nats';
import { startNatsServer, type NatsServer } from '../agents/transport/nats-server.js';
import { connectNats } from '../agents/transport/connect.js';
import { testPki } from '../test/helpers/parties.js';
import type { PurchaseRequest } from '../protocol/commerce.js';
import { HomeState } from '../agent-home/state.js';
import { BuyerClient } from '../buyer-cli/client.js';
import { BuyerFiles } from '../buyer-cli/state.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The daemons run compiled, as `parley` runs for users (tsx would add its loader and source maps). */
const CLI = [join(ROOT, 'bin', 'parley.js')];

let built = false;
/** Compiles the current sources to dist/ once per benchmark process. */
function ensureBuilt(): void {
  if (built) return;
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`build failed:\n${r.stdout}${r.stderr}`);
  built = true;
}

export const WIDGETS: PurchaseRequest = { item: 'bench-widget', category: 'widgets', quantity: 1, currency: 'EUR', attributes: {} };

/** Accepts prices up to 1080 of a 1400 → 1000 list: bids 17–20 of 20 (utility above reservation). */
export const BENCH_RULES = {
  limits: { price: { max: 1080 }, deliveryDays: { max: 30 }, warrantyMonths: { min: 6 } },
  weights: { price: 0.8, deliveryDays: 0.1, warrantyMonths: 0.1 },
  ranges: { price: { best: 900, worst: 1400 }, deliveryDays: { best: 1, worst: 30 }, warrantyMonths: { best: 36, worst: 6 } },
  reservation: 0.1,
};

export interface Proc {
  name: string;
  pid: number;
  child: ChildProcess;
}

export interface Deployment {
  nats: NatsServer;
  homes: Proc[];
  stores: Proc[];
  merchants: string[];
  /** a buyer with its own identity and files, on connection `nc` */
  buyer(id: string, nc: NatsConnection): Promise<BuyerClient>;
  connect(name: string): Promise<NatsConnection>;
  /** every process of the deployment (this one excluded) */
  processes(): Array<{ name: string; pid: number }>;
  stop(): Promise<void>;
}

/**
 * Spawns `parley <args>` and waits until it says it is running. Its logs are dropped, or
 * with PARLEY_BENCH_LOGS=<dir> written there, each line stamped with the time it arrived
 * (the daemons log only without --json).
 */
async function daemon(name: string, args: string[], env: Record<string, string>): Promise<Proc> {
  const logDir = process.env.PARLEY_BENCH_LOGS;
  // PARLEY_BENCH_PROF=<dir>: a CPU profile of each daemon, written when it stops, sampled
  // every PARLEY_BENCH_PROF_US µs (default 4000: a sampler waking every millisecond in each
  // of a dozen processes costs more CPU than many of them use)
  const prof = process.env.PARLEY_BENCH_PROF
    ? ['--cpu-prof', '--cpu-prof-dir', process.env.PARLEY_BENCH_PROF, '--cpu-prof-name', `${name}.cpuprofile`, '--cpu-prof-interval', process.env.PARLEY_BENCH_PROF_US ?? '4000']
    : [];
  const child = spawn(process.execPath, [...prof, ...CLI, ...args, ...(logDir ? [] : ['--json'])], { cwd: ROOT, env: { ...process.env, ...env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  child.stderr!.on('data', (d: Buffer) => (tail = (tail + d.toString()).slice(-4000)));
  if (logDir) {
    mkdirSync(logDir, { recursive: true });
    const out = createWriteStream(join(logDir, `${name}.log`));
    createInterface({ input: child.stderr! }).on('line', (l) => out.write(`${performance.now().toFixed(1)} ${l}\n`));
  }
  const lines = createInterface({ input: child.stdout! });
  const started = new Promise<void>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`${name} did not start within 60 s:\n${tail}`)), 60_000);
    child.once('exit', (code) => fail(new Error(`${name} exited (${code}) while starting:\n${tail}`)));
    // the first JSON document on stdout (printed over several lines)
    let doc = '';
    const onLine = (line: string) => {
      doc += line + '\n';
      let status: unknown;
      try {
        status = logDir ? (/ running /.test(line) ? 'running' : line) : (JSON.parse(doc) as { status?: unknown }).status;
      } catch {
        return;
      }
      clearTimeout(timer);
      lines.off('line', onLine);
      if (status === 'running') ok();
      else fail(new Error(`${name}: ${doc}\n${tail}`));
    };
    lines.on('line', onLine);
  });
  try {
    await started;
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  return { name, pid: child.pid!, child };
}

async function stopProc(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise((r) => p.child.once('exit', r));
  p.child.kill('SIGTERM');
  const t = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

/** The benchmark stores' config: one linear 1400 → 1000 list of `bids` widgets (also counted by bench/limit-session.ts). */
export function storeConfig(id: string, bids: number, identity: { ca: string; cert: string; key: string }): Record<string, unknown> {
  return {
    id,
    home: 'home',
    name: `Bench store ${id}`,
    categories: ['widgets'],
    identity,
    template: { title: 'Sale of goods', seller: { name: `${id} Ltd`, address: '1 Bench Street' }, clauses: ['The seller delivers the goods within the agreed delivery time.'], jurisdiction: 'EU' },
    completeTimeoutMs: 30_000,
    offerTtlMs: 600_000,
    catalogue: [
      {
        item: WIDGETS.item, category: WIDGETS.category, currency: WIDGETS.currency, stock: 1_000_000_000, attributes: {},
        listPrice: 1400, floorPrice: 1000,
        strategy: { kind: 'linear', bids },
        delivery: { from: 20, to: 5 }, warranty: { from: 12, to: 24 },
      },
    ],
  };
}

export async function deploy(opts: { merchants: number; bids: number; homes: number }): Promise<Deployment> {
  ensureBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'parley-bench-'));
  const nats = await startNatsServer();
  const procs: Proc[] = [];
  const conns: NatsConnection[] = [];
  const stop = async () => {
    await Promise.allSettled(conns.map((c) => c.close()));
    // stores first, then the Agent Homes, while NATS is still up
    await Promise.allSettled(procs.filter((p) => p.name.startsWith('store')).map(stopProc));
    await Promise.allSettled(procs.filter((p) => !p.name.startsWith('store')).map(stopProc));
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const pki = await testPki();
    const ids = join(dir, 'ids');
    mkdirSync(ids, { recursive: true });
    const env = { PARLEY_HOME: join(dir, 'parley'), PARLEY_NATS_URL: nats.url };

    const homeDir = join(env.PARLEY_HOME, 'agent-home');
    mkdirSync(homeDir, { recursive: true });
    pki.writeFiles(homeDir, await pki.party('home', 'agent-home')); // ca.pem, home.pem, home.key: where `home start` looks
    const homes: Proc[] = [];
    // the first creates the shared secrets file; the others read it
    for (let i = 0; i < opts.homes; i++) {
      const p = await daemon(`home-${i + 1}`, ['home', 'start'], env);
      homes.push(p);
      procs.push(p);
    }

    const merchants = Array.from({ length: opts.merchants }, (_, i) => `m${String(i + 1).padStart(2, '0')}`);
    const stores = await Promise.all(
      merchants.map(async (id) => {
        const identity = pki.writeFiles(ids, await pki.party(id, 'merchant'));
        const file = join(dir, `${id}.json`);
        writeFileSync(file, JSON.stringify(storeConfig(id, opts.bids, identity)));
        const p = await daemon(`store-${id}`, ['store', 'start', '--config', file], env);
        procs.push(p);
        return p;
      }),
    );

    const connect = async (name: string) => {
      const nc = await connectNats({ servers: nats.url, name });
      conns.push(nc);
      return nc;
    };
    const nc = await connect('bench-watch');
    const state = await HomeState.open(nc);
    for (let i = 0; (await state.merchants()).length < opts.merchants; i++) {
      if (i > 300) throw new Error('stores did not register within 30 s');
      await new Promise((r) => setTimeout(r, 100));
    }

    return {
      nats,
      homes,
      stores,
      merchants,
      connect,
      buyer: async (id, bnc) => {
        const self = await pki.party(id, 'buyer');
        return new BuyerClient({ nc: bnc, self, trust: pki.trust, ca: pki.ca.certificate, home: 'home', files: new BuyerFiles(join(dir, 'buyers', id)), timeoutMs: 60_000 });
      },
      processes: () => [{ name: 'nats-server', pid: nats.pid }, ...procs.map((p) => ({ name: p.name, pid: p.pid }))],
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
