/**
 * What a person wants to read in a contract (`parley contract show`): the parties with their
 * certificates, the session, the goods and the money, the deadlines, how it was signed, and
 * every verification check. Collected here as data; cli/ renders it as text, JSON or HTML.
 *
 * The contract alone cannot say whether the buyer completed its signature or the Agent Home
 * resolved the exchange: both give the same RS256 signature (PKCS#1 v1.5 is deterministic).
 * The arbiter's evidence file says which; given one, the resolution record is shown.
 */
import { ParleyError } from '../crypto/errors.js';
import { decodeJwsPayload, decodeProtectedHeader, parseContractJws } from '../crypto/jws.js';
import { parseCertificate, type CertificateInput } from '../crypto/x509/index.js';
import { checkContract, contractId as contractIdOf, ContractPayloadSchema, type Check } from './contract.js';
import { checkEvidence, isEvidence } from './evidence.js';
import { checkSchema } from './wire.js';

export interface PartyView {
  role: 'buyer' | 'merchant' | 'agent home';
  id: string;
  subject: string;
  issuer: string;
  notBefore: string;
  notAfter: string;
  /** SHA-256 of the certificate, hex */
  fingerprint: string;
}

export interface ContractView {
  contractId: string;
  sn: string;
  title: string;
  seller: { name: string; address?: string };
  clauses: string[];
  jurisdiction?: string;
  parties: PartyView[];
  item: string;
  category: string;
  attributes: Record<string, unknown>;
  quantity: number;
  unitPrice: number;
  total: number;
  currency: string;
  deliveryDays: number;
  warrantyMonths: number;
  issuedAt: string;
  requestDeadline: string;
  completeBy: string;
  exchangeDeadline: string;
  signatures: Array<{ by: string; alg: string; key: string }>;
  signing: { how: 'resolved' | 'aborted' | 'not shown'; detail: string; record?: unknown };
  /** null when no CA was given (nothing verified) */
  valid: boolean | null;
  checks: Check[];
}

function party(role: PartyView['role'], id: string, cert: string): PartyView {
  const c = parseCertificate(cert);
  return { role, id, subject: c.subject, issuer: c.issuer, notBefore: c.notBefore.toISOString(), notAfter: c.notAfter.toISOString(), fingerprint: c.fingerprint };
}

/** Money: the total of `quantity` at `price`, in cents, so 3 × 0.1 is 0.3. */
function total(price: number, quantity: number): number {
  return Math.round(price * 100 * quantity) / 100;
}

/**
 * Describes a contract JWS. With `ca` every check runs (as `parley verify`); with
 * `evidence` (a parsed evidence file) the exchange's record in it tells how it was signed.
 */
export function describeContract(value: unknown, opts: { ca?: CertificateInput; evidence?: unknown } = {}): ContractView {
  const jws = parseContractJws(value);
  const p = checkSchema(ContractPayloadSchema, decodeJwsPayload(jws.payload), 'contract payload');
  const contractId = contractIdOf(jws.payload);
  const checks: Check[] = [];
  let valid: boolean | null = null;
  if (opts.ca) {
    const r = checkContract(value, opts.ca);
    checks.push(...r.checks);
    valid = r.valid;
  }
  let signing: ContractView['signing'] = {
    how: 'not shown',
    detail: 'both signatures are on the contract; whether the buyer completed it or the Agent Home resolved the exchange is in the arbiter’s evidence file (--evidence), as both give the same RS256 signature',
  };
  if (opts.evidence !== undefined) {
    if (!isEvidence(opts.evidence)) throw new ParleyError('ERR_EVIDENCE_INVALID', 'the --evidence file is not an evidence file');
    const ev = opts.evidence as { sn?: unknown; items?: Array<{ type?: unknown; body?: { contractId?: unknown; status?: unknown; at?: unknown } }> };
    if (opts.ca) {
      const r = checkEvidence(opts.evidence, opts.ca);
      const bad = r.checks.find((c) => !c.ok);
      checks.push({ name: 'evidence', ok: r.valid, detail: r.valid ? `evidence of session ${String(ev.sn)} verifies (${r.checks.length} checks)` : `evidence does not verify: ${bad?.name}: ${bad?.detail}`, ...(bad ? { code: bad.code } : {}) });
      valid = valid !== false && r.valid;
    }
    const x = (ev.items ?? []).find((i) => i.type === 'exchange' && i.body?.contractId === contractId);
    if (!x) signing = { how: 'not shown', detail: `the evidence of session ${String(ev.sn)} records no resolution or abort of this contract: the Agent Home took no part (honest exchange) or was never asked` };
    else if (x.body!.status === 'resolved') signing = { how: 'resolved', detail: `resolved by the Agent Home ${p.home.id} at ${String(x.body!.at)}: the merchant countersigned, the buyer's complete signature never came, the Agent Home completed it from the escrowed key half`, record: x.body };
    else signing = { how: 'aborted', detail: `aborted at ${String(x.body!.at)} at the buyer's request: the exchange binds nobody`, record: x.body };
  }
  const signatures = jws.signatures.map((s, i) => {
    const h = decodeProtectedHeader(s.protected, `signature ${i}`);
    const key = h.jwk ? `session key ${h.kid ?? '(no kid)'} (header jwk)` : h.x5c ? `certificate in x5c${h.kid ? `, kid ${h.kid}` : ''}` : 'session key from the delegation (earlier header format)';
    return { by: i === 0 ? p.buyer.id : p.merchant.id, alg: h.alg, key };
  });
  const t = p.template;
  return {
    contractId,
    sn: p.sn,
    title: t.title,
    seller: t.seller,
    clauses: t.clauses,
    ...(t.jurisdiction ? { jurisdiction: t.jurisdiction } : {}),
    parties: [party('buyer', p.buyer.id, p.buyer.cert), party('merchant', p.merchant.id, p.merchant.cert), party('agent home', p.home.id, p.home.cert)],
    item: p.terms.item,
    category: p.request.category,
    attributes: p.request.attributes,
    quantity: p.terms.quantity,
    unitPrice: p.terms.price,
    total: total(p.terms.price, p.terms.quantity),
    currency: p.terms.currency,
    deliveryDays: p.terms.deliveryDays,
    warrantyMonths: p.terms.warrantyMonths,
    issuedAt: p.issuedAt,
    requestDeadline: p.deadline,
    completeBy: p.completeBy,
    exchangeDeadline: p.exchangeDeadline,
    signatures,
    signing,
    valid,
    checks,
  };
}
