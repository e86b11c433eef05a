/**
 * Hostile input to running services, property-based (fast-check). A real deployment (Agent
 * Home, three stores, a buyer; in this process, on a real nats-server) has one negotiated
 * session; then random and mutated messages of every type go to every service subject:
 * the Agent Home's notify, results, resolve, abort, mailbox, register and key; a store's
 * contract offer and complete; the agent arrival subjects of the Agent Home and of stores.
 *
 * Messages start from real ones made by the real code (the buyer's notify and contract,
 * a merchant's resolve and Sales Agent, an Agent Home's Invite Agent) and are mutated:
 * fields dropped, added or given another type, bits of base64url values flipped, big
 * integers set to 0, 1, n−1, n, n+1 or 2^4096, invalid base64url, fields just under the
 * 1 MiB message limit or over their own limits, nesting past 32, protocol versions other
 * than 1, expired and absurd times, base64url JSON (contract payload, JWS headers)
 * re-encoded with other whitespace, key order or escapes. Some are signed again by a real
 * party (the buyer, another buyer, a merchant, another Agent Home), so the mutation gets
 * past the signature check to the service's own checks; the whole message may also be
 * re-serialised (whitespace, key order, escapes). Purely random bytes and JSON go too.
 *
 * Properties: every message is answered with {ok: false, error: {code, message}} whose code
 * is in the catalogue and is not ERR_INTERNAL (the key subject answers its signed key,
 * always the same); nothing stored changes (every JetStream stream of the Agent Home except
 * the replay cache `parley_replies`, which records authenticated requests, and every file
 * of every store); and afterwards valid requests still work end to end. A mutant that the
 * service would rightly accept (checked locally with the same `openRequest`) is skipped.
 *
 * PARLEY_FUZZ_RUNS and PARLEY_FUZZ_SEED override the run count and seed.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { NatsConnection } from 'nats';
import type { z } from 'zod';
import { worldSuite, negotiated, exampleRules, LAPTOPS } from '../helpers/world.js';
import { anyJson, expandNesting, mutate, mutationArb, reframe, type Json, type Mutation } from '../helpers/mutations.js';
import type { Self } from '../../agents/runtime/trust.js';
import { AGENT_HEADER_TYPE, createAgent, payloadHash, type AgentHeader } from '../../agents/runtime/envelope.js';
import { INVITE_KIND } from '../../agents/invite.js';
import { createSalesAgent } from '../../agents/sales.js';
import { restoreKey } from '../../buyer-cli/session-key.js';
import { b64uToBigint, bigintToB64u, toB64u, utf8 } from '../../crypto/bytes.js';
import { canonicalJson, type JsonValue } from '../../crypto/canonical.js';
import { seal, sealJson } from '../../crypto/seal.js';
import { signObject } from '../../crypto/signed.js';
import { merchantProtected, signMerchant } from '../../crypto/jws.js';
import { partialSignMessage, signRs256 } from '../../crypto/rsa/index.js';
import { parseCertificate } from '../../crypto/x509/index.js';
import type { Role } from '../../crypto/x509/profile.js';
import { isErrorCode } from '../../protocol/errors.js';
import { newRequestId, openRequest, signRequest, type OpenedRequest } from '../../protocol/signed-request.js';
import { PARTY_ID_RE, subjects, type HomeOp } from '../../protocol/subjects.js';
import { encodeJson } from '../../protocol/wire.js';
import { NOTIFY_TYPE, NotifySchema, REQUEST_STATEMENT_TYPE, requestHash, sealContext, type NotifyBody } from '../../protocol/session.js';
import { REGISTER_TYPE, RegisterSchema, RESULTS_TYPE, ResultsSchema } from '../../protocol/directory.js';
import {
  ABORT_TYPE,
  AbortSchema,
  CONTRACT_COMPLETE_TYPE,
  CONTRACT_OFFER_TYPE,
  ContractCompleteSchema,
  ContractOfferSchema,
  MAILBOX_TYPE,
  MailboxSchema,
  RESOLVE_TYPE,
  ResolveSchema,
} from '../../protocol/exchange.js';
import { issueVoucher, VOUCHER_TYPE } from '../../protocol/voucher.js';
import { parseRules } from '../../protocol/rules.js';
import { buyerSigningInput } from '../../protocol/contract.js';

const test = suite('fuzz: hostile messages to running services');
const world = worldSuite(test);

const RUNS = Number(process.env.PARLEY_FUZZ_RUNS ?? 400);
const SEED = process.env.PARLEY_FUZZ_SEED === undefined ? undefined : Number(process.env.PARLEY_FUZZ_SEED);
const REPLY_TIMEOUT_MS = 5000;

interface RequestTarget {
  kind: 'request';
  name: string;
  subject: string;
  type: string;
  schema: z.ZodObject;
  roles: readonly Role[];
  audience: string;
  body: Record<string, Json>;
  signer: Self;
  /** true when an authenticated request with this content is one the service rightly acts on */
  valid(o: OpenedRequest<Record<string, unknown>>): boolean;
  /** a read: valid mutants are sent too, and may be answered {ok: true} (nothing may change) */
  read?: boolean;
  inner?: Inner;
}

