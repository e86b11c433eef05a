/**
 * What the Agent Home's state keeps in memory (agent-home/state.ts), on a real nats-server:
 * the merchant directory, watched, sees a registration made through another process; an
 * agreement (never changed once stored) is read from the bucket once.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { natsSuite } from '../helpers/nats.js';
import { HomeState, type DirectoryEntry } from '../../agent-home/state.js';
import type { Agreement } from '../../protocol/directory.js';

const test = suite('Agent Home state');
const nats = natsSuite(test);

const entry = (id: string, categories = ['laptops']): DirectoryEntry => ({ id, name: id, categories, cert: 'PEM', registeredAt: new Date().toISOString() });

async function eventually<T>(what: string, fn: () => Promise<T | undefined>, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('the directory: a registration here is seen at once, one through another process soon after', async () => {
  const a = await HomeState.open(await nats.connect('state-a'));
  const b = await HomeState.open(await nats.connect('state-b'));
  await a.register(entry('m1'));
  assert.equal((await b.merchants()).map((m) => m.id), ['m1'], 'read when the watch starts');
  await a.register(entry('m2'));
  assert.equal((await a.merchants()).map((m) => m.id), ['m1', 'm2'], 'at once in the process that registered');
  await eventually('m2 at b', async () => ((await b.merchants()).length === 2 ? true : undefined));
  await a.register(entry('m1', ['phones']));
  await eventually('m1 re-registered at b', async () => ((await b.merchants())[0]!.categories[0] === 'phones' ? true : undefined));
  a.close();
  b.close();
});

test('an agreement is read from the bucket once, then from memory', async () => {
  const nc = await nats.connect('state-c');
  const a = await HomeState.open(nc);
  const b = await HomeState.open(await nats.connect('state-d'));
  const agreement = { sn: 'ab'.repeat(16), merchant: 'm1', utility: 0.5 } as unknown as Agreement;
  assert.is(await a.createAgreement(agreement), true);
  assert.is(await b.createAgreement({ ...agreement, utility: 0.9 }), false, 'the first one holds');
  assert.equal(await b.agreement(agreement.sn, 'm1'), agreement);
  // gone from the bucket (as no code here ever does): both processes still answer from memory
  await (await nc.jetstream().views.kv('parley_agreements')).purge(`${agreement.sn}.m1`);
  assert.equal(await a.agreement(agreement.sn, 'm1'), agreement);
  assert.equal(await b.agreement(agreement.sn, 'm1'), agreement);
  assert.is(await HomeState.open(nc).then((c) => c.agreement(agreement.sn, 'm1')), undefined, 'a fresh process reads the bucket');
});

test.run();
