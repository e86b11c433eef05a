/**
 * Load benchmark: complete sessions per second (request → results → one signed contract,
 * 10 merchants × 20 bids) with N buyers running sessions back to back, N = 1, 8, 64, on a
 * deployment of real processes (bench/deploy.ts), with each process's CPU share; then the
 * same with two Agent Home processes sharing the JetStream state (horizontal scale).
 * Session keys come from a pool generated before the clock starts (as `parley buyer` can
 * keep one); when the pool runs dry a buyer generates its key inside the window.
 *
 * `--soak=<minutes>`: one long run at N = 64 sampling the Agent Home's memory (RSS), to
 * show it stays flat.
 *
 * Targets: throughput at N = 64 ≥ 60% of the `limit` figure (bench/limit.ts), measured in
 * the same run: the session counted once, its work priced just before that phase and just
 * after it (see `LimitFigure`); and CPU per session by role against that limit split by
 * role (`cpu-per-session-*`: Agent Home ≤ 1.5x, all processes ≤ 1.6x). A soak checks that
 * no process's RSS peaks grow (`memory`).
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import type { NatsConnection } from 'nats';
import { newSessionKey, type BuyerClient } from '../buyer-cli/client.js';
import { restoreKey, storeKey, type SessionKey } from '../buyer-cli/session-key.js';
import type { StoredKey } from '../buyer-cli/state.js';
import { deploy, type Deployment } from './deploy.js';
import { LOAD_SHAPE, messageList, priceLimit, type LimitResult, type Role, type RolePrice } from './limit.js';
import { countSession, type SessionCounts } from './limit-session.js';
import { Wiretap } from './limit-count.js';
import { oneSession, MERCHANTS, BIDS } from './session.js';
import { cpuWindow, rssMiB, type CpuShare } from './proc-stats.js';
import { memoryPeaks, type MemoryPeak } from './memory.js';
import { printTargets, summary, table, target, writeResults, type Summary, type Target } from './lib.js';

export interface LoadPhase {
  homes: number;
  buyers: number;
  windowS: number;
  sessions: number;
  sessionsPerSecond: number;
  failures: number;
  /** keys generated inside the window because the pool ran dry */
  keysGeneratedInWindow: number;
  latency: Summary;
  /** the two halves of a session: request → results, and signing */
  negotiation: Summary;
  signing: Summary;
  /** sessions/s in each quarter of the window: a rising series means the system was still settling */
  quarters: number[];
  cpu: Array<{ process: string; cores: number }>;
  /** CPU ms per session counted in the window, by role (from /proc CPU time of each process) */
  cpuMsPerSession: Record<Role, number>;
  homeRssMiB: { start: number; end: number };
}

interface Pool {
  keys: SessionKey[];
  generatedInWindow: number;
  /** keys kept from earlier runs (--keys=FILE), not yet used in this phase */
  kept?: KeptKeys;
}

/**
 * `--keys=FILE`: session keys kept between runs, one stored key (JSON) per line, so that a
 * long warm-up or window does not first wait minutes for its keys (0.3 CPU-s each). For
 * benchmarks only: every deployment has its own CA and Agent Home, and uses each key
 * for one session at most. Keys made when the file runs short are added to it.
 */
class KeptKeys {
  private next = 0;
  private constructor(
    private readonly file: string,
    private readonly stored: StoredKey[],
  ) {}

  static open(file: string): KeptKeys {
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    return new KeptKeys(file, text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as StoredKey));
  }

  /** A new deployment (its own CA and Agent Home) may use every kept key again. */
  rewind(): void {
    this.next = 0;
  }

  take(n: number): SessionKey[] {
    const out = this.stored.slice(this.next, this.next + n).map(restoreKey);
    this.next += out.length;
    return out;
  }

  add(keys: SessionKey[]): void {
    if (!keys.length) return;
    const stored = keys.map(storeKey);
    appendFileSync(this.file, stored.map((k) => JSON.stringify(k) + '\n').join(''), { mode: 0o600 });
    this.stored.push(...stored);
    this.next = this.stored.length;
  }
}