/**
 * A value inside a message that a real party signs or seals (a contract payload, the sealed
 * secrets, an invitation's statements): mutated there, then made into a message again with
 * fresh signatures, so the mutation meets the service's deepest checks.
 */
interface Inner {
  value: Json;
  /** the message carrying `v`, freshly signed or sealed */
  make(v: Json): Json;
  /** true when `v` could make a message the service rightly accepts (those are skipped) */
  couldBeValid(v: Json): boolean;
}

interface AgentTarget {
  kind: 'agent';
  name: string;
  subject: string;
  envelope: Json;
  /** who may sign the header again (never the host's own trusted issuer where that would be genuine) */
  signers: Self[];
  inner?: Inner;
}

type Target = RequestTarget | AgentTarget;

type Case =
  | { k: 'mutant'; target: number; mutations: Mutation[]; resign: boolean; signer: number; frame: 'spaces' | 'reorder' | 'escapes' | null; inner?: boolean }
  | { k: 'bytes'; subject: number; data: Uint8Array }
  | { k: 'json'; subject: number; value: Json }
  | { k: 'shape'; subject: number; value: Json };

let nc: NatsConnection;
let targets: Target[] = [];
let allSubjects: string[] = [];
let keySubject: string;
let keyReply: string;
let n: bigint;
let signers: Self[];
let parties: string[];
let valid: { offer: Uint8Array; complete: Uint8Array; merchant: string; sn: string; buyer: Self };
const codes = new Map<string, number>();
const perTarget = new Map<string, number>();
let skipped = 0;
/** valid reads with hostile values, answered */
let answered = 0;

/** The request body without the fields every request has (id, ts, to). */
function content(body: Record<string, unknown>): string {
  const { id: _i, ts: _t, to: _o, ...rest } = body;
  return canonicalJson(rest as Json);
}

/** Equal JSON values (what the canonical form cannot take is compared as text). */
function sameJson(a: Json, b: Json): boolean {
  try {
    return canonicalJson(a) === canonicalJson(b);
  } catch {
    return JSON.stringify(a) === JSON.stringify(b);
  }
}

async function homeIdle(): Promise<void> {
  await world.home.ctx.host.idle();
  for (const s of world.stores.values()) await s.daemon.idle();
  await new Promise((r) => setTimeout(r, 50));
}

/** Every JetStream stream of the Agent Home (KV buckets included) but the replay cache. */
async function jetStreamState(): Promise<Record<string, string>> {
  const jsm = await nc.jetstreamManager();
  const out: Record<string, string> = {};
  for await (const si of jsm.streams.list()) {
    if (si.config.name === 'KV_parley_replies') continue;
    out[si.config.name] = `${si.state.messages} messages, last ${si.state.last_seq}`;
  }
  return out;
}

function files(dir: string, root = dir, out: Record<string, string> = {}): Record<string, string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) files(p, root, out);
    else out[relative(root, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
  }
  return out;
}

async function snapshot() {
  await homeIdle();
  const st = world.home.state;
  return {
    sessions: await st.sessionNumbers(),
    exchanges: (await st.exchangeIds()).sort(),
    directory: await st.merchants(),
    streams: await jetStreamState(),
    stores: Object.fromEntries([...world.stores.values()].map((s) => [s.id, files(s.dataDir)])),
  };
}

