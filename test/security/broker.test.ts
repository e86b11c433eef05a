/**
 * Nobody gets in where they don't belong: a nats-server running the configuration of
 * `parley home init` (TLS, one nkey per party, per-role permissions, per-party inboxes)
 * refuses what a party's role does not need, while the whole protocol still runs on it:
 * an Agent Home, two stores and a buyer, each on its own credentials.
 *
 * Above the broker, a valid certificate of the wrong role is refused by the protocol
 * (ERR_CERT_ROLE), even when the message travels on a connection allowed to carry it.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createUser } from 'nkeys.js';
import type { NatsConnection, Status, Subscription } from 'nats';
import { hostedArrivals } from '../helpers/hosted.js';
import { worldSuite, negotiated, eventually, exampleRules, LAPTOPS } from '../helpers/world.js';
import { rejectsCode } from '../helpers/assert.js';
import { connectNats } from '../../agents/transport/connect.js';
import { call } from '../../agents/transport/rpc.js';
import { AckSchema } from '../../agents/runtime/host.js';
import { createInviteAgent, InvitePayloadSchema, INVITE_KIND } from '../../agents/invite.js';
import { EnvelopeSchema } from '../../agents/runtime/envelope.js';
import { brokerConnection, brokerPaths } from '../../agent-home/init.js';
import { createTlsCa } from '../../crypto/x509/tls.js';
import { encodeJson } from '../../protocol/wire.js';
import { signRequest } from '../../protocol/signed-request.js';
import { NOTIFY_TYPE, NotifyReplySchema } from '../../protocol/session.js';
import { subjectPatterns, subjects } from '../../protocol/subjects.js';
import { newSessionKey } from '../../buyer-cli/client.js';

const test = suite('broker security');
// generous hop timeouts: on a loaded machine a slow store must not be skipped
const world = worldSuite(test, { stores: ['store-a.json', 'store-b.json'], broker: { buyers: ['alice'] }, settings: { hopTimeoutMs: 10_000 } });

/** Waits for the server's permissions violation to reach `nc` (an async error on publish and subscribe). */
async function violation(nc: NatsConnection, act: () => void | Promise<void>, mentions: string): Promise<Status> {
  const seen = (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'error' && String(s.data) === 'PERMISSIONS_VIOLATION') return s;
    }
    throw new Error('connection closed without a permissions violation');
  })();
  // the status iterator only yields what happens after it was created: act afterwards
  await new Promise((r) => setImmediate(r));
  await act();
  await nc.flush();
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no permissions violation for ${mentions} within 15 s`)), 15_000));
  const s = await Promise.race([seen, timeout]);
  assert.ok(!nc.isClosed(), 'a permissions violation does not close the connection');
  return s;
}

/** Subscribes and expects the server to refuse: the subscription ends with a permissions error. */
async function refusedSubscription(nc: NatsConnection, subject: string): Promise<void> {
  let error: Error | undefined;
  let sub: Subscription | undefined;
  await violation(nc, () => {
    sub = nc.subscribe(subject, { callback: (err) => (error = err ?? error) });
  }, subject);
  await eventually(`the subscription to ${subject} is closed`, () => sub?.isClosed(), 15_000);
  assert.ok(error, `the subscription to ${subject} got the server's error`);
  assert.match(error!.message, /Permissions Violation for Subscription/);
  assert.ok(error!.message.includes(subject), error!.message);
}

test('the whole protocol runs on the secured broker: every party on its own nkey, TLS and inbox', async () => {
  const { client, files } = await world.buyer('alice');
  const { session, results } = await negotiated(client);
  assert.is(results.status, 'complete', 'every invited store answered');
  assert.is(results.agreements.length, 2, 'an agreement with each store');
  const best = results.agreements[0]!.merchant;
  const signed = await client.sign(session.sn, best);
  assert.is(signed.state, 'complete');
  assert.ok(files.exchange(signed.contractId)?.contractFile, 'the buyer holds the contract');
  await eventually('the store holds the complete contract', () => world.stores.get(best)!.daemon.contracts().find((c) => c.contractId === signed.contractId && c.state === 'complete'), 20_000);
  // every party really is authenticated by its own nkey
  const serverInfo = (await world.broker!.connect('alice', 'probe')).info!;
  assert.ok(serverInfo.tls_required, 'the server requires TLS');
  assert.ok(serverInfo.auth_required, 'the server requires authentication');
});

