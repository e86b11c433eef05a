/**
 * Crashes lose nothing. Every role runs as its own OS process (`parley home start`,
 * `parley store start`, the `parley buyer` commands) on one real nats-server, and is killed
 * with SIGKILL at the worst moments, then started again:
 *
 * - the Agent Home, three times in one session: after answering the buyer but before
 *   recording the invitation, after recording the Invite Agent but before sending it, and
 *   after storing a negotiation but before the session knew of it; the session still
 *   completes, with exactly the agreements the stores' committed bids allow;
 * - the buyer after its partial signature reached the store (twice: before it saved the
 *   countersignature, and before the store had its complete signature): `sign` again
 *   finishes; or `abort` ends it;
 * - a store between countersigning and receiving the buyer's complete signature: after
 *   restart it resolves through the Agent Home by itself, both sides hold the contract;
 * - the Agent Home in the middle of a resolve: the resolve completes exactly once (one
 *   exchange record, one mailbox delivery), and resolving again returns the same result.
 *
 * Exact instants come from PARLEY_CRASH_AT (agents/crash-point.ts): the process SIGKILLs
 * itself when it reaches the named point; the store is killed from outside. The audit log
 * the crashed processes wrote is then verified, and tampering with it is caught.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NatsConnection } from 'nats';
import { hostedArrivals, storedOffer } from '../helpers/hosted.js';
import { natsSuite } from '../helpers/nats.js';
import { startParley, type ParleyProcess } from '../helpers/processes.js';
import { REPO_ROOT, tempDir } from '../helpers/paths.js';
import { testPki, type TestPki } from '../helpers/parties.js';
import { eventually } from '../helpers/world.js';
import { listContracts } from '../../store/listing.js';
import { compileRules, parseRules } from '../../protocol/rules.js';
import { checkContract } from '../../protocol/contract.js';
import { call } from '../../agents/transport/rpc.js';
import { signRequest } from '../../protocol/signed-request.js';
import { subjects } from '../../protocol/subjects.js';
import { RESOLVE_TYPE, ResolveReplySchema } from '../../protocol/exchange.js';
import { BuyerFiles } from '../../buyer-cli/state.js';
import { HomeState } from '../../agent-home/state.js';
import { AUDIT_STREAM, auditSubject, AUDIT_TYPE, readAuditLog, verifyAuditLog, type AuditRecord } from '../../agent-home/audit.js';
import { canonicalBytes } from '../../crypto/canonical.js';
import { sha256 } from '../../crypto/hash.js';
import { toHex } from '../../crypto/bytes.js';
import { signObject } from '../../crypto/signed.js';
import { generateIdentityKey } from '../../crypto/ed25519.js';
import { caTrust, type Self } from '../../agents/runtime/trust.js';
import type { Bid } from '../../protocol/commerce.js';

const test = suite('crash recovery');
const tmp = tempDir('parley-crash-');
const procs: Proc[] = [];
// registered before the server's own hook, so the daemons stop while NATS is still up
test.after(async () => {
  for (const p of procs.reverse()) await p.stop();
  tmp.remove();
});
const nats = natsSuite(test);
const home = join(tmp.path, 'home');
const RULES = join(REPO_ROOT, 'examples', 'rules.json');
let env: Record<string, string>;
let nc: NatsConnection;
let ah: Proc;
const stores = new Map<string, Proc>();
const selves = new Map<string, Self>();
const buyer = new BuyerFiles(join(home, 'buyer'));
let ca: TestPki;

// ---- processes -------------------------------------------------------------------------

type Proc = ParleyProcess;

function start(args: string[], extra: Record<string, string> = {}): Proc {
  const p = startParley(args, { ...env, ...extra });
  procs.push(p);
  return p;
}

/** Runs a command to its end (with its JSON output, if it printed one). */
async function run(args: string[], extra: Record<string, string> = {}, ms = 30_000) {
  const p = start(args, extra);
  const t = setTimeout(() => p.child.kill('SIGKILL'), ms);
  const { code, signal } = await p.exited;
  clearTimeout(t);
  const out = p.output();
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(p.stdout()) as Record<string, unknown>;
  } catch {
    // killed, or not a JSON command
  }
  return { code, signal, out, json };
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)))]).finally(() => clearTimeout(t));
}