test.before(async () => {
  nc = await world.nats.party('fuzz-buyer');
  const { client, self: buyer, files: buyerFiles } = await world.buyer('fuzz-buyer');
  const mallory = (await world.buyer('mallory')).self;
  const evilHome = await world.pki.party('evil-home', 'agent-home');
  const home = world.homeSelf;
  const { session, results } = await negotiated(client);
  const sn = session.sn;
  const merchant = results.agreements[0]!.merchant;
  const m = world.stores.get(merchant)!.self;
  const otherStore = [...world.stores.values()].find((s) => s.id !== merchant)!;
  const sk = restoreKey(buyerFiles.session(sn).key);
  n = sk.key.n;

  // real messages, made by the real code
  const x = await client.prepare(sn, merchant);
  const prepared = await client.prepareNotify({ request: LAPTOPS, rules: exampleRules(), deadline: new Date(Date.now() + 60_000), sessionKey: sk });
  const sg = toB64u(signRs256(sk.key, buyerSigningInput(x.payload, x.protected)));
  const merchantSignature = signMerchant(merchantProtected([parseCertificate(m.certPem).der]), x.payload, m.secretKey);
  const offerBody = { payload: x.payload, protected: x.protected, sg1: x.sg1 };
  const completeBody = { contractId: x.contractId, sg };
  valid = {
    offer: encodeJson(signRequest(CONTRACT_OFFER_TYPE, offerBody, merchant, buyer)),
    complete: encodeJson(signRequest(CONTRACT_COMPLETE_TYPE, completeBody, merchant, buyer)),
    merchant,
    sn,
    buyer,
  };
  signers = [buyer, mallory, m, otherStore.self, evilHome, home];
  parties = [...signers.map((p) => p.id), 'nobody'];

  const ahRequest = (op: HomeOp, type: string, schema: z.ZodObject, roles: Role[], body: object, signer: Self, isValid: RequestTarget['valid']): RequestTarget => ({
    kind: 'request',
    name: `home.${op}`,
    subject: subjects.home('home', op),
    type,
    schema,
    roles,
    audience: 'home',
    body: body as Record<string, Json>,
    signer,
    valid: isValid,
  });
  const same = (body: object) => (o: OpenedRequest<Record<string, unknown>>) => content(o.body) === content(body as Record<string, unknown>);
  const ownSession = (o: OpenedRequest<Record<string, unknown>>) => o.signer.id === buyer.id && o.body.sn === sn;
  const resolveBody = { ...offerBody, merchantSignature };
  targets = [
    ahRequest('notify', NOTIFY_TYPE, NotifySchema, ['buyer'], prepared.body, buyer, same(prepared.body)),
    { ...ahRequest('results', RESULTS_TYPE, ResultsSchema, ['buyer'], { sn }, buyer, ownSession), read: true },
    ahRequest('resolve', RESOLVE_TYPE, ResolveSchema, ['merchant'], resolveBody, m, same(resolveBody)),
    // any abort of its own session is one the buyer may make: the base is another buyer's
    ahRequest('abort', ABORT_TYPE, AbortSchema, ['buyer'], { sn, merchant, contractId: x.contractId }, mallory, ownSession),
    // reading a mailbox and registering are valid for any authenticated party of the role
    { ...ahRequest('mailbox', MAILBOX_TYPE, MailboxSchema, ['buyer'], { after: 0 }, buyer, () => true), read: true },
    ahRequest('register', REGISTER_TYPE, RegisterSchema, ['merchant'], { categories: ['laptops'], name: 'Shop' }, m, () => true),
    {
      kind: 'request',
      name: `store.${merchant}.offer`,
      subject: subjects.storeContract(merchant, 'offer'),
      type: CONTRACT_OFFER_TYPE,
      schema: ContractOfferSchema,
      roles: ['buyer'],
      audience: merchant,
      body: offerBody,
      signer: buyer,
      valid: same(offerBody),
    },
    {
      kind: 'request',
      name: `store.${merchant}.complete`,
      subject: subjects.storeContract(merchant, 'complete'),
      type: CONTRACT_COMPLETE_TYPE,
      schema: ContractCompleteSchema,
      roles: ['buyer'],
      audience: merchant,
      body: completeBody,
      signer: buyer,
      // the store never countersigned this contract: no complete can succeed
      valid: () => false,
    },
  ];

  // agents: a Sales Agent for the session (its merchant has negotiated already, so any
  // copy is refused), an Invite Agent coming home whose header has expired, and Invite
  // Agents for stores from a session whose deadline has passed (checked last of all)
  const offer = world.stores.get(merchant)!.daemon.ctx.offers.offer(sn)!;
  const sales = createSalesAgent(m, { sn, home: 'home', template: offer.offer.body.msg.template, bids: offer.bids, expiry: new Date(Date.now() + 600_000) }).envelope;
  const expiredHeader: AgentHeader = { ...(createAgent(home, { kind: INVITE_KIND, sn, itinerary: [{ host: merchant, timeoutMs: 1000 }], payload: {}, ttlMs: 1000 }).header.body as AgentHeader) };
  expiredHeader.expires = new Date(Date.now() - 60_000).toISOString();
  const homeward = { v: 1, kind: INVITE_KIND, id: expiredHeader.id, header: signObject(AGENT_HEADER_TYPE, expiredHeader, home.secretKey), issuerCert: home.certPem, payload: {}, hop: 1, visits: [] };
  const pastSn = '0123456789abcdef0123456789abcdef';
  const past = new Date(Date.now() - 3600_000);
  const invitePayload = {
    sn: pastSn,
    request: LAPTOPS,
    deadline: past.toISOString(),
    voucher: issueVoucher({ sn: pastSn, home: 'home', n, e: 65537n, e1: b64uToBigint(prepared.body.e1), deadline: past, signBy: new Date(past.getTime() + 3600_000) }, home.secretKey),
    sgReq: signObject(REQUEST_STATEMENT_TYPE, { sn: pastSn, home: 'home', request: LAPTOPS, deadline: past.toISOString() }, home.secretKey),
  };
  const inviteTo = (store: string, issuer = home) => createAgent(issuer, { kind: INVITE_KIND, sn: pastSn, itinerary: [{ host: store, timeoutMs: 1000 }], payload: invitePayload, ttlMs: 600_000 });
  const inviteInner = (store: string): Inner => ({
    value: { ...invitePayload, voucher: invitePayload.voucher.body, sgReq: invitePayload.sgReq.body } as unknown as Json,
    make: (v) => {
      const o = (v && typeof v === 'object' && !Array.isArray(v) ? v : {}) as Record<string, Json>;
      const payload = { ...o, voucher: signObject(VOUCHER_TYPE, o.voucher, home.secretKey), sgReq: signObject(REQUEST_STATEMENT_TYPE, o.sgReq, home.secretKey) };
      const sn = typeof o.sn === 'string' && /^[0-9a-f]{32}$/.test(o.sn) ? o.sn : pastSn;
      return createAgent(home, { kind: INVITE_KIND, sn, itinerary: [{ host: store, timeoutMs: 1000 }], payload, ttlMs: 600_000 }) as unknown as Json;
    },
    // its deadline has passed: T_C in the payload, the voucher and SG_REQ would all have to move
    couldBeValid: () => false,
  });
  targets.push(
    // another Agent Home (certified by the same CA) routing its Invite Agent through this one
    { kind: 'agent', name: 'host.home.arrive (foreign invite)', subject: subjects.hostArrive('home'), envelope: inviteTo('home', evilHome) as unknown as Json, signers: [evilHome, m] },
    { kind: 'agent', name: 'host.home.arrive (sales)', subject: subjects.hostArrive('home'), envelope: sales as unknown as Json, signers: [m, otherStore.self, evilHome, buyer] },
    { kind: 'agent', name: 'host.home.arrive (invite)', subject: subjects.hostArrive('home'), envelope: homeward as unknown as Json, signers: [evilHome, m, buyer] },
    { kind: 'agent', name: `host.${merchant}.arrive`, subject: subjects.hostArrive(merchant), envelope: inviteTo(merchant) as unknown as Json, signers: [home, evilHome, m, buyer], inner: inviteInner(merchant) },
    { kind: 'agent', name: `host.${otherStore.id}.arrive`, subject: subjects.hostArrive(otherStore.id), envelope: inviteTo(otherStore.id) as unknown as Json, signers: [home, evilHome, otherStore.self], inner: inviteInner(otherStore.id) },
  );
  // the deep variants: contract payloads signed again (SG1, and SG_S for resolve), secrets
  // sealed again, invitations whose statements the Agent Home signs again
  const payloadValue = JSON.parse(Buffer.from(x.payload, 'base64url').toString('utf8')) as Json;
  const encodePayload = (v: Json) => {
    let text: string;
    try {
      text = canonicalJson(v);
    } catch {
      text = JSON.stringify(v);
    }
    const payload = Buffer.from(text, 'utf8').toString('base64url');
    return { payload, sg1: toB64u(partialSignMessage(sk.key, sk.split, buyerSigningInput(payload, x.protected))) };
  };
  // the binding statement does not cover the contract's times: other times make another valid contract
  const TIMES = ['issuedAt', 'completeBy', 'exchangeDeadline'];
  const withoutTimes = (v: Json) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).filter(([k]) => !TIMES.includes(k))) : v) as Json;
  const samePayload = (v: Json) => sameJson(withoutTimes(v), withoutTimes(payloadValue));
  const target = (name: string) => targets.find((t) => t.name === name)!;
  target(`store.${merchant}.offer`).inner = {
    value: payloadValue,
    make: (v) => signRequest(CONTRACT_OFFER_TYPE, { ...encodePayload(v), protected: x.protected }, merchant, buyer) as unknown as Json,
    couldBeValid: samePayload,
  };
  target('home.resolve').inner = {
    value: payloadValue,
    make: (v) => {
      const p = encodePayload(v);
      return signRequest(RESOLVE_TYPE, { ...p, protected: x.protected, merchantSignature: signMerchant(merchantProtected([parseCertificate(m.certPem).der]), p.payload, m.secretKey) }, 'home', m) as unknown as Json;
    },
    couldBeValid: samePayload,
  };
  const { x25519 } = await client.homeKey();
  const notifyBody = prepared.body;
  const secrets = { d2: bigintToB64u(sk.split.d2), rules: exampleRules() as Json };
  const sealedContext = sealContext(requestHash(notifyBody.request, notifyBody.deadline, notifyBody.nonce));
  target('home.notify').inner = {
    value: secrets,
    make: (v) => signRequest(NOTIFY_TYPE, { ...notifyBody, sealed: toB64u(seal(utf8(JSON.stringify(v)), x25519, sealedContext)) }, 'home', buyer) as unknown as Json,
    // the same d2 with any valid rules opens a session
    couldBeValid: (v) => {
      const o = v as { d2?: unknown; rules?: unknown };
      if (!o || typeof o !== 'object' || o.d2 !== secrets.d2) return false;
      try {
        parseRules(o.rules);
        return true;
      } catch {
        return false;
      }
    },
  };
  keySubject = subjects.home('home', 'key');
  keyReply = new TextDecoder().decode((await nc.request(keySubject, new Uint8Array(0), { timeout: REPLY_TIMEOUT_MS })).data);
  allSubjects = [...new Set([...targets.map((t) => t.subject), keySubject])];
});

