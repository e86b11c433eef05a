/**
 * Reply-subject spoofing: a party sends a request whose reply subject is not its own inbox
 * but a JetStream subject (a KV bucket's key, a stream's subject, `$JS.API.STREAM.PURGE.…`)
 * or another party's subject, hoping the responder writes its answer there with its own
 * rights. For every request subject of every role (the Agent Home's operations and host, a
 * store's contract desk and host), aimed at every bucket and stream of the Agent Home, the
 * JetStream API and other parties' subjects, nothing is written (every stream's state is the
 * same before and after), each attempt is counted as a refusal, and the honest request is
 * still answered. Run on an open server (the responders' check alone) and on the broker of
 * `parley home init`, where in addition a responder that forgot the check could not publish
 * there (no user has `allow_responses`; the Agent Home's service user reaches no JetStream).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import type { NatsConnection } from 'nats';
import { hostedArrivals } from '../helpers/hosted.js';
import { worldSuite, negotiated, exampleRules, LAPTOPS, type World } from '../helpers/world.js';
import { brokerConnection } from '../../agent-home/init.js';
import { newSessionKey } from '../../buyer-cli/client.js';
import { encodeJson } from '../../protocol/wire.js';
import { signRequest } from '../../protocol/signed-request.js';
import { NOTIFY_TYPE } from '../../protocol/session.js';
import { REGISTER_TYPE, RESULTS_TYPE } from '../../protocol/directory.js';
import { ABORT_TYPE, CONTRACT_COMPLETE_TYPE, CONTRACT_OFFER_TYPE, MAILBOX_TYPE, RESOLVE_TYPE } from '../../protocol/exchange.js';
import { subjects } from '../../protocol/subjects.js';
import type { Self } from '../../agents/runtime/trust.js';

interface Probe {
  name: string;
  /** the attacker's own connection (its own inbox, its own broker credentials) */
  from: string;
  /**
   * not authenticated (the public key, a request that fails its checks): nobody to tie the
   * reply to, so its answer (public data or an error code) may go to any party's inbox
   */
  open?: boolean;
  /** who sends it honestly, when not the attacker itself (a replayed agent: the host that sent it) */
  honest?: string;
  subject: string;
  data: Uint8Array;
}

/** Every stream of the Agent Home's JetStream (KV buckets are streams too), as counts. */
async function jetStreamState(nc: NatsConnection): Promise<Record<string, string>> {
  const jsm = await nc.jetstreamManager();
  const out: Record<string, string> = {};
  for await (const si of jsm.streams.list()) out[si.config.name] = `${si.state.messages} msgs, last ${si.state.last_seq}, ${si.state.bytes} B`;
  return out;
}

/** Where a spoofed reply might be aimed: each bucket, each stream subject, the API, other parties. */
async function targets(nc: NatsConnection, otherStore: string, bystander: string): Promise<string[]> {
  const jsm = await nc.jetstreamManager();
  const t: string[] = [];
  for await (const si of jsm.streams.list()) {
    const name = si.config.name;
    if (name.startsWith('KV_')) t.push(`$KV.${name.slice(3)}.spoofed`);
    else for (const s of si.config.subjects ?? []) t.push(s.replace(/\*/g, 'spoofed').replace(/>$/, 'spoofed'));
    t.push(`$JS.API.STREAM.PURGE.${name}`);
  }
  t.push('$JS.API.STREAM.DELETE.KV_parley_escrow', '$JS.API.STREAM.CREATE.SPOOF');
  t.push(subjects.storeContract(otherStore, 'offer'), subjects.hostArrive(otherStore), subjects.home('home', 'notify'));
  t.push(`_INBOX_${bystander}.spoofed`, '_INBOX.spoofed');
  return t;
}

