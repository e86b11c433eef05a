/**
 * Contracts as JWS (RFC 7515 §7.2.1, general JSON serialisation) carrying exactly two
 * signatures over one payload:
 *   [0] the buyer's RS256 (RFC 7518 §3.3) under its per-session RSA key: the standard
 *       RSASSA-PKCS1-v1_5 signature that the split (SG1 · SG2, or the buyer's full
 *       signature) produces, so any JOSE library verifies it; its protected header carries
 *       the session's public key as `jwk` (kty, n, e) and `kid`, its RFC 7638 thumbprint;
 *   [1] the merchant's EdDSA (RFC 8037) with its certificate chain in `x5c` (leaf first),
 *       `x5t#S256` (SHA-256 of the leaf) and `kid` (thumbprint of the leaf's key).
 * Payload and protected headers are RFC 8785 canonical JSON, so their bytes are
 * reproducible; a verifier accepts a payload only when its bytes are exactly that canonical
 * form. The signing input is ASCII(BASE64URL(protected) ‖ '.' ‖ BASE64URL(payload)).
 *
 * Headers are self-describing, but never trusted on their own: the key in `jwk` must be the
 * session key that the buyer's identity key delegated (ERR_JWS_KEY_MISMATCH otherwise), and
 * `kid`/`x5t#S256` must name the x5c leaf. No critical extension is known (`crit` refused).
 * Contracts signed before the header carried `jwk` (`{alg, typ}` only) still verify.
 */
import { canonicalBytes } from './canonical.js';
import { bigintToB64u, equalBytes, fromB64u, toB64u, utf8 } from './bytes.js';
import { ed25519Sign, ed25519Verify } from './ed25519.js';
import { cryptoError, isParleyError, ParleyError } from './errors.js';
import { sha256 } from './hash.js';
import { parseStrictJsonBytes } from './strict-json.js';
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
  jwk?: { kty: string; n: string; e: string };
  kid?: string;
  'x5t#S256'?: string;
  crit?: string[];
}

/** Critical header extensions this verifier implements (RFC 7515 §4.1.11): none. */
const KNOWN_CRIT: ReadonlySet<string> = new Set();

const B64U = /^[A-Za-z0-9_-]+$/;

export function encodeJwsPayload(payload: unknown): string {
  return toB64u(canonicalBytes(payload));
}

/** base64url → bytes → strict JSON (duplicate keys refused with ERR_JSON_DUPLICATE_KEY). */
function decodeJsonPart(b64: string, what: string): { value: unknown; bytes: Uint8Array } {
  if (typeof b64 !== 'string' || !B64U.test(b64)) throw cryptoError('ERR_JWS_MALFORMED', `${what} is not base64url`);
  let bytes: Uint8Array;
  try {
    bytes = fromB64u(b64, what);
  } catch (e) {
    throw cryptoError('ERR_JWS_MALFORMED', `${what} is not base64url`, e);
  }
  try {
    return { value: parseStrictJsonBytes(bytes), bytes };
  } catch (e) {
    if (isParleyError(e, 'ERR_JSON_DUPLICATE_KEY')) throw cryptoError('ERR_JSON_DUPLICATE_KEY', `${what}: ${e.message}`, e);
    throw cryptoError('ERR_JWS_MALFORMED', `${what} is not base64url JSON`, e);
  }
}

/**
 * The payload's value, only when its bytes are exactly the RFC 8785 canonical JSON of what
 * they parse to: otherwise two readers could see different terms in the same signed bytes
 * (a repeated key, an escape, a byte-order mark). Errors: ERR_JWS_MALFORMED,
 * ERR_JSON_DUPLICATE_KEY, ERR_JWS_PAYLOAD_NOT_CANONICAL.
 */
export function decodeJwsPayload(b64: string): unknown {
  // three bytes are four base64url characters: '77u_' is exactly a leading EF BB BF
  if (typeof b64 === 'string' && b64.startsWith('77u_')) throw cryptoError('ERR_JWS_PAYLOAD_NOT_CANONICAL', 'payload starts with a byte-order mark');
  const { value, bytes } = decodeJsonPart(b64, 'payload');
  let canonical: Uint8Array;
  try {
    canonical = canonicalBytes(value);
  } catch (e) {
    throw cryptoError('ERR_JWS_PAYLOAD_NOT_CANONICAL', 'payload has no canonical JSON form', e);
  }
  if (!equalBytes(canonical, bytes)) {
    throw cryptoError('ERR_JWS_PAYLOAD_NOT_CANONICAL', `payload bytes (${bytes.length}) are not the canonical JSON of their value (${canonical.length} bytes)`);
  }
  return value;
}

/** RFC 7638 thumbprint of an RSA public key: SHA-256 of {"e","kty","n"} in that order. */
export function rsaThumbprint(key: RsaPublicKey): string {
  return toB64u(sha256(canonicalBytes({ e: bigintToB64u(key.e), kty: 'RSA', n: bigintToB64u(key.n) })));
}

/** RFC 7638 thumbprint of an Ed25519 public key (RFC 8037 §2 OKP JWK: crv, kty, x). */
export function ed25519Thumbprint(publicKey: Uint8Array): string {
  return toB64u(sha256(canonicalBytes({ crv: 'Ed25519', kty: 'OKP', x: toB64u(publicKey) })));
}

/**
 * The buyer's protected header: RS256 with the session's public key (`jwk`, public members
 * only) and its thumbprint (`kid`), so any JOSE library can check the signature with the
 * header alone (jose's EmbeddedJWK); Parley checks that key against the delegation.
 */
