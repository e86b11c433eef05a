/**
 * KvClient (agents/storage/kv-client.ts) on a real nats-server: reads and writes as
 * nats.js's KV sees them. KvUpdater (agents/storage/kv.ts): concurrent updates of one record
 * are all applied, in fewer writes than updates; a write by another process in between is
 * noticed and nothing it wrote is lost; each caller gets what its own update returned; a
 * throwing update fails alone; "no change" decided on a remembered value is checked again.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { natsSuite } from '../helpers/nats.js';
import { KvUpdater } from '../../agents/storage/kv.js';
import { KvClient } from '../../agents/storage/kv-client.js';

const test = suite('KV client and updater');
const nats = natsSuite(test);

interface Rec {
  items: string[];
}

let kv: KvClient;

test.before(async () => {
  const nc = await nats.connect('kv-updater');
  await nc.jetstream().views.kv('kv_updater_test', { history: 1 });
  kv = new KvClient(nc, 'kv_updater_test');
});

test('KvClient: reads what nats.js wrote and the other way round; absent, deleted, created once', async () => {
  const nc = await nats.connect('kv-client');
  const view = await nc.jetstream().views.kv('kv_updater_test', { history: 1 });
  assert.is(await kv.get('never'), undefined);
  const rev = await view.put('n', new TextEncoder().encode('{"a":1}'));
  const e = (await kv.get('n'))!;
  assert.equal({ op: e.operation, rev: e.revision, value: JSON.parse(new TextDecoder().decode(e.value)) }, { op: 'PUT', rev, value: { a: 1 } });
  assert.ok(Math.abs(e.created.getTime() - Date.now()) < 60_000, 'the time it was stored');
  const rev2 = await kv.putJson('n', { a: 2 });
  assert.is((await view.get('n'))!.revision, rev2);
  assert.equal((await kv.getJson('n'))!.value, { a: 2 });
  await view.delete('n');
  assert.is((await kv.get('n'))!.operation, 'DEL');
  assert.is(await kv.getJson('n'), undefined, 'a deleted record reads as absent');
  assert.is(await kv.createJson('c1', { v: 1 }), true);
  assert.is(await kv.createJson('c1', { v: 2 }), false, 'created once');
  assert.equal((await kv.getJson('c1'))!.value, { v: 1 });
  assert.is(await kv.update('c1', new TextEncoder().encode('{}'), 1), undefined, 'compare-and-set against a stale revision');
  assert.match(String(await kv.get('bad key').catch((e: Error) => e)), /invalid KV key/);
});

const add = (item: string) => (r: Rec) => (r.items.includes(item) ? undefined : { items: [...r.items, item] });

test('ten concurrent updates of one record: all applied, in at most three writes, each caller given its own result', async () => {
  const start = await kv.putJson('a', { items: [] });
  const u = new KvUpdater(kv);
  const names = Array.from({ length: 10 }, (_, i) => `x${i}`);
  const results = await Promise.all(names.map((n) => u.update<Rec>('a', add(n))));
  const cur = (await kv.getJson<Rec>('a'))!;
  assert.equal(cur.value.items, names, 'every update, in the order they came');
  assert.ok(cur.revision - start <= 3, `${cur.revision - start} writes for 10 updates`);
  results.forEach((r, i) => assert.equal(r?.items, names.slice(0, i + 1), `caller ${i} gets the value its own update made`));
});

test('a write by another process in between: the remembered value is refused, the record read again, nothing lost', async () => {
  await kv.putJson('b', { items: [] });
  const u = new KvUpdater(kv);
  await u.update<Rec>('b', add('ours-1'));
  // another process (no updater of ours) writes after we did
  await kv.putJson('b', { items: ['ours-1', 'theirs'] });
  assert.equal(u.recent<Rec>('b')?.items, ['ours-1'], 'recent: what this updater last wrote, a hint that may be behind');
  const r = await u.update<Rec>('b', add('ours-2'));
  assert.equal(u.recent<Rec>('b')?.items, ['ours-1', 'theirs', 'ours-2']);
  assert.equal(r?.items, ['ours-1', 'theirs', 'ours-2']);
  assert.equal((await kv.getJson<Rec>('b'))!.value.items, ['ours-1', 'theirs', 'ours-2']);
});

test('"no change" on a remembered value is checked against the record as stored', async () => {
  await kv.putJson('c', { items: [] });
  const u = new KvUpdater(kv);
  await u.update<Rec>('c', add('p'));
  // another process removes 'p': an update that adds 'p' must write it again
  await kv.putJson('c', { items: [] });
  const r = await u.update<Rec>('c', add('p'));
  assert.equal(r?.items, ['p']);
  assert.equal((await kv.getJson<Rec>('c'))!.value.items, ['p']);
  // and a real no-op writes nothing
  const rev = (await kv.getJson<Rec>('c'))!.revision;
  assert.is(await u.update<Rec>('c', add('p')), undefined);
  assert.is((await kv.getJson<Rec>('c'))!.revision, rev);
});

test('an update that throws fails alone; the others of its batch are written', async () => {
  await kv.putJson('d', { items: [] });
  const u = new KvUpdater(kv);
  const outcomes = await Promise.allSettled([
    u.update<Rec>('d', add('one')),
    u.update<Rec>('d', () => {
      throw new Error('bad update');
    }),
    u.update<Rec>('d', add('two')),
  ]);
  assert.is(outcomes[0]!.status, 'fulfilled');
  assert.is(outcomes[1]!.status, 'rejected');
  assert.match(String((outcomes[1] as PromiseRejectedResult).reason), /bad update/);
  assert.is(outcomes[2]!.status, 'fulfilled');
  assert.equal((await kv.getJson<Rec>('d'))!.value.items, ['one', 'two']);
});

test('a missing record is left missing', async () => {
  const u = new KvUpdater(kv);
  assert.is(await u.update<Rec>('absent', add('z')), undefined);
  assert.is(await kv.getJson<Rec>('absent'), undefined);
});

test('two updaters (two processes) racing on one record: every update lands', async () => {
  await kv.putJson('e', { items: [] });
  const u1 = new KvUpdater(kv);
  const u2 = new KvUpdater(kv);
  const names = Array.from({ length: 12 }, (_, i) => `y${i}`);
  await Promise.all(names.map((n, i) => (i % 2 ? u1 : u2).update<Rec>('e', add(n))));
  assert.equal([...(await kv.getJson<Rec>('e'))!.value.items].sort(), [...names].sort());
});

test.run();
