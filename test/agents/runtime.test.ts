/**
 * The mobile-agent runtime against a real nats-server: migration across hosts (in this
 * process and in separate OS processes), skips, lost agents, duplicate arrivals, and
 * rejection of forged, tampered, expired, malformed and oversized agents.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import type { NatsConnection } from 'nats';
import { natsSuite } from '../helpers/nats.js';
import { testPki, type TestPki } from '../helpers/parties.js';
import { tempDir, REPO_ROOT } from '../helpers/paths.js';
import { AgentHost, AckSchema, decodeAck, type ArrivedAgent } from '../../agents/runtime/host.js';
import { FileHostStore, JetStreamHostStore, type HostStore } from '../../agents/runtime/host-store.js';
import { AgentTracker, type LostAgent } from '../../agents/runtime/tracker.js';
import { eventually } from '../helpers/world.js';
import { createAgent, verifyAgent, verifyVisitLog, appendVisit, type Envelope } from '../../agents/runtime/envelope.js';
import type { Self } from '../../agents/runtime/trust.js';
import { subjects } from '../../protocol/subjects.js';
import { decodeReply, encodeJson, errorReply, okReply } from '../../protocol/wire.js';
import { parleyError } from '../../protocol/errors.js';
import { throwsCode } from '../helpers/assert.js';
import { signObject } from '../../crypto/signed.js';

const test = suite('agent runtime');
const nats = natsSuite(test);
const tmp = tempDir();

let pki: TestPki;
let nc: NatsConnection;
let home: AgentHost;
let homeSelf: Self;
let tracker: AgentTracker;
const hosts: AgentHost[] = [];
const selves = new Map<string, Self>();
const returned = new Map<string, (a: ArrivedAgent) => void>();
const lost: LostAgent[] = [];
const children: ChildProcess[] = [];

function comeHome(id: string, ms = 10_000): Promise<ArrivedAgent> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`agent ${id} did not come home`)), ms);
    returned.set(id, (a) => {
      clearTimeout(t);
      resolve(a);
    });
  });
}

/** each host's store, to look at what it holds */
const stores = new Map<string, HostStore>();

async function startHost(id: string, opts: { file?: boolean; maxBytes?: number } = {}): Promise<AgentHost> {
  const self = selves.get(id) ?? (await pki.party(id, 'merchant'));
  selves.set(id, self);
  const store = opts.file ? new FileHostStore(join(tmp.path, id)) : await JetStreamHostStore.open(nc, id);
  stores.set(id, store);
  // each host on its own connection: hosts acknowledge only to the sender's own inbox
  const host = new AgentHost({ nc: await nats.connectAs(id), self, trust: pki.trust, store, maxBytes: opts.maxBytes });
  host.register('probe', { issuerRoles: ['agent-home'], visit: async () => ({ note: `seen by ${id}` }) });
  await host.start();
  hosts.push(host);
  return host;
}

function probe(itinerary: string[], ttlMs = 30_000, timeoutMs = 1000): Envelope {
  return createAgent(homeSelf, { kind: 'probe', itinerary: itinerary.map((host) => ({ host, timeoutMs })), payload: { hello: 'world' }, ttlMs });
}

async function arrive(nc: NatsConnection, host: string, data: Uint8Array) {
  const msg = await nc.request(subjects.hostArrive(host), data, { timeout: 2000 });
  const ack = decodeReply(AckSchema, msg.data);
  // the senders' fast path reads a host's real acknowledgements as the schema does
  assert.equal(decodeAck(msg.data), ack);
  return ack;
}

async function arriveCode(host: string, data: Uint8Array): Promise<string> {
  try {
    await arrive(nc, host, data);
    return 'accepted';
  } catch (e) {
    return (e as { code: string }).code;
  }
}

test.before(async () => {
  pki = await testPki();
  // the test sends as the issuer, `home`, and replies reach it on its inbox
  nc = await nats.connectAs('home', 'runtime-test');
  homeSelf = await pki.party('home', 'agent-home');
  home = new AgentHost({ nc, self: homeSelf, trust: pki.trust, store: await JetStreamHostStore.open(nc, 'home') });
  tracker = await AgentTracker.open(nc, 'home', pki.trust);
  home.register('probe', {
    issuerRoles: ['agent-home'],
    home: async (a) => {
      await tracker.markHome(a.envelope.id, a.visits);
      returned.get(a.envelope.id)?.(a);
    },
  });
  await home.start();
  await tracker.start((l) => {
    lost.push(l);
  }, 100);
  for (const id of ['h1', 'h2', 'h3', 'h4', 'h5']) await startHost(id, { file: id === 'h2' || id === 'h4', maxBytes: id === 'h4' ? 64 * 1024 : undefined });
});

