/**
 * Sealed boxes to the Agent Home's X25519 encryption key (PROTOCOL.md, Phase 1 step 1: d2
 * and NRule travel sealed, so neither eavesdroppers, the message broker nor merchants can
 * read them). An ECIES-style construction:
 *
 *   eph      = fresh X25519 key pair (RFC 7748)
 *   shared   = X25519(eph.sk, recipientPk); all-zero / low-order results are refused
 *   key      = HKDF-SHA256(ikm = shared, salt = eph.pk ‖ recipientPk,
 *                          info = "parley/v1/sealed-box" ‖ 0x00 ‖ context, L = 32)  (RFC 5869)
 *   box      = 0x01 ‖ eph.pk (32) ‖ nonce (24, random) ‖ XChaCha20-Poly1305(key, nonce,
 *              aad = context, plaintext)                 (draft-irtf-cfrg-xchacha, RFC 8439)
 *
 * Both public keys enter the salt, so a box is bound to its recipient and to the exact
 * ephemeral-key bytes (X25519 ignores the top bit of u; the salt does not). `context` is
 * the caller's statement of what the box is for (for example "notify" and a request
 * hash): it enters both the key and the AEAD, so a box cannot be moved to another
 * message. Every failure to open is ERR_SEALED_BOX_INVALID. X25519 runs in OpenSSL
 * (`node:crypto` `diffieHellman`, constant time and about 30x faster than JavaScript);
 * `x25519SharedSecretNoble` / `encryptionPublicKeyNoble` are the @noble/curves reference
 * the tests hold it to. The recipient's own KeyObject and public key are derived once per
 * secret key and cached. The Poly1305 tag check is constant time. Secret bytes cannot be
 * wiped.
 */
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { x25519 } from '@noble/curves/ed25519.js';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { canonicalBytes, type JsonValue } from './canonical.js';
import { concatBytes, equalBytes, fromB64u, fromHex, fromUtf8, toB64u, utf8 } from './bytes.js';
import { cryptoError } from './errors.js';
import { parseStrictJson } from './strict-json.js';

export const SEALED_BOX_VERSION = 0x01;
export const X25519_KEY_LENGTH = 32;
const NONCE_LENGTH = 24;
const TAG_LENGTH = 16;
const HEADER_LENGTH = 1 + X25519_KEY_LENGTH + NONCE_LENGTH;
/** Bytes a sealed box adds to its plaintext. */
export const SEALED_BOX_OVERHEAD = HEADER_LENGTH + TAG_LENGTH;
/** Longest context accepted; contexts are labels plus a hash or two. */
export const MAX_CONTEXT_LENGTH = 1024;
const INFO_PREFIX = concatBytes(utf8('parley/v1/sealed-box'), new Uint8Array([0]));
const ZERO = new Uint8Array(X25519_KEY_LENGTH);

export interface EncryptionKeyPair {
  /** 32-byte X25519 secret. Never log, print or send it. */
  secretKey: Uint8Array;
  publicKey: Uint8Array;
}

function assertBytes(value: unknown, name: string, len?: number): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (len !== undefined && value.length !== len) throw new TypeError(`${name} must be ${len} bytes, got ${value.length}`);
}

function assertContext(context: unknown): asserts context is Uint8Array {
  assertBytes(context, 'context');
  if (context.length === 0 || context.length > MAX_CONTEXT_LENGTH) {
    throw new TypeError(`context must be 1..${MAX_CONTEXT_LENGTH} bytes, got ${context.length}`);
  }
}

// DER prefix of the PKCS#8 wrapper for an X25519 secret (RFC 8410).
const PKCS8_PREFIX = fromHex('302e020100300506032b656e04220420');

/**
 * OpenSSL key of an X25519 secret and its public key, cached per secret-key array (as in
 * crypto/ed25519.ts, key arrays are never rewritten in place).
 */