/** The bytes of a mutant, or undefined when it is a message the service should act on. */
function build(t: Target, c: Extract<Case, { k: 'mutant' }>): { bytes: Uint8Array; mayAccept: boolean } | undefined {
  const ctx = { n, parties, messageSize: 0 };
  let msg: Json;
  if (c.inner && t.inner) {
    let v = t.inner.value;
    ctx.messageSize = JSON.stringify(v).length + 4000;
    for (const m of c.mutations) v = mutate(v, m, ctx) ?? v;
    if (t.inner.couldBeValid(v)) return undefined;
    try {
      msg = t.inner.make(v);
    } catch {
      return undefined; // nothing a real party could sign (not JSON-canonicalisable)
    }
    return { bytes: utf8(expandNesting(c.frame ? reframe(msg, c.frame) : JSON.stringify(msg))), mayAccept: false };
  }
  if (t.kind === 'request') {
    if (c.resign) {
      // a real party signs the mutated body: the mutation meets the service's own checks
      const signer = signers[c.signer % signers.length]!;
      let body: Json = { ...t.body, id: newRequestId(), ts: new Date().toISOString(), to: t.audience };
      ctx.messageSize = JSON.stringify(body).length + 2000;
      for (const m of c.mutations) body = mutate(body, m, ctx) ?? body;
      let req: Json;
      try {
        req = signObject(t.type, body, signer.secretKey) as unknown as Json;
      } catch {
        req = { v: 1, type: t.type, body, sig: toB64u(new Uint8Array(64)) }; // not canonicalisable: sent unsigned
      }
      msg = { cert: signer.certPem, req };
    } else {
      msg = signRequest(t.type, t.body, t.audience, t.signer) as unknown as Json;
      ctx.messageSize = JSON.stringify(msg).length;
      for (const m of c.mutations) msg = mutate(msg, m, ctx) ?? msg;
    }
  } else {
    const env = t.envelope as Record<string, Json>;
    ctx.messageSize = JSON.stringify(env).length;
    if (c.resign) {
      // a real party issues the mutated agent: header fields and payload meet the host's checks
      const signer = t.signers[c.signer % t.signers.length]!;
      const orig = (env.header as { body: Record<string, Json> }).body;
      let open: Json = { ...env, header: { ...orig, issuer: signer.id, home: signer.id } };
      for (const m of c.mutations) open = mutate(open, m, ctx) ?? open;
      const o = open as Record<string, Json>;
      const header = o.header as Record<string, Json>;
      let signed: Json;
      try {
        if (header && typeof header === 'object' && 'payload' in o) header.payloadHash = payloadHash(o.payload);
        signed = signObject(AGENT_HEADER_TYPE, header, signer.secretKey) as unknown as Json;
      } catch {
        signed = { v: 1, type: AGENT_HEADER_TYPE, body: header, sig: toB64u(new Uint8Array(64)) };
      }
      msg = { ...o, header: signed, issuerCert: signer.certPem };
    } else {
      msg = env;
      for (const m of c.mutations) msg = mutate(msg, m, ctx) ?? msg;
    }
  }
  const bytes = utf8(expandNesting(c.frame ? reframe(msg, c.frame) : JSON.stringify(msg)));
  if (t.kind === 'request') {
    let opened: OpenedRequest<Record<string, unknown>> | undefined;
    try {
      opened = openRequest(t.type, t.schema, bytes, { trust: world.pki.trust, roles: t.roles, audience: t.audience });
    } catch {
      opened = undefined;
    }
    if (opened && t.valid(opened)) return t.read ? { bytes, mayAccept: true } : undefined;
  } else if (sameJson(msg, t.envelope)) {
    return undefined;
  }
  return { bytes, mayAccept: false };
}

