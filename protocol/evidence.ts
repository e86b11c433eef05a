/**
 * The evidence file of one session (issue 19): everything public the arbiter holds about it,
 * in one JSON document that `parley verify FILE --ca ca.pem` checks offline.
 *
 *   { kind: "parley-evidence", v: 1, sn, createdAt, home: {id, cert},
 *     items: [{name, type, body}],            one per record, in a fixed order
 *     auditChain: {from, head, hashes},       SHA-256 (hex) of every audit record from the
 *                                             session's first one to the log's head
 *     seal }                                  the Agent Home's signature over the list of
 *                                             (name, hash) of the items and the chain's hash
 *
 * Each item is checked on its own (signatures by their signers, the bid hash chains, the
 * contract of a resolution as `parley verify` checks a contract, the audit records against
 * the chain), and the seal says which items there are, in which order, with which bytes, so
 * an item removed, reordered, slipped in or altered is reported by name. No item holds a
 * secret: no d2, no rules, no private key (the builder copies named public fields only).
 */
import { z } from 'zod';
import { canonicalBytes, canonicalJson, type JsonValue } from '../crypto/canonical.js';
import { bigintToB64u, toB64u, toHex } from '../crypto/bytes.js';
import { sha256 } from '../crypto/hash.js';
import { ParleyError } from '../crypto/errors.js';
import { openSignedObject, signObject } from '../crypto/signed.js';
import { verifyCertificate, type CertificateInput, type ParsedCertificate } from '../crypto/x509/index.js';
import { assembleContractJws, buyerSignature, type JwsSignature } from '../crypto/jws.js';
import { checkContract, checkPartialSignature, contractId as contractIdOf, type Check } from './contract.js';
import { openAbortToken } from './exchange.js';
import { openRequestStatement, openDelegation, requestHash } from './session.js';
import { openVoucher } from './voucher.js';
import { verifyBidProof, type BidProof } from './sales.js';
import { parleyError } from './errors.js';
import { checkSchema, isoTime, partyId, pem, signedObject } from './wire.js';

export const EVIDENCE_KIND = 'parley-evidence';
export const EVIDENCE_SEAL_TYPE = 'evidence-seal';
/** the signed-object type of the Agent Home's audit records (agent-home/audit.ts) */
export const AUDIT_RECORD_TYPE = 'audit-record';

export const EVIDENCE_ITEM_TYPES = ['session', 'request-statement', 'voucher', 'delegation', 'visit', 'negotiation', 'agreement', 'exchange', 'audit-record'] as const;
export type EvidenceItemType = (typeof EVIDENCE_ITEM_TYPES)[number];

export interface EvidenceItem {
  name: string;
  type: EvidenceItemType;
  body: JsonValue;
}

export interface AuditChain {
  /** sequence of the session's first audit record */
  from: number;
  /** the log's last sequence when the evidence was made */
  head: number;
  /** hex SHA-256 of the stored bytes of records from..head */
  hashes: string[];
}

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const SealSchema = z.strictObject({
  sn: z.string(),
  home: partyId,
  createdAt: isoTime,
  items: z.array(z.strictObject({ name: z.string().max(200), hash: z.string().max(64) })).max(100_000),
  auditChain: z.string().max(64),
});
export type EvidenceSeal = z.infer<typeof SealSchema>;

export const EvidenceSchema = z.strictObject({
  kind: z.literal(EVIDENCE_KIND),
  v: z.literal(1),
  sn: z.string().max(64),
  createdAt: isoTime,
  home: z.strictObject({ id: partyId, cert: pem }),
  items: z.array(z.strictObject({ name: z.string().max(200), type: z.enum(EVIDENCE_ITEM_TYPES), body: z.unknown() })).max(100_000),
  auditChain: z.strictObject({ from: z.number().int().min(1), head: z.number().int().min(0), hashes: z.array(hex64).max(10_000_000) }),
  seal: signedObject(EVIDENCE_SEAL_TYPE, SealSchema),
});
export type Evidence = z.infer<typeof EvidenceSchema>;

/** Does this parsed JSON look like an evidence file (rather than a contract)? */
export function isEvidence(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === EVIDENCE_KIND;
}

export function itemHash(item: { name: string; type: string; body: unknown }): string {
  return toB64u(sha256(canonicalBytes({ name: item.name, type: item.type, body: item.body })));
}

function chainHash(c: AuditChain): string {
  return toB64u(sha256(canonicalBytes({ from: c.from, head: c.head, hashes: c.hashes })));
}

