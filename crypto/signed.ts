/**
 * Signed objects: `{v, type, body, sig}` where `sig` is an Ed25519 signature over
 *   "parley/v<version>/<type>" ‖ 0x00 ‖ canonical-JSON(body)       (RFC 8785)
 * The tag separates message types, so a signature made for one type can never be
 * replayed as another, nor across protocol versions.
 */
import { canonicalJson } from './canonical.js';
import { fromB64u, toB64u, utf8 } from './bytes.js';
import { ed25519Sign, ed25519Verify } from './ed25519.js';
import { cryptoError, ParleyError } from './errors.js';

export const PROTOCOL_VERSION = 1;
const TYPE_RE = /^[a-z][a-z0-9-]{0,47}$/;

export interface SignedObject<B = unknown> {
  v: typeof PROTOCOL_VERSION;
  type: string;
  body: B;
  /** base64url Ed25519 signature */
  sig: string;
}

function checkType(type: string): void {
  if (typeof type !== 'string' || !TYPE_RE.test(type)) throw new TypeError(`invalid message type ${JSON.stringify(type)}`);
}

/** The exact bytes an object of `type` is signed over. */
export function signingInput(type: string, body: unknown, version: number = PROTOCOL_VERSION): Uint8Array {
  checkType(type);
  return signingBytes(type, canonicalJson(body), version);
}

/** Tag ‖ 0x00 ‖ canonical body, encoded at once (U+0000 is the byte 0x00 in UTF-8). */
function signingBytes(type: string, canonicalBody: string, version: number = PROTOCOL_VERSION): Uint8Array {
  return utf8(`parley/v${version}/${type}\u0000${canonicalBody}`);
}

/**
 * RFC 8785 canonical JSON of a signed object (as opened by `openSignedObjectCanonical`) from
 * its body's canonical JSON, without walking the body again: the members in UTF-16 order are
 * body, sig, type, v; `sig` is base64url and `type` matches TYPE_RE, so neither needs escapes
 * beyond what JSON.stringify (the RFC's string serialisation) does.
 */
export function canonicalSignedJson(obj: SignedObject<unknown>, canonicalBody: string): string {
  return `{"body":${canonicalBody},"sig":${JSON.stringify(obj.sig)},"type":${JSON.stringify(obj.type)},"v":${obj.v}}`;
}

export function signObject<B>(type: string, body: B, secretKey: Uint8Array): SignedObject<B> {
  const sig = ed25519Sign(signingInput(type, body), secretKey);
  return { v: PROTOCOL_VERSION, type, body, sig: toB64u(sig) };
}

/** True only when `obj` is a well-formed signed object of `type` signed by `publicKey`. */
export function verifyObject(obj: unknown, type: string, publicKey: Uint8Array): boolean {
  try {
    openSignedObject(obj, type, publicKey);
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks shape, version, type and signature; returns the body. Each defect has its own
 * code: ERR_SIGNED_OBJECT_MALFORMED, ERR_UNSUPPORTED_VERSION, ERR_WRONG_MESSAGE_TYPE,
 * ERR_OBJECT_SIGNATURE_INVALID (or `failCode` when the caller names a more specific one).
 */
export function openSignedObject<B = unknown>(obj: unknown, type: string, publicKey: Uint8Array, failCode?: string): B {
  return openSignedObjectCanonical<B>(obj, type, publicKey, failCode).body;
}

/** As `openSignedObject`, also returning the canonical JSON of the body (what was signed). */
export function openSignedObjectCanonical<B = unknown>(
  obj: unknown,
  type: string,
  publicKey: Uint8Array,
  failCode?: string,
): { body: B; canonicalBody: string } {
  checkType(type);
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw cryptoError('ERR_SIGNED_OBJECT_MALFORMED', 'signed object must be a JSON object');
  const o = obj as Record<string, unknown>;
  const keys = Object.keys(o).sort().join(',');
  if (keys !== 'body,sig,type,v') throw cryptoError('ERR_SIGNED_OBJECT_MALFORMED', `signed object must have exactly v, type, body, sig (got ${keys})`);
  if (o.v !== PROTOCOL_VERSION) throw cryptoError('ERR_UNSUPPORTED_VERSION', `protocol version ${JSON.stringify(o.v)} is not supported (expected ${PROTOCOL_VERSION})`);
  if (o.type !== type) throw cryptoError('ERR_WRONG_MESSAGE_TYPE', `expected a ${type}, got ${JSON.stringify(o.type)}`);
  if (typeof o.sig !== 'string') throw cryptoError('ERR_SIGNED_OBJECT_MALFORMED', 'sig must be a string');
  let sig: Uint8Array;
  try {
    sig = fromB64u(o.sig, 'sig');
  } catch (e) {
    throw cryptoError('ERR_SIGNED_OBJECT_MALFORMED', 'sig is not base64url', e);
  }
  let canonicalBody: string;
  try {
    canonicalBody = canonicalJson(o.body);
  } catch (e) {
    throw cryptoError('ERR_SIGNED_OBJECT_MALFORMED', 'body is not canonicalisable JSON', e);
  }
  if (!ed25519Verify(sig, signingBytes(type, canonicalBody), publicKey)) {
    throw new ParleyError(failCode ?? 'ERR_OBJECT_SIGNATURE_INVALID', `${type} signature does not verify`);
  }
  return { body: o.body as B, canonicalBody };
}
