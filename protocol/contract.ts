/**
 * The contract (PROTOCOL.md phase 3): a JWS whose payload holds the session, the three
 * parties with their certificates, the request, the agreed terms B[i] with their bid proof,
 * the voucher, the delegation and the binding statement
 *   binding = Sign_buyer-identity(binding, {n, sn, merchant, termsHash})
 * The buyer is bound only by the binding statement together with a valid RS256 signature
 * under n, so even an Agent Home that recovered the session key could not bind the buyer
 * to other terms.
 *
 * `checkContract` verifies everything offline and reports one line per check; the store
 * (before countersigning), the Agent Home (before resolving), the buyer and `parley verify`
 * all use it.
 */
import { z } from 'zod';
import { sha256 } from '../crypto/hash.js';
import { canonicalBytes } from '../crypto/canonical.js';
import { b64uToBigint, bitLength, fromB64u, toB64u, utf8 } from '../crypto/bytes.js';
import { openSignedObject, signObject, type SignedObject } from '../crypto/signed.js';
import { ParleyError } from '../crypto/errors.js';
import { partialVerifyMessage } from '../crypto/rsa/index.js';
import {
  checkBuyerHeader,
  checkBuyerSignature,
  checkMerchantSignature,
  decodeJwsPayload,
  encodeJwsPayload,
  jwsSigningInput,
  merchantCertificate,
  decodeProtectedHeader,
  parseContractJws,
  type GeneralJws,
} from '../crypto/jws.js';
import { verifyCertificate, type CertificateInput, type ParsedCertificate } from '../crypto/x509/index.js';
import { BidSchema, ContractTemplateSchema, PurchaseRequestSchema, bidMatchesRequest, type Bid, type ContractTemplate } from './commerce.js';
import { parleyError } from './errors.js';
import { checkSchema, isoTime, partyId, pem, signedObject, bigIntB64u } from './wire.js';
import { openVoucher, sessionNumber, VoucherSchema, VOUCHER_TYPE, type VoucherValues } from './voucher.js';
import { hash32, nonce, openDelegation, requestHash, SignedDelegationSchema, DELEGATION_PURPOSE, type DelegationBody } from './session.js';
import { BidProofSchema, verifyBidProof } from './sales.js';
import { canonicalJson } from '../crypto/canonical.js';

export const BINDING_TYPE = 'binding';
export const CONTRACT_KIND = 'parley-contract';

const PartySchema = z.strictObject({ id: partyId, cert: pem });

export const BindingSchema = z.strictObject({ n: bigIntB64u(512), sn: sessionNumber, merchant: partyId, termsHash: hash32 });
export type BindingBody = z.infer<typeof BindingSchema>;

export const ContractPayloadSchema = z.strictObject({
  kind: z.literal(CONTRACT_KIND),
  v: z.literal(1),
  sn: sessionNumber,
  home: PartySchema,
  buyer: PartySchema,
  merchant: PartySchema,
  request: PurchaseRequestSchema,
  deadline: isoTime,
  nonce,
  terms: BidSchema,
  template: ContractTemplateSchema,
  bidProof: BidProofSchema,
  voucher: signedObject(VOUCHER_TYPE, VoucherSchema),
  delegation: SignedDelegationSchema,
  binding: signedObject(BINDING_TYPE, BindingSchema),
  issuedAt: isoTime,
  /** the buyer is expected to send its complete signature by then; the merchant resolves after */
  completeBy: isoTime,
  /** the Agent Home resolves only until then; after it, an unresolved exchange binds nobody */
  exchangeDeadline: isoTime,
});
export type ContractPayload = z.infer<typeof ContractPayloadSchema>;

/** Hash of what the buyer agrees to: the session, the merchant, the terms and the template. */
export function termsHash(sn: string, merchant: string, terms: Bid, template: ContractTemplate): string {
  return toB64u(sha256(utf8('parley/v1/terms'), new Uint8Array([0]), canonicalBytes({ sn, merchant, terms, template })));
}

export function signBinding(body: BindingBody, buyerSecretKey: Uint8Array): SignedObject<BindingBody> {
  return signObject(BINDING_TYPE, checkSchema(BindingSchema, body, 'binding'), buyerSecretKey);
}

/** Identifies one exchange: the hash of the contract's payload. */
export function contractId(payloadB64: string): string {
  return toB64u(sha256(utf8(payloadB64)));
}

/** The payload as it is signed (canonical JSON, base64url). */
export function encodeContractPayload(p: ContractPayload): string {
  return encodeJwsPayload(checkSchema(ContractPayloadSchema, p, 'contract'));
}

/** What the buyer's RS256 signature (and the split SG1) covers. */
export function buyerSigningInput(payloadB64: string, protectedB64: string): Uint8Array {
  return jwsSigningInput(protectedB64, payloadB64);
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** the error code of a failed check */
  code?: string;
}

export interface ContractFacts {
  payload: ContractPayload;
  buyer: ParsedCertificate;
  merchant: ParsedCertificate;
  home: ParsedCertificate;
  delegation: DelegationBody;
  voucher: VoucherValues;
  session: { n: bigint; e: bigint };
}