/** Assembles and seals an evidence document (the Agent Home's identity key signs the seal). */
export function sealEvidence(
  parts: { sn: string; home: { id: string; cert: string }; items: EvidenceItem[]; auditChain: AuditChain; createdAt?: string },
  homeSecretKey: Uint8Array,
): Evidence {
  const createdAt = parts.createdAt ?? new Date().toISOString();
  const seal = signObject(
    EVIDENCE_SEAL_TYPE,
    { sn: parts.sn, home: parts.home.id, createdAt, items: parts.items.map((i) => ({ name: i.name, hash: itemHash(i) })), auditChain: chainHash(parts.auditChain) },
    homeSecretKey,
  );
  return { kind: EVIDENCE_KIND, v: 1, sn: parts.sn, createdAt, home: parts.home, items: parts.items, auditChain: parts.auditChain, seal: seal as Evidence['seal'] };
}

function attempt(checks: Check[], name: string, fn: () => string): boolean {
  try {
    checks.push({ name, ok: true, detail: fn() });
    return true;
  } catch (e) {
    checks.push({ name, ok: false, detail: (e as Error).message, code: e instanceof ParleyError ? e.code : 'ERR_EVIDENCE_INVALID' });
    return false;
  }
}

const bad = (why: string) => parleyError('ERR_EVIDENCE_INVALID', why);

/** Items in the file against the sealed list: each one removed, slipped in, moved or altered, by name. */
function compareWithSeal(items: Evidence['items'], sealed: EvidenceSeal['items'], checks: Check[]): void {
  const sealedAt = new Map(sealed.map((s, i) => [s.name, i]));
  const present = new Set(items.map((i) => i.name));
  for (const s of sealed) if (!present.has(s.name)) attempt(checks, `record ${s.name}`, () => { throw bad(`record ${s.name} is missing (the seal lists it at position ${sealedAt.get(s.name)! + 1})`); });
  let lastSealed = -1;
  items.forEach((item, i) => {
    const at = sealedAt.get(item.name);
    if (at === undefined) return void attempt(checks, `record ${item.name}`, () => { throw bad(`record ${item.name} (position ${i + 1}) is not in the seal: slipped in`); });
    if (at < lastSealed) attempt(checks, `record ${item.name}`, () => { throw bad(`record ${item.name} is out of order (sealed at position ${at + 1}, found at ${i + 1})`); });
    else lastSealed = at;
    if (sealed[at]!.hash !== itemHash(item)) attempt(checks, `record ${item.name}`, () => { throw bad(`record ${item.name} was altered (its hash differs from the sealed one)`); });
  });
}

interface Ctx {
  ca: CertificateInput;
  home: ParsedCertificate;
  sn: string;
  session?: { buyer: string; buyerCert: string; n: string; e: string; e1: string; requestHash: string; created: string };
  chain: AuditChain;
  voucher?: ReturnType<typeof openVoucher>;
}

const SessionItem = z.strictObject({
  sn: z.string(),
  buyer: partyId,
  buyerCert: pem,
  request: z.unknown(),
  deadline: isoTime,
  nonce: z.string(),
  requestHash: z.string(),
  n: z.string(),
  e: z.string(),
  e1: z.string(),
  created: isoTime,
  signBy: isoTime,
  status: z.string(),
  invited: z.array(z.string()),
});

type Verifier = (body: unknown, ctx: Ctx) => string;

