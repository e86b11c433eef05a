/**
 * The store daemon against a real nats-server and a real Agent Home (in this process):
 * registration (also when the Agent Home starts later), Invite Agents leading to exactly
 * one Sales Agent per session (also when invited twice, and after a restart), the contract
 * responder's refusals (nothing stored), an honest exchange whose contract verifies
 * offline, and the resolve path: a store stopped between countersigning and the buyer's
 * complete signature resolves through the Agent Home after its restart; an exchange the
 * buyer aborted ends aborted with the Agent Home's token.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NatsConnection } from 'nats';
import { hostedArrivals } from '../helpers/hosted.js';
import { natsSuite } from '../helpers/nats.js';
import { testPki, type TestPki } from '../helpers/parties.js';
import { tempDir } from '../helpers/paths.js';
import { flipBit, rejectsCode } from '../helpers/assert.js';
import { buildContract, buyerCall, buyerNotify, homeCall, waitForAgreement, type BuyerSession } from '../helpers/buyer-notify.js';
import { AgentHome } from '../../agent-home/service.js';
import { generateHomeSecrets } from '../../agent-home/secrets.js';
import { AckSchema } from '../../agents/runtime/host.js';
import { createInviteAgent, type InvitePayload } from '../../agents/invite.js';
import { createSalesAgent, type SalesPayload } from '../../agents/sales.js';
import type { Self } from '../../agents/runtime/trust.js';
import { fromB64u, toB64u } from '../../crypto/bytes.js';
import { assembleContractJws, buyerSignature, checkMerchantSignature, type GeneralJws } from '../../crypto/jws.js';
import { checkContract } from '../../protocol/contract.js';
import { requestHash, signDelegation } from '../../protocol/session.js';
import { parseCertificate } from '../../crypto/x509/index.js';
import { subjects } from '../../protocol/subjects.js';
import { decodeReply, encodeJson } from '../../protocol/wire.js';
import { signRequest } from '../../protocol/signed-request.js';
import type { Agreement } from '../../protocol/directory.js';
import type { PurchaseRequest } from '../../protocol/commerce.js';
import {
  ABORT_TYPE,
  AbortReplySchema,
  CONTRACT_COMPLETE_TYPE,
  CONTRACT_OFFER_TYPE,
  ContractCompleteReplySchema,
  ContractOfferReplySchema,
} from '../../protocol/exchange.js';
import { StoreDaemon } from '../../store/daemon.js';
import { parseStoreConfig, type StoreConfig } from '../../store/config.js';
import { listContracts } from '../../store/listing.js';
import type { ContractRecord } from '../../store/files.js';

const test = suite('store daemon');
const nats = natsSuite(test);
const tmp = tempDir('parley-store-');

const REQUEST: PurchaseRequest = { item: 'laptop-pro-14', category: 'laptops', quantity: 2, currency: 'EUR', attributes: { ram: '32GB' } };
/** accepts the first bid at or below 1250 */
const RULES = { limits: { price: { max: 1250 } }, weights: { price: 1 }, ranges: { price: { best: 1000, worst: 1400 } }, reservation: 0 };

let pki: TestPki;
let home: AgentHome;
let homeSelf: Self;
let alice: Self;
let bob: Self;
let ncBuyer: NatsConnection;
const selves = new Map<string, Self>();
const conns = new Map<string, NatsConnection>();
const stores = new Map<string, StoreDaemon>();
const logs: string[] = [];
let s1: BuyerSession;
let s2: BuyerSession;

function storeConfig(id: string): StoreConfig {
  return parseStoreConfig(
    {
      id,
      home: 'home',
      name: `Shop ${id}`,
      categories: ['laptops'],
      identity: { ca: 'ca.pem', cert: `${id}.pem`, key: `${id}.key` },
      template: { title: 'Sale of goods', seller: { name: `${id} Ltd` }, clauses: ['Goods are delivered to the buyer’s address.'] },
      completeTimeoutMs: 10_000,
      offerTtlMs: 60_000,
      catalogue: [
        {
          item: 'laptop-pro-14',
          category: 'laptops',
          currency: 'EUR',
          stock: 10,
          attributes: { ram: '32GB' },
          bids: [
            { price: 1400, deliveryDays: 5, warrantyMonths: 12 },
            { price: 1300, deliveryDays: 4, warrantyMonths: 12 },
            { price: 1200, deliveryDays: 3, warrantyMonths: 24 },
          ],
        },
      ],
    },
    join(tmp.path, id),
  );
}

const dataDir = (id: string) => join(tmp.path, id, 'data');