async function fillPool(pool: Pool, n: number): Promise<void> {
  if (pool.kept) pool.keys.push(...pool.kept.take(Math.max(0, n - pool.keys.length)));
  const need = Math.max(0, n - pool.keys.length);
  // node:crypto generates on the libuv thread pool: both cores work
  const made = await Promise.all(Array.from({ length: need }, () => newSessionKey()));
  pool.kept?.add(made);
  pool.keys.push(...made);
}

async function takeKey(pool: Pool, counting: () => boolean): Promise<SessionKey> {
  const k = pool.keys.pop();
  if (k) return k;
  if (counting()) pool.generatedInWindow++;
  return newSessionKey();
}

/** Groups per-process CPU into Agent Home(s), stores, nats-server and the buyers (this process). */
function cpuByRole(shares: CpuShare[]): Array<{ process: string; cores: number }> {
  const groups = new Map<string, number>();
  for (const s of shares) {
    const role = s.name.startsWith('store-') ? `stores (${MERCHANTS} processes)` : s.name;
    groups.set(role, (groups.get(role) ?? 0) + s.cores);
  }
  return [...groups].map(([process, cores]) => ({ process, cores }));
}

/** the role a deployment's process plays (bench/deploy.ts names them) */
function processRole(name: string): Role {
  if (name === 'nats-server') return 'nats-server';
  if (name.startsWith('home-')) return 'agent-home';
  if (name.startsWith('store-')) return 'stores';
  return 'buyers';
}

function cpuPerSessionByRole(shares: CpuShare[], sessions: number): Record<Role, number> {
  const out: Record<Role, number> = { 'agent-home': 0, stores: 0, buyers: 0, 'nats-server': 0 };
  for (const s of shares) out[processRole(s.name)] += (s.cpuS * 1000) / Math.max(1, sessions);
  return out;
}