const VERIFIERS: Record<EvidenceItemType, Verifier> = {
  session(body, ctx) {
    const s = checkSchema(SessionItem, body, 'session');
    if (s.sn !== ctx.sn) throw bad(`session record is for ${s.sn}`);
    if (s.requestHash !== requestHash(s.request as never, s.deadline, s.nonce)) throw bad('request hash does not match the request, deadline and nonce');
    const buyer = verifyCertificate(s.buyerCert, ctx.ca, { role: 'buyer', id: s.buyer, at: new Date(s.created) });
    ctx.session = s;
    return `session ${s.sn} of ${buyer.id}: ${s.status}, ${s.invited.length} hosts invited; request hash ${s.requestHash.slice(0, 12)}…`;
  },
  'request-statement'(body, ctx) {
    const r = openRequestStatement(body, ctx.home.publicKey);
    if (r.sn !== ctx.sn) throw bad('SG_REQ is for another session');
    return `SG_REQ signed by ${ctx.home.id}`;
  },
  voucher(body, ctx) {
    const v = openVoucher(body, ctx.home.publicKey);
    if (v.sn !== ctx.sn || v.home !== ctx.home.id) throw bad('voucher is for another session or Agent Home');
    if (ctx.session && (bigintToB64u(v.n) !== ctx.session.n || bigintToB64u(v.e1) !== ctx.session.e1)) throw bad('voucher is for another session key');
    ctx.voucher = v;
    return `Vou_C signed by ${ctx.home.id}: d2 escrowed for this session key`;
  },
  delegation(body, ctx) {
    if (!ctx.session) throw bad('no session record to check the delegation against');
    const buyer = verifyCertificate(ctx.session.buyerCert, ctx.ca, { role: 'buyer', id: ctx.session.buyer, at: new Date(ctx.session.created) });
    const d = openDelegation(body, buyer.publicKey);
    if (d.n !== ctx.session.n || d.e !== ctx.session.e || d.requestHash !== ctx.session.requestHash) throw bad('delegation names another key or request');
    return `session key delegated by ${buyer.id}'s identity key`;
  },
  visit(body) {
    const v = checkSchema(z.object({ host: partyId, hop: z.number().int().min(0), event: z.enum(['visited', 'skipped']), at: isoTime }).loose(), body, 'visit');
    return `hop ${v.hop}: ${v.host} ${v.event} (host signature verified by the Agent Home on arrival; sealed)`;
  },
  negotiation(body, ctx) {
    const n = checkSchema(
      z.object({ merchant: partyId, merchantCert: pem, offer: z.unknown(), k: z.number().int(), status: z.string(), rounds: z.array(z.object({ index: z.number().int(), bid: z.unknown(), next: z.string(), accept: z.boolean() }).loose()) }).loose(),
      body,
      'negotiation',
    );
    const cert = verifyCertificate(n.merchantCert, ctx.ca, { role: 'merchant', id: n.merchant, at: ctx.session ? new Date(ctx.session.created) : undefined });
    if (!n.rounds.length) return `${n.merchant}: ${n.status}, no bid revealed`;
    const r = verifyBidProof({ offer: n.offer, reveals: n.rounds.map((x) => ({ bid: x.bid, next: x.next })) } as BidProof, n.merchant, cert.publicKey);
    if (r.offer.sn !== ctx.sn) throw bad('the sales offer is for another session');
    n.rounds.forEach((x, i) => {
      if (x.index !== i + 1) throw bad(`round ${i + 1} states index ${x.index}`);
    });
    return `${n.merchant}: ${n.status}; ${n.rounds.length} of ${n.k} bids revealed, each on the hash chain of its signed offer`;
  },
  agreement(body, ctx) {
    const a = checkSchema(z.object({ sn: z.string(), merchant: partyId, merchantCert: pem, bid: z.unknown(), index: z.number().int(), proof: z.unknown() }).loose(), body, 'agreement');
    if (a.sn !== ctx.sn) throw bad('agreement is for another session');
    const cert = verifyCertificate(a.merchantCert, ctx.ca, { role: 'merchant', id: a.merchant, at: ctx.session ? new Date(ctx.session.created) : undefined });
    const r = verifyBidProof(a.proof as BidProof, a.merchant, cert.publicKey);
    if (r.index !== a.index || canonicalJson(r.bid) !== canonicalJson(a.bid)) throw bad('the agreed bid is not the last revealed one');
    return `${a.merchant}: bid ${a.index}, committed by the merchant (hash chain from its signed K[1])`;
  },
  exchange(body, ctx) {
    const x = checkSchema(
      z.object({
        contractId: z.string(),
        sn: z.string(),
        merchant: partyId,
        buyer: partyId,
        status: z.enum(['resolved', 'aborted']),
        at: isoTime,
        contract: z.strictObject({ payload: z.string(), protected: z.string(), sg1: z.string(), sg: z.string(), merchantSignature: z.strictObject({ protected: z.string(), signature: z.string() }) }).optional(),
        token: z.unknown().optional(),
      }).loose(),
      body,
      'exchange',
    );
    if (x.sn !== ctx.sn) throw bad('exchange of another session');
    if (x.status === 'aborted') {
      const t = openAbortToken(x.token, ctx.home.publicKey);
      if (t.contractId !== x.contractId || t.sn !== ctx.sn || t.merchant !== x.merchant) throw bad('abort token for another exchange');
      return `aborted at ${t.at} by ${x.buyer}'s request; token signed by ${ctx.home.id}`;
    }
    if (!x.contract) return `resolved at ${x.at} for ${x.merchant} (recorded before resolutions kept their contract: no contract to check)`;
    const c = x.contract;
    if (contractIdOf(c.payload) !== x.contractId) throw bad('the contract is not the exchange’s (contract id differs)');
    const jws = assembleContractJws(c.payload, buyerSignature(c.protected, Buffer.from(c.sg, 'base64url')), c.merchantSignature as JwsSignature);
    const check = checkContract(jws, ctx.ca);
    const failed = check.checks.find((k) => !k.ok);
    if (failed) throw new ParleyError(failed.code ?? 'ERR_CONTRACT_INVALID', `the resolved contract fails its ${failed.name} check: ${failed.detail}`);
    if (!checkPartialSignature(check.facts!, c.payload, c.protected, c.sg1)) throw parleyError('ERR_PARTIAL_SIGNATURE_INVALID', 'the SG1 the merchant sent does not verify under e1');
    return `resolved at ${x.at} for ${x.merchant}: the merchant's request (contract, SG1 under e1, SG_S) verifies, and so does the completed contract`;
  },
  'audit-record'(body, ctx) {
    const rec = openSignedObject<{ seq: number; sn?: string; prev: string; event: string }>(body, AUDIT_RECORD_TYPE, ctx.home.publicKey);
    if (rec.sn !== ctx.sn) throw bad(`audit record ${rec.seq} is about another session`);
    const i = rec.seq - ctx.chain.from;
    if (!(i >= 0 && i < ctx.chain.hashes.length)) throw bad(`audit record ${rec.seq} is outside the chain ${ctx.chain.from}..${ctx.chain.head}`);
    if (toHex(sha256(canonicalBytes(body))) !== ctx.chain.hashes[i]) throw bad(`audit record ${rec.seq} is not the record the chain holds at that sequence`);
    if (i > 0 && rec.prev !== ctx.chain.hashes[i - 1]) throw bad(`audit record ${rec.seq} does not link to record ${rec.seq - 1} of the chain`);
    return `#${rec.seq} ${rec.event}: signed by ${ctx.home.id}, at its place in the chain up to the sealed head #${ctx.chain.head}`;
  },
};