/** Waits until `p` killed itself at crash point `point`. */
async function crashed(p: Proc, point: string, ms = 20_000): Promise<void> {
  await p.waitFor(new RegExp(`crash point ${point}`), ms);
  const { signal } = await p.exited;
  assert.is(signal, 'SIGKILL', `killed at ${point}`);
}

async function startHome(crashAt?: string): Promise<Proc> {
  // a short lease: the restarted process takes over the work the killed one held once it runs out
  const p = start(['home', 'start', '--work-lease', '1s'], crashAt ? { PARLEY_CRASH_AT: crashAt } : {});
  await p.waitFor(/Agent Home home running/);
  return p;
}

async function startStore(id: string): Promise<Proc> {
  const p = start(['store', 'start', '--config', join(tmp.path, `${id}.json`)]);
  await p.waitFor(new RegExp(`store ${id} running`));
  stores.set(id, p);
  return p;
}

// ---- what the parties hold ---------------------------------------------------------------

const storeDir = (id: string) => join(home, 'store', id);
const storeContract = (id: string, contractId: string) => listContracts(storeDir(id)).find((c) => c.contractId === contractId);
const validFile = (file: string | undefined) => !!file && checkContract(JSON.parse(readFileSync(file, 'utf8')), ca.ca.certificate).valid;

/** What a store's committed bids give under the buyer's rules: the first bid they accept. */
function expectedAgreement(store: string, sn: string): { merchant: string; index: number; bid: Bid } | undefined {
  const offer = storedOffer(storeDir(store), sn);
  const rules = compileRules(parseRules(JSON.parse(readFileSync(RULES, 'utf8'))));
  const i = offer.bids.findIndex((b) => rules.evaluate(offer.request, b).accept);
  return i < 0 ? undefined : { merchant: store, index: i + 1, bid: offer.bids[i]! };
}

const requestArgs = (deadline: string) => ['buyer', 'request', '--item', 'laptop-pro-14', '--category', 'laptops', '--quantity', '2', '--attr', 'ram=32GB', '--rules', RULES, '--deadline', deadline, '--json'];

/** The test, as merchant `id`, asking the Agent Home to resolve the buyer's exchange. */
async function resolveAs(id: string, x: { payload: string; protected: string; sg1: string; merchantSignature?: unknown }, timeoutMs: number) {
  const req = signRequest(RESOLVE_TYPE, { payload: x.payload, protected: x.protected, sg1: x.sg1, merchantSignature: x.merchantSignature }, 'home', selves.get(id)!);
  return call(await nats.party(id), subjects.home('home', 'resolve'), req, ResolveReplySchema, timeoutMs);
}

let sn1 = '';
let sn2 = '';
/** the second session's request, started early to run beside the first tests */
let request2: Proc;
const contracts: Record<string, string> = {};

test.before(async () => {
  env = { PARLEY_HOME: home, PARLEY_NATS_URL: nats.url };
  nc = await nats.connect('crash-test');
  ca = await testPki();
  const ids = tmp.path;
  const homeSelf = await ca.party('home', 'agent-home');
  mkdirSync(join(home, 'agent-home'), { recursive: true });
  const h = ca.writeFiles(ids, homeSelf);
  copyFileSync(h.ca, join(home, 'agent-home', 'ca.pem'));
  copyFileSync(h.cert, join(home, 'agent-home', 'home.pem'));
  copyFileSync(h.key, join(home, 'agent-home', 'home.key'));
  for (const id of ['shop-a', 'shop-b']) {
    const self = await ca.party(id, 'merchant');
    selves.set(id, self);
    const f = ca.writeFiles(ids, self);
    const config = JSON.parse(readFileSync(join(REPO_ROOT, 'examples', `store-${id.slice(-1)}.json`), 'utf8'));
    config.identity = f;
    writeFileSync(join(tmp.path, `${id}.json`), JSON.stringify(config));
  }
  const alice = await ca.party('alice', 'buyer');
  const f = ca.writeFiles(ids, alice);
  mkdirSync(buyer.dir, { recursive: true, mode: 0o700 });
  copyFileSync(f.cert, buyer.certPath);
  copyFileSync(f.key, buyer.keyPath);
  copyFileSync(f.ca, buyer.caPath);
  buyer.saveConfig({ id: 'alice', home: 'home' });
  // the first Agent Home dies right after answering the buyer, before it records the invitation;
  // the stores start with it and register as soon as it listens
  const started = await Promise.all([startHome('home:invite:before-record'), startStore('shop-a'), startStore('shop-b')]);
  ah = started[0];
  await Promise.all(started.slice(1).map((s) => s.waitFor(/registered with Agent Home home/)));
});

