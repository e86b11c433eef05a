/**
 * The load benchmark's `cpu-per-session-*` lines (bench/load.ts) and the limit split by role
 * they compare with (bench/limit.ts): which roles have goals, how the priced CPU of each
 * role is put together from per-party counts. Made-up counts and prices; no timing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cpuPerSessionTargets } from '../../bench/load.js';
import { pricedByRole, roleOf } from '../../bench/limit.js';
import type { SessionCounts } from '../../bench/limit-session.js';
import type { CryptoCosts, NatsCosts } from '../../bench/limit-cost.js';

test('the Agent Home and all processes have goals (1.5x, 1.6x); the other roles are reported', () => {
  const t = cpuPerSessionTargets({ 'agent-home': 30, stores: 40, buyers: 10, 'nats-server': 10 }, { 'agent-home': 20, stores: 20, buyers: 5, 'nats-server': 10, unattributed: 5 });
  const by = Object.fromEntries(t.map((x) => [x.name, x]));
  assert.is(by['cpu-per-session-agent-home']!.met, true, '30 / 20 = 1.5x meets <= 1.5x');
  assert.is(by['cpu-per-session-agent-home']!.goal, '<= 1.5x priced');
  assert.is(by['cpu-per-session-stores']!.met, null);
  // all: 90 against 60 (the unattributed part included) = 1.5x
  assert.is(by['cpu-per-session-all']!.met, true);
  assert.ok(by['cpu-per-session-all']!.measured.startsWith('90.0 ms against 60.0 ms priced = 1.50x'));
  const worse = cpuPerSessionTargets({ 'agent-home': 31, stores: 40, buyers: 10, 'nats-server': 20 }, { 'agent-home': 20, stores: 20, buyers: 5, 'nats-server': 10, unattributed: 5 });
  assert.is(worse.find((x) => x.name === 'cpu-per-session-agent-home')!.met, false);
  assert.is(worse.find((x) => x.name === 'cpu-per-session-all')!.met, false, '101 / 60 > 1.6x');
});

test('parties map to roles as the counted session names them', () => {
  assert.is(roleOf('agent-home'), 'agent-home');
  assert.is(roleOf('buyer'), 'buyers');
  assert.is(roleOf('m07'), 'stores');
  assert.is(roleOf('(none)'), 'unattributed');
});

test('priced CPU by role: own crypto, clients\' NATS share by party, the server\'s share to nats-server', () => {
  const one = (n: number) => ({ count: n, distinct: n, bytes: 0, distinctBytes: 0 });
  const counts = {
    cryptoPerParty: new Map([
      ['agent-home', new Map([['ed25519 verify', one(10)]])],
      ['m01', new Map([['ed25519 verify', { count: 4, distinct: 2, bytes: 0, distinctBytes: 0 }]])],
    ]),
    wire: {
      requests: new Map([['parley.x', { count: 2, bytes: 0 }]]),
      publishes: new Map([['ev', { count: 1, bytes: 0 }]]),
      jsWrites: new Map([['KV_s', { count: 3, bytes: 0 }]]),
      deliveries: new Map(),
      byParty: new Map([
        ['buyer', { requests: 2, answered: 0, publishes: 0, jsWrites: 0, deliveries: 0 }],
        ['agent-home', { requests: 0, answered: 2, publishes: 1, jsWrites: 3, deliveries: 0 }],
      ]),
    },
  } as unknown as SessionCounts;
  const crypto = { ops: new Map([['ed25519 verify', { baseUs: 100, perByteUs: 0 }]]), x25519OpensslUs: 0, sealSymmetricUs: 0, atRestEncryptUs: 0, atRestDecryptUs: 0 } as unknown as CryptoCosts;
  const nats = { requestUs: 600, publishUs: 30, deliveryUs: 10, jsWriteUs: 300, serverUs: { request: 200, publish: 10, delivery: 5, jsWrite: 100 } } as unknown as NatsCosts;
  const r = pricedByRole(counts, crypto, nats);
  // Agent Home: 10 verifies (1000 µs) + answered 2 requests (half of 400 each = 400) + 1 publish (20) + 3 writes (600)
  assert.is(Math.round(r['agent-home'] * 1000), 2020);
  // the store: 2 distinct verifications
  assert.is(Math.round(r.stores * 1000), 200);
  // the buyer asked 2 requests: half the clients' 400 each
  assert.is(Math.round(r.buyers * 1000), 400);
  // the server: 2 × 200 + 10 + 3 × 100
  assert.is(Math.round(r['nats-server'] * 1000), 710);
});

test.run();
