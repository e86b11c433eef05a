/**
 * `parley home evidence SN --out FILE`: the arbiter's public record of one session as one
 * sealed file (format and checks in protocol/evidence.ts). Fields are copied by name from
 * the Agent Home's records, so nothing secret can slip in (the escrow bucket is never read),
 * and the finished document is scanned for secret field names before it is sealed.
 */
import type { JsonValue } from '../crypto/canonical.js';
import { toHex } from '../crypto/bytes.js';
import { sha256 } from '../crypto/hash.js';
import { parseStrictJsonBytes } from '../crypto/strict-json.js';
import { parleyError } from '../protocol/errors.js';
import { sealEvidence, AUDIT_RECORD_TYPE, type AuditChain, type Evidence, type EvidenceItem } from '../protocol/evidence.js';
import type { HomeState } from './state.js';
import { sessionStatus } from './results.js';

/** Field names that would carry a secret (as in the audit log's own check). */
const SECRET_FIELDS = new Set(['d2', 'd1', 'd', 'p', 'q', 'dp', 'dq', 'qi', 'rules', 'nrule', 'secret', 'secretkey', 'masterkey', 'sealed', 'escrow', 'blob']);

function assertNoSecrets(v: unknown, path: string): void {
  if (Array.isArray(v)) v.forEach((x, i) => assertNoSecrets(x, `${path}[${i}]`));
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (SECRET_FIELDS.has(k.toLowerCase())) throw new TypeError(`evidence ${path}.${k}: secrets never go into an evidence file`);
      assertNoSecrets(x, `${path}.${k}`);
    }
  }
}

const json = (v: unknown) => JSON.parse(JSON.stringify(v)) as JsonValue;

export async function buildEvidence(state: HomeState, sn: string, self: { id: string; certPem: string; secretKey: Uint8Array }): Promise<Evidence> {
  const s = await state.session(sn);
  if (!s) throw parleyError('ERR_SESSION_UNKNOWN', `no session ${sn}`);
  if (s.home !== self.id) throw parleyError('ERR_FORBIDDEN', `session ${sn} is kept by ${s.home}, not ${self.id}`);
  const items: EvidenceItem[] = [];
  const add = (name: string, type: EvidenceItem['type'], body: unknown) => items.push({ name, type, body: json(body) });

  add('session', 'session', {
    sn: s.sn,
    buyer: s.buyer,
    buyerCert: s.buyerCert,
    request: s.request,
    deadline: s.deadline,
    nonce: s.nonce,
    requestHash: s.requestHash,
    n: s.n,
    e: s.e,
    e1: s.e1,
    created: s.created,
    signBy: s.signBy,
    status: sessionStatus(s),
    invited: s.invited,
  });
  add('request statement', 'request-statement', s.sgReq);
  add('voucher', 'voucher', s.voucher);
  add('delegation', 'delegation', s.delegation);
  s.visits.forEach((v, i) => add(`visit ${i + 1}`, 'visit', v));
  for (const m of Object.keys(s.negotiated).sort()) {
    const n = await state.negotiation(sn, m);
    if (n) add(`negotiation ${m}`, 'negotiation', { merchant: n.merchant, merchantCert: n.merchantCert, offer: n.offer, template: n.template, k: n.k, status: n.status, rounds: n.rounds, at: n.at, ...(n.error ? { error: n.error } : {}) });
  }
  for (const m of s.agreed) {
    const a = await state.agreement(sn, m);
    if (a) add(`agreement ${m}`, 'agreement', a);
  }
  for (const id of s.exchanges) {
    const x = await state.exchange(id);
    if (!x) continue;
    add(`exchange ${id}`, 'exchange', {
      contractId: x.contractId,
      sn: x.sn,
      merchant: x.merchant,
      buyer: x.buyer,
      status: x.status,
      at: x.at,
      ...(x.token ? { token: x.token } : {}),
      ...(x.status === 'resolved' && x.contract && x.sg && x.merchantSignature ? { contract: { ...x.contract, sg: x.sg, merchantSignature: x.merchantSignature } } : {}),
    });
  }

  // the session's audit records, and the hash of every record from its first one to the head
  const entries = await state.auditEntries();
  const head = entries.length ? entries[entries.length - 1]!.seq : 0;
  const mine: Array<{ seq: number; record: unknown }> = [];
  for (const e of entries) {
    if (!e.raw) continue;
    let o: unknown;
    try {
      o = parseStrictJsonBytes(e.raw);
    } catch {
      continue; // not a record of ours; the chain check below names it
    }
    const body = (o as { type?: unknown; body?: { sn?: unknown } }).body;
    if ((o as { type?: unknown }).type === AUDIT_RECORD_TYPE && body?.sn === sn) mine.push({ seq: e.seq, record: o });
  }
  const from = mine.length ? mine[0]!.seq : head + 1;
  const hashes: string[] = [];
  for (const e of entries) {
    if (e.seq < from) continue;
    if (!e.raw) throw parleyError('ERR_EVIDENCE_INVALID', `audit record #${e.seq} is missing from the stream: run \`parley home audit --verify\``);
    hashes.push(toHex(sha256(e.raw)));
  }
  const auditChain: AuditChain = { from, head, hashes };
  for (const r of mine) add(`audit #${r.seq}`, 'audit-record', r.record);

  items.forEach((i) => assertNoSecrets(i.body, i.name));
  return sealEvidence({ sn, home: { id: self.id, cert: self.certPem }, items, auditChain }, self.secretKey);
}