/**
 * Whose inbox a message is sent from, as an honest sender would: the signer of a request, the
 * sender of an agent (its last visit record's host, else its issuer); responders answer only
 * there. Unreadable messages go from the fuzzer's own buyer.
 */
function senderOf(data: Uint8Array): string {
  try {
    const m = JSON.parse(new TextDecoder().decode(data)) as { cert?: unknown; visits?: Array<{ record?: { body?: { host?: unknown } } }>; header?: { body?: { issuer?: unknown } } };
    if (typeof m.cert === 'string') return parseCertificate(m.cert).id;
    const last = Array.isArray(m.visits) ? m.visits[m.visits.length - 1]?.record?.body?.host : undefined;
    const who = last ?? m.header?.body?.issuer;
    if (typeof who === 'string' && PARTY_ID_RE.test(who)) return who;
  } catch {
    // not JSON or no certificate: from the fuzzer
  }
  return 'fuzz-buyer';
}

async function send(subject: string, data: Uint8Array): Promise<string> {
  try {
    const from = await world.nats.party(senderOf(data));
    return new TextDecoder().decode((await from.request(subject, data, { timeout: REPLY_TIMEOUT_MS })).data);
  } catch (e) {
    throw new Error(`no answer on ${subject} (${(e as { code?: string }).code ?? (e as Error).message}): the service hung or died`);
  }
}

