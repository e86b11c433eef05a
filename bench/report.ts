/**
 * bench/RESULTS.md, written from the result files in bench/results/ (`npm run bench` ends
 * with it; `npm run bench -- --report` writes it alone): the latest run of each benchmark,
 * the machine, the date, the load average when it started, every target line with
 * met/missed, and the figures of that run; then the history and analysis kept by hand in
 * bench/RESULTS-notes.md (what changed and why, never today's figures). No figure in the
 * generated part is typed by hand.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { numericLeaves } from './compare.js';
import { memoryPeaks } from './memory.js';
import { RESULTS_DIR, targetLine, type Target } from './lib.js';

export const RESULTS_FILE = resolve(RESULTS_DIR, '..', 'RESULTS.md');
export const NOTES_FILE = resolve(RESULTS_DIR, '..', 'RESULTS-notes.md');

/** the order benchmarks are shown in; others follow by name */
const ORDER = ['crypto', 'hop', 'console', 'negotiate', 'dispute', 'limit', 'session', 'load', 'soak'];

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface ResultDoc {
  bench: string;
  date: string;
  machine: { cpus: number; model: string; node: string };
  loadAverageAtStart?: number[];
  figures: Json;
  targets: Target[];
  /** the result file's name */
  file: string;
}

export class ReportError extends Error {}

function isObject(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses one result file's text; throws ReportError when it is not a benchmark result. */
export function parseResult(file: string, text: string): ResultDoc {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ReportError(`${file} is not JSON: ${(e as Error).message}`);
  }
  if (!isObject(doc) || typeof doc.bench !== 'string' || typeof doc.date !== 'string' || !('figures' in doc) || !Array.isArray(doc.targets) || !isObject(doc.machine)) {
    throw new ReportError(`${file} is not a benchmark result (bench, date, machine, figures, targets)`);
  }
  if (Number.isNaN(Date.parse(doc.date))) throw new ReportError(`${file}: date ${doc.date} is not a date`);
  const targets = doc.targets.map((t, i): Target => {
    if (!isObject(t) || typeof t.name !== 'string' || typeof t.measured !== 'string' || typeof t.goal !== 'string' || !(typeof t.met === 'boolean' || t.met === null)) {
      throw new ReportError(`${file}: target #${i} is not {name, measured, goal, met}`);
    }
    return { name: t.name, measured: t.measured, goal: t.goal, met: t.met };
  });
  const m = doc.machine;
  const load = Array.isArray(doc.loadAverageAtStart) && doc.loadAverageAtStart.every((x) => typeof x === 'number') ? (doc.loadAverageAtStart as number[]) : undefined;
  return {
    bench: doc.bench,
    date: doc.date,
    machine: { cpus: typeof m.cpus === 'number' ? m.cpus : 0, model: typeof m.model === 'string' ? m.model : 'unknown', node: typeof m.node === 'string' ? m.node : '?' },
    ...(load ? { loadAverageAtStart: load } : {}),
    figures: doc.figures as Json,
    targets,
    file,
  };
}

/** The latest run of each benchmark (by its date), in the order of ORDER. */
export function latestPerBench(docs: ResultDoc[]): ResultDoc[] {
  const latest = new Map<string, ResultDoc>();
  for (const d of docs) {
    const had = latest.get(d.bench);
    if (!had || Date.parse(d.date) > Date.parse(had.date)) latest.set(d.bench, d);
  }
  const rank = (b: string) => (ORDER.includes(b) ? ORDER.indexOf(b) : ORDER.length);
  return [...latest.values()].sort((a, b) => rank(a.bench) - rank(b.bench) || a.bench.localeCompare(b.bench));
}

/** Every result file in `dir`; files that are not results are reported, not fatal. */
export function readResults(dir = RESULTS_DIR): { docs: ResultDoc[]; skipped: string[] } {
  const docs: ResultDoc[] = [];
  const skipped: string[] = [];
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.json')).sort()) {
    try {
      docs.push(parseResult(f, readFileSync(join(dir, f), 'utf8')));
    } catch (e) {
      if (!(e instanceof ReportError)) throw e;
      skipped.push(e.message);
    }
  }
  return { docs, skipped };
}