test.after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await tracker.stop();
  for (const h of [...hosts, home]) await h.stop();
  tmp.remove();
});

test('an agent crosses five hosts and comes home with a five-entry verified visit log', async () => {
  const env = probe(['h1', 'h2', 'h3', 'h4', 'h5']);
  await tracker.track(env, 10_000);
  assert.is((await eventually('the tracker sees the agent out', () => tracker.known(env.id))).status, 'out');
  const back = comeHome(env.id);
  await home.dispatch(env);
  const a = await back;
  assert.is(a.visits.length, 5);
  assert.equal(a.visits.map((v) => v.host), ['h1', 'h2', 'h3', 'h4', 'h5']);
  assert.ok(a.visits.every((v) => v.event === 'visited' && v.note === `seen by ${v.host}`));
  // the log verifies independently of the host that received it
  assert.is(verifyVisitLog(a.envelope, pki.trust).length, 5);
  assert.is((await tracker.get(env.id))?.status, 'home');
  // the tracker's in-memory copy keeps agents until they are home, so it does not grow
  // with every agent ever sent
  await eventually('the agent home leaves the tracker\'s copy', () => (tracker.known(env.id) === undefined ? true : undefined));
});

test('hosts in separate OS processes carry the agent and sign the log', async () => {
  const ids = ['p1', 'p2', 'p3'];
  for (const id of ids) {
    const self = await pki.party(id, 'merchant');
    const files = pki.writeFiles(tmp.path, self);
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test/fixtures/host-process.ts'), nats.url, files.ca, files.cert, files.key, join(tmp.path, `store-${id}`)], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    await once(child.stdout!, 'data');
  }
  const env = probe(['p1', 'h1', 'p2', 'p3', 'h2'], 30_000, 3000);
  const back = comeHome(env.id, 20_000);
  await home.dispatch(env);
  const a = await back;
  assert.equal(a.visits.map((v) => v.host), ['p1', 'h1', 'p2', 'p3', 'h2']);
  const pids = new Set(a.visits.filter((v) => v.host.startsWith('p')).map((v) => v.note));
  assert.is(pids.size, 3, 'three different processes');
  assert.not.ok(pids.has(`pid ${process.pid}`));
});

test('a host that is down is skipped and the skip is recorded', async () => {
  const env = probe(['h1', 'ghost', 'h3'], 30_000, 300);
  const back = comeHome(env.id);
  await home.dispatch(env);
  const a = await back;
  assert.equal(
    a.visits.map((v) => [v.event, v.target]),
    [['visited', 'h1'], ['skipped', 'ghost'], ['visited', 'h3']],
  );
  assert.is(a.visits[1]!.host, 'h1', 'the skip is signed by the host that tried');
  assert.is(a.visits[1]!.note, 'ERR_UNAVAILABLE');
});

test('a host that starts listening within its hop timeout is visited, not skipped', async () => {
  // nobody serves 'late' when the agent first tries it (no responders, at once); the hop
  // keeps trying until its 5 s are up, and the host comes up a moment later
  const env = probe(['h1', 'late', 'h3'], 30_000, 5000);
  const back = comeHome(env.id, 15_000);
  await home.dispatch(env);
  await new Promise((r) => setTimeout(r, 400));
  await startHost('late');
  const a = await back;
  assert.equal(
    a.visits.map((v) => [v.event, v.target]),
    [['visited', 'h1'], ['visited', 'late'], ['visited', 'h3']],
  );
});

