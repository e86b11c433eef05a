/**
 * Console benchmark (issue 18): the arbiter console of a running Agent Home must not slow its
 * negotiations measurably. Measured: the migration hop of bench/hop.ts with an arbiter
 * console attached and watching, as a ratio to the same hop without one, in one run.
 *
 * The world: one in-process world (real nats-server, Agent Home, the three example stores)
 * negotiating all along — a buyer opens a session every 200 ms, 5 a second, whether or not
 * the last one has its results — so the Agent Home's buckets and audit log change as a busy
 * one's do. On the same server the probe agent's hosts (bench/hop.ts) make hop after hop,
 * each timed alone.
 *
 * Attached and watching: a child process (bench/console-watcher.ts) starts the console with
 * the real command's code on its own NATS connection (its KV watches, its HTTP server), and
 * keeps a page's client on it: `/api/events` read as a stream, `/api/session?sn=…` re-fetched
 * 150 ms after each change of the running session. Without: that process has no console
 * and no connection. Rounds go without, with, with, without, … (drift over the run counts on
 * both sides alike); the console starts before a `with` pair and stops after it, untimed.
 * Target: hop with ≤ 1.05 × hop without (medians). Also shown: the without rounds right
 * after the console stopped against the other without rounds (the noise, plus what the
 * console leaves behind), the sessions' own latency (request → results) in each arm, and
 * what the console did and cost while attached.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { NatsConnection } from 'nats';
import type { JsonValue } from '../crypto/canonical.js';
import { encodeJson } from '../protocol/wire.js';
import { buyerNotify, buyerResults } from '../test/helpers/buyer-notify.js';
import { exampleRules, LAPTOPS } from '../test/helpers/world.js';
import type { Self, Trust } from '../agents/runtime/trust.js';
import { openProbeHop, type ProbeHop } from './hop.js';
import type { WatcherStats } from './console-watcher.js';
import { printTargets, quantile, summary, table, target, writeResults, type Sample } from './lib.js';
import { openWorld } from './world.js';

const GOAL = 1.05;
const WARMUP = 3000;
/** rounds of each arm (in pairs: without, with, with, without) */
const ROUNDS = 12;
const PER_ROUND = 300;
/** a session opened every PACE_MS (5 a second), at most MAX_OPEN at once */
const PACE_MS = 200;
const MAX_OPEN = 4;
/** untimed pause after the console starts or stops, before the next round */
const SETTLE_MS = 250;

type Arm = 'without' | 'with';

/** The console's child process, driven one command at a time. */
async function spawnWatcher(url: string, homeId: string): Promise<{ send(cmd: 'attach' | 'detach' | 'quit'): Promise<Record<string, unknown>>; child: ChildProcess }> {
  const here = dirname(fileURLToPath(import.meta.url));
  // from the repository's root, where `--import tsx` resolves as `npm run bench` has it
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'console-watcher.ts'), url, homeId], { cwd: join(here, '..'), stdio: ['pipe', 'pipe', 'inherit'] });
  child.stdin!.on('error', () => undefined); // a child that died is reported by the next answer it does not give
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async () => {
    const r = await lines.next();
    if (r.done) throw new Error('the console process exited');
    const doc = JSON.parse(r.value) as Record<string, unknown>;
    if (typeof doc.error === 'string') throw new Error(`console process: ${doc.error}`);
    return doc;
  };
  await next(); // { ready }
  return {
    child,
    send: async (cmd) => {
      child.stdin!.write(cmd + '\n');
      return cmd === 'quit' ? {} : next();
    },
  };
}

/**
 * One buyer opening a session every PACE_MS, whether or not the last one has its results
 * (an open loop: a console that slowed the sessions would not also thin out the work that
 * competes with the hops), at most MAX_OPEN at once; each tagged with the arm it ran in.
 */
