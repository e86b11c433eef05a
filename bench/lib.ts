/**
 * Tiny benchmark kit: medians of repeated runs, a JSON result file per run under
 * bench/results/, and the one-line target verdicts every benchmark ends with:
 *   target <name>: <measured> (goal <goal>) met|missed
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus, loadavg } from 'node:os';

export const RESULTS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), 'results');

export interface Sample {
  /** median milliseconds per operation */
  medianMs: number;
  p95Ms: number;
  p99Ms: number;
  runs: number;
  /**
   * median CPU milliseconds of this process per operation (all its threads, user + system;
   * measureInterleaved only): unlike wall time it does not grow while other processes on a
   * shared machine hold the core
   */
  cpuMedianMs?: number;
}

export function quantile(sorted: number[], q: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))));
  return sorted[i] ?? NaN;
}

/**
 * Runs `fn` (after `warmup` runs) until `minRuns` runs and `minMs` total have passed.
 * `between` runs untimed before each timed run (to let background work settle).
 */
export async function measure(
  fn: () => unknown,
  opts: { minRuns?: number; minMs?: number; warmup?: number; maxRuns?: number; between?: () => unknown } = {},
): Promise<Sample> {
  const { minRuns = 15, minMs = 300, warmup = 3, maxRuns = 100_000, between } = opts;
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < maxRuns && (times.length < minRuns || performance.now() - start < minMs)) {
    if (between) await between();
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { medianMs: quantile(times, 0.5), p95Ms: quantile(times, 0.95), p99Ms: quantile(times, 0.99), runs: times.length };
}

export interface Summary {
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  meanMs: number;
  runs: number;
}

/** Percentiles of a set of measured durations. */
export function summary(ms: number[]): Summary {
  const sorted = [...ms].sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length);
  return { p50Ms: quantile(sorted, 0.5), p95Ms: quantile(sorted, 0.95), p99Ms: quantile(sorted, 0.99), meanMs: mean, runs: sorted.length };
}

export interface Op {
  fn: () => unknown;
  /** runs untimed before each run */
  between?: () => unknown;
  /** untimed runs before the first round */
  warmup?: number;
}

async function runOnce({ fn, between }: Op): Promise<{ wall: number; cpu: number }> {
  if (between) await between();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1000 };
}

/**
 * Measures several operations in alternating rounds of `perRound` timed runs each, so that
 * all of them see the same machine load (on a shared machine it drifts within seconds, and
 * operations measured one after the other would be compared across different loads).
 */
export async function measureInterleaved<K extends string>(ops: Record<K, Op>, opts: { rounds: number; perRound: number }): Promise<Record<K, Sample>> {
  const names = Object.keys(ops) as K[];
  const times = new Map<K, Array<{ wall: number; cpu: number }>>(names.map((n) => [n, []]));
  for (const n of names) for (let i = 0; i < (ops[n].warmup ?? 3); i++) await runOnce(ops[n]);
  for (let r = 0; r < opts.rounds; r++) {
    for (const n of names) {
      const out = times.get(n)!;
      for (let i = 0; i < opts.perRound; i++) out.push(await runOnce(ops[n]));
    }
  }
  const result = {} as Record<K, Sample>;
  for (const n of names) {
    const sorted = times.get(n)!.map((t) => t.wall).sort((a, b) => a - b);
    const cpu = times.get(n)!.map((t) => t.cpu).sort((a, b) => a - b);
    result[n] = { medianMs: quantile(sorted, 0.5), p95Ms: quantile(sorted, 0.95), p99Ms: quantile(sorted, 0.99), runs: sorted.length, cpuMedianMs: quantile(cpu, 0.5) };
  }
  return result;
}

export interface Target {
  name: string;
  measured: string;
  goal: string;
  /** null: a figure reported beside the targets, with no goal of its own */
  met: boolean | null;
}

export function target(name: string, measured: string, goal: string, met: boolean | null): Target {
  return { name, measured, goal, met };
}

/** The one-line form of a target, as printed and as RESULTS.md shows it. */
export function targetLine(t: Target): string {
  return `target ${t.name}: ${t.measured} (goal ${t.goal}) ${t.met === null ? 'reported' : t.met ? 'met' : 'missed'}`;
}

export function printTargets(targets: Target[]): void {
  for (const t of targets) console.log(targetLine(t));
}

/** The 1-, 5- and 15-minute load averages when the current benchmark started. */
let loadAtStart = loadavg();

/** Notes the machine's load as a benchmark starts (bench/index.ts calls it before each). */
export function markBenchStart(): void {
  loadAtStart = loadavg();
}

/** Writes one JSON document for this run and returns its path. */
export function writeResults(bench: string, figures: unknown, targets: Target[]): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = join(RESULTS_DIR, `${bench}-${stamp}.json`);
  const doc = {
    bench,
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version },
    // the machine is shared: what else ran, as the load average when this benchmark started
    loadAverageAtStart: loadAtStart.map((x) => Math.round(x * 100) / 100),
    figures,
    targets,
  };
  writeFileSync(file, JSON.stringify(doc, null, 2) + '\n');
  return file;
}

/** Formats a table of rows (first row = header) with aligned columns. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')).join('\n');
}
