/**
 * The journal (agents/storage/journal.ts) and the file host store built on it
 * (agents/runtime/host-store.ts): records survive reopening in order, appends made together
 * share a write, a torn tail from a crash is cut off, compaction keeps exactly what is
 * still needed, and a key once accepted stays a duplicate until its agent expires.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { appendFileSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Journal } from '../../agents/storage/journal.js';
import { JournalMap } from '../../agents/storage/journal-map.js';
import { FileHostStore } from '../../agents/runtime/host-store.js';
import { createAgent, type Envelope } from '../../agents/runtime/envelope.js';
import { testPki } from '../helpers/parties.js';
import { tempDir } from '../helpers/paths.js';
import type { Self } from '../../agents/runtime/trust.js';

const test = suite('journal and file host store');
const tmp = tempDir('parley-journal-');
let issuer: Self;

test.before(async () => {
  issuer = await (await testPki()).party('home', 'agent-home');
});
test.after(() => tmp.remove());

function agent(ttlMs = 60_000): Envelope {
  return createAgent(issuer, { kind: 'probe', itinerary: [{ host: 'm1', timeoutMs: 1000 }], payload: { n: Math.random() }, ttlMs });
}

test('records come back in order after reopening; appends made together share one write', async () => {
  const path = join(tmp.path, 'a.jsonl');
  const { journal, records } = Journal.open(path);
  assert.equal(records, []);
  await Promise.all(Array.from({ length: 200 }, (_, i) => journal.append({ i })));
  await journal.append('{"raw":true}');
  await journal.close();
  const lines = readFileSync(path, 'utf8').split('\n');
  assert.is(lines.length, 202, '201 lines and the final newline');
  const again = Journal.open(path);
  assert.equal(again.records, [...Array.from({ length: 200 }, (_, i) => ({ i })), { raw: true }]);
  await again.journal.close();
  const refusal = (p: Promise<unknown>) => p.then(() => 'written', (e: Error) => e.message);
  assert.match(await refusal(again.journal.append({ late: 1 })), /closed/);
  assert.match(await refusal(Journal.open(join(tmp.path, 'b.jsonl')).journal.append('{"a":\n1}')), /one line/);
});

test('a torn tail (a crash during the last write) is cut off and the next append lands cleanly', async () => {
  const path = join(tmp.path, 'torn.jsonl');
  const first = Journal.open(path);
  await first.journal.append({ ok: 1 });
  await first.journal.append({ ok: 2 });
  await first.journal.close();
  appendFileSync(path, '{"ok":3,"half');
  const size = statSync(path).size;
  const second = Journal.open(path);
  assert.equal(second.records, [{ ok: 1 }, { ok: 2 }]);
  assert.ok(statSync(path).size < size, 'the torn line is gone from the file');
  await second.journal.append({ ok: 4 });
  await second.journal.close();
  assert.equal(Journal.open(path).records, [{ ok: 1 }, { ok: 2 }, { ok: 4 }]);
});

test('rewrite replaces the content; appends made during it land after it', async () => {
  const path = join(tmp.path, 'rewrite.jsonl');
  const { journal } = Journal.open(path);
  await Promise.all([1, 2, 3].map((i) => journal.append({ old: i })));
  const rewriting = journal.rewrite([{ kept: 1 }]);
  const during = journal.append({ after: 1 });
  await Promise.all([rewriting, during]);
  await journal.close();
  assert.equal(Journal.open(path).records, [{ kept: 1 }, { after: 1 }]);
});

test('lazy records wait for the next batch (or 100 ms), keep their order, and are written on close', async () => {
  const path = join(tmp.path, 'lazy.jsonl');
  const { journal } = Journal.open(path);
  const since = (t0: number) => (p: Promise<unknown>) => p.then(() => Date.now() - t0);
  let t0 = Date.now();
  const alone = await since(t0)(journal.append({ lazy: 1 }, { lazy: true }));
  assert.ok(alone >= 90, `a lazy record alone waits for its batch (${alone} ms)`);
  t0 = Date.now();
  const [lazy, eager] = await Promise.all([since(t0)(journal.append({ lazy: 2 }, { lazy: true })), since(t0)(journal.append({ eager: 3 }))]);
  assert.ok(lazy < 90 && Math.abs(lazy - eager) < 20, `it goes out with the next record that is not lazy (${lazy} ms, ${eager} ms)`);
  const pending = journal.append({ lazy: 4 }, { lazy: true });
  await journal.close();
  await pending;
  assert.equal(Journal.open(path).records, [{ lazy: 1 }, { lazy: 2 }, { eager: 3 }, { lazy: 4 }]);
});

test('journal map: one create of a key wins, puts replace, values come back from the file after reopening', async () => {
  const path = join(tmp.path, 'map.jsonl');
  const map = JournalMap.open<{ n: number; s?: string }>(path);
  // created together: exactly one wins, and the loser finds the winner's value
  const outcomes = await Promise.all([map.create('a', { n: 1 }), map.create('a', { n: 2 })]);
  assert.equal(outcomes, [true, false]);
  assert.equal(map.get('a'), { n: 1 });
  assert.is(await map.create('a', { n: 3 }), false);
  // multi-byte text: each value is found at its byte offset, not its character offset
  await Promise.all([map.create('b', { n: 1, s: 'prix 1 300 € — ça va' }), map.put('c', { n: 1 }), map.put('c', { n: 2 })]);
  await map.put('b', { n: 2, s: '日本' });
  assert.equal(map.get('b'), { n: 2, s: '日本' });
  assert.equal(map.get('c'), { n: 2 }, 'the later of two puts made together');
  assert.is(map.get('none'), undefined);
  await map.close();

  const again = JournalMap.open<{ n: number; s?: string }>(path);
  assert.equal(again.keys().sort(), ['a', 'b', 'c']);
  assert.equal([again.get('a'), again.get('b'), again.get('c')], [{ n: 1 }, { n: 2, s: '日本' }, { n: 2 }]);
  assert.is(await again.create('b', { n: 9 }), false, 'a key stays taken across a restart');
  assert.is(readFileSync(path, 'utf8').split('\n').length, 6, 'five records (a, b, c, c, b) and the final newline');
  await again.close();
});

test('file host store: arrivals, states and done keys survive a restart; a done key stays a duplicate', async () => {
  const dir = join(tmp.path, 'host');
  const store = new FileHostStore(dir);
  const a = agent();
  const b = agent();
  const raw = new TextEncoder().encode(JSON.stringify(a));
  // two arrivals of one key at once: exactly one is new
  const outcomes = await Promise.all([store.accept('a.0', a, raw), store.accept('a.0', a, raw)]);
  assert.equal(outcomes.sort(), ['duplicate', 'new']);
  assert.is(await store.accept('b.0', b), 'new');
  assert.is(await store.setState('a.0', { phase: 'handled', note: 'visited', outgoing: null }, 0), 1);
  assert.is(await store.setState('b.0', { phase: 'done', note: 'home' }, 0), 1);
  await store.close();

  const reopened = new FileHostStore(dir);
  assert.equal(await reopened.pending(), [{ key: 'a.0', revision: 1, writtenAt: 0 }]);
  assert.equal(await reopened.state('a.0'), { state: { phase: 'handled', note: 'visited', outgoing: null }, revision: 1 });
  assert.equal(await reopened.envelope('a.0'), a);
  assert.equal((await reopened.state('b.0'))?.state.phase, 'done');
  assert.is(await reopened.envelope('b.0'), undefined, 'the envelope of finished work is not kept');
  assert.is(await reopened.accept('b.0', b), 'duplicate', 'a finished agent delivered again is not run again');
  assert.is(await reopened.state('never'), undefined);
  await reopened.close();
});

test('file host store: done after handled is written lazily, and is on disk after close', async () => {
  const dir = join(tmp.path, 'lazy-done');
  const store = new FileHostStore(dir);
  await store.accept('a.0', agent());
  await store.setState('a.0', { phase: 'handled', note: 'n', outgoing: null }, 0);
  const t0 = Date.now();
  await store.setState('a.0', { phase: 'done' }, 1);
  assert.ok(Date.now() - t0 < 50, 'nothing waits for it');
  assert.equal(await store.pending(), []);
  await store.close();
  const reopened = new FileHostStore(dir);
  assert.equal(await reopened.pending(), [], 'done survives a clean stop');
  await reopened.close();
});

test('file host store: compaction keeps unfinished work and unexpired done keys, forgets expired ones', async () => {
  const dir = join(tmp.path, 'compact');
  const store = new FileHostStore(dir);
  const pending = agent();
  const shortLived = agent(50);
  const done = agent();
  await store.accept('p.0', pending);
  await store.setState('p.0', { phase: 'handled', note: 'n' }, 0);
  await store.accept('s.0', shortLived);
  await store.setState('s.0', { phase: 'done' }, 0);
  await new Promise((r) => setTimeout(r, 80));
  await store.accept('d.0', done);
  await store.setState('d.0', { phase: 'done' }, 0);
  await store.compact();
  await store.close();
  const records = Journal.open(join(dir, 'journal.jsonl')).records as Array<{ t: string; k: string }>;
  assert.equal(
    records.map((r) => `${r.t} ${r.k}`),
    ['in p.0', 'st p.0', 'done d.0'],
    'the expired done key is gone; unfinished work keeps its arrival and state',
  );
  const reopened = new FileHostStore(dir);
  assert.equal((await reopened.pending()).map((p) => p.key), ['p.0']);
  assert.equal(await reopened.envelope('p.0'), pending);
  assert.is(await reopened.accept('d.0', done), 'duplicate');
  await reopened.close();
});

test.run();
