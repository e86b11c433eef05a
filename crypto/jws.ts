/**
 * Contracts as JWS (RFC 7515 §7.2.1, general JSON serialisation) carrying exactly two
 * signatures over one payload:
 *   [0] the buyer's RS256 (RFC 7518 §3.3) under its per-session RSA key: the standard
 *       RSASSA-PKCS1-v1_5 signature that the split (SG1 · SG2, or the buyer's full
 *       signature) produces, so any JOSE library verifies it;
 *   [1] the merchant's EdDSA (RFC 8037) with its certificate chain in `x5c` (leaf first).
 * Payload and protected headers are RFC 8785 canonical JSON, so their bytes are
 * reproducible; the signing input is ASCII(BASE64URL(protected) ‖ '.' ‖ BASE64URL(payload)).
 */
import { canonicalBytes } from './canonical.js';
import { fromB64u, fromUtf8, toB64u, utf8 } from './bytes.js';
import { ed25519Sign, ed25519Verify } from './ed25519.js';
import { cryptoError, ParleyError } from './errors.js';
import { verifyRs256, type RsaPublicKey } from './rsa/index.js';
import { parseCertificate, verifyCertificate, type CertificateInput, type ParsedCertificate } from './x509/index.js';

export const CONTRACT_TYP = 'parley-contract+jws';

export interface JwsSignature {
  protected: string;
  signature: string;
}

export interface GeneralJws {
  payload: string;
  signatures: JwsSignature[];
}

export interface ProtectedHeader {
  alg: string;
  typ?: string;
  x5c?: string[];
}

const B64U = /^[A-Za-z0-9_-]+$/;

export function encodeJwsPayload(payload: unknown): string {
  return toB64u(canonicalBytes(payload));
}

function decodeJsonPart(b64: string, what: string): unknown {
  if (typeof b64 !== 'string' || !B64U.test(b64)) throw cryptoError('ERR_JWS_MALFORMED', `${what} is not base64url`);
  try {
    return JSON.parse(fromUtf8(fromB64u(b64, what)));
  } catch (e) {
    throw cryptoError('ERR_JWS_MALFORMED', `${what} is not base64url JSON`, e);
  }
}

export function decodeJwsPayload(b64: string): unknown {
  return decodeJsonPart(b64, 'payload');
}

/** The buyer's protected header: RS256, no key material (the key comes from the delegation). */
export function buyerProtected(): string {
  return toB64u(canonicalBytes({ alg: 'RS256', typ: CONTRACT_TYP }));
}

/** The merchant's protected header: EdDSA with its certificate chain (DER, standard base64). */
export function merchantProtected(chain: Uint8Array[]): string {
  if (!chain.length) throw new TypeError('chain must hold at least the merchant certificate');
  const x5c = chain.map((der) => Buffer.from(der).toString('base64'));
  return toB64u(canonicalBytes({ alg: 'EdDSA', typ: CONTRACT_TYP, x5c }));
}

/** ASCII(BASE64URL(protected) ‖ '.' ‖ BASE64URL(payload)) — what each signature covers. */
export function jwsSigningInput(protectedB64: string, payloadB64: string): Uint8Array {
  return utf8(`${protectedB64}.${payloadB64}`);
}

/** The merchant's EdDSA signature over the contract. */
export function signMerchant(protectedB64: string, payloadB64: string, secretKey: Uint8Array): JwsSignature {
  const sig = ed25519Sign(jwsSigningInput(protectedB64, payloadB64), secretKey);
  return { protected: protectedB64, signature: toB64u(sig) };
}

/** The buyer's signature entry from the k-byte RS256 signature the split produced. */
export function buyerSignature(protectedB64: string, rs256: Uint8Array): JwsSignature {
  return { protected: protectedB64, signature: toB64u(rs256) };
}

export function assembleContractJws(payloadB64: string, buyer: JwsSignature, merchant: JwsSignature): GeneralJws {
  return { payload: payloadB64, signatures: [buyer, merchant] };
}