test('a buyer publishing to a merchant host subject is refused by the server, and its request fails', async () => {
  const nc = await world.broker!.connect('alice', 'buyer-probe');
  const handled = world.stores.get('shop-a')!.daemon.stats.invitesHandled;
  const s = await violation(nc, () => nc.publish(subjects.hostArrive('shop-a'), encodeJson({ hello: 1 })), 'host subject');
  assert.is(String(s.data), 'PERMISSIONS_VIOLATION');
  await rejectsCode(() => nc.request(subjects.hostArrive('shop-a'), encodeJson({}), { timeout: 15_000 }), 'PERMISSIONS_VIOLATION', 'request to a host');
  await rejectsCode(() => nc.request(subjects.home('home', 'resolve'), encodeJson({}), { timeout: 15_000 }), 'PERMISSIONS_VIOLATION', 'resolve is for merchants');
  await rejectsCode(() => nc.request(subjects.home('home', 'register'), encodeJson({}), { timeout: 15_000 }), 'PERMISSIONS_VIOLATION', 'register is for merchants');
  // the transport maps it like any failed request
  await rejectsCode(() => call(nc, subjects.hostArrive('shop-a'), {}, AckSchema, 15_000), 'ERR_UNAVAILABLE', 'through rpc.call');
  assert.is(world.stores.get('shop-a')!.daemon.stats.invitesHandled, handled, 'nothing reached the store');
  // what a buyer needs is allowed: the Agent Home's key
  const key = await nc.request(subjects.home('home', 'key'), new Uint8Array(), { timeout: 15_000 });
  assert.ok(key.data.length > 0);
  // and a buyer cannot listen to anything but its own inbox
  await refusedSubscription(nc, subjects.hostAll('shop-a'));
  await refusedSubscription(nc, subjects.home('home', 'notify'));
  await nc.close();
});

test("a merchant cannot subscribe to another merchant's subjects, the Agent Home's, or another party's inbox", async () => {
  const nc = await world.broker!.connect('shop-b', 'merchant-probe');
  await refusedSubscription(nc, subjects.hostArrive('shop-a'));
  await refusedSubscription(nc, subjects.storeAll('shop-a'));
  await refusedSubscription(nc, subjects.storeContract('shop-a', 'offer'));
  await refusedSubscription(nc, subjects.homeAll('home'));
  await refusedSubscription(nc, subjectPatterns.inbox('alice'));
  await refusedSubscription(nc, subjectPatterns.defaultInbox());
  await refusedSubscription(nc, 'parley.v1.>');
  await refusedSubscription(nc, '>');
  // nor answer for another store, nor publish what only a buyer sends
  await violation(nc, () => nc.publish(subjects.home('home', 'notify'), encodeJson({})), 'notify');
  // its own subjects are fine
  const own = nc.subscribe(subjects.storeContract('shop-b', 'offer'), { queue: 'probe' });
  await nc.flush();
  assert.not.ok(own.isClosed());
  own.unsubscribe();
  await nc.close();
});

test('only the Agent Home may use JetStream: a merchant or buyer reading a KV bucket or the stream API is refused', async () => {
  for (const id of ['shop-b', 'alice']) {
    const nc = await world.broker!.connect(id, `${id}-js-probe`);
    await rejectsCode(() => nc.request('$JS.API.STREAM.INFO.KV_parley_host_home', new Uint8Array(), { timeout: 15_000 }), 'PERMISSIONS_VIOLATION', `${id}: STREAM.INFO`);
    await rejectsCode(() => nc.request('$JS.API.STREAM.LIST', new Uint8Array(), { timeout: 15_000 }), 'PERMISSIONS_VIOLATION', `${id}: STREAM.LIST`);
    await rejectsCode(async () => (await nc.jetstream().views.kv('parley_host_home', { bindOnly: true })).get('x'), 'PERMISSIONS_VIOLATION', `${id}: KV bind`);
    await violation(nc, () => nc.publish('$KV.parley_host_home.in.x', encodeJson({})), `${id}: KV write`);
    await refusedSubscription(nc, '$KV.parley_host_home.>');
    await nc.close();
  }
  // the Agent Home itself reads its buckets
  const home = await world.broker!.connect('home', 'home-js-probe');
  const info = await home.request('$JS.API.STREAM.INFO.KV_parley_host_home', new Uint8Array(), { timeout: 15_000 });
  assert.ok(JSON.parse(new TextDecoder().decode(info.data)).config, 'STREAM.INFO answered');
  await home.close();
});

