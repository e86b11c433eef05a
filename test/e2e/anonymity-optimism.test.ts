/**
 * PROTOCOL.md properties, end to end on a real nats-server with the Agent Home, three stores
 * and a buyer running the same code as the daemons:
 * - anonymity: nothing a merchant receives before contract signing identifies the buyer,
 *   and the buyer's rules never cross the wire in the clear;
 * - optimism: in an honest exchange the Agent Home receives no message at all.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { worldSuite, negotiated, exampleRules } from '../helpers/world.js';
import { canonicalJson } from '../../crypto/canonical.js';

const test = suite('anonymity and optimism');
const world = worldSuite(test);

test('anonymity: merchants see no buyer identity before signing, and the rules never leave the Agent Home', async () => {
  const { client, self } = await world.buyer('alice');
  const before = world.wire.length;
  const { session, results } = await negotiated(client);
  assert.ok(results.agreements.length >= 1, 'the session produced agreements');
  const during = world.wire.slice(before);
  // what merchants receive before any contract: agents arriving at their hosts
  const toMerchants = during.filter((m) => /^parley\.v1\.(host|store)\.shop-/.test(m.subject));
  assert.ok(toMerchants.length >= 3, 'each store received the Invite Agent');
  const certBody = self.certPem.split('\n')[5]!;
  for (const m of toMerchants) {
    assert.not.ok(m.text.includes('alice'), `buyer id reached a merchant on ${m.subject}`);
    assert.not.ok(m.text.includes(certBody), `buyer certificate reached a merchant on ${m.subject}`);
    assert.not.ok(m.text.includes('"delegation"'), `delegation reached a merchant on ${m.subject}`);
  }
  // the invitation carried the public request, under the Agent Home's signature
  assert.ok(toMerchants.some((m) => m.text.includes('"sgReq"') && m.text.includes(session.sn)));
  // the rules: neither their text nor their distinctive fields appear anywhere on Parley's subjects
  const rules = canonicalJson(exampleRules());
  for (const m of world.wire) {
    assert.not.ok(m.text.includes(rules), `rules in clear on ${m.subject}`);
    assert.not.ok(m.text.includes('"reservation"'), `rules field on ${m.subject}`);
    assert.not.ok(m.text.includes('"weights"'), `rules field on ${m.subject}`);
  }
});

test('optimism: an honest signing sends the Agent Home no message', async () => {
  const { client } = await world.buyer('bob');
  const { session, results } = await negotiated(client);
  const best = results.agreements[0]!;
  const receivedBefore = [...world.home.received.values()].reduce((a, b) => a + b, 0);
  const from = world.wire.length;
  const r = await client.sign(session.sn, best.merchant);
  assert.is(r.state, 'complete');
  const toHome = world.wire.slice(from).filter((m) => m.subject.startsWith('parley.v1.home.home.') || m.subject.startsWith('parley.v1.host.home.'));
  assert.equal(toHome.map((m) => m.subject), [], 'no message to the Agent Home during signing');
  assert.is([...world.home.received.values()].reduce((a, b) => a + b, 0), receivedBefore, 'the Agent Home handled nothing');
  const storeSide = world.wire.slice(from).filter((m) => m.subject.startsWith(`parley.v1.store.${best.merchant}.contract.`)).map((m) => m.subject.split('.').pop());
  assert.equal(storeSide, ['offer', 'complete'], 'signing went buyer ↔ merchant directly');
});

test.run();