interface PrivateEntry {
  key: KeyObject;
  publicKey: Uint8Array;
}
const privCache = new WeakMap<Uint8Array, PrivateEntry>();

function nodePrivate(secretKey: Uint8Array): PrivateEntry {
  let e = privCache.get(secretKey);
  if (!e) {
    // as DER: a JWK private key must carry its public half, which is what is not known yet
    const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, secretKey]), format: 'der', type: 'pkcs8' });
    e = { key, publicKey: fromB64u(key.export({ format: 'jwk' }).x ?? '', 'x') };
    privCache.set(secretKey, e);
  }
  return e;
}

// Raw keys go in and out of OpenSSL as JWK: OpenSSL 3 finds a decoder for every DER import,
// which measured 150-180 µs for a public key and 600-740 µs for a private one on this
// machine, against 10-20 µs for the same key as JWK.
function nodePublic(publicKey: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: toB64u(publicKey) }, format: 'jwk' });
}

/**
 * X25519(secretKey, publicKey) by OpenSSL (RFC 7748); undefined for a low-order peer (an
 * all-zero result: OpenSSL refuses to derive it, and it is checked again here so the
 * guarantee does not rest on the library alone).
 */
export function x25519SharedSecret(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array | undefined {
  assertBytes(secretKey, 'secretKey', X25519_KEY_LENGTH);
  assertBytes(publicKey, 'publicKey', X25519_KEY_LENGTH);
  let shared: Uint8Array;
  try {
    shared = new Uint8Array(diffieHellman({ privateKey: nodePrivate(secretKey).key, publicKey: nodePublic(publicKey) }));
  } catch {
    return undefined;
  }
  return shared.length !== X25519_KEY_LENGTH || equalBytes(shared, ZERO) ? undefined : shared;
}

/** The @noble/curves reference for `x25519SharedSecret` (tests compare the two). */
export function x25519SharedSecretNoble(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array | undefined {
  assertBytes(secretKey, 'secretKey', X25519_KEY_LENGTH);
  assertBytes(publicKey, 'publicKey', X25519_KEY_LENGTH);
  let shared: Uint8Array;
  try {
    shared = x25519.getSharedSecret(secretKey, publicKey);
  } catch {
    return undefined; // @noble/curves rejects the low-order u values before the ladder
  }
  return equalBytes(shared, ZERO) ? undefined : shared;
}

function boxKey(shared: Uint8Array, ephPk: Uint8Array, recipientPk: Uint8Array, context: Uint8Array): Uint8Array {
  return hkdf(sha256, shared, concatBytes(ephPk, recipientPk), concatBytes(INFO_PREFIX, context), 32);
}

/** A fresh X25519 key pair (random 32-byte secret; RFC 7748 clamps it when used). */
export function generateEncryptionKey(): EncryptionKeyPair {
  // generated by OpenSSL, which hands over the key object too (kept for this secret)
  const pair = generateKeyPairSync('x25519');
  const jwk = pair.privateKey.export({ format: 'jwk' });
  const secretKey = fromB64u(jwk.d ?? '', 'd');
  const publicKey = fromB64u(jwk.x ?? '', 'x');
  privCache.set(secretKey, { key: pair.privateKey, publicKey });
  return { secretKey, publicKey: publicKey.slice() };
}

/** The X25519 public key of `secretKey` (OpenSSL; cached per secret-key array). */
export function encryptionPublicKey(secretKey: Uint8Array): Uint8Array {
  assertBytes(secretKey, 'secretKey', X25519_KEY_LENGTH);
  return nodePrivate(secretKey).publicKey.slice();
}

/** The @noble/curves reference for `encryptionPublicKey`. */
export function encryptionPublicKeyNoble(secretKey: Uint8Array): Uint8Array {
  assertBytes(secretKey, 'secretKey', X25519_KEY_LENGTH);
  return x25519.getPublicKey(secretKey);
}

/**
 * Seals `plaintext` so that only the holder of `recipientPublicKey`'s secret can open it,
 * and only under the same `context`. ERR_INVALID_INPUT when the recipient key is a
 * low-order point (it would give a shared secret everyone knows).
 */
export function seal(plaintext: Uint8Array, recipientPublicKey: Uint8Array, context: Uint8Array): Uint8Array {
  assertBytes(plaintext, 'plaintext');
  assertBytes(recipientPublicKey, 'recipientPublicKey', X25519_KEY_LENGTH);
  assertContext(context);
  const eph = generateEncryptionKey();
  const shared = x25519SharedSecret(eph.secretKey, recipientPublicKey);
  if (shared === undefined) throw cryptoError('ERR_INVALID_INPUT', 'recipient public key is a low-order X25519 point');
  const key = boxKey(shared, eph.publicKey, recipientPublicKey, context);
  const nonce = randomBytes(NONCE_LENGTH);
  const ct = xchacha20poly1305(key, nonce, context).encrypt(plaintext);
  return concatBytes(new Uint8Array([SEALED_BOX_VERSION]), eph.publicKey, nonce, ct);
}

/**
 * Opens a sealed box with the recipient's secret key under `context`. Throws
 * ERR_SEALED_BOX_INVALID for anything that is not a box sealed to this key and context:
 * wrong version, truncation, a changed byte, a low-order ephemeral key, another context.
 */
export function open(box: Uint8Array, recipientSecretKey: Uint8Array, context: Uint8Array): Uint8Array {
  assertBytes(box, 'box');
  assertBytes(recipientSecretKey, 'recipientSecretKey', X25519_KEY_LENGTH);
  assertContext(context);
  if (box.length < SEALED_BOX_OVERHEAD) throw cryptoError('ERR_SEALED_BOX_INVALID', 'sealed box is truncated');
  if (box[0] !== SEALED_BOX_VERSION) throw cryptoError('ERR_SEALED_BOX_INVALID', `sealed box version ${box[0]} is not supported`);
  const ephPk = box.subarray(1, 1 + X25519_KEY_LENGTH);
  const nonce = box.subarray(1 + X25519_KEY_LENGTH, HEADER_LENGTH);
  const ct = box.subarray(HEADER_LENGTH);
  const shared = x25519SharedSecret(recipientSecretKey, ephPk);
  if (shared === undefined) throw cryptoError('ERR_SEALED_BOX_INVALID', 'sealed box carries a low-order ephemeral key');
  const recipientPk = nodePrivate(recipientSecretKey).publicKey;
  const key = boxKey(shared, ephPk, recipientPk, context);
  try {
    return xchacha20poly1305(key, nonce, context).decrypt(ct);
  } catch (e) {
    throw cryptoError('ERR_SEALED_BOX_INVALID', 'sealed box does not authenticate', e);
  }
}

/** Seals the RFC 8785 canonical JSON of `value`; returns the box as base64url. */
export function sealJson(value: JsonValue, recipientPublicKey: Uint8Array, context: Uint8Array): string {
  return toB64u(seal(canonicalBytes(value), recipientPublicKey, context));
}

/** Opens a base64url box made by `sealJson`; every failure is ERR_SEALED_BOX_INVALID. */
export function openJson(box: string, recipientSecretKey: Uint8Array, context: Uint8Array): JsonValue {
  if (typeof box !== 'string') throw new TypeError('box must be a base64url string');
  let bytes: Uint8Array;
  try {
    bytes = fromB64u(box, 'sealed box');
  } catch (e) {
    throw cryptoError('ERR_SEALED_BOX_INVALID', 'sealed box is not base64url', e);
  }
  const plaintext = open(bytes, recipientSecretKey, context);
  try {
    return parseStrictJson(fromUtf8(plaintext)) as JsonValue;
  } catch (e) {
    throw cryptoError('ERR_SEALED_BOX_INVALID', 'sealed box does not hold JSON', e);
  }
}