/** The reply must be exactly {ok: false, error: {code, message}} with a catalogue code other than ERR_INTERNAL. */
function refused(text: string, what: string): string {
  let r: unknown;
  try {
    r = JSON.parse(text);
  } catch {
    throw new Error(`${what}: the reply is not JSON: ${text.slice(0, 200)}`);
  }
  const o = r as { ok?: unknown; error?: { code?: unknown; message?: unknown } };
  const shape = o && typeof o === 'object' && Object.keys(o).sort().join() === 'error,ok' && o.ok === false && o.error && typeof o.error === 'object' && Object.keys(o.error).sort().join() === 'code,message' && typeof o.error.message === 'string';
  if (!shape) throw new Error(`${what}: not a structured error: ${text.slice(0, 300)}`);
  const code = o.error!.code;
  if (!isErrorCode(code)) throw new Error(`${what}: code ${String(code)} is not in the catalogue`);
  if (code === 'ERR_INTERNAL') throw new Error(`${what}: ERR_INTERNAL (${String(o.error!.message)})`);
  codes.set(code, (codes.get(code) ?? 0) + 1);
  return code;
}

/** Sends one case and checks its answer; false when it was skipped (valid, unsignable or over 1 MiB). */
async function runCase(c: Case): Promise<boolean> {
  if (c.k === 'mutant') {
    const t = targets[c.target % targets.length]!;
    const built = build(t, c);
    // a valid mutant, or one the NATS client itself refuses (over max_payload, 1 MiB)
    if (!built || built.bytes.length > nc.info!.max_payload) {
      skipped++;
      return false;
    }
    const name = c.inner && t.inner ? `${t.name} (inside)` : t.name;
    perTarget.set(name, (perTarget.get(name) ?? 0) + 1);
    const reply = await send(t.subject, built.bytes);
    const what = `${name} ${c.resign ? 'signed again' : 'as is'} ${c.mutations.map((m) => m.k).join('+')}`;
    if (built.mayAccept && (JSON.parse(reply) as { ok?: unknown }).ok === true) answered++;
    else refused(reply, what);
    return true;
  }
  const subject = allSubjects[c.subject % allSubjects.length]!;
  const data = c.k === 'bytes' ? c.data : utf8(JSON.stringify(c.value));
  const reply = await send(subject, data);
  perTarget.set(`${subject} (random)`, (perTarget.get(`${subject} (random)`) ?? 0) + 1);
  if (subject === keySubject) assert.is(reply, keyReply, 'the key subject always answers its signed key');
  else refused(reply, `${c.k} to ${subject}`);
  return true;
}

const caseArb: fc.Arbitrary<Case> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record({
      k: fc.constant('mutant' as const),
      target: fc.nat(),
      mutations: fc.array(mutationArb, { minLength: 1, maxLength: 2 }),
      resign: fc.boolean(),
      inner: fc.boolean(),
      signer: fc.nat(),
      frame: fc.constantFrom(null, null, 'spaces' as const, 'reorder' as const, 'escapes' as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('bytes' as const), subject: fc.nat(), data: fc.uint8Array({ maxLength: 2048 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('json' as const), subject: fc.nat(), value: anyJson }) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('shape' as const),
      subject: fc.nat(),
      value: fc.record({ cert: anyJson, req: fc.record({ v: anyJson, type: anyJson, body: anyJson, sig: anyJson }) }) as fc.Arbitrary<Json>,
    }),
  },
);

let before: Awaited<ReturnType<typeof snapshot>>;

