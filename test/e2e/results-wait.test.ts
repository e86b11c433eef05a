/**
 * Results by long poll: the Agent Home holds a buyer's results request until there is news
 * (the session settles, or with `after` any progress), or the deadline closes the session,
 * so a buyer follows its session without polling.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { worldSuite, exampleRules, LAPTOPS } from '../helpers/world.js';
import { newSessionKey } from '../../buyer-cli/client.js';
import { rejectsCode } from '../helpers/assert.js';
import { subjects } from '../../protocol/subjects.js';
import { okReply } from '../../protocol/wire.js';

const test = suite('results by long poll');
const world = worldSuite(test);

test('a held request is answered when the session completes, not before, with one request', async () => {
  const { client } = await world.buyer('alice');
  const session = await client.request({ request: LAPTOPS, rules: exampleRules(), deadline: new Date(Date.now() + 60_000), sessionKey: await newSessionKey() });
  const asked = world.home.received.get('results') ?? 0;
  const t0 = Date.now();
  const r = await client.results(session.sn, { ms: 20_000 });
  assert.is(r.status, 'complete');
  assert.ok(r.agreements.length >= 1);
  assert.ok(Date.now() - t0 < 15_000, 'answered when complete, well before the 20 s wait');
  assert.is((world.home.received.get('results') ?? 0) - asked, 1, 'one request followed the whole session');
  // nothing is held any more, and a settled session is answered at once
  assert.is(world.home.ctx.sessionWaits.held, 0);
  const again = await client.results(session.sn, { ms: 20_000, after: r.revision });
  assert.is(again.revision, r.revision);
});

test('with `after`, every change wakes the buyer; progress is reported in order', async () => {
  const { client } = await world.buyer('bob');
  const session = await client.request({ request: LAPTOPS, rules: exampleRules(), deadline: new Date(Date.now() + 60_000), sessionKey: await newSessionKey() });
  const seen: number[] = [];
  const final = await client.waitForResults(session.sn, (r) => seen.push(r.revision));
  assert.is(final.status, 'complete');
  assert.ok(seen.length >= 2, `several progress reports (${seen.length})`);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! > seen[i - 1]!, 'revisions only grow');
});

test('a held request on a session still open at its deadline returns "closed" then', async () => {
  // a merchant host that takes the Invite Agent and never sends it on: the session stays open
  const silent = await world.pki.party('shop-silent', 'merchant');
  await world.home.state.register({ id: silent.id, name: 'Silent', categories: ['abacus'], cert: silent.certPem, registeredAt: new Date().toISOString() });
  const nc = await world.nats.connectAs(silent.id, 'silent');
  nc.subscribe(subjects.hostArrive(silent.id), { callback: (_e, m) => m.respond(okReply({ accepted: true, duplicate: false })) });
  await nc.flush();
  const { client } = await world.buyer('carol');
  const sessionKey = await newSessionKey(); // before the clock: a loaded machine takes a while
  const session = await client.request({ request: { ...LAPTOPS, category: 'abacus' }, rules: exampleRules(), deadline: new Date(Date.now() + 1500), sessionKey });
  const first = await client.results(session.sn);
  assert.is(first.status, 'open');
  const t0 = Date.now();
  const r = await client.results(session.sn, { ms: 20_000 });
  assert.is(r.status, 'closed');
  assert.ok(Date.now() - t0 < 5000, 'answered at the deadline, not after the whole wait');
  await nc.close();
});

test('bad waits are refused before anything is held', async () => {
  const { client } = await world.buyer('dave');
  await rejectsCode(() => client.results('0'.repeat(32), { ms: 5000 }), 'ERR_SESSION_UNKNOWN');
  await rejectsCode(() => client.results('0'.repeat(32), { ms: 60_000 }), 'ERR_SCHEMA');
  assert.is(world.home.ctx.sessionWaits.held, 0);
});

test.run();