async function startStore(id: string): Promise<StoreDaemon> {
  let self = selves.get(id);
  if (!self) {
    self = await pki.party(id, 'merchant');
    selves.set(id, self);
  }
  let nc = conns.get(id);
  if (!nc) {
    nc = await nats.connectAs(id);
    conns.set(id, nc);
  }
  const store = await StoreDaemon.open({ nc, config: storeConfig(id), self, trust: pki.trust, ca: pki.ca.certificate, dataDir: dataDir(id), log: (l) => logs.push(`${id}: ${l}`) });
  await store.start();
  stores.set(id, store);
  return store;
}

function store(id: string): StoreDaemon {
  return stores.get(id)!;
}

async function until<T>(what: string, ms: number, fn: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`${what} did not happen within ${ms} ms; store log:\n${logs.join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function record(id: string, contractId: string): ContractRecord | undefined {
  const p = join(dataDir(id), 'contracts', `${contractId}.json`);
  return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as ContractRecord) : undefined;
}

/** The records of a store's offer book, as written (keys and values), oldest first. */
function offerLines(id: string): Array<{ k: string; v: unknown }> {
  const text = readFileSync(join(dataDir(id), 'offers', 'journal.jsonl'), 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { k: string; v: unknown });
}

function filesIn(dir: string): string[] {
  try {
    return readdirSync(dir).filter((n) => !n.startsWith('.'));
  } catch {
    return [];
  }
}

async function offerContract(merchant: string, from: Self, c: { payloadB64: string; protected: string; sg1: string }) {
  return buyerCall(await nats.party(from.id), subjects.storeContract(merchant, 'offer'), CONTRACT_OFFER_TYPE, { payload: c.payloadB64, protected: c.protected, sg1: c.sg1 }, merchant, from, ContractOfferReplySchema);
}

async function completeContract(merchant: string, from: Self, contractId: string, sg: string) {
  return buyerCall(await nats.party(from.id), subjects.storeContract(merchant, 'complete'), CONTRACT_COMPLETE_TYPE, { contractId, sg }, merchant, from, ContractCompleteReplySchema);
}

const times = (completeInMs: number) => ({ completeBy: new Date(Date.now() + completeInMs), exchangeDeadline: new Date(Date.now() + 60_000) });

test.before(async () => {
  pki = await testPki();
  homeSelf = await pki.party('home', 'agent-home');
  alice = await pki.party('alice', 'buyer');
  bob = await pki.party('bob', 'buyer');
  // alice's connection (replies reach only the signer's own inbox)
  ncBuyer = await nats.party('alice');
  // the stores start first: they keep trying to register until the Agent Home is up
  await startStore('shop-a');
  await startStore('shop-b');
  await new Promise((r) => setTimeout(r, 300));
  home = await AgentHome.open({ nc: await nats.connectAs('home'), self: homeSelf, trust: pki.trust, ca: pki.ca.certificate, secrets: generateHomeSecrets(), settings: { hopTimeoutMs: 1500 } });
  await home.start();
});

test.after(async () => {
  if (process.env.PARLEY_TEST_LOG) console.log(logs.join('\n'));
  for (const s of stores.values()) await s.stop().catch(() => undefined);
  await home?.stop().catch(() => undefined);
  tmp.remove();
});

test('stores register with an Agent Home that started after them', async () => {
  assert.is(await store('shop-a').registered, true);
  assert.is(await store('shop-b').registered, true);
  const merchants = await home.state.merchants();
  assert.equal(
    merchants.map((m) => [m.id, m.categories]),
    [
      ['shop-a', ['laptops']],
      ['shop-b', ['laptops']],
    ],
  );
});

test('an invitation yields exactly one Sales Agent per store and session, even when it comes twice', async () => {
  s1 = await buyerNotify(ncBuyer, alice, pki.trust, 'home', { request: REQUEST, rules: RULES, deadlineMs: 30_000 });
  const a = await waitForAgreement(ncBuyer, s1, 'shop-a');
  await waitForAgreement(ncBuyer, s1, 'shop-b');
  assert.is(a.bid.price, 1200, 'the third bid is the first one within the rules');
  const neg = await home.state.negotiation(s1.sn, 'shop-a');
  assert.is(neg?.status, 'agreed');
  assert.is(neg?.rounds.length, 3);
  await store('shop-a').idle();

  // the same Invite Agent again (same id and hop): acknowledged as a duplicate, not run again
  const arrivals = hostedArrivals(join(dataDir('shop-a'), 'agents')).filter((a) => a.key.endsWith('.0'));
  assert.is(arrivals.length, 1);
  const ia = arrivals[0]!.env;
  const again = decodeReply(AckSchema, (await (await nats.party('home')).request(subjects.hostArrive('shop-a'), encodeJson(ia), { timeout: 3000 })).data);
  assert.equal(again, { accepted: true, duplicate: true });

  // another Invite Agent for the same session (as after a lost one): visited, no new offer
  const ia2 = createInviteAgent(homeSelf, ia.payload as InvitePayload, { itinerary: ['shop-a'], hopTimeoutMs: 1500, expires: new Date(s1.deadline) });
  const fresh = decodeReply(AckSchema, (await (await nats.party('home')).request(subjects.hostArrive('shop-a'), encodeJson(ia2), { timeout: 3000 })).data);
  assert.equal(fresh, { accepted: true, duplicate: false });
  await store('shop-a').idle();

  assert.is(store('shop-a').stats.invitesHandled, 2, 'two different Invite Agents visited');
  assert.equal(offerLines('shop-a').map((l) => l.k), [`offer.${s1.sn}`, `sent.${s1.sn}`], 'one offer and one delivery record');
  assert.is(store('shop-a').ctx.offers.dispatch(s1.sn)?.state, 'delivered');
  assert.is(store('shop-a').stats.salesAgentsDelivered, 1);
  assert.is(home.ctx.host.runs.get('sales'), 2, 'one Sales Agent from each store reached the Agent Home');
  const session = await home.state.session(s1.sn);
  assert.equal(session?.interested.sort(), ['shop-a', 'shop-b']);
});

test('after a restart an offer whose delivery was not recorded is sent again; the Agent Home already has it', async () => {
  await store('shop-a').stop();
  // as if the store had died before writing the delivery record
  const journal = join(dataDir('shop-a'), 'offers', 'journal.jsonl');
  const kept = readFileSync(journal, 'utf8').split('\n').filter((l) => l && !l.startsWith(`{"k":"sent.${s1.sn}"`));
  writeFileSync(journal, kept.map((l) => l + '\n').join(''));
  const restarted = await startStore('shop-a');
  const sent = await until('re-delivery', 5000, async () => {
    await restarted.idle();
    return restarted.ctx.offers.dispatch(s1.sn);
  });
  assert.is(sent.state, 'delivered');
  assert.equal(offerLines('shop-a').map((l) => l.k), [`offer.${s1.sn}`, `sent.${s1.sn}`], 'the record is back in the journal');
  assert.match(sent.detail ?? '', /already negotiated/);
  assert.is(home.ctx.host.runs.get('sales'), 2, 'no second negotiation');
  assert.is(await restarted.registered, true);
});

test('the contract responder refuses bad offers and stores nothing', async () => {
  const agreement = await waitForAgreement(ncBuyer, s1, 'shop-a');
  const dir = dataDir('shop-a');

  // terms changed after the negotiation: the bid proof no longer ends in them
  const tampered: Agreement = { ...agreement, bid: { ...agreement.bid, price: 999 } };
  await rejectsCode(() => offerContract('shop-a', alice, buildContract(s1, tampered, times(20_000))), 'ERR_TERMS_MISMATCH', 'tampered terms');

  // a validly signed offer of this merchant that the store never made in this session
  const cheap = { ...agreement.bid, price: 500 };
  const { envelope } = createSalesAgent(selves.get('shop-a')!, { sn: s1.sn, home: 'home', template: agreement.template, bids: [cheap], expiry: new Date(Date.now() + 60_000) });
  const foreign = envelope.payload as SalesPayload;
  const forged: Agreement = { ...agreement, bid: cheap, proof: { offer: foreign.offer, reveals: [{ bid: cheap, next: foreign.tail }] } };
  await rejectsCode(() => offerContract('shop-a', alice, buildContract(s1, forged, times(20_000))), 'ERR_TERMS_MISMATCH', 'uncommitted offer');

  // a second delegation of the same session key for another request than the invitation's
  const otherRequest = { ...REQUEST, attributes: { ram: '64GB' } };
  const otherDelegation = signDelegation({ ...s1.delegation.body, requestHash: requestHash(otherRequest, s1.deadline, s1.nonce) }, alice.secretKey);
  const swapped = buildContract({ ...s1, request: otherRequest, delegation: otherDelegation }, agreement, times(20_000));
  await rejectsCode(() => offerContract('shop-a', alice, swapped), 'ERR_REQUEST_INVALID', 'another request');

  const honest = buildContract(s1, agreement, times(20_000));
  const badSg1 = toB64u(flipBit(fromB64u(honest.sg1), 8 * 200));
  await rejectsCode(() => offerContract('shop-a', alice, { ...honest, sg1: badSg1 }), 'ERR_PARTIAL_SIGNATURE_INVALID', 'wrong SG1');
  await rejectsCode(() => offerContract('shop-a', selves.get('shop-b')!, honest), 'ERR_CERT_ROLE', 'signed by a merchant');
  await rejectsCode(() => offerContract('shop-a', bob, honest), 'ERR_FORBIDDEN', 'signed by another buyer');
  await rejectsCode(() => offerContract('shop-b', alice, honest), 'ERR_FORBIDDEN', 'offered to another store');
  await rejectsCode(() => offerContract('shop-a', alice, { ...honest, protected: toB64u(new TextEncoder().encode('{"alg":"RS256"}')) }), 'ERR_CONTRACT_INVALID', 'other header');
  const late = buildContract(s1, agreement, { ...times(20_000), issuedAt: new Date(Date.now() + 10 * 60_000) });
  await rejectsCode(() => offerContract('shop-a', alice, late), 'ERR_STALE', 'issued in the future');
  const overdue = buildContract(s1, agreement, { completeBy: new Date(Date.now() - 1000), exchangeDeadline: new Date(Date.now() + 60_000) });
  await rejectsCode(() => offerContract('shop-a', alice, overdue), 'ERR_EXCHANGE_DEADLINE', 'completeBy passed');
  await rejectsCode(() => completeContract('shop-a', alice, honest.contractId, honest.sg), 'ERR_NOT_FOUND', 'complete before offer');

  assert.equal(filesIn(join(dir, 'contracts')), [], 'no contract stored');
  assert.is(store('shop-a').ctx.seen.size, 0, 'no request id kept');
  assert.is(readFileSync(join(dir, 'seen', 'journal.jsonl'), 'utf8'), '', 'nothing written for a request that failed');
  assert.equal(filesIn(join(dir, 'sessions')), [], 'no session claimed');
  assert.is(store('shop-a').stats.offersCountersigned, 0);
});

test('an honest exchange: countersign, complete; the stored contract verifies offline; the Agent Home sees nothing', async () => {
  const agreement = await waitForAgreement(ncBuyer, s1, 'shop-a');
  const c = buildContract(s1, agreement, times(20_000));
  const signed = encodeJson(signRequest(CONTRACT_OFFER_TYPE, { payload: c.payloadB64, protected: c.protected, sg1: c.sg1 }, 'shop-a', alice));
  const send = async () => decodeReply(ContractOfferReplySchema, (await ncBuyer.request(subjects.storeContract('shop-a', 'offer'), signed, { timeout: 5000 })).data);
  const reply = await send();
  assert.is(reply.contractId, c.contractId);
  const half: GeneralJws = assembleContractJws(c.payloadB64, buyerSignature(c.protected, fromB64u(c.sg1)), reply.merchantSignature);
  assert.ok(checkMerchantSignature(half, parseCertificate(selves.get('shop-a')!.certPem)), 'SG_S verifies');
  assert.is(record('shop-a', c.contractId)?.state, 'countersigned', 'stored before the reply');

  const replayed = await send();
  assert.equal(replayed, reply, 'a replayed offer gets the same answer');
  assert.is(store('shop-a').stats.offersCountersigned, 1, 'and is not acted on twice');
  const again = await offerContract('shop-a', alice, c);
  assert.equal(again.merchantSignature, reply.merchantSignature, 'the same contract offered again: the same signature');
  assert.is(store('shop-a').stats.offersCountersigned, 1);

  const badSg = toB64u(flipBit(fromB64u(c.sg), 8 * 100));
  await rejectsCode(() => completeContract('shop-a', alice, c.contractId, badSg), 'ERR_JWS_SIGNATURE_INVALID', 'wrong SG');
  assert.is(record('shop-a', c.contractId)?.state, 'countersigned');
  assert.not.ok(existsSync(join(dataDir('shop-a'), 'contracts', `${c.contractId}.jws.json`)));
  await rejectsCode(() => completeContract('shop-a', bob, c.contractId, c.sg), 'ERR_NOT_FOUND', 'another buyer');

  assert.equal(await completeContract('shop-a', alice, c.contractId, c.sg), { contractId: c.contractId, accepted: true });
  const rec = record('shop-a', c.contractId)!;
  assert.is(rec.state, 'complete');
  const file = join(dataDir('shop-a'), 'contracts', `${c.contractId}.jws.json`);
  const verdict = checkContract(JSON.parse(readFileSync(file, 'utf8')), pki.ca.certificate);
  assert.ok(verdict.valid, JSON.stringify(verdict.checks.filter((x) => !x.ok)));

  const listed = listContracts(dataDir('shop-a'));
  assert.equal(
    listed.map((l) => [l.contractId, l.state, l.sn, l.buyer, l.item, l.quantity, l.price, l.currency, l.contractFile]),
    [[c.contractId, 'complete', s1.sn, 'alice', 'laptop-pro-14', 2, 1200, 'EUR', file]],
  );
  assert.is(home.received.get('resolve'), undefined, 'optimism: no resolve');

  const second = buildContract(s1, agreement, times(25_000));
  await rejectsCode(() => offerContract('shop-a', alice, second), 'ERR_EXCHANGE_STATE', 'one contract per session');
});

test('a store stopped after countersigning resolves through the Agent Home after its restart', async () => {
  const agreement = await waitForAgreement(ncBuyer, s1, 'shop-b');
  const c = buildContract(s1, agreement, times(1200));
  await offerContract('shop-b', alice, c);
  assert.is(record('shop-b', c.contractId)?.state, 'countersigned');
  await store('shop-b').stop(); // the buyer withholds SG; the store goes down meanwhile
  await new Promise((r) => setTimeout(r, 1300));
  assert.is(home.received.get('resolve'), undefined);

  await startStore('shop-b');
  const rec = await until('resolution', 8000, () => {
    const r = record('shop-b', c.contractId);
    return r && r.state !== 'countersigned' ? r : undefined;
  });
  assert.is(rec.state, 'resolved', rec.lastError?.message);
  assert.is(rec.sg, c.sg, 'the Agent Home completed exactly the buyer’s RS256 signature');
  const verdict = checkContract(JSON.parse(readFileSync(join(dataDir('shop-b'), 'contracts', `${c.contractId}.jws.json`), 'utf8')), pki.ca.certificate);
  assert.ok(verdict.valid, JSON.stringify(verdict.checks.filter((x) => !x.ok)));
  const mail = await home.state.mailbox('alice', 0);
  assert.ok(mail.some((m) => m.contractId === c.contractId && m.kind === 'merchant-signature'), 'the buyer gets SG_S from its mailbox');

  // the buyer's late complete signature is still welcome
  assert.equal(await completeContract('shop-b', alice, c.contractId, c.sg), { contractId: c.contractId, accepted: true });
  assert.is(record('shop-b', c.contractId)?.state, 'resolved');
});

test('an exchange the buyer aborted first ends aborted, with the Agent Home’s token', async () => {
  s2 = await buyerNotify(ncBuyer, alice, pki.trust, 'home', { request: REQUEST, rules: RULES, deadlineMs: 30_000 });
  const agreement = await waitForAgreement(ncBuyer, s2, 'shop-a');
  const c = buildContract(s2, agreement, times(1000));
  await offerContract('shop-a', alice, c);
  const aborted = await homeCall(ncBuyer, 'home', 'abort', ABORT_TYPE, { sn: s2.sn, merchant: 'shop-a', contractId: c.contractId }, alice, AbortReplySchema);
  assert.is(aborted.outcome, 'aborted');
  const rec = await until('resolve attempt', 8000, () => {
    const r = record('shop-a', c.contractId);
    return r && r.state !== 'countersigned' ? r : undefined;
  });
  assert.is(rec.state, 'aborted');
  assert.ok(rec.token, 'the token is kept as proof');
  await rejectsCode(() => offerContract('shop-a', alice, c), 'ERR_EXCHANGE_ABORTED', 'no SG_S for an aborted exchange');
  assert.not.ok(existsSync(join(dataDir('shop-a'), 'contracts', `${c.contractId}.jws.json`)));
  const listed = listContracts(dataDir('shop-a')).find((l) => l.contractId === c.contractId);
  assert.is(listed?.state, 'aborted');
  assert.is(listed?.contractFile, undefined);
});

test('a session claim left without its contract by a crash blocks nothing; the contract then holds the session', async () => {
  const agreement = await waitForAgreement(ncBuyer, s2, 'shop-b');
  // what a store killed between claiming the session and storing the contract leaves behind
  mkdirSync(join(dataDir('shop-b'), 'sessions'), { recursive: true });
  writeFileSync(join(dataDir('shop-b'), 'sessions', `${s2.sn}.json`), JSON.stringify({ contractId: 'never-stored', at: new Date().toISOString() }));
  const c = buildContract(s2, agreement, times(20_000));
  assert.is((await offerContract('shop-b', alice, c)).contractId, c.contractId);
  assert.is(record('shop-b', c.contractId)?.state, 'countersigned');
  await rejectsCode(() => offerContract('shop-b', alice, buildContract(s2, agreement, times(25_000))), 'ERR_EXCHANGE_STATE', 'still one contract per session');
});

test.run();