test('an arrival lost on the way (no acknowledgement) is sent again within the hop timeout', async () => {
  // a stand-in takes the first arrival for 'lost' and never answers, as when the agent goes
  // out the moment the host's cluster node dies; the real host is up a moment later
  const swallowed: string[] = [];
  nc.subscribe(subjects.hostArrive('lost'), { max: 1, callback: (_e, m) => swallowed.push(m.subject) });
  await nc.flush();
  const env = probe(['h1', 'lost', 'h3'], 30_000, 2000);
  const back = comeHome(env.id, 15_000);
  await home.dispatch(env);
  await eventually('the first arrival swallowed', async () => (swallowed.length === 1 ? true : undefined), 5000);
  await startHost('lost');
  const a = await back;
  assert.equal(
    a.visits.map((v) => [v.event, v.target]),
    [['visited', 'h1'], ['visited', 'lost'], ['visited', 'h3']],
  );
});

test('a host that acknowledges and then dies is detected by the issuer deadline', async () => {
  const self = await pki.party('dies', 'merchant');
  const files = pki.writeFiles(tmp.path, self);
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test/fixtures/host-process.ts'), nats.url, files.ca, files.cert, files.key, join(tmp.path, 'store-dies'), '--hang'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  await once(child.stdout!, 'data');
  const env = probe(['h1', 'dies', 'h3', 'h4'], 30_000, 3000);
  await tracker.track(env, 1500);
  await home.dispatch(env);
  // the dying host has acknowledged: kill it while it holds the agent
  await new Promise((r) => setTimeout(r, 300));
  child.kill('SIGKILL');
  const deadline = Date.now() + 5000;
  while (!lost.some((l) => l.agent.id === env.id) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const l = lost.find((x) => x.agent.id === env.id);
  assert.ok(l, 'agent reported lost');
  assert.is(l!.agent.status, 'lost');
  assert.equal(l!.agent.visited, ['h1'], 'progress reports name the hosts that were reached');
  assert.equal(l!.unreached, ['dies', 'h3', 'h4']);
});

test('a duplicated arrival is acknowledged again and runs the handler once', async () => {
  const h = hosts.find((x) => x.id === 'h5')!;
  const before = h.runs.get('probe') ?? 0;
  const env = probe(['h5'], 30_000);
  const back = comeHome(env.id);
  const first = await arrive(nc, 'h5', encodeJson(env));
  const second = await arrive(nc, 'h5', encodeJson(env));
  assert.equal([first.duplicate, second.duplicate], [false, true]);
  await back;
  await h.idle();
  assert.is((h.runs.get('probe') ?? 0) - before, 1);
});

test('a migration ack is read by its bytes; any other reply by the schema', () => {
  const bytes = (text: string) => new TextEncoder().encode(text);
  // the same acknowledgement written differently still decodes, through the schema
  assert.equal(decodeAck(bytes('{ "body": {"duplicate": true, "accepted": true}, "ok": true }')), { accepted: true, duplicate: true });
  throwsCode(() => decodeAck(errorReply(parleyError('ERR_AGENT_EXPIRED', 'expired'))), 'ERR_AGENT_EXPIRED');
  throwsCode(() => decodeAck(okReply({ accepted: false, duplicate: false })), 'ERR_SCHEMA');
  throwsCode(() => decodeAck(bytes('{"ok":true,"body":{"accepted":true,"duplicate":false}')), 'ERR_MALFORMED_MESSAGE');
});

test('a forged header, a tampered visit log and an expired agent are rejected with their codes', async () => {
  const env = probe(['h1', 'h2']);
  // forged: the itinerary is changed after signing
  const forged = structuredClone(env);
  forged.header.body.itinerary[0]!.timeoutMs = 9999;
  assert.is(await arriveCode('h1', encodeJson(forged)), 'ERR_AGENT_HEADER_INVALID');
  // header signed by a merchant pretending to be the agent home
  const impostor = await pki.party('impostor', 'merchant');
  const byMerchant = createAgent(impostor, { kind: 'probe', itinerary: [{ host: 'h1', timeoutMs: 500 }], payload: {}, ttlMs: 10_000 });
  assert.is(await arriveCode('h1', encodeJson(byMerchant)), 'ERR_CERT_ROLE');
  // payload swapped
  assert.is(await arriveCode('h1', encodeJson({ ...env, payload: { hello: 'mars' } })), 'ERR_AGENT_HEADER_INVALID');

  // tampered visit log: build a valid two-record log for h3, then alter, drop or reorder it
  const h1 = selves.get('h1')!;
  const h2 = selves.get('h2')!;
  const base = probe(['h1', 'h2', 'h3']);
  const withLog = { ...appendVisit(appendVisit(base, h1, { event: 'visited', target: 'h1', hop: 0, note: 'a' }), h2, { event: 'visited', target: 'h2', hop: 1, note: 'b' }), hop: 2 };
  const altered = structuredClone(withLog);
  altered.visits[0]!.record.body.note = 'not a';
  assert.is(await arriveCode('h3', encodeJson(altered)), 'ERR_VISIT_LOG_INVALID');
  assert.is(await arriveCode('h3', encodeJson({ ...withLog, visits: withLog.visits.slice(1) })), 'ERR_VISIT_LOG_INVALID');
  assert.is(await arriveCode('h3', encodeJson({ ...withLog, visits: [...withLog.visits].reverse() })), 'ERR_VISIT_LOG_INVALID');
  // a record re-signed by the wrong host
  const wrongSigner = structuredClone(withLog);
  wrongSigner.visits[1]!.record = signObject('visit', wrongSigner.visits[1]!.record.body, h1.secretKey) as typeof wrongSigner.visits[1]['record'];
  assert.is(await arriveCode('h3', encodeJson(wrongSigner)), 'ERR_VISIT_LOG_INVALID');
  // a host on the way checks the links and the last record's signature; the issuer checks
  // every signature: h2 makes up h1's record (signed with h2's key) and links its own to it
  const madeUp = appendVisit({ ...base, visits: [{ record: signObject('visit', withLog.visits[0]!.record.body, h2.secretKey) as typeof withLog.visits[0]['record'], cert: h1.certPem }] }, h2, { event: 'visited', target: 'h2', hop: 1, note: 'b' });
  const onTheWay = { ...madeUp, hop: 2 };
  assert.is(verifyAgent(onTheWay, pki.trust, ['agent-home'], Date.now(), 'last').visits.length, 2, 'links hold: passed on');
  const atHome = { ...madeUp, hop: 3 };
  assert.throws(() => verifyAgent(atHome, pki.trust, ['agent-home'], Date.now(), 'all'), (e: { code?: string; message: string }) => e.code === 'ERR_VISIT_LOG_INVALID' && /record 0: signature/.test(e.message));

  const expired = probe(['h1'], 1);
  await new Promise((r) => setTimeout(r, 5));
  assert.is(await arriveCode('h1', encodeJson(expired)), 'ERR_AGENT_EXPIRED');
  // sent to a host it is not addressed to
  assert.is(await arriveCode('h2', encodeJson(env)), 'ERR_AGENT_NOT_ADDRESSED');
});

test('malformed, oversized and unsigned messages get error replies and change nothing', async () => {
  const h = hosts.find((x) => x.id === 'h4')!;
  const runs = h.runs.get('probe') ?? 0;
  const store = stores.get('h4')!;
  const pendingBefore = (await store.pending()).length;
  assert.is(await arriveCode('h4', new TextEncoder().encode('{not json')), 'ERR_MALFORMED_MESSAGE');
  // h4 accepts at most 64 KiB (the broker's own limit, 1 MiB, stops larger ones earlier)
  assert.is(await arriveCode('h4', encodeJson({ ...probe(['h4']), payload: 'x'.repeat(100_000) })), 'ERR_MESSAGE_TOO_LARGE');
  const env = probe(['h4']);
  const unsigned = { ...env, header: { ...env.header, sig: '' } };
  assert.is(await arriveCode('h4', encodeJson(unsigned)), 'ERR_AGENT_HEADER_INVALID');
  const noHeader: Record<string, unknown> = { ...env };
  delete noHeader.header;
  assert.is(await arriveCode('h4', encodeJson(noHeader)), 'ERR_SCHEMA');
  let deep: unknown = 1;
  for (let i = 0; i < 100; i++) deep = [deep];
  assert.is(await arriveCode('h4', encodeJson({ ...env, payload: deep })), 'ERR_MALFORMED_MESSAGE');
  assert.is(await arriveCode('h4', encodeJson({ ...env, kind: 'unknown-kind' })), 'ERR_AGENT_KIND');
  await h.idle();
  assert.is(h.runs.get('probe') ?? 0, runs, 'no handler ran');
  assert.is((await store.pending()).length, pendingBefore, 'nothing stored');
});

test.run();