async function phase(d: Deployment, buyers: BuyerClient[], pool: Pool, opts: { warmupS: number; windowS: number; homes: number; windowKeys?: number; perProcess?: boolean; tap?: ReadonlySet<string>; sample?: (elapsedS: number) => void }): Promise<LoadPhase> {
  const n = buyers.length;
  const procs = [...d.processes(), { name: 'buyers (this process)', pid: process.pid }];
  const homePid = d.homes[0]!.pid;
  let counting = false;
  let stopping = false;
  // each session completed in the window: request → results, and signing
  const counted: Array<{ negotiationMs: number; signingMs: number; at: number }> = [];
  let failures = 0;
  let completed = 0;
  pool.generatedInWindow = 0;
  // A key costs about 0.3 CPU-s. Generated while sessions run, keys slow them down (and keys
  // queued on libuv's threads finish inside the window, uncounted); so the pool is refilled
  // only while buyers wait at this gate, with the sessions already running left to finish.
  let gate: Promise<void> | undefined;
  const refill = (size: number) => (gate ??= fillPool(pool, size).finally(() => (gate = undefined)));
  const loops = buyers.map(async (b) => {
    while (!stopping) {
      if (gate) await gate;
      if (opts.windowKeys && !counting && pool.keys.length === 0) await refill(opts.windowKeys + n);
      const key = await takeKey(pool, () => counting);
      const t0 = performance.now();
      try {
        const t = await oneSession(b, key);
        completed++;
        // a session counts when it completes inside the window
        if (counting && !stopping) counted.push({ ...t, at: performance.now() });
      } catch (e) {
        if (counting) failures++;
        if (failures <= 3 && counting) console.error(`session failed after ${(performance.now() - t0).toFixed(0)} ms: ${(e as Error).message}`);
      }
    }
  });
  // warm-up: at least warmupS, and until every buyer has finished a session (one whole wave),
  // so the window sees the steady state and not the first wave arriving together
  const warmUp = async () => {
    const start = performance.now();
    const before = completed;
    const more = () => completed - before < n && performance.now() - start < 120_000;
    while (performance.now() - start < opts.warmupS * 1000 || more() || gate) await new Promise((r) => setTimeout(r, 250));
  };
  await warmUp();
  // keys for the window (one per buyer as it starts a session and one per session at the
  // expected rate); when a refill is needed, the buyers restart after it and warm up again
  if (opts.windowKeys && pool.keys.length < opts.windowKeys + n) {
    await refill(opts.windowKeys + n);
    await warmUp();
  }
  const rssStart = rssMiB(homePid);
  // --tap: every message on the server in the window, per session (a diagnosis: the tap
  // costs this process a share of a core); `opts.tap` holds the party ids
  const tap = opts.tap ? new Wiretap(await d.connect('wiretap'), opts.tap) : undefined;
  await tap?.start();
  const cpu = cpuWindow(procs);
  counting = true;
  console.log(`  ${opts.homes} home(s), N=${n}: warmed up; counting for ${opts.windowS} s`);
  const t0 = performance.now();
  const sampler = opts.sample ? setInterval(() => opts.sample!((performance.now() - t0) / 1000), 30_000) : undefined;
  await new Promise((r) => setTimeout(r, opts.windowS * 1000));
  const shares = cpu.end();
  const windowS = (performance.now() - t0) / 1000;
  if (tap) {
    tap.stop();
    const per = Math.max(1, counted.length);
    const rows = messageList(tap.counts()).sort((a, b) => b.count - a.count);
    console.log(`  messages per session in the window (${counted.length} sessions):`);
    for (const r of rows) if (r.count / per >= 0.5) console.log(`    ${(r.count / per).toFixed(1).padStart(7)}  ${r.kind}: ${r.subject}`);
  }
  // --per-process: every process's share, e.g. to compare stores run with different settings
  if (opts.perProcess) console.log(`  per process: ${shares.map((s) => `${s.name} ${(s.cores * 100).toFixed(1)}%`).join(', ')}`);
  counting = false;
  stopping = true;
  if (sampler) clearInterval(sampler);
  const rssEnd = rssMiB(homePid);
  await Promise.all(loops);
  return {
    homes: opts.homes,
    buyers: n,
    windowS,
    sessions: counted.length,
    sessionsPerSecond: counted.length / windowS,
    failures,
    keysGeneratedInWindow: pool.generatedInWindow,
    latency: summary(counted.map((c) => c.negotiationMs + c.signingMs)),
    negotiation: summary(counted.map((c) => c.negotiationMs)),
    signing: summary(counted.map((c) => c.signingMs)),
    quarters: [0, 1, 2, 3].map((q) => counted.filter((c) => Math.min(3, Math.floor(((c.at - t0) / 1000 / windowS) * 4)) === q).length / (windowS / 4)),
    cpu: cpuByRole(shares),
    cpuMsPerSession: cpuPerSessionByRole(shares, counted.length),
    homeRssMiB: { start: rssStart, end: rssEnd },
  };
}

async function buyersOn(d: Deployment, n: number, prefix: string): Promise<BuyerClient[]> {
  const out: BuyerClient[] = [];
  for (let i = 0; i < n; i++) {
    const nc: NatsConnection = await d.connect(`${prefix}-${i}`);
    out.push(await d.buyer(`${prefix}-${i}`, nc));
  }
  return out;
}

function printPhase(p: LoadPhase): void {
  const cpu = p.cpu.map((c) => `${c.process} ${(c.cores * 100).toFixed(0)}%`).join(', ');
  console.log(
    `  ${p.homes} home(s), N=${String(p.buyers).padStart(2)}: ${p.sessionsPerSecond.toFixed(2)} sessions/s (${p.sessions} in ${p.windowS.toFixed(1)} s, ${p.failures} failed), ` +
      `p50 ${p.latency.p50Ms.toFixed(0)} ms, p95 ${p.latency.p95Ms.toFixed(0)} ms (request → results p50 ${p.negotiation.p50Ms.toFixed(0)}, signing p50 ${p.signing.p50Ms.toFixed(0)}); CPU (100% = one core): ${cpu}` +
      (p.keysGeneratedInWindow ? `; ${p.keysGeneratedInWindow} session keys generated in the window` : ''),
  );
  console.log(`    by quarter of the window: ${p.quarters.map((q) => q.toFixed(2)).join(' / ')} sessions/s`);
}