export interface EvidenceCheck {
  valid: boolean;
  checks: Check[];
}

/** Full offline verification of an evidence document. */
export function checkEvidence(value: unknown, ca: CertificateInput): EvidenceCheck {
  const checks: Check[] = [];
  let ev!: Evidence;
  if (!attempt(checks, 'format', () => {
    ev = checkSchema(EvidenceSchema, value, 'evidence');
    return `evidence of session ${ev.sn}: ${ev.items.length} records, audit chain #${ev.auditChain.from}..#${ev.auditChain.head}`;
  })) return { valid: false, checks };
  let home!: ParsedCertificate;
  if (!attempt(checks, 'agent home', () => {
    home = verifyCertificate(ev.home.cert, ca, { role: 'agent-home', id: ev.home.id, at: new Date(ev.createdAt) });
    return `${home.id}: chained to the CA, role agent-home`;
  })) return { valid: false, checks };
  let seal!: EvidenceSeal;
  const sealOk = attempt(checks, 'seal', () => {
    seal = checkSchema(SealSchema, openSignedObject(ev.seal, EVIDENCE_SEAL_TYPE, home.publicKey, 'ERR_EVIDENCE_INVALID'), 'seal');
    if (seal.sn !== ev.sn || seal.home !== ev.home.id || seal.createdAt !== ev.createdAt) throw bad('the seal is for another session, Agent Home or time');
    if (seal.auditChain !== chainHash(ev.auditChain)) throw bad('the audit chain hashes were altered since the seal');
    if (ev.auditChain.hashes.length !== ev.auditChain.head - ev.auditChain.from + 1) throw bad('the audit chain does not hold one hash per record up to its head');
    return `signed by ${home.id} on ${ev.createdAt}: ${seal.items.length} records and the audit chain up to #${ev.auditChain.head}`;
  });
  if (sealOk) compareWithSeal(ev.items, seal.items, checks);
  const ctx: Ctx = { ca, home, sn: ev.sn, chain: ev.auditChain };
  for (const item of ev.items) attempt(checks, item.name, () => VERIFIERS[item.type](item.body, ctx));
  return { valid: checks.every((c) => c.ok), checks };
}

/** Names of the records of one evidence file, for building: a stable order. */
export function evidenceItemName(type: EvidenceItemType, key?: string | number): string {
  return key === undefined ? type : `${type} ${key}`;
}

