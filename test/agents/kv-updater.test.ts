/**
 * KvUpdater (agents/storage/kv.ts) on a real nats-server: concurrent updates of one record
 * are all applied, in fewer writes than updates; a write by another process in between is
 * noticed and nothing it wrote is lost; each caller gets what its own update returned; a
 * throwing update fails alone; "no change" decided on a remembered value is checked again.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { KV } from 'nats';
import { natsSuite } from '../helpers/nats.js';
import { getJson, KvUpdater, putJson } from '../../agents/storage/kv.js';

const test = suite('KV updater');
const nats = natsSuite(test);

interface Rec {
  items: string[];
}

let kv: KV;

test.before(async () => {
  const nc = await nats.connect('kv-updater');
  kv = await nc.jetstream().views.kv('kv_updater_test', { history: 1 });
});

const add = (item: string) => (r: Rec) => (r.items.includes(item) ? undefined : { items: [...r.items, item] });

test('ten concurrent updates of one record: all applied, in at most three writes, each caller given its own result', async () => {
  const start = await putJson(kv, 'a', { items: [] });
  const u = new KvUpdater(kv);
  const names = Array.from({ length: 10 }, (_, i) => `x${i}`);
  const results = await Promise.all(names.map((n) => u.update<Rec>('a', add(n))));
  const cur = (await getJson<Rec>(kv, 'a'))!;
  assert.equal(cur.value.items, names, 'every update, in the order they came');
  assert.ok(cur.revision - start <= 3, `${cur.revision - start} writes for 10 updates`);
  results.forEach((r, i) => assert.equal(r?.items, names.slice(0, i + 1), `caller ${i} gets the value its own update made`));
});

test('a write by another process in between: the remembered value is refused, the record read again, nothing lost', async () => {
  await putJson(kv, 'b', { items: [] });
  const u = new KvUpdater(kv);
  await u.update<Rec>('b', add('ours-1'));
  // another process (no updater of ours) writes after we did
  await putJson(kv, 'b', { items: ['ours-1', 'theirs'] });
  assert.equal(u.recent<Rec>('b')?.items, ['ours-1'], 'recent: what this updater last wrote, a hint that may be behind');
  const r = await u.update<Rec>('b', add('ours-2'));
  assert.equal(u.recent<Rec>('b')?.items, ['ours-1', 'theirs', 'ours-2']);
  assert.equal(r?.items, ['ours-1', 'theirs', 'ours-2']);
  assert.equal((await getJson<Rec>(kv, 'b'))!.value.items, ['ours-1', 'theirs', 'ours-2']);
});

test('"no change" on a remembered value is checked against the record as stored', async () => {
  await putJson(kv, 'c', { items: [] });
  const u = new KvUpdater(kv);
  await u.update<Rec>('c', add('p'));
  // another process removes 'p': an update that adds 'p' must write it again
  await putJson(kv, 'c', { items: [] });
  const r = await u.update<Rec>('c', add('p'));
  assert.equal(r?.items, ['p']);
  assert.equal((await getJson<Rec>(kv, 'c'))!.value.items, ['p']);
  // and a real no-op writes nothing
  const rev = (await getJson<Rec>(kv, 'c'))!.revision;
  assert.is(await u.update<Rec>('c', add('p')), undefined);
  assert.is((await getJson<Rec>(kv, 'c'))!.revision, rev);
});

test('an update that throws fails alone; the others of its batch are written', async () => {
  await putJson(kv, 'd', { items: [] });
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
  assert.equal((await getJson<Rec>(kv, 'd'))!.value.items, ['one', 'two']);
});

test('a missing record is left missing', async () => {
  const u = new KvUpdater(kv);
  assert.is(await u.update<Rec>('absent', add('z')), undefined);
  assert.is(await getJson<Rec>(kv, 'absent'), undefined);
});

test('two updaters (two processes) racing on one record: every update lands', async () => {
  await putJson(kv, 'e', { items: [] });
  const u1 = new KvUpdater(kv);
  const u2 = new KvUpdater(kv);
  const names = Array.from({ length: 12 }, (_, i) => `y${i}`);
  await Promise.all(names.map((n, i) => (i % 2 ? u1 : u2).update<Rec>('e', add(n))));
  assert.equal([...(await getJson<Rec>(kv, 'e'))!.value.items].sort(), [...names].sort());
});

test.run();