export interface PayloadCheck {
  checks: Check[];
  facts?: ContractFacts;
}

const MIN_SESSION_BITS = 2048;

function attempt(checks: Check[], name: string, fn: () => string): boolean {
  try {
    checks.push({ name, ok: true, detail: fn() });
    return true;
  } catch (e) {
    checks.push({ name, ok: false, detail: (e as Error).message, code: e instanceof ParleyError ? e.code : 'ERR_CONTRACT_INVALID' });
    return false;
  }
}

/**
 * Everything about a contract payload that needs no signature over the JWS: certificates,
 * delegation, voucher, binding statement, bid proof. Certificates are checked at the
 * contract's issue time, so a contract stays verifiable after they expire.
 */
export function checkContractPayload(payloadValue: unknown, ca: CertificateInput): PayloadCheck {
  const checks: Check[] = [];
  let p!: ContractPayload;
  if (!attempt(checks, 'payload', () => {
    p = checkSchema(ContractPayloadSchema, payloadValue, 'contract payload');
    return `contract for session ${p.sn}, issued ${p.issuedAt}`;
  })) return { checks };

  const at = new Date(p.issuedAt);
  let buyer!: ParsedCertificate, merchant!: ParsedCertificate, home!: ParsedCertificate;
  const certsOk = attempt(checks, 'certificates', () => {
    buyer = verifyCertificate(p.buyer.cert, ca, { role: 'buyer', id: p.buyer.id, at });
    merchant = verifyCertificate(p.merchant.cert, ca, { role: 'merchant', id: p.merchant.id, at });
    home = verifyCertificate(p.home.cert, ca, { role: 'agent-home', id: p.home.id, at });
    return `buyer ${buyer.id}, merchant ${merchant.id}, agent home ${home.id}: chained to the CA, valid at issue time, roles correct`;
  });
  if (!certsOk) return { checks };

  let delegation!: DelegationBody;
  let n = 0n;
  let e = 0n;
  const delegationOk = attempt(checks, 'delegation', () => {
    delegation = openDelegation(p.delegation, buyer.publicKey);
    if (delegation.buyer !== p.buyer.id) throw parleyError('ERR_DELEGATION_INVALID', `delegation is from ${delegation.buyer}`);
    if (delegation.purpose !== DELEGATION_PURPOSE) throw parleyError('ERR_DELEGATION_INVALID', 'wrong purpose');
    if (delegation.requestHash !== requestHash(p.request, p.deadline, p.nonce)) throw parleyError('ERR_DELEGATION_INVALID', 'delegation is for another request');
    if (Date.parse(delegation.notAfter) < Date.parse(p.issuedAt)) throw parleyError('ERR_DELEGATION_INVALID', 'delegation had expired when the contract was issued');
    n = b64uToBigint(delegation.n, 'n');
    e = b64uToBigint(delegation.e, 'e');
    if (bitLength(n) < MIN_SESSION_BITS || e !== 65537n) throw parleyError('ERR_DELEGATION_INVALID', 'session key must be RSA ≥ 2048 bits with e = 65537');
    return `session key (${bitLength(n)}-bit RSA) delegated by ${buyer.id}'s identity key for this request`;
  });

  let voucher!: VoucherValues;
  const voucherOk = attempt(checks, 'voucher', () => {
    voucher = openVoucher(p.voucher, home.publicKey);
    if (voucher.sn !== p.sn || voucher.home !== p.home.id) throw parleyError('ERR_VOUCHER_INVALID', 'voucher is for another session or Agent Home');
    if (delegationOk && (voucher.n !== n || voucher.e !== e)) throw parleyError('ERR_VOUCHER_INVALID', 'voucher is for another session key');
    if (voucher.deadline.toISOString() !== new Date(p.deadline).toISOString()) throw parleyError('ERR_VOUCHER_INVALID', 'voucher states another deadline');
    if (Date.parse(p.exchangeDeadline) > voucher.signBy.getTime()) throw parleyError('ERR_VOUCHER_INVALID', 'exchange deadline is later than the voucher allows');
    if (Date.parse(p.completeBy) > Date.parse(p.exchangeDeadline)) throw parleyError('ERR_CONTRACT_INVALID', 'completeBy is after the exchange deadline');
    return `${home.id} escrows d2 for session ${p.sn} (e1 ${bitLength(voucher.e1)}-bit); exchange deadline ${p.exchangeDeadline}`;
  });

  attempt(checks, 'binding statement', () => {
    const b = checkSchema(BindingSchema, openSignedObject(p.binding, BINDING_TYPE, buyer.publicKey, 'ERR_BINDING_INVALID'), 'binding');
    if (b.sn !== p.sn || b.merchant !== p.merchant.id) throw parleyError('ERR_BINDING_INVALID', 'binding names another session or merchant');
    if (delegationOk && b64uToBigint(b.n, 'n') !== n) throw parleyError('ERR_BINDING_INVALID', 'binding names another session key');
    if (b.termsHash !== termsHash(p.sn, p.merchant.id, p.terms, p.template)) throw parleyError('ERR_BINDING_INVALID', 'binding is for other terms');
    return `${buyer.id}'s identity key binds session key n to these terms with ${p.merchant.id}`;
  });

  attempt(checks, 'bid proof', () => {
    const r = verifyBidProof(p.bidProof, p.merchant.id, merchant.publicKey);
    if (r.offer.sn !== p.sn) throw parleyError('ERR_SALES_OFFER_INVALID', 'offer is for another session');
    if (canonicalJson(r.offer.msg.template) !== canonicalJson(p.template)) throw parleyError('ERR_TERMS_MISMATCH', 'template differs from the merchant’s signed offer');
    if (canonicalJson(r.bid) !== canonicalJson(p.terms)) throw parleyError('ERR_TERMS_MISMATCH', 'terms differ from the last revealed bid');
    if (!bidMatchesRequest(r.bid, p.request)) throw parleyError('ERR_TERMS_MISMATCH', 'terms are not for the requested item, quantity and currency');
    return `terms are bid ${r.index} of ${r.offer.msg.k} that ${p.merchant.id} committed to (hash chain from its signed K[1])`;
  });

  const ok = checks.every((c) => c.ok);
  return ok && voucherOk ? { checks, facts: { payload: p, buyer, merchant, home, delegation, voucher, session: { n, e } } } : { checks };
}