function negotiateAllAlong(nc: NatsConnection, buyer: Self, trust: Trust, armNow: () => Arm | undefined) {
  const rules = exampleRules() as JsonValue;
  const done: Array<{ arm: Arm; ms: number }> = [];
  const open = new Set<Promise<void>>();
  let stopped = false;
  let count = 0;
  let skipped = 0;
  let failure: Error | undefined;
  const one = async () => {
    const arm = armNow();
    const t0 = performance.now();
    const session = await buyerNotify(nc, buyer, trust, 'home', { request: LAPTOPS, rules, deadlineMs: 5 * 60_000 });
    while ((await buyerResults(nc, session)).status === 'open') await new Promise((r) => setTimeout(r, 20));
    count++;
    // a session counts for an arm when it ran entirely inside that arm's rounds
    if (arm && armNow() === arm) done.push({ arm, ms: performance.now() - t0 });
  };
  const loop = (async () => {
    const start = performance.now();
    for (let k = 1; !stopped; k++) {
      if (open.size >= MAX_OPEN) skipped++;
      else {
        const p: Promise<void> = one()
          .catch((e: unknown) => void (failure ??= e as Error))
          .finally(() => open.delete(p));
        open.add(p);
      }
      await new Promise((r) => setTimeout(r, Math.max(0, start + k * PACE_MS - performance.now())));
    }
    await Promise.all(open);
  })();
  return {
    done,
    count: () => count,
    skipped: () => skipped,
    stop: async () => {
      stopped = true;
      await loop;
      if (failure) throw failure;
    },
  };
}

