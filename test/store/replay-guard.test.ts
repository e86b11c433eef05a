/**
 * The store's replay guard (store/replay-guard.ts): a request id is claimed once, its reply
 * survives a restart while a claim alone is never written, a dropped claim frees the id, ids older than the TTL are forgotten and
 * left out when the journal is rewritten, and `seen/<id>.json` files of an older data
 * directory are moved in.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ReplayGuard, type SeenRecord } from '../../store/replay-guard.js';
import { tempDir } from '../helpers/paths.js';

const test = suite('replay guard');
const tmp = tempDir('parley-seen-');
test.after(() => tmp.remove());

const TTL = 60_000;
const claim = (at = Date.now()): SeenRecord => ({ type: 'parley.contract.offer.v1', signer: 'alice', at: new Date(at).toISOString() });

function fresh(name: string): string {
  const dir = join(tmp.path, name);
  mkdirSync(dir);
  return dir;
}

test('an id is claimed once; a reply survives a restart, a claim alone is never written', async () => {
  const dir = fresh('restart');
  const guard = await ReplayGuard.open(dir, TTL);
  // two copies of a request: one acts, the other is a replay while it is handled
  assert.is(guard.claim('r1', claim()), true);
  assert.is(guard.claim('r1', claim()), false);
  assert.is(guard.seen('r1')?.reply, undefined, 'no reply while the request is handled');
  await guard.saveReply('r1', { ...claim(), reply: 'UkVQTFk=' });
  assert.is(guard.claim('r2', claim()), true);
  guard.drop('r2');
  assert.is(guard.seen('r2'), undefined, 'a failed request may come again');
  guard.drop('r1');
  assert.ok(guard.seen('r1'), 'an answered request is never dropped');
  assert.is(guard.claim('r3', claim()), true);
  await guard.close();
  const keys = readFileSync(join(dir, 'journal.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { k: string }).k);
  assert.equal(keys, ['r1'], 'only the reply is on disk');

  const again = await ReplayGuard.open(dir, TTL);
  assert.is(again.seen('r1')?.reply, 'UkVQTFk=', 'a replay after a restart gets the same reply');
  assert.is(again.claim('r1', claim()), false);
  assert.is(again.claim('r3', claim()), true, 'a request cut short by the restart is handled again');
  await again.close();
});

test('ids older than the TTL are forgotten, and a rewrite keeps only the others', async () => {
  const dir = fresh('ttl');
  const guard = await ReplayGuard.open(dir, TTL);
  await guard.saveReply('old', { ...claim(Date.now() - TTL - 1000), reply: 'AA==' });
  await guard.saveReply('new', { ...claim(), reply: 'AQ==' });
  assert.is(guard.seen('old'), undefined, 'past the TTL it counts as absent at once');
  assert.is(guard.prune(), 1);
  assert.is(guard.size, 1);
  await guard.compact();
  await guard.close();
  const keys = readFileSync(join(dir, 'journal.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { k: string }).k);
  assert.equal(keys, ['new']);
  const again = await ReplayGuard.open(dir, TTL);
  assert.ok(again.seen('new'));
  await again.close();
});

test('request id files from before the journal are moved in', async () => {
  const dir = fresh('legacy');
  writeFileSync(join(dir, 'aaaa.json'), JSON.stringify({ ...claim(), reply: 'T0s=' }));
  writeFileSync(join(dir, 'bbbb.json'), JSON.stringify({ ...claim(Date.now() - 2 * TTL), reply: 'T0s=' }));
  writeFileSync(join(dir, 'cccc.json'), '{"type":"parl');
  writeFileSync(join(dir, 'dddd.json'), JSON.stringify(claim()));
  const guard = await ReplayGuard.open(dir, TTL);
  assert.is(guard.seen('aaaa')?.reply, 'T0s=');
  assert.is(guard.size, 1, 'the expired, the unreadable and the unanswered one are forgotten');
  await guard.close();
  assert.equal(readdirSync(dir), ['journal.jsonl']);
  const again = await ReplayGuard.open(dir, TTL);
  assert.is(again.seen('aaaa')?.reply, 'T0s=');
  await again.close();
});

test.run();