test('the Agent Home killed three times during one negotiation: the session completes with every agreement', async () => {
  const req = start(requestArgs('45s'));
  sn1 = (await req.waitFor(/session ([0-9a-f]{32}) open/))[1]!;
  await crashed(ah, 'home:invite:before-record');
  // restarted: the session was never invited, so it is now; killed after recording the Invite Agent, before sending it
  ah = await startHome('home:invite:before-dispatch');
  const invite = (await ah.waitFor(/Invite Agent (\S+) to shop-a, shop-b/))[1]!;
  await crashed(ah, 'home:invite:before-dispatch');
  // restarted: that very Invite Agent is sent; killed after storing the first negotiation, before the session knew
  ah = await startHome('home:sales:after-negotiation');
  await crashed(ah, 'home:sales:after-negotiation');
  // restarted (armed for the resolve test below)
  ah = await startHome('home:resolve:after-settle');
  const { code } = await within(req.exited, 25_000, 'the buyer saw the session complete');
  request2 = start(requestArgs('60s'));
  assert.is(code, 0, req.output());
  const results = JSON.parse(req.stdout()) as { sn: string; status: string; agreements: Array<{ merchant: string; index: number; bid: Bid }> };
  assert.is(results.sn, sn1);
  assert.is(results.status, 'complete');
  // every agreement the stores' committed bids allow, and nothing else
  const expected = ['shop-a', 'shop-b'].map((m) => expectedAgreement(m, sn1)).filter((x) => !!x);
  assert.is(expected.length, 2);
  const got = results.agreements.map((a) => ({ merchant: a.merchant, index: a.index, bid: a.bid })).sort((a, b) => a.merchant.localeCompare(b.merchant));
  assert.equal(got, expected);
  // the Invite Agent recorded before the crash is the one that went out (not a replacement sent after it was given up as lost)
  assert.ok(
    hostedArrivals(join(storeDir('shop-a'), 'agents')).some((a) => a.key === `${invite}.0`),
    'shop-a hosted the Invite Agent recorded before the crash',
  );
});

test('the buyer killed after its partial signature reached the store: `sign` again finishes, the store answers the same offer', async () => {
  const sign = ['buyer', 'sign', sn1, '--merchant', 'shop-a', '--complete-within', '60s', '--json'];
  let r = await run(sign, { PARLEY_CRASH_AT: 'buyer:sign:after-offer' });
  assert.is(r.signal, 'SIGKILL', r.out);
  const x = buyer.exchangeWith(sn1, 'shop-a')!;
  assert.is(x.state, 'offered', 'killed before it saved the countersignature');
  assert.is(storeContract('shop-a', x.contractId)?.state, 'countersigned', 'the store countersigned');
  // again, killed this time after the countersignature and its own contract file, before the store had SG
  r = await run(sign, { PARLEY_CRASH_AT: 'buyer:sign:before-complete' });
  assert.is(r.signal, 'SIGKILL', r.out);
  assert.is(buyer.exchange(x.contractId)!.state, 'countersigned');
  r = await run(sign);
  assert.is(r.code, 0, r.out);
  assert.is(r.json?.state, 'complete');
  assert.is(r.json?.contractId, x.contractId, 'the very same contract');
  // the store got the complete signature from the buyer (it did not have to resolve), and signed one contract in the session
  const c = await eventually('store complete', () => (storeContract('shop-a', x.contractId)?.state === 'complete' ? storeContract('shop-a', x.contractId) : undefined), 5000);
  assert.equal(listContracts(storeDir('shop-a')).filter((y) => y.sn === sn1).length, 1);
  assert.ok(validFile(c.contractFile), "the store's contract verifies");
  assert.ok(validFile(buyer.exchange(x.contractId)!.contractFile), "the buyer's contract verifies");
  contracts.s1a = x.contractId;
});