/** The requests of every role, each as its honest sender would make it. */
async function probes(w: World, alice: Self, sn: string, shopB: Self): Promise<Probe[]> {
  const { client } = await w.buyer('alice');
  const prepared = await client.prepareNotify({ request: LAPTOPS, rules: exampleRules(), deadline: new Date(Date.now() + 60_000), sessionKey: await newSessionKey() });
  const hash = randomBytes(32).toString('base64url');
  const req = (type: string, body: object, to: string, signer: Self) => encodeJson(signRequest(type, body, to, signer));
  const invite = hostedArrivals(`${w.stores.get('shop-a')!.dataDir}/agents`).find((a) => a.key.endsWith('.0'))!.env;
  return [
    { name: 'home notify', from: 'alice', subject: subjects.home('home', 'notify'), data: req(NOTIFY_TYPE, prepared.body, 'home', alice) },
    { name: 'home results', from: 'alice', subject: subjects.home('home', 'results'), data: req(RESULTS_TYPE, { sn }, 'home', alice) },
    { name: 'home mailbox', from: 'alice', subject: subjects.home('home', 'mailbox'), data: req(MAILBOX_TYPE, { after: 0 }, 'home', alice) },
    { name: 'home abort', from: 'alice', subject: subjects.home('home', 'abort'), data: req(ABORT_TYPE, { sn, merchant: 'shop-a', contractId: hash }, 'home', alice) },
    { name: 'home key (buyer)', open: true, from: 'alice', subject: subjects.home('home', 'key'), data: new Uint8Array(0) },
    { name: 'home key (merchant)', open: true, from: 'shop-b', subject: subjects.home('home', 'key'), data: new Uint8Array(0) },
    { name: 'home register', from: 'shop-b', subject: subjects.home('home', 'register'), data: req(REGISTER_TYPE, { name: 'Shop B', categories: ['laptops'] }, 'home', shopB) },
    { name: 'home resolve', open: true, from: 'shop-b', subject: subjects.home('home', 'resolve'), data: req(RESOLVE_TYPE, { payload: 'e30', protected: 'e30', sg1: 'AA' }, 'home', shopB) },
    { name: 'home host arrive', open: true, from: 'shop-b', subject: subjects.hostArrive('home'), data: encodeJson(invite) },
    { name: 'store offer', from: 'alice', subject: subjects.storeContract('shop-a', 'offer'), data: req(CONTRACT_OFFER_TYPE, { payload: 'e30', protected: 'e30', sg1: 'AA' }, 'shop-a', alice) },
    { name: 'store complete', from: 'alice', subject: subjects.storeContract('shop-a', 'complete'), data: req(CONTRACT_COMPLETE_TYPE, { contractId: hash, sg: 'AA' }, 'shop-a', alice) },
    // a captured Invite Agent replayed to the store it was addressed to (a duplicate: acknowledged to its sender)
    { name: 'store host arrive', from: 'shop-b', honest: 'home', subject: subjects.hostArrive('shop-a'), data: encodeJson(invite) },
  ];
}

function refusalsOf(w: World): number {
  return w.home.refusals.total + [...w.stores.values()].reduce((n, s) => n + s.daemon.refusals.total, 0);
}