test('every random or mutated message is refused with a catalogue code, never ERR_INTERNAL', async () => {
  before = await snapshot();
  const t0 = Date.now();
  await fc.assert(
    fc.asyncProperty(caseArb, async (c) => {
      await runCase(c);
    }),
    { numRuns: RUNS, ...(SEED !== undefined && { seed: SEED }), endOnFailure: true, includeErrorInReport: true },
  );
  const sent = [...perTarget.values()].reduce((a, b) => a + b, 0);
  console.log(
    `# fuzz: ${sent} messages in ${Date.now() - t0} ms (${skipped} valid, unsignable or over-1-MiB mutants skipped, ${answered} valid reads answered) to ${perTarget.size} targets; codes: ${[...codes].sort((a, b) => b[1] - a[1]).map(([c, k]) => `${c} ${k}`).join(', ')}`,
  );
  assert.ok(perTarget.size >= targets.length, `every target was reached: ${[...perTarget.keys()].join(', ')}`);
});

test('hand-picked edge cases: big integers, d2, limits, nesting, versions, stale times, non-canonical JSON', async () => {
  const named = (name: string) => targets.findIndex((t) => t.name.startsWith(name));
  const edge = (name: string, m: Mutation, resign = true, frame: 'spaces' | 'reorder' | 'escapes' | null = null): Case => ({ k: 'mutant', target: named(name), mutations: [m], resign, signer: 0, frame });
  const offer = `store.${valid.merchant}.offer`;
  const cases: Case[] = [];
  for (const which of ['0', '1', 'n-1', 'n', 'n+1', '2^4096', 'leading-zero'] as const) {
    cases.push(edge('home.notify', { k: 'bigint', at: 0, which, field: 'e1' }));
    cases.push(edge('home.notify', { k: 'bigint', at: 0, which, field: 'sg1t' }));
    cases.push(edge('home.notify', { k: 'bigint', at: 0, which, field: 'n' }));
    cases.push(edge(offer, { k: 'bigint', at: 0, which, field: 'sg1' }));
    cases.push(edge('home.resolve', { k: 'bigint', at: 0, which, field: 'sg1' }, true, 'reorder'));
    cases.push(edge(`store.${valid.merchant}.complete`, { k: 'bigint', at: 0, which, field: 'sg' }));
  }
  for (const t of targets.keys()) {
    const c = (m: Mutation, resign: boolean, frame: 'spaces' | 'reorder' | 'escapes' | null = null): Case => ({ k: 'mutant', target: t, mutations: [m], resign, signer: 0, frame });
    cases.push(c({ k: 'oversize', at: 0, size: 'just-under-1MiB' }, false), c({ k: 'oversize', at: 3, size: 'field' }, true));
    cases.push(c({ k: 'nest', at: 3, depth: 20_000 }, true), c({ k: 'nest', at: 1, depth: 33 }, false));
    cases.push(c({ k: 'version', at: 0, value: 2 }, false, 'spaces'), c({ k: 'version', at: 1, value: 2 }, true));
    cases.push(c({ k: 'time', at: 0, to: 'hour-ago' }, true, 'escapes'), c({ k: 'time', at: 1, to: 'year-0' }, true));
    cases.push(c({ k: 'canon', at: 0, how: 'spaces' }, true), c({ k: 'badb64', at: 5, how: 'pad' }, true));
  }
  // non-canonical base64url JSON inside signed values: the payload the buyer signed and its header
  for (const how of ['spaces', 'reorder', 'escapes'] as const) {
    cases.push(edge(offer, { k: 'canon', at: 0, how, field: 'payload' }), edge(offer, { k: 'canon', at: 0, how, field: 'protected' }));
    cases.push(edge('home.resolve', { k: 'canon', at: 0, how, field: 'payload' }), edge('home.resolve', { k: 'canon', at: 1, how, field: 'protected' }));
  }
  // expired deadlines inside signed bodies, signed again by the real buyer
  cases.push(edge('home.notify', { k: 'time', at: 0, to: 'hour-ago', field: 'deadline' }), edge('home.notify', { k: 'time', at: 0, to: 'far-future', field: 'deadline' }));
  // another Agent Home's Invite Agent coming "home" here; a Sales Agent signed by its own merchant again
  cases.push(edge('host.home.arrive (invite)', { k: 'time', at: 0, to: 'far-future', field: 'expires' }));
  cases.push({ k: 'mutant', target: named('host.home.arrive (sales)'), mutations: [{ k: 'time', at: 0, to: 'far-future', field: 'expires' }], resign: true, signer: 0, frame: null });
  let sent = 0;
  for (const c of cases) if (await runCase(c)) sent++;
  // the few left out are no change at all (n set to n) or over the 1 MiB client limit
  assert.ok(sent >= cases.length - 10, `${sent} of ${cases.length} hand-picked cases sent`);

  // numbers at the edges of JSON: huge mailbox positions (valid reads), 1e400 (Infinity once
  // parsed), -0, duplicate keys, trailing garbage, bytes that are not UTF-8; a byte-order
  // mark is ignored (RFC 8259 §8.1 allows it), so that request is simply answered
  const mailbox = subjects.home('home', 'mailbox');
  for (const after of [1e300, 2 ** 53, 2 ** 64, Number.MAX_SAFE_INTEGER]) {
    const r = JSON.parse(await send(mailbox, encodeJson(signRequest(MAILBOX_TYPE, { after }, 'home', valid.buyer)))) as { ok: boolean };
    if (!r.ok) refused(JSON.stringify(r), `mailbox after ${after}`);
  }
  const text = JSON.stringify(signRequest(MAILBOX_TYPE, { after: 7 }, 'home', valid.buyer));
  for (const [what, t] of [
    ['1e400', text.replace('"after":7', '"after":1e400')],
    ['-0', text.replace('"after":7', '"after":-0')],
    ['duplicate keys', text.replace('"after":7', '"after":7,"after":8')],
    ['trailing garbage', text + '}'],
  ] as const) {
    refused(await send(mailbox, utf8(t)), what);
  }
  for (const bytes of [new Uint8Array([0xff, 0xfe, 0x7b, 0x7d]), utf8(text).subarray(0, 40), new Uint8Array([0xed, 0xa0, 0x80])]) refused(await send(mailbox, bytes), 'not UTF-8 JSON');
  assert.is((JSON.parse(await send(mailbox, utf8('\ufeff' + JSON.stringify(signRequest(MAILBOX_TYPE, { after: 7 }, 'home', valid.buyer))))) as { ok: boolean }).ok, true, 'BOM');

  // d2 at the edges of its range, sealed properly to the Agent Home for this very request
  const { client } = await world.buyer('fuzz-buyer');
  const { x25519 } = await client.homeKey();
  const body = (targets[named('home.notify')] as RequestTarget).body as unknown as NotifyBody;
  const context = sealContext(requestHash(body.request, body.deadline, body.nonce));
  for (const d2 of ['AA', 'AQ', bigintToB64u(n - 1n), bigintToB64u(n), bigintToB64u(n + 1n), bigintToB64u(1n << 4096n), 'AAE']) {
    const sealed = sealJson({ d2, rules: exampleRules() as JsonValue }, x25519, context);
    refused(await send(subjects.home('home', 'notify'), encodeJson(signRequest(NOTIFY_TYPE, { ...body, sealed }, 'home', valid.buyer))), `notify with d2 = ${d2.slice(0, 12)}`);
  }
});