test('no credentials, an unknown key, or a client not trusting the TLS CA cannot connect; the right seed and CA can', async () => {
  const url = world.nats.url;
  const paths = brokerPaths(world.broker!.dir);
  const alice = brokerConnection(world.broker!.dir, 'alice');
  assert.match(url, /^tls:\/\//, 'the server announces TLS');
  const codeOf = async (opts: Parameters<typeof connectNats>[0]) => {
    try {
      const nc = await connectNats({ ...opts, servers: url, failFast: true });
      await nc.close();
      return 'connected';
    } catch (e) {
      assert.is((e as { code?: string }).code, 'ERR_NATS_CONNECT');
      return String((e as { cause?: { code?: string } }).cause?.code);
    }
  };
  assert.is(await codeOf({ tlsCaFile: paths.caCert }), 'AUTHORIZATION_VIOLATION', 'no credentials');
  const stranger = join(world.dir, 'stranger.nk');
  writeFileSync(stranger, new TextDecoder().decode(createUser().getSeed()), { mode: 0o600 });
  assert.is(await codeOf({ tlsCaFile: paths.caCert, nkeySeedFile: stranger }), 'AUTHORIZATION_VIOLATION', 'a key the server does not list');
  // the server's certificate chains to the broker CA only: the system store does not trust it…
  assert.is.not(await codeOf({ nkeySeedFile: alice.nkeySeedFile }), 'connected', 'without the CA');
  // …nor does another CA
  const other = await createTlsCa({ name: 'Somebody else' });
  const otherCa = join(world.dir, 'other-ca.pem');
  writeFileSync(otherCa, other.certPem);
  assert.is.not(await codeOf({ nkeySeedFile: alice.nkeySeedFile, tlsCaFile: otherCa }), 'connected', 'with another CA');
  assert.is(await codeOf({ ...alice }), 'connected', 'the right seed and CA');
});

test("a party that ignores its inbox prefix cannot receive replies (the default _INBOX is the Agent Home's)", async () => {
  const { inboxPrefix: _ignored, ...noPrefix } = brokerConnection(world.broker!.dir, 'alice');
  const nc = await connectNats({ ...noPrefix, servers: world.nats.url, name: 'no-prefix', failFast: true });
  try {
    await rejectsCode(() => nc.request(subjects.home('home', 'key'), new Uint8Array(), { timeout: 15_000 }), 'PERMISSIONS_VIOLATION', 'reply subscription on _INBOX.>');
  } finally {
    await nc.close();
  }
});

test('a valid merchant certificate cannot act as a buyer (notify) nor as an Agent Home (Invite Agent): ERR_CERT_ROLE', async () => {
  const { client } = await world.buyer('alice');
  const shopA = world.stores.get('shop-a')!;
  const shopB = world.stores.get('shop-b')!;
  // a notify signed by a merchant, carried by a connection allowed to send notifies
  const prepared = await client.prepareNotify({ request: LAPTOPS, rules: exampleRules(), deadline: new Date(Date.now() + 60_000), sessionKey: await newSessionKey() });
  const buyerNc = await world.broker!.connect('alice', 'alice-role-probe');
  const before = (await world.home.state.sessionNumbers()).length;
  await rejectsCode(() => call(buyerNc, subjects.home('home', 'notify'), signRequest(NOTIFY_TYPE, prepared.body, 'home', shopA.self), NotifyReplySchema, 15_000), 'ERR_CERT_ROLE', 'a merchant acting as buyer');
  assert.is((await world.home.state.sessionNumbers()).length, before, 'no session opened');
  await buyerNc.close();

  // an Invite Agent with a genuine payload (from the honest session), but issued by a merchant;
  // shop-b may send agents to shop-a (it forwards Invite Agents), so only the protocol stops it
  const stored = hostedArrivals(join(shopA.dataDir, 'agents'))[0];
  assert.ok(stored, 'shop-a hosted an Invite Agent in the honest session');
  const genuine = EnvelopeSchema.parse(stored!.env);
  assert.is(genuine.kind, INVITE_KIND);
  const forged = createInviteAgent(shopB.self, InvitePayloadSchema.parse(genuine.payload), { itinerary: ['shop-a'], hopTimeoutMs: 5000, expires: new Date(Date.now() + 60_000) });
  const merchantNc = await world.broker!.connect('shop-b', 'shop-b-role-probe');
  const handled = shopA.daemon.stats.invitesHandled;
  await rejectsCode(() => call(merchantNc, subjects.hostArrive('shop-a'), forged, AckSchema, 15_000), 'ERR_CERT_ROLE', 'a merchant acting as Agent Home');
  // the same forgery addressed to the Agent Home's own host is refused there too
  const toHome = createInviteAgent(shopB.self, InvitePayloadSchema.parse(genuine.payload), { itinerary: ['home'], hopTimeoutMs: 5000, expires: new Date(Date.now() + 60_000) });
  await rejectsCode(() => call(merchantNc, subjects.hostArrive('home'), toHome, AckSchema, 15_000), 'ERR_CERT_ROLE', 'a merchant-issued Invite Agent at the Agent Home');
  await shopA.daemon.idle();
  assert.is(shopA.daemon.stats.invitesHandled, handled, 'the forged invitation was not run');
  await merchantNc.close();
});

test.run();
