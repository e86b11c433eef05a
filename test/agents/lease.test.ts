/**
 * Work leases (agents/runtime/lease.ts): two instances of one host share a JetStream host
 * store and a queue group, on a real nats-server. Work accepted by an instance that dies
 * is taken over by the other once the lease has run out, and run once there; a live owner
 * that renews its lease keeps its work however long it runs; an owner whose work was taken
 * over cannot overwrite the new owner's progress.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { NatsConnection } from 'nats';
import { natsSuite } from '../helpers/nats.js';
import { testPki, type TestPki } from '../helpers/parties.js';
import { eventually } from '../helpers/world.js';
import { AgentHost, AckSchema, type KindBehaviour } from '../../agents/runtime/host.js';
import { JetStreamHostStore, workKey } from '../../agents/runtime/host-store.js';
import { createAgent, type Envelope } from '../../agents/runtime/envelope.js';
import type { Self } from '../../agents/runtime/trust.js';
import { subjects } from '../../protocol/subjects.js';
import { decodeReply, encodeJson } from '../../protocol/wire.js';

const test = suite('work leases');
const nats = natsSuite(test);
const LEASE_MS = 500;
const HOST = 'shared';

let pki: TestPki;
let issuer: Self;
let hostSelf: Self;
let client: NatsConnection;
const started: AgentHost[] = [];

interface Instance {
  host: AgentHost;
  nc: NatsConnection;
  errors: string[];
  info: string[];
}

/** One instance of host `shared`, on its own connection and its own view of the store. */
async function instance(behaviour: KindBehaviour): Promise<Instance> {
  const nc = await nats.connectAs(HOST, `instance-${started.length}`);
  const errors: string[] = [];
  const info: string[] = [];
  const host = new AgentHost({
    nc,
    self: hostSelf,
    trust: pki.trust,
    store: await JetStreamHostStore.open(nc, HOST),
    leaseMs: LEASE_MS,
    onError: (e, c) => errors.push(`${c}: ${(e as { code?: string }).code ?? ''} ${(e as Error).message}`),
    onInfo: (l) => info.push(l),
  });
  host.register('probe', behaviour);
  await host.start();
  started.push(host);
  return { host, nc, errors, info };
}

function probe(): Envelope {
  return createAgent(issuer, { kind: 'probe', itinerary: [{ host: HOST, timeoutMs: 2000 }], payload: { n: Math.random() }, ttlMs: 60_000 });
}

async function send(env: Envelope): Promise<void> {
  const r = decodeReply(AckSchema, (await client.request(subjects.hostArrive(HOST), encodeJson(env), { timeout: 2000 })).data);
  assert.is(r.duplicate, false);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test.before(async () => {
  pki = await testPki();
  issuer = await pki.party('home', 'agent-home');
  hostSelf = await pki.party(HOST, 'merchant');
  // sends as the issuer: a host acknowledges only to its sender's inbox
  client = await nats.connectAs('home', 'sender');
});

test.after(async () => {
  // instances whose connection was closed under them stop once their handler is released
  const giveUp = () => new Promise<void>((r) => setTimeout(r, 1000).unref());
  await Promise.allSettled(started.map((h) => Promise.race([h.stop(), giveUp()])));
});

test('an instance that accepted an agent dies: the other takes the work over after the lease and runs it once', async () => {
  /** instance that ran the handler, in order; the first run never returns */
  const ran: string[] = [];
  let hung!: () => void;
  const hanging = new Promise<void>((r) => (hung = r));
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let done!: (at: number) => void;
  const finished = new Promise<number>((r) => (done = r));
  const behaviour = (self: () => AgentHost): KindBehaviour => ({
    issuerRoles: ['agent-home'],
    visit: async () => {
      ran.push(self().instance);
      if (ran.length === 1) {
        hung();
        await released;
      } else done(Date.now());
      return { note: 'ok', stay: true };
    },
  });
  const a: Instance = await instance(behaviour(() => a.host));
  const b: Instance = await instance(behaviour(() => b.host));
  const env = probe();
  const sentAt = Date.now();
  await send(env);
  await hanging;
  // the instance that holds the work dies: it neither renews its lease nor writes again
  const [dead, survivor] = ran[0] === a.host.instance ? [a, b] : [b, a];
  await dead.nc.close();
  const at = await Promise.race([finished, sleep(5000).then(() => 0)]);
  assert.ok(at, 'the surviving instance ran the agent');
  assert.ok(at - sentAt >= LEASE_MS, `taken over after the lease (${at - sentAt} ms)`);
  assert.equal(ran, [dead.host.instance, survivor.host.instance]);
  assert.is(survivor.host.runs.get('probe'), 1);
  assert.match(survivor.info.join('\n'), new RegExp(`agent ${workKey(env.id, 0)}: work \\(accepted\\) taken over from the instance that accepted it`));
  // finished, once: no instance runs it again
  const store = await JetStreamHostStore.open(client, HOST);
  await eventually('work done', async () => (await store.state(workKey(env.id, 0)))?.state.phase === 'done', 3000);
  await sleep(2 * LEASE_MS);
  assert.is(ran.length, 2, 'run once by the survivor, never again');
  assert.equal(await store.pending(), []);
  // the dead instance, let go, writes nothing
  release();
  await dead.host.stop();
  assert.is(survivor.errors.length, 0, survivor.errors.join('\n'));
  await survivor.host.stop();
});

test('a live owner renews its lease: its work is not taken over, however long it runs', async () => {
  const ran: string[] = [];
  const behaviour = (self: () => AgentHost): KindBehaviour => ({
    issuerRoles: ['agent-home'],
    visit: async () => {
      ran.push(self().instance);
      await sleep(3 * LEASE_MS);
      return { note: 'slow', stay: true };
    },
  });
  const a: Instance = await instance(behaviour(() => a.host));
  const b: Instance = await instance(behaviour(() => b.host));
  const env = probe();
  await send(env);
  await eventually('ran', () => ran.length === 1);
  await Promise.all([a.host.idle(), b.host.idle()]);
  await sleep(LEASE_MS);
  assert.is(ran.length, 1, 'run once, by its owner');
  const store = await JetStreamHostStore.open(client, HOST);
  assert.is((await store.state(workKey(env.id, 0)))?.state.phase, 'done');
  for (const x of [a, b]) {
    assert.is(x.errors.length, 0, x.errors.join('\n'));
    assert.is(x.info.length, 0, x.info.join('\n'));
    await x.host.stop();
  }
});

test('an owner whose work was taken over abandons it without overwriting the new owner', async () => {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let running!: () => void;
  const begun = new Promise<void>((r) => (running = r));
  const a = await instance({
    issuerRoles: ['agent-home'],
    visit: async () => {
      running();
      await released;
      return { note: 'late', stay: true };
    },
  });
  const env = probe();
  const key = workKey(env.id, 0);
  await send(env);
  await begun;
  // another instance (here: the test) takes the work over, as if the owner had stalled past its lease
  const store = await JetStreamHostStore.open(client, HOST);
  const cur = (await store.state(key))!;
  const rev = await store.setState(key, { phase: 'accepted', owner: 'someone-else', leaseUntil: Date.now() + 60_000, takeovers: 1 }, cur.revision);
  assert.ok(rev, 'the takeover wrote');
  release();
  await a.host.idle();
  assert.match(a.errors.join('\n'), new RegExp(`agent ${key}: ERR_CONFLICT .*taken over by another instance`));
  const st = (await store.state(key))!;
  assert.equal([st.state.phase, st.state.owner, st.revision], ['accepted', 'someone-else', rev], "the new owner's state stands");
  await a.host.stop();
});

test.run();