/** Shape check of attacker-controlled input: exactly {payload, signatures[2]} of strings. */
export function parseContractJws(value: unknown): GeneralJws {
  const bad = (why: string) => cryptoError('ERR_JWS_MALFORMED', why);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('contract must be a JSON object');
  const v = value as Record<string, unknown>;
  if (Object.keys(v).sort().join(',') !== 'payload,signatures') throw bad('contract must have exactly payload and signatures');
  if (typeof v.payload !== 'string' || !B64U.test(v.payload)) throw bad('payload must be base64url');
  if (!Array.isArray(v.signatures) || v.signatures.length !== 2) throw bad('contract must carry exactly two signatures');
  const signatures = v.signatures.map((s, i) => {
    if (typeof s !== 'object' || s === null || Array.isArray(s)) throw bad(`signature ${i} must be an object`);
    const o = s as Record<string, unknown>;
    if (Object.keys(o).sort().join(',') !== 'protected,signature') throw bad(`signature ${i} must have exactly protected and signature`);
    if (typeof o.protected !== 'string' || !B64U.test(o.protected)) throw bad(`signature ${i}: protected must be base64url`);
    if (typeof o.signature !== 'string' || !B64U.test(o.signature)) throw bad(`signature ${i}: signature must be base64url`);
    return { protected: o.protected, signature: o.signature };
  });
  return { payload: v.payload, signatures };
}

function header(sig: JwsSignature, i: number): ProtectedHeader {
  const h = decodeJsonPart(sig.protected, `signature ${i} protected header`);
  if (typeof h !== 'object' || h === null || typeof (h as ProtectedHeader).alg !== 'string') {
    throw cryptoError('ERR_JWS_MALFORMED', `signature ${i}: protected header has no alg`);
  }
  return h as ProtectedHeader;
}

/** True when signature [0] is a valid RS256 signature under the session key. */
export function checkBuyerSignature(jws: GeneralJws, session: RsaPublicKey): boolean {
  const s = jws.signatures[0];
  if (!s) return false;
  try {
    if (header(s, 0).alg !== 'RS256') return false;
    return verifyRs256(session, jwsSigningInput(s.protected, jws.payload), fromB64u(s.signature, 'signature'));
  } catch {
    return false;
  }
}

/** The merchant certificate of signature [1] (leaf of x5c), unverified. */
export function merchantCertificate(jws: GeneralJws): ParsedCertificate {
  const s = jws.signatures[1];
  if (!s) throw cryptoError('ERR_JWS_MALFORMED', 'no merchant signature');
  const h = header(s, 1);
  if (h.alg !== 'EdDSA') throw cryptoError('ERR_JWS_MALFORMED', `merchant signature must be EdDSA, not ${h.alg}`);
  const leaf = Array.isArray(h.x5c) ? h.x5c[0] : undefined;
  if (typeof leaf !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(leaf)) throw cryptoError('ERR_JWS_MALFORMED', 'merchant signature has no x5c certificate');
  return parseCertificate(new Uint8Array(Buffer.from(leaf, 'base64')));
}

/** True when signature [1] verifies under the public key of the x5c leaf. */
export function checkMerchantSignature(jws: GeneralJws, merchant: ParsedCertificate): boolean {
  const s = jws.signatures[1];
  if (!s) return false;
  try {
    return ed25519Verify(fromB64u(s.signature, 'signature'), jwsSigningInput(s.protected, jws.payload), merchant.publicKey);
  } catch {
    return false;
  }
}

export interface ContractSignatures {
  payload: unknown;
  merchant: ParsedCertificate;
}

/**
 * Checks both signatures of a contract JWS: the buyer's RS256 under `session`, the
 * merchant's EdDSA under its x5c certificate, which must chain to `ca` with role merchant.
 * What the payload says (delegation, voucher, bid proof…) is checked by the protocol layer.
 */
export function verifyContractJws(value: unknown, opts: { session: RsaPublicKey; ca: CertificateInput; at?: Date }): ContractSignatures {
  const jws = parseContractJws(value);
  const payload = decodeJwsPayload(jws.payload);
  if (!checkBuyerSignature(jws, opts.session)) throw cryptoError('ERR_JWS_SIGNATURE_INVALID', "the buyer's RS256 signature does not verify under the session key");
  let merchant: ParsedCertificate;
  try {
    merchant = verifyCertificate(merchantCertificate(jws), opts.ca, { role: 'merchant', at: opts.at });
  } catch (e) {
    if (e instanceof ParleyError) throw e;
    throw cryptoError('ERR_JWS_MALFORMED', 'merchant certificate cannot be read', e);
  }
  if (!checkMerchantSignature(jws, merchant)) throw cryptoError('ERR_JWS_SIGNATURE_INVALID', "the merchant's EdDSA signature does not verify");
  return { payload, merchant };
}