function spoofSuite(title: string, secured: boolean): void {
  const test = suite(title);
  const world = worldSuite(test, { stores: ['store-a.json', 'store-b.json'], settings: { hopTimeoutMs: 10_000 }, ...(secured ? { broker: { buyers: ['alice', 'bob'] } } : {}) });
  const as = (id: string, name: string) => (secured ? world.broker!.connect(id, name) : world.nats.connectAs(id, name));

  if (secured) {
    test('a responder that forgot the check still cannot write there: the broker refuses its answer', async () => {
      const jsNc = await world.broker!.connect('home', 'state-reader-2');
      const before = await jetStreamState(jsNc);
      // a careless responder on each responding user: the Agent Home's service user and a merchant
      const service = await world.nats.connect('careless-home', brokerConnection(world.broker!.dir, 'home', true));
      const merchant = await world.broker!.connect('shop-a', 'careless-shop-a');
      const refused: string[] = [];
      for (const [who, nc, subject] of [
        ['agent-home service', service, 'parley.v1.home.home.key'],
        ['merchant', merchant, 'parley.v1.store.shop-a.contract.offer'],
      ] as const) {
        void (async () => {
          for await (const s of nc.status()) if (s.type === 'error' && String(s.data) === 'PERMISSIONS_VIOLATION') refused.push(who);
        })();
        nc.subscribe(subject, { callback: (_e, m) => m.respond(new TextEncoder().encode('{"spoofed":true}')) });
        await nc.flush();
      }
      const alice = await world.broker!.connect('alice', 'alice-spoofer');
      alice.publish('parley.v1.home.home.key', new Uint8Array(0), { reply: '$KV.parley_escrow.spoofed' });
      alice.publish('parley.v1.store.shop-a.contract.offer', new Uint8Array(0), { reply: '$JS.API.STREAM.PURGE.KV_parley_sessions' });
      await alice.flush();
      const end = Date.now() + 15_000;
      while (refused.length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      assert.equal([...refused].sort(), ['agent-home service', 'merchant']);
      assert.equal(await jetStreamState(jsNc), before, 'nothing written');
      await service.close();
      await merchant.close();
    });
  }

  test('spoofed reply subjects write nothing anywhere, are counted, and the honest requests are answered', async () => {
    const { client, self: alice } = await world.buyer('alice');
    const { session } = await negotiated(client);
    await world.home.ctx.host.idle();
    for (const s of world.stores.values()) await s.daemon.idle();
    const jsNc = await as('home', 'state-reader');
    const conns = new Map<string, NatsConnection>([['alice', await as('alice', 'spoof-alice')], ['shop-b', await as('shop-b', 'spoof-shop-b')]]);
    // a bystander's inbox: nothing may arrive there
    const bob = await as('bob', 'bob');
    const intoBob: string[] = [];
    bob.subscribe('_INBOX_bob.>', { callback: (_e, m) => intoBob.push(new TextDecoder().decode(m.data).slice(0, 80)) });
    await bob.flush();
    const aimed = await targets(jsNc, 'shop-b', 'bob');
    const list = await probes(world, alice, session.sn, world.stores.get('shop-b')!.self);
    const wireBefore = world.wire.length;

    const before = await jetStreamState(jsNc);
    const refusedBefore = refusalsOf(world);
    let sent = 0;
    for (const p of list) {
      const nc = conns.get(p.from)!;
      for (const reply of aimed) {
        nc.publish(p.subject, p.data, { reply });
        sent++;
      }
      await nc.flush();
    }
    // every attempt refused and counted (a refusal is the responders' only trace of it)
    const deadline = Date.now() + 30_000;
    while (refusalsOf(world) - refusedBefore < sent - 8 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 300));
    const intoInboxes = list.filter((p) => p.open).length * aimed.filter((t) => t.startsWith('_INBOX_')).length;
    assert.is(refusalsOf(world) - refusedBefore, sent - intoInboxes, `${sent} spoofed requests, each refused once but the unauthenticated ones aimed at a party inbox`);
    assert.equal(await jetStreamState(jsNc), before, 'no bucket or stream changed');
    // an authenticated request is answered only in its signer's inbox; an unauthenticated one
    // (the public key, an error) may land in another party's inbox, where no request waits for it
    assert.is(intoBob.length, intoInboxes, `only unauthenticated answers reached a bystander's inbox: ${JSON.stringify(intoBob)}`);
    assert.ok(intoBob.every((t) => !t.includes('"sn"')), 'no session data among them');
    if (!secured) {
      const sentTexts = new Set(list.map((p) => new TextDecoder().decode(p.data)));
      // on the targets, nothing but the probes themselves (one of them is sent to a target subject)
      const spoofedOnWire = world.wire.slice(wireBefore).filter((m) => aimed.includes(m.subject) && !sentTexts.has(m.text));
      assert.equal(spoofedOnWire.map((m) => m.subject), [], 'no answer was published to another party’s subject');
    }
    assert.ok(list.length >= 12 && aimed.length >= 15, `${list.length} request subjects × ${aimed.length} targets`);

    // the same requests, honestly: each gets its answer
    conns.set('home', secured ? await world.nats.connect('home-service', brokerConnection(world.broker!.dir, 'home', true)) : await world.nats.connectAs('home', 'home-sender'));
    for (const p of list) {
      const m = await conns.get(p.honest ?? p.from)!.request(p.subject, p.data, { timeout: 10_000 });
      assert.ok(m.data.length > 0, `${p.name} answered`);
    }
  });

  test.run();
}

spoofSuite('reply spoofing (open server)', false);
spoofSuite('reply spoofing (secured broker)', true);