test('the Agent Home killed during a resolve: it completes exactly once; resolving again gives the same result', async () => {
  // the store would resolve by itself 10 s after countersigning; here the merchant does it at once
  const signed = await run(['buyer', 'sign', sn1, '--merchant', 'shop-b', '--withhold', '--complete-within', '60s', '--json']);
  assert.is(signed.code, 0, signed.out);
  const x = buyer.exchange(signed.json!.contractId as string)!;
  // the Agent Home dies after recording the resolution, before anything else
  await resolveAs('shop-b', x, 1500).then(
    () => assert.unreachable('the Agent Home should have died'),
    (e: { code?: string }) => assert.is(e.code, 'ERR_TIMEOUT'),
  );
  await crashed(ah, 'home:resolve:after-settle');
  ah = await startHome();
  const first = await resolveAs('shop-b', x, 10_000);
  assert.is(first.outcome, 'resolved');
  const again = await resolveAs('shop-b', x, 10_000);
  assert.equal(again, first, 'a repeated resolve returns the same result');
  const state = await HomeState.open(nc);
  assert.is((await state.exchange(x.contractId))?.status, 'resolved');
  assert.equal((await state.exchangeIds()).filter((k) => k === x.contractId).length, 1, 'one exchange record');
  assert.is((await state.mailbox('alice', 0)).filter((m) => m.contractId === x.contractId).length, 1, 'one mailbox delivery');
  contracts.s1b = x.contractId;
});

test('a store killed between countersigning and the complete signature resolves through the Agent Home after restart', async () => {
  assert.is((await within(request2.exited, 25_000, 'second session')).code, 0, request2.output());
  const second = JSON.parse(request2.stdout()) as { sn: string; agreements: unknown[] };
  sn2 = second.sn;
  assert.is(second.agreements.length, 2);
  const r = await run(['buyer', 'sign', sn2, '--merchant', 'shop-a', '--withhold', '--complete-within', '1s', '--json']);
  assert.is(r.code, 0, r.out);
  assert.is(r.json?.state, 'countersigned');
  const id = r.json!.contractId as string;
  const old = stores.get('shop-a')!;
  old.child.kill('SIGKILL');
  assert.is((await old.exited).signal, 'SIGKILL');
  assert.is(storeContract('shop-a', id)?.state, 'countersigned');
  await startStore('shop-a');
  const c = await eventually('the restarted store resolved', () => (storeContract('shop-a', id)?.state === 'resolved' ? storeContract('shop-a', id) : undefined), 15_000);
  assert.ok(validFile(c.contractFile), "the store's contract verifies");
  contracts.s2a = id;
});

test('the buyer killed after its partial signature reached the store: `abort` ends the exchange', async () => {
  const r = await run(['buyer', 'sign', sn2, '--merchant', 'shop-b', '--complete-within', '60s', '--json'], { PARLEY_CRASH_AT: 'buyer:sign:after-offer' });
  assert.is(r.signal, 'SIGKILL', r.out);
  const x = buyer.exchangeWith(sn2, 'shop-b')!;
  assert.is(x.state, 'offered');
  assert.is(storeContract('shop-b', x.contractId)?.state, 'countersigned', 'the store countersigned');
  const a = await run(['buyer', 'abort', '--json', '--', x.contractId]);
  assert.is(a.code, 0, a.out);
  assert.is(a.json?.outcome, 'aborted');
  assert.is(buyer.exchange(x.contractId)!.state, 'aborted');
  // the Agent Home holds the abort: the store's resolve will get the token (test/e2e/fairness.test.ts), nobody is bound
  assert.is((await (await HomeState.open(nc)).exchange(x.contractId))?.status, 'aborted');
  contracts.s2b = x.contractId;
});