export function buyerProtected(session: RsaPublicKey): string {
  const jwk = { e: bigintToB64u(session.e), kty: 'RSA', n: bigintToB64u(session.n) };
  return toB64u(canonicalBytes({ alg: 'RS256', jwk, kid: rsaThumbprint(session), typ: CONTRACT_TYP }));
}

/** The buyer's header of contracts signed before it carried `jwk`: still accepted by verifiers. */
export function legacyBuyerProtected(): string {
  return toB64u(canonicalBytes({ alg: 'RS256', typ: CONTRACT_TYP }));
}

/** The merchant's protected header: EdDSA with its certificate chain (DER, standard base64), x5t#S256 and kid. */
export function merchantProtected(chain: Uint8Array[]): string {
  if (!chain.length) throw new TypeError('chain must hold at least the merchant certificate');
  const leaf = parseCertificate(chain[0]!);
  const x5c = chain.map((der) => Buffer.from(der).toString('base64'));
  return toB64u(canonicalBytes({ alg: 'EdDSA', kid: ed25519Thumbprint(leaf.publicKey), typ: CONTRACT_TYP, x5c, 'x5t#S256': toB64u(sha256(leaf.der)) }));
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
  return decodeProtectedHeader(sig.protected, `signature ${i}`);
}

/** A protected header's value (strict JSON object with a string alg); `crit` refused unless known. */
export function decodeProtectedHeader(protectedB64: string, what = 'signature'): ProtectedHeader {
  const h = decodeJsonPart(protectedB64, `${what} protected header`).value;
  if (typeof h !== 'object' || h === null || Array.isArray(h) || typeof (h as ProtectedHeader).alg !== 'string') {
    throw cryptoError('ERR_JWS_MALFORMED', `${what}: protected header has no alg`);
  }
  const crit = (h as ProtectedHeader).crit;
  if (crit !== undefined) {
    if (!Array.isArray(crit) || crit.length === 0 || !crit.every((c) => typeof c === 'string')) throw cryptoError('ERR_JWS_MALFORMED', `${what}: crit must be a non-empty list of names`);
    const unknown = crit.filter((c) => !KNOWN_CRIT.has(c));
    if (unknown.length) throw cryptoError('ERR_JWS_CRIT_UNSUPPORTED', `${what}: critical header extension ${unknown.map((c) => JSON.stringify(c)).join(', ')} is not supported`);
  }
  return h as ProtectedHeader;
}

/**
 * Checks the buyer's protected header against the delegated session key: RS256; if it
 * names a key (`jwk`, `kid`), that key is the session key (ERR_JWS_KEY_MISMATCH); a `jwk`
 * holds exactly kty, n, e. A header without `jwk` is the format of earlier contracts.
 */
export function checkBuyerHeader(protectedB64: string, session: RsaPublicKey): ProtectedHeader {
  const h = decodeProtectedHeader(protectedB64, "the buyer's signature");
  // a signature of another algorithm in the buyer's place is simply not the buyer's signature
  if (h.alg !== 'RS256') throw cryptoError('ERR_JWS_SIGNATURE_INVALID', `the buyer's signature must be RS256, not ${h.alg}`);
  if (h.jwk !== undefined) {
    const j = h.jwk as unknown;
    if (typeof j !== 'object' || j === null || Array.isArray(j) || Object.keys(j).sort().join(',') !== 'e,kty,n') {
      throw cryptoError('ERR_JWS_MALFORMED', "the buyer's header jwk must hold exactly kty, n and e (a public RSA key)");
    }
    const k = j as Record<string, unknown>;
    if (k.kty !== 'RSA' || k.n !== bigintToB64u(session.n) || k.e !== bigintToB64u(session.e)) {
      throw cryptoError('ERR_JWS_KEY_MISMATCH', "the buyer's header jwk is not the session key that the delegation names");
    }
  }
  if (h.kid !== undefined && h.kid !== rsaThumbprint(session)) throw cryptoError('ERR_JWS_KEY_MISMATCH', "the buyer's header kid is not the thumbprint of the delegated session key");
  return h;
}

/** True when `protectedB64` is exactly one of the buyer headers Parley writes (today's or the earlier one) for `session`. */
export function isParleyBuyerHeader(protectedB64: string, session: RsaPublicKey): boolean {
  return protectedB64 === buyerProtected(session) || protectedB64 === legacyBuyerProtected();
}

/**
 * Checks the merchant's protected header against the x5c leaf: EdDSA; `kid` (if present) is
 * the thumbprint of the leaf's key and `x5t#S256` (if present) the SHA-256 of its DER.
 */
export function checkMerchantHeader(protectedB64: string, leaf: ParsedCertificate): ProtectedHeader {
  const h = decodeProtectedHeader(protectedB64, "the merchant's signature");
  if (h.alg !== 'EdDSA') throw cryptoError('ERR_JWS_MALFORMED', `merchant signature must be EdDSA, not ${h.alg}`);
  if (h.kid !== undefined && h.kid !== ed25519Thumbprint(leaf.publicKey)) throw cryptoError('ERR_JWS_KEY_MISMATCH', "the merchant's header kid is not the thumbprint of the x5c certificate's key");
  if (h['x5t#S256'] !== undefined && h['x5t#S256'] !== toB64u(sha256(leaf.der))) throw cryptoError('ERR_JWS_KEY_MISMATCH', "the merchant's header x5t#S256 is not the x5c certificate");
  return h;
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
  const cert = parseCertificate(new Uint8Array(Buffer.from(leaf, 'base64')));
  checkMerchantHeader(s.protected, cert);
  return cert;
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
  checkBuyerHeader(jws.signatures[0]!.protected, opts.session);
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