export interface ContractCheck extends PayloadCheck {
  valid: boolean;
}

/** Full offline verification of a signed contract JWS (what `parley verify` runs). */
export function checkContract(value: unknown, ca: CertificateInput): ContractCheck {
  const checks: Check[] = [];
  let jws!: GeneralJws;
  if (!attempt(checks, 'format', () => {
    jws = parseContractJws(value);
    return 'JWS general JSON serialisation with two signatures';
  })) return { checks, valid: false };
  let payloadValue: unknown;
  if (!attempt(checks, 'payload encoding', () => {
    payloadValue = decodeJwsPayload(jws.payload);
    return 'payload is base64url of canonical JSON (RFC 8785), no repeated keys';
  })) return { checks, valid: false };
  const pc = checkContractPayload(payloadValue, ca);
  checks.push(...pc.checks);
  const facts = pc.facts;
  attempt(checks, 'buyer signature', () => {
    if (!facts) throw parleyError('ERR_CONTRACT_INVALID', 'cannot check without a valid delegation');
    const h = checkBuyerHeader(jws.signatures[0]!.protected, facts.session);
    if (!checkBuyerSignature(jws, facts.session)) throw parleyError('ERR_JWS_SIGNATURE_INVALID', 'RS256 signature does not verify under the delegated session key');
    return `RS256 under the session key of ${facts.buyer.id}${h.jwk ? ' (header jwk is that key)' : ' (earlier header format, key from the delegation)'}`;
  });
  attempt(checks, 'merchant signature', () => {
    if (!facts) throw parleyError('ERR_CONTRACT_INVALID', 'cannot check without valid certificates');
    const leaf = merchantCertificate(jws);
    if (leaf.fingerprint !== facts.merchant.fingerprint) throw parleyError('ERR_JWS_SIGNATURE_INVALID', 'x5c certificate is not the merchant of the contract');
    if (!checkMerchantSignature(jws, facts.merchant)) throw parleyError('ERR_JWS_SIGNATURE_INVALID', 'EdDSA signature does not verify');
    return `EdDSA by ${facts.merchant.id} (certificate in x5c${merchantKeyNamed(jws) ? ', named by kid and x5t#S256' : ''})`;
  });
  const valid = checks.every((c) => c.ok);
  return { checks, facts: valid ? facts : undefined, valid };
}

function merchantKeyNamed(jws: GeneralJws): boolean {
  const h = decodeProtectedHeader(jws.signatures[1]!.protected);
  return h.kid !== undefined && h['x5t#S256'] !== undefined;
}

/** Checks a partial signature SG1 over the contract with the voucher's e1. */
export function checkPartialSignature(facts: ContractFacts, payloadB64: string, protectedB64: string, sg1: string): boolean {
  try {
    return partialVerifyMessage(facts.session, facts.voucher.e1, buyerSigningInput(payloadB64, protectedB64), fromB64u(sg1, 'sg1'));
  } catch {
    return false;
  }
}

/** Payload check that throws the first failure as its coded error. */
export function assertContractPayload(payloadB64: string, ca: CertificateInput): ContractFacts {
  let value: unknown;
  try {
    value = decodeJwsPayload(payloadB64);
  } catch (e) {
    // a repeated key or non-canonical bytes keep their own code
    if (e instanceof ParleyError && (e.code === 'ERR_JSON_DUPLICATE_KEY' || e.code === 'ERR_JWS_PAYLOAD_NOT_CANONICAL')) throw e;
    throw parleyError('ERR_CONTRACT_INVALID', 'contract payload is not base64url JSON', e);
  }
  const r = checkContractPayload(value, ca);
  if (r.facts) return r.facts;
  const bad = r.checks.find((c) => !c.ok);
  throw new ParleyError(bad?.code ?? 'ERR_CONTRACT_INVALID', `contract ${bad?.name ?? ''} check failed: ${bad?.detail ?? 'invalid'}`);
}