test('the buyer completes the resolved contracts from its mailbox: both sides hold every contract', async () => {
  const inbox = await run(['buyer', 'inbox', '--json']);
  assert.is(inbox.code, 0, inbox.out);
  for (const [store, id, state] of [
    ['shop-a', contracts.s1a, 'complete'],
    ['shop-b', contracts.s1b, 'resolved'],
    ['shop-a', contracts.s2a, 'resolved'],
  ] as const) {
    const x = buyer.exchange(id!)!;
    assert.is(x.state, state, `${store} ${id}`);
    assert.ok(validFile(x.contractFile), `the buyer holds the contract with ${store}`);
  }
  assert.ok(validFile(storeContract('shop-a', contracts.s1a!)?.contractFile) && validFile(storeContract('shop-a', contracts.s2a!)?.contractFile));
  assert.not.ok(buyer.exchange(contracts.s2b!)!.contractFile);
});

test('the audit log written across the crashes verifies, holds each change once, and tampering is caught', async () => {
  const jsm = await nc.jetstreamManager();
  const key = caTrust(ca.ca.certificate).verify(readFileSync(join(home, 'agent-home', 'home.pem'), 'utf8'), ['agent-home']).publicKey;
  const entries = await readAuditLog(jsm);
  assert.equal(verifyAuditLog(entries, key), { ok: true, records: entries.length });
  const records = entries.map((e) => (JSON.parse(new TextDecoder().decode(e.raw!)) as { body: AuditRecord }).body);
  const count = (event: string, pred: (x: AuditRecord) => boolean = () => true) => records.filter((x) => x.event === event && pred(x)).length;
  assert.is(count('session-opened'), 2);
  assert.is(count('session-opened', (x) => x.sn === sn1), 1, 'logged once although the restarted Agent Home logged it again');
  assert.is(count('invite-sent', (x) => x.sn === sn1), 1, 'the recorded Invite Agent was sent again, not logged again');
  assert.is(count('negotiation', (x) => x.sn === sn1), 2);
  assert.is(count('agreement', (x) => x.sn === sn1), 2);
  assert.is(count('resolution', (x) => x.details.contractId === contracts.s1b), 1, 'one resolution although resolved three times, once by a dying process');
  assert.is(count('abort', (x) => x.details.contractId === contracts.s2b), 1);
  assert.is(count('merchant-registered'), 3, 'shop-a, shop-b, and shop-a again after its restart');
  assert.not.match(JSON.stringify(records), /"(d2|rules|sg1?)"/, 'no secret in the log');

  // a record slipped in by someone else, even correctly linked, is caught at its position
  const last = entries[entries.length - 1]!;
  const forged = signObject(AUDIT_TYPE, { seq: last.seq + 1, at: new Date().toISOString(), event: 'resolution', details: {}, prev: toHex(sha256(last.raw!)) }, generateIdentityKey().secretKey);
  const ack = await nc.jetstream().publish(auditSubject('home'), canonicalBytes(forged));
  assert.equal(verifyAuditLog(await readAuditLog(jsm), key).firstBroken?.seq, ack.seq);

  // a record deleted from the middle is caught at its position, by `parley home audit --verify` too (exit 3)
  const victim = Math.ceil(entries.length / 2);
  await jsm.streams.deleteMessage(AUDIT_STREAM, victim);
  const broken = await run(['home', 'audit', '--verify', '--json']);
  assert.is(broken.code, 3, broken.out);
  assert.is((broken.json as { verified: { firstBroken: { seq: number } } }).verified.firstBroken.seq, victim);

  // a foreign record of any shape is reported, not a crash (it once failed with ERR_INTERNAL)
  await nc.jetstream().publish(auditSubject('home'), new TextEncoder().encode('{"body":{"event":7,"details":"x"},"sig":"AA"}'));
  const text = await run(['home', 'audit', '--verify']);
  assert.is(text.code, 3, text.out);
  assert.match(text.out, new RegExp(`audit log BROKEN at record #${victim}: record missing`));
  assert.match(text.out, /\(unreadable: malformed record: /);
});

test.run();