test('nothing stored changed', async () => {
  const after = await snapshot();
  assert.equal(after.sessions, before.sessions, 'session numbers');
  assert.equal(after.exchanges, before.exchanges, 'exchanges');
  assert.equal(after.directory, before.directory, 'merchant directory');
  assert.equal(after.streams, before.streams, "the Agent Home's JetStream streams and buckets");
  assert.equal(after.stores, before.stores, "the stores' data directories");
});

test('afterwards valid requests still work: a contract is signed, a new session negotiates end to end', async () => {
  const offered = JSON.parse(await send(subjects.storeContract(valid.merchant, 'offer'), valid.offer));
  assert.ok(offered.ok, JSON.stringify(offered));
  const completed = JSON.parse(await send(subjects.storeContract(valid.merchant, 'complete'), valid.complete));
  assert.ok(completed.ok, JSON.stringify(completed));
  assert.is(JSON.parse(await send(keySubject, new Uint8Array(0))).ok, true);
  // a notify with whitespace and key order of its own (the signature covers canonical JSON)
  const { client, files } = await world.buyer('fuzz-buyer');
  const prepared = await client.prepareNotify({ request: LAPTOPS, rules: exampleRules(), deadline: new Date(Date.now() + 60_000), sessionKey: restoreKey(files.session(valid.sn).key) });
  const msg = signRequest(NOTIFY_TYPE, prepared.body, 'home', valid.buyer) as unknown as Json;
  const notified = JSON.parse(await send(subjects.home('home', 'notify'), utf8(reframe(msg, 'reorder').replace(/,/g, ' ,\n'))));
  assert.ok(notified.ok, JSON.stringify(notified));
  const sn = notified.body.sn as string;
  for (let i = 0; ; i++) {
    const r = JSON.parse(await send(subjects.home('home', 'results'), encodeJson(signRequest(RESULTS_TYPE, { sn }, 'home', valid.buyer))));
    assert.ok(r.ok, JSON.stringify(r));
    if (r.body.status === 'complete') {
      assert.ok(r.body.agreements.length >= 1, 'the stores negotiated');
      break;
    }
    if (i > 200) assert.unreachable(`session ${sn} did not complete: ${JSON.stringify(r.body.progress)}`);
    await new Promise((res) => setTimeout(res, 50));
  }
});

test.run();