export async function run(): Promise<void> {
  const { world, close } = await openWorld();
  let probe: ProbeHop | undefined;
  let watcher: Awaited<ReturnType<typeof spawnWatcher>> | undefined;
  let load: ReturnType<typeof negotiateAllAlong> | undefined;
  try {
    probe = await openProbeHop(world.nats.url);
    const p = probe;
    watcher = await spawnWatcher(world.nats.url, world.homeSelf.id);
    const buyer = await world.pki.party('bench-buyer', 'buyer');
    const buyerNc = await world.nats.connectAs('bench-buyer');

    // every hop takes a fresh agent (bench/hop.ts says why), made before the clock starts
    const bytes = Array.from({ length: WARMUP + 2 * ROUNDS * PER_ROUND }, () => encodeJson(p.make()));
    let next = 0;
    const hopOnce = async (): Promise<number> => {
      await p.afterHop();
      const t0 = performance.now();
      await p.hop(bytes[next++]!);
      return performance.now() - t0;
    };

    let arm: Arm | undefined;
    load = negotiateAllAlong(buyerNc, buyer, world.pki.trust, () => arm);
    // warm-up with the negotiations running, and one session at least for the page to open on
    for (let i = 0; i < WARMUP; i++) await hopOnce();
    while (load.count() < 1) await new Promise((r) => setTimeout(r, 50));

    const times: Record<Arm, number[]> = { without: [], with: [] };
    // the without rounds right after the console stopped, and the others (a without round
    // that follows a without round): their ratio is the noise plus what the console leaves
    // behind (sessions it slowed, still open when it stops)
    const without2: Record<'afterStop' | 'others', number[]> = { afterStop: [], others: [] };
    const seen: WatcherStats[] = [];
    let attached = false;
    const order: Arm[] = Array.from({ length: ROUNDS }, (_, r) => (r % 2 === 0 ? (['without', 'with'] as const) : (['with', 'without'] as const))).flat();
    const t0 = performance.now();
    for (const [n, a] of order.entries()) {
      if ((a === 'with') !== attached) {
        arm = undefined;
        if (a === 'with') await watcher.send('attach');
        else seen.push((await watcher.send('detach')).detached as WatcherStats);
        attached = a === 'with';
        await new Promise((r) => setTimeout(r, SETTLE_MS));
      }
      arm = a;
      for (let i = 0; i < PER_ROUND; i++) {
        const ms = await hopOnce();
        times[a].push(ms);
        if (a === 'without') without2[n % 4 === 0 ? 'others' : 'afterStop'].push(ms);
      }
    }
    arm = undefined;
    if (attached) seen.push((await watcher.send('detach')).detached as WatcherStats);
    const measuredS = (performance.now() - t0) / 1000;
    await load.stop();
    await buyerNc.close();

    const sample = (xs: number[]): Sample => {
      const s = [...xs].sort((x, y) => x - y);
      return { medianMs: quantile(s, 0.5), p95Ms: quantile(s, 0.95), p99Ms: quantile(s, 0.99), runs: s.length };
    };
    const without = sample(times.without);
    const withConsole = sample(times.with);
    const ratio = withConsole.medianMs / without.medianMs;
    const afterStop = sample(without2.afterStop).medianMs / sample(without2.others).medianMs;
    const sessions = { without: summary(load.done.filter((d) => d.arm === 'without').map((d) => d.ms)), with: summary(load.done.filter((d) => d.arm === 'with').map((d) => d.ms)) };
    const total = (k: 'events' | 'fetches' | 'cpuMs' | 'wallMs') => seen.reduce((s, x) => s + x[k], 0);
    const console_ = {
      attachments: seen.length,
      changeEvents: total('events'),
      sessionFetches: total('fetches'),
      fetchMedianMs: summaryOf(seen.map((s) => s.fetchMedianMs)),
      sessionViewBytes: summaryOf(seen.map((s) => s.bodyMedianBytes)),
      sessionsFollowed: seen.reduce((s, x) => s + x.sessionsFollowed, 0),
      cpuMsPerSecond: (total('cpuMs') / total('wallMs')) * 1000,
    };
    // a console that saw nothing measured nothing
    if (console_.changeEvents === 0 || console_.sessionFetches === 0) throw new Error(`the console saw ${console_.changeEvents} changes and fetched ${console_.sessionFetches} views: it was not watching`);

    console.log(`console: hops timed alone, ${ROUNDS} rounds of ${PER_ROUND} in each arm over ${measuredS.toFixed(0)} s, a session opened every ${PACE_MS} ms all along (${load.count()} sessions, ${load.skipped()} not opened: ${MAX_OPEN} were open)`);
    console.log(
      table([
        ['measure', 'median ms', 'p95 ms', 'runs'],
        ['hop, no console', without.medianMs.toFixed(3), without.p95Ms.toFixed(3), String(without.runs)],
        ['hop, console attached and watching', withConsole.medianMs.toFixed(3), withConsole.p95Ms.toFixed(3), String(withConsole.runs)],
        ['session request → results, no console', sessions.without.p50Ms.toFixed(1), sessions.without.p95Ms.toFixed(1), String(sessions.without.runs)],
        ['session request → results, console watching', sessions.with.p50Ms.toFixed(1), sessions.with.p95Ms.toFixed(1), String(sessions.with.runs)],
      ]),
    );
    console.log(`without rounds right after the console stopped against the other without rounds: ${afterStop.toFixed(3)}x (noise, and what the console left behind)`);
    console.log(
      `the console while attached: ${console_.changeEvents} change events streamed, ${console_.sessionFetches} session views fetched ` +
        `(median ${console_.fetchMedianMs.toFixed(1)} ms, ${console_.sessionViewBytes.toFixed(0)} B), ${console_.sessionsFollowed} sessions followed, ` +
        `${console_.cpuMsPerSecond.toFixed(0)} CPU ms per second (console and page client together)`,
    );
    const targets = [
      target('console-hop', `${ratio.toFixed(3)}x (${withConsole.medianMs.toFixed(3)} / ${without.medianMs.toFixed(3)} ms; without just after a stop / other without ${afterStop.toFixed(3)}x)`, `<= ${GOAL.toFixed(2)}x hop without a console`, ratio <= GOAL),
      target('console-session', `${(sessions.with.p50Ms / sessions.without.p50Ms).toFixed(2)}x (${sessions.with.p50Ms.toFixed(1)} / ${sessions.without.p50Ms.toFixed(1)} ms, ${sessions.with.runs} / ${sessions.without.runs} sessions)`, 'session latency with / without, reported', null),
    ];
    const file = writeResults('console', { rounds: ROUNDS, perRound: PER_ROUND, paceMs: PACE_MS, sessionsOpened: load.count(), measuredSeconds: measuredS, ratio, withoutAfterStopRatio: afterStop, hopWithout: without, hopWith: withConsole, sessions, console: console_ }, targets);
    console.log(`results: ${file}`);
    printTargets(targets);
  } finally {
    await load?.stop().catch(() => undefined);
    await watcher?.send('quit').catch(() => undefined);
    if (watcher && watcher.child.exitCode === null) {
      const exited = new Promise((r) => watcher!.child.once('exit', r));
      const kill = setTimeout(() => watcher!.child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(kill);
    }
    await probe?.stop();
    await close();
  }
}

function summaryOf(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return quantile(s, 0.5);
}