/** the Agent Home's process name in a deployment (bench/deploy.ts) */
const HOME_PROCESS = 'home-1';

/** the goals of issue 21; the roles without one are reported beside them */
const CPU_GOALS: Partial<Record<Role | 'all', number>> = { 'agent-home': 1.5, all: 1.6 };

/**
 * `cpu-per-session-<role>`: the CPU a role's processes spent per session counted at N = 64
 * (from /proc, over the window) against the priced CPU of that role's unavoidable work in
 * the same run (the limit split by role). `all` adds every process against the whole limit,
 * the part the tap could not attribute to a role included.
 */
export function cpuPerSessionTargets(actual: Record<Role, number>, priced: RolePrice): Target[] {
  const roles: Role[] = ['agent-home', 'stores', 'buyers', 'nats-server'];
  const line = (name: Role | 'all', a: number, p: number) => {
    const ratio = a / p;
    const goal = CPU_GOALS[name];
    return target(`cpu-per-session-${name}`, `${a.toFixed(1)} ms against ${p.toFixed(1)} ms priced = ${ratio.toFixed(2)}x at N=64`, goal === undefined ? 'none, reported' : `<= ${goal}x priced`, goal === undefined ? null : ratio <= goal);
  };
  const sum = (r: Record<string, number>) => Object.values(r).reduce((x, y) => x + y, 0);
  return [...roles.map((r) => line(r, actual[r], priced[r])), line('all', sum(actual), sum(priced))];
}

/** A step of the `limit` figure (bench/limit.ts), or undefined (and why, on stderr) when it failed. */
async function limitStep<T>(what: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (e) {
    console.error(`limit not ${what}: ${(e as Error).message}`);
    return undefined;
  }
}

/**
 * The limit the N = 64 phase is compared with: its session counted once (the counts do not
 * depend on the machine's speed), its work priced just before the phase and again just
 * after it, and the mean of the two taken. This machine's speed drifts by tens of percent
 * within minutes — an Ed25519 verification was priced at 219 µs at 07:26 and at 134 µs at
 * 09:20 on 2026-12-06 — so a limit priced on one side of the window only can compare a load
 * measured at one speed with a limit priced at another; two prices bracket the window, and
 * their spread says how far the machine moved.
 */
interface LimitFigure {
  sessionsPerSecond: number;
  before?: number;
  after?: number;
  /** the same mean with Ed25519 priced at libsodium's cost, as implemented (bench/limit.ts) */
  libsodium: number;
  /** the limit's CPU ms per session by role, mean of the two pricings */
  byRole: RolePrice;
}

const fmtLimit = (x: number | undefined) => (x === undefined ? '(failed)' : x.toFixed(2));

function limitAround(before: LimitResult | undefined, after: LimitResult | undefined): LimitFigure | undefined {
  const both = [before, after].filter((x): x is LimitResult => x !== undefined);
  if (!both.length) return undefined;
  const mean = (f: (r: LimitResult) => number) => both.reduce((a, r) => a + f(r), 0) / both.length;
  return {
    sessionsPerSecond: mean((r) => r.sessionsPerSecond),
    before: before?.sessionsPerSecond,
    after: after?.sessionsPerSecond,
    libsodium: mean((r) => r.withLibsodiumEd25519.sessionsPerSecond),
    byRole: Object.fromEntries(Object.keys(both[0]!.byRole).map((k) => [k, mean((r) => r.byRole[k as keyof RolePrice])])) as RolePrice,
  };
}