const cell = (s: string) => s.replace(/\|/g, '\\|');

function mdTable(rows: string[][]): string {
  const [head, ...body] = rows;
  return [`| ${head!.map(cell).join(' | ')} |`, `|${head!.map(() => '---').join('|')}|`, ...body.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
}

const status = (t: Target) => (t.met === null ? 'reported' : t.met ? 'met' : '**missed**');
const when = (d: ResultDoc) => d.date.slice(0, 16).replace('T', ' ') + ' UTC';

function num(v: Json | undefined, digits: number): string {
  return typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '-';
}

function get(v: Json | undefined, ...path: string[]): Json | undefined {
  let x: Json | undefined = v;
  for (const p of path) x = isObject(x) ? x[p] : undefined;
  return x;
}

function cryptoFigures(f: Json): string {
  if (!Array.isArray(f)) return '';
  return mdTable([
    ['operation', 'bits', 'median ms', 'baseline ms', 'ratio'],
    ...f.filter(isObject).map((r) => [String(r.op), r.bits === null ? '-' : String(r.bits), num(r.medianMs, 3), num(r.baselineMs, 3), typeof r.ratio === 'number' ? `${r.ratio.toFixed(2)}x` : '-']),
  ]);
}

function loadFigures(f: Json): string {
  const phases = get(f, 'phases');
  if (!Array.isArray(phases)) return '';
  const out = [
    mdTable([
      ['Agent Homes', 'N', 'sessions/s', 'p50 ms', 'p95 ms', 'failed', 'CPU ms/session: Agent Home / stores / buyers / nats-server'],
      ...phases.filter(isObject).map((p) => {
        const c = p.cpuMsPerSession;
        const cpu = isObject(c) ? ['agent-home', 'stores', 'buyers', 'nats-server'].map((k) => num(c[k], 1)).join(' / ') : '-';
        return [String(p.homes), String(p.buyers), num(p.sessionsPerSecond, 2), num(get(p, 'latency', 'p50Ms'), 0), num(get(p, 'latency', 'p95Ms'), 0), String(p.failures), cpu];
      }),
    ]),
  ];
  const lim = get(f, 'limitSessionsPerSecond');
  if (typeof lim === 'number') out.push(`Limit: ${lim.toFixed(2)} sessions/s (priced ${num(get(f, 'limitBefore'), 2)} before the N = 64 phase, ${num(get(f, 'limitAfter'), 2)} after); with Ed25519 at libsodium's cost ${num(get(f, 'limitLibsodiumEd25519'), 2)}.`);
  const byRole = get(f, 'limitByRole');
  if (isObject(byRole)) out.push(`Priced CPU ms per session by role: ${Object.entries(byRole).map(([k, v]) => `${k} ${num(v, 2)}`).join(', ')}.`);
  return out.join('\n\n');
}

function soakFigures(f: Json): string {
  const samples = get(f, 'rssSamples');
  if (!Array.isArray(samples)) return '';
  const withProcs = samples.filter(isObject).filter((s) => isObject(s.byProcess)) as Array<{ byProcess: Record<string, number> }>;
  if (withProcs.length < 3) return '';
  const peaks = memoryPeaks(withProcs);
  return mdTable([['process', 'middle-third peak MiB', 'last-third peak MiB', 'ratio'], ...peaks.map((p) => [p.process, p.middleMiB.toFixed(0), p.lastMiB.toFixed(0), `${p.ratio.toFixed(2)}x`])]) + `\n\n${withProcs.length} samples, one every 30 s.`;
}

function limitFigures(f: Json): string {
  const rows = [
    ['limit (distinct operations)', num(get(f, 'cpuMsPerSession'), 2), num(get(f, 'sessionsPerSecond'), 1)],
    ['every counted operation priced', num(get(f, 'asImplemented', 'cpuMsPerSession'), 2), num(get(f, 'asImplemented', 'sessionsPerSecond'), 1)],
    ["limit with Ed25519 at libsodium's cost", num(get(f, 'withLibsodiumEd25519', 'cpuMsPerSession'), 2), num(get(f, 'withLibsodiumEd25519', 'sessionsPerSecond'), 1)],
    ['actual implementation (one session, in-process)', num(get(f, 'actualCpuMsPerSession'), 1), '-'],
  ];
  const out = [mdTable([['', 'CPU ms/session', 'sessions/s'], ...rows])];
  const byRole = get(f, 'byRole');
  if (isObject(byRole)) out.push(`By role (CPU ms per session): ${Object.entries(byRole).map(([k, v]) => `${k} ${num(v, 2)}`).join(', ')}.`);
  return out.join('\n\n');
}

/** Every numeric figure, by its path in the result file. */
function genericFigures(f: Json): string {
  const leaves = [...numericLeaves(f)];
  if (!leaves.length) return '';
  const fmt = (x: number) => (Number.isInteger(x) ? String(x) : Math.abs(x) >= 100 ? x.toFixed(1) : x.toPrecision(4));
  return mdTable([['figure', 'value'], ...leaves.map(([p, v]) => [p, fmt(v)])]);
}

const RENDER: Record<string, (f: Json) => string> = { crypto: cryptoFigures, load: loadFigures, soak: soakFigures, limit: limitFigures };

/** The generated part of RESULTS.md, then `notes` (the hand-kept history and analysis). */
export function renderResults(docs: ResultDoc[], notes = ''): string {
  const latest = latestPerBench(docs);
  const out: string[] = [];
  out.push('# Benchmark results');
  out.push('');
  out.push('Written by `npm run bench` (bench/report.ts) from the latest run of each benchmark in `bench/results/`; do not edit by hand (history and analysis: bench/RESULTS-notes.md, appended below). `npm run bench -- --report` rewrites it from the stored results alone.');
  out.push('');
  out.push('## Headline');
  out.push('');
  const all = latest.flatMap((d) => d.targets.map((t) => ({ d, t })));
  if (all.length) {
    out.push(mdTable([['target', 'measured', 'goal', 'status', 'run'], ...all.map(({ d, t }) => [t.name, t.measured, t.goal, status(t), `${d.bench}, ${when(d)}`])]));
    const met = all.filter((x) => x.t.met === true).length;
    const goals = all.filter((x) => x.t.met !== null).length;
    out.push('');
    out.push(`${met} of ${goals} targets met.`);
  } else out.push('No results yet: run `npm run bench`.');
  out.push('');
  out.push('Figures are ratios against a baseline measured in the same run where the target says so; the machine is shared, so absolute times move with its load (the load average when each benchmark started is given below).');
  for (const d of latest) {
    out.push('');
    out.push(`## ${d.bench}`);
    out.push('');
    const load = d.loadAverageAtStart ? `load average at start ${d.loadAverageAtStart.map((x) => x.toFixed(2)).join(' / ')}` : 'load average not recorded';
    out.push(`${when(d)} · ${d.machine.cpus} × ${d.machine.model} · Node ${d.machine.node} · ${load} · \`bench/results/${d.file}\``);
    if (d.targets.length) {
      out.push('');
      out.push('```');
      for (const t of d.targets) out.push(targetLine(t));
      out.push('```');
    }
    const figures = (RENDER[d.bench] ?? genericFigures)(d.figures);
    if (figures) {
      out.push('');
      out.push(figures);
    }
  }
  if (notes.trim()) {
    out.push('');
    out.push(notes.trim());
  }
  return out.join('\n') + '\n';
}

/** Rewrites bench/RESULTS.md from bench/results/; returns what it skipped. */
export function writeReport(): { file: string; skipped: string[] } {
  const { docs, skipped } = readResults();
  let notes = '';
  try {
    notes = readFileSync(NOTES_FILE, 'utf8');
  } catch {
    // no notes: the generated part alone
  }
  writeFileSync(RESULTS_FILE, renderResults(docs, notes));
  return { file: RESULTS_FILE, skipped };
}
