/**
 * bench/RESULTS.md is written from the result files (bench/report.ts): these check the
 * parsing of result files, the choice of the latest run per benchmark, and what the page
 * shows (every target line with met/missed, the load average, the notes), on result
 * documents made here. No timing is asserted.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { latestPerBench, parseResult, renderResults, ReportError, type ResultDoc } from '../../bench/report.js';
import { memoryPeaks } from '../../bench/memory.js';

const machine = { cpus: 2, model: 'Test CPU', node: 'v20.0.0' };

function doc(bench: string, date: string, targets: ResultDoc['targets'], figures: ResultDoc['figures'] = {}): string {
  return JSON.stringify({ bench, date, machine, loadAverageAtStart: [3.5, 2.25, 1], figures, targets });
}

test('a result file is parsed; files that are not results are refused with the reason', () => {
  const d = parseResult('crypto-1.json', doc('crypto', '2026-12-07T10:00:00.000Z', [{ name: 'completion-2048', measured: '1.05x modexp', goal: '<=1.15x modexp', met: true }]));
  assert.is(d.bench, 'crypto');
  assert.equal(d.loadAverageAtStart, [3.5, 2.25, 1]);
  assert.is(d.targets[0]!.met, true);
  assert.throws(() => parseResult('x.json', '{not json'), (e: unknown) => e instanceof ReportError && /not JSON/.test((e as Error).message));
  assert.throws(() => parseResult('x.json', JSON.stringify({ bench: 'crypto' })), (e: unknown) => e instanceof ReportError && /not a benchmark result/.test((e as Error).message));
  assert.throws(() => parseResult('x.json', doc('crypto', 'yesterday', [])), (e: unknown) => e instanceof ReportError && /not a date/.test((e as Error).message));
  assert.throws(
    () => parseResult('x.json', JSON.stringify({ bench: 'load', date: '2026-12-07T10:00:00Z', machine, figures: {}, targets: [{ name: 'load', met: 'yes' }] })),
    (e: unknown) => e instanceof ReportError && /target #0/.test((e as Error).message),
  );
});

test('an older result file without a load average still parses', () => {
  const d = parseResult('old.json', JSON.stringify({ bench: 'hop', date: '2026-11-21T10:00:00Z', machine, figures: { hop: 1 }, targets: [] }));
  assert.is(d.loadAverageAtStart, undefined);
});

test('the latest run of each benchmark is kept, by its date, in the benchmarks\' order', () => {
  const docs = [
    parseResult('load-a.json', doc('load', '2026-12-07T09:00:00Z', [])),
    parseResult('crypto-b.json', doc('crypto', '2026-12-07T08:00:00Z', [])),
    parseResult('load-c.json', doc('load', '2026-12-07T11:00:00Z', [])),
    parseResult('load-d.json', doc('load', '2026-12-07T10:00:00Z', [])),
  ];
  const latest = latestPerBench(docs);
  assert.equal(latest.map((d) => d.file), ['crypto-b.json', 'load-c.json']);
});

test('the page shows every target of the latest runs with met / missed / reported, the machine and the notes', () => {
  const docs = [
    parseResult('crypto-old.json', doc('crypto', '2026-12-06T08:00:00Z', [{ name: 'completion-2048', measured: '9.99x', goal: '<=4x', met: false }])),
    parseResult('crypto-new.json', doc('crypto', '2026-12-07T08:00:00Z', [{ name: 'completion-2048', measured: '1.05x modexp', goal: '<=1.15x modexp', met: true }], [{ op: 'completion', bits: 2048, medianMs: 2.5, baselineMs: 2.4, ratio: 1.04 }])),
    parseResult(
      'load-new.json',
      doc('load', '2026-12-07T09:30:00Z', [
        { name: 'load', measured: '20 sessions/s = 45% of the limit', goal: '>= 60% of limit', met: false },
        { name: 'cpu-per-session-stores', measured: '38 ms against 11 ms priced', goal: 'none, reported', met: null },
      ], { phases: [{ homes: 1, buyers: 64, sessionsPerSecond: 20, latency: { p50Ms: 3000, p95Ms: 4000 }, failures: 0, cpuMsPerSession: { 'agent-home': 23, stores: 38, buyers: 18, 'nats-server': 10 } }], limitSessionsPerSecond: 44.4 }),
    ),
  ];
  const page = renderResults(docs, '## What changed\n\n- something, for a reason');
  assert.ok(page.startsWith('# Benchmark results\n'));
  assert.ok(page.includes('| completion-2048 | 1.05x modexp | <=1.15x modexp | met |'), 'headline row of the latest crypto run');
  assert.not.ok(page.includes('9.99x'), 'an older run of the same benchmark is not shown');
  assert.ok(page.includes('| load | 20 sessions/s = 45% of the limit | >= 60% of limit | **missed** |'));
  assert.ok(page.includes('reported'));
  assert.ok(page.includes('target load: 20 sessions/s = 45% of the limit (goal >= 60% of limit) missed'), 'the target line as the benchmark printed it');
  assert.ok(page.includes('1 of 2 targets met.'));
  assert.ok(page.includes('load average at start 3.50 / 2.25 / 1.00'));
  assert.ok(page.includes('2 × Test CPU'));
  assert.ok(page.includes('| 1 | 64 | 20.00 | 3000 | 4000 | 0 | 23.0 / 38.0 / 18.0 / 10.0 |'), 'load phase with CPU per session by role');
  assert.ok(page.includes('| completion | 2048 | 2.500 | 2.400 | 1.04x |'), 'crypto rows');
  assert.ok(page.trimEnd().endsWith('- something, for a reason'), 'the hand-kept notes come last');
  assert.ok(page.indexOf('## crypto') < page.indexOf('## load'));
});

test('a benchmark without its own table shows every numeric figure by path', () => {
  const page = renderResults([parseResult('hop.json', doc('hop', '2026-12-07T08:00:00Z', [], { hop: { medianMs: 0.75 }, rtt: { medianMs: 0.15 } }))]);
  assert.ok(page.includes('| hop.medianMs | 0.7500 |'));
  assert.ok(page.includes('| rtt.medianMs | 0.1500 |'));
});

test('no results: the page says how to make them', () => {
  assert.ok(renderResults([]).includes('No results yet'));
});

test('memory: for every process, the last third\'s peak against the middle third\'s', () => {
  const rss = [100, 200, 180, 190, 185, 230, 170, 200, 150];
  const samples = rss.map((r, i) => ({ byProcess: { 'home-1': r, 'store-m01': 50 + i } }));
  const peaks = memoryPeaks(samples);
  const home = peaks.find((p) => p.process === 'home-1')!;
  assert.equal([home.middleMiB, home.lastMiB], [230, 200]);
  const store = peaks.find((p) => p.process === 'store-m01')!;
  assert.equal([store.middleMiB, store.lastMiB], [55, 58], 'a growing process shows its growth');
  // and the soak's table on the page
  const page = renderResults([parseResult('soak.json', doc('soak', '2026-12-07T08:00:00Z', [], { rssSamples: samples.map((s, i) => ({ atS: 30 * (i + 1), rssMiB: s.byProcess['home-1'], ...s })) }))]);
  assert.ok(page.includes('| store-m01 | 55 | 58 | 1.05x |'));
});

test.run();