export async function run(args: string[] = []): Promise<void> {
  // --name=value, or --name value
  const opt = (name: string): string | undefined => {
    const eq = args.find((a) => a.startsWith(`--${name}=`));
    if (eq) return eq.slice(name.length + 3);
    const at = args.indexOf(`--${name}`);
    const next = at >= 0 ? args[at + 1] : undefined;
    return next !== undefined && !next.startsWith('--') ? next : undefined;
  };
  const soakMin = opt('soak') ? Number(opt('soak')) : undefined;
  const windowS = Number(opt('window') ?? 15);
  const warmupS = Number(opt('warmup') ?? 4);
  // --buyers=64 / --homes=1: only those phases (for profiling one of them)
  const only = (name: string) => opt(name)?.split(',').map(Number);
  const plan: Array<{ homes: number; ns: number[] }> = (soakMin ? [{ homes: 1, ns: [64] }] : [{ homes: 1, ns: [1, 8, 64] }, { homes: 2, ns: [8, 64] }])
    .filter((s) => only('homes')?.includes(s.homes) ?? true)
    .map((s) => ({ ...s, ns: s.ns.filter((n) => only('buyers')?.includes(n) ?? true) }))
    .filter((s) => s.ns.length > 0);
  const phases: LoadPhase[] = [];
  let limit: LimitFigure | undefined;
  const wantLimit = !soakMin && !args.includes('--no-limit') && plan.some((s) => s.homes === 1 && s.ns.includes(64));
  const limitCounts: SessionCounts | undefined = wantLimit ? await limitStep('counted', () => countSession(LOAD_SHAPE)) : undefined;
  const price = async (when: string) => (limitCounts ? await limitStep(`priced ${when} the phase`, () => priceLimit(limitCounts)) : undefined);
  // soak: every process's RSS every 30 s (rssMiB: the Agent Home's, as before)
  const rssSamples: Array<{ atS: number; rssMiB: number; byProcess: Record<string, number> }> = [];
  // expected sessions/s, for sizing the key pool (--rate=, for a lone phase); refined after
  // each phase. Sized short, the pool runs dry inside the window and the buyers make keys
  // there (0.3 CPU-s each), which skews that phase: on 2026-12-06 N = 1 ran 4.2 sessions/s
  // against the 3 once assumed, and N = 8 2.4 times N = 1
  let rate = Number(opt('rate') ?? 6);
  const kept = opt('keys') ? KeptKeys.open(opt('keys')!) : undefined;
  for (const step of plan) {
    const d = await deploy({ merchants: MERCHANTS, bids: BIDS, homes: step.homes });
    try {
      const prefix = `b${step.homes}`;
      const buyers = await buyersOn(d, Math.max(...step.ns), prefix);
      kept?.rewind();
      const pool: Pool = { keys: [], generatedInWindow: 0, kept };
      for (const n of step.ns) {
        const windowFor = soakMin ? soakMin * 60 : windowS;
        // keys for the first wave, the warm-up and the window at the expected rate (a soak
        // generates as it goes)
        const windowKeys = Math.ceil(rate * windowFor * 1.3);
        await fillPool(pool, soakMin ? 2 * n : 2 * n + windowKeys + Math.ceil(rate * warmupS));
        const withLimit = limitCounts !== undefined && step.homes === 1 && n === 64;
        const limitBefore = withLimit ? await price('before') : undefined;
        const p = await phase(d, buyers.slice(0, n), pool, {
          warmupS: soakMin ? 30 : warmupS,
          windowS: windowFor,
          homes: step.homes,
          windowKeys: soakMin ? undefined : windowKeys,
          perProcess: args.includes('--per-process'),
          tap: args.includes('--tap') ? new Set([...d.merchants, ...buyers.map((_, i) => `${prefix}-${i}`)]) : undefined,
          sample: soakMin
            ? (atS) => {
                const byProcess: Record<string, number> = {};
                for (const p of [...d.processes(), { name: 'buyers (this process)', pid: process.pid }]) byProcess[p.name] = rssMiB(p.pid);
                rssSamples.push({ atS, rssMiB: rssMiB(d.homes[0]!.pid), byProcess });
              }
            : undefined,
        });
        if (withLimit) {
          limit = limitAround(limitBefore, await price('after'));
          if (limit) console.log(`  limit: ${limit.sessionsPerSecond.toFixed(2)} sessions/s, the mean of ${fmtLimit(limit.before)} priced before the phase and ${fmtLimit(limit.after)} after it`);
        }
        printPhase(p);
        if (withLimit && limit) printTargets(cpuPerSessionTargets(p.cpuMsPerSession, limit.byRole));
        phases.push(p);
        // more buyers may well go faster: leave room for it
        rate = Math.max(rate, p.sessionsPerSecond * 2.5);
      }
    } finally {
      await d.stop();
    }
  }

  const targets: Target[] = [];
  const at64 = phases.find((p) => p.homes === 1 && p.buyers === 64);
  if (!soakMin && !args.includes('--no-limit')) {
    if (limit && at64) {
      const share = at64.sessionsPerSecond / limit.sessionsPerSecond;
      const priced = `priced ${fmtLimit(limit.before)} before the phase and ${fmtLimit(limit.after)} after`;
      targets.push(target('load', `${at64.sessionsPerSecond.toFixed(2)} sessions/s at N=64 = ${(share * 100).toFixed(0)}% of the limit ${limit.sessionsPerSecond.toFixed(2)} (${priced})`, '>= 60% of limit', share >= 0.6));
      targets.push(...cpuPerSessionTargets(at64.cpuMsPerSession, limit.byRole));
      console.log(`against the limit with Ed25519 at libsodium's cost, as implemented (${limit.libsodium.toFixed(2)} sessions/s): ${((at64.sessionsPerSecond / limit.libsodium) * 100).toFixed(0)}%`);
    }
  } else if (at64 && rssSamples.length >= 6) {
    // The heap grows to its working size during the first minutes, and from one GC cycle to
    // the next RSS swings by a fifth or more, so two single samples compare a trough with a
    // peak as often as not. A leak raises the peaks: the highest sample of the last third
    // is compared with the highest of the middle third.
    // every process, not only the Agent Home (issue 21)
    const memory = memoryPeaks(rssSamples);
    const worst = memory.reduce((a, b) => (b.ratio > a.ratio ? b : a));
    const home = memory.find((m) => m.process === HOME_PROCESS) ?? worst;
    const fmtPeak = (m: MemoryPeak) => `${m.process} ${m.middleMiB.toFixed(0)} → ${m.lastMiB.toFixed(0)} MiB (${m.ratio.toFixed(2)}x)`;
    console.log('  RSS peaks, middle third → last third:');
    for (const m of memory) console.log(`    ${fmtPeak(m)}`);
    const measured = `worst ${fmtPeak(worst)}; Agent Home ${fmtPeak(home)}; ${memory.length} processes, ${at64.sessions} sessions in ${(at64.windowS / 60).toFixed(1)} min, ${at64.failures} failed, at N=64`;
    targets.push(target('memory', measured, 'last third peak <= 1.1 x middle third peak, every process', memory.every((m) => m.ratio <= 1.1)));
  }
  console.log(
    table([
      ['homes', 'buyers', 'sessions/s', 'p50 ms', 'p95 ms', 'failed', 'home RSS MiB'],
      ...phases.map((p) => [String(p.homes), String(p.buyers), p.sessionsPerSecond.toFixed(2), p.latency.p50Ms.toFixed(0), p.latency.p95Ms.toFixed(0), String(p.failures), `${p.homeRssMiB.start.toFixed(0)} → ${p.homeRssMiB.end.toFixed(0)}`]),
    ]),
  );
  const file = writeResults(soakMin ? 'soak' : 'load', { merchants: MERCHANTS, bids: BIDS, phases, limitSessionsPerSecond: limit?.sessionsPerSecond, limitBefore: limit?.before, limitAfter: limit?.after, limitLibsodiumEd25519: limit?.libsodium, limitByRole: limit?.byRole, rssSamples }, targets);
  console.log(`results: ${file}`);
  printTargets(targets);
}
