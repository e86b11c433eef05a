/**
 * Ed25519 identity keys (RFC 8032, strict: `zip215: false`, so signatures with
 * non-canonical encodings or small-order keys are rejected the way Wycheproof expects).
 *
 * Three implementations of one function:
 * - `ed25519Sign` / `ed25519Verify`, used everywhere: libsodium (sodium-native), or
 *   OpenSSL where that native module cannot be loaded (`ED25519_BACKEND` says which). On this
 *   project's machine it signs in 21 µs and verifies in 55, against OpenSSL's 43 and 120
 *   through node:crypto, and verification is most of the CPU a store or the Agent Home
 *   spends on cryptography. libsodium refuses non-canonical S and encodings, and small-order
 *   keys and R points.
 * - `ed25519SignOpenssl` / `ed25519VerifyOpenssl`: OpenSSL (`node:crypto`), a cross-check,
 *   and what bench/limit.ts prices a signature at (the `limit` figure is defined by
 *   OpenSSL's cost).
 * - `ed25519SignNoble` / `ed25519VerifyNoble`: the @noble/curves reference (`zip215: false`).
 * The test suite holds all three to every Wycheproof verdict and checks they agree byte for
 * byte. Keys are generated with noble. Secrets are 32-byte seeds; JavaScript cannot
 * promise that secret bytes are wiped from memory.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import type Sodium from 'sodium-native';
import { concatBytes, fromHex } from './bytes.js';
import { sha256Binary } from './hash.js';
import { cryptoError } from './errors.js';

export const ED25519_SEED_LENGTH = 32;
export const ED25519_PUBLIC_LENGTH = 32;
export const ED25519_SIGNATURE_LENGTH = 64;

export interface IdentityKeyPair {
  /** 32-byte private seed. Never log, print or send it. */
  secretKey: Uint8Array;
  publicKey: Uint8Array;
}

function abytes(value: unknown, len: number, name: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (value.length !== len) throw new TypeError(`${name} must be ${len} bytes, got ${value.length}`);
}

export function generateIdentityKey(): IdentityKeyPair {
  const secretKey = ed25519.utils.randomSecretKey();
  return { secretKey, publicKey: ed25519.getPublicKey(secretKey) };
}

export function identityPublicKey(secretKey: Uint8Array): Uint8Array {
  abytes(secretKey, ED25519_SEED_LENGTH, 'secretKey');
  return ed25519.getPublicKey(secretKey);
}

export function ed25519SignNoble(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  abytes(secretKey, ED25519_SEED_LENGTH, 'secretKey');
  if (!(message instanceof Uint8Array)) throw new TypeError('message must be a Uint8Array');
  return ed25519.sign(message, secretKey);
}

/** Strict RFC 8032 verification by noble; false (never a throw) for anything that does not verify. */
export function ed25519VerifyNoble(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (!(signature instanceof Uint8Array) || !(message instanceof Uint8Array) || !(publicKey instanceof Uint8Array)) return false;
  if (signature.length !== ED25519_SIGNATURE_LENGTH || publicKey.length !== ED25519_PUBLIC_LENGTH) return false;
  try {
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}

// DER prefixes of the PKCS#8 and SPKI wrappers for an Ed25519 key (RFC 8410).
const PKCS8_PREFIX = fromHex('302e020100300506032b657004220420');
const SPKI_PREFIX = fromHex('302a300506032b6570032100');

export function ed25519Pkcs8Der(secretKey: Uint8Array): Uint8Array {
  abytes(secretKey, ED25519_SEED_LENGTH, 'secretKey');
  return concatBytes(PKCS8_PREFIX, secretKey);
}

export function ed25519SpkiDer(publicKey: Uint8Array): Uint8Array {
  abytes(publicKey, ED25519_PUBLIC_LENGTH, 'publicKey');
  return concatBytes(SPKI_PREFIX, publicKey);
}

/** Private key as PKCS#8 PEM (what `openssl pkey` reads). */
export function ed25519PrivateKeyPem(secretKey: Uint8Array): string {
  return createPrivateKey({ key: Buffer.from(ed25519Pkcs8Der(secretKey)), format: 'der', type: 'pkcs8' })
    .export({ format: 'pem', type: 'pkcs8' })
    .toString();
}

/** Reads a PKCS#8 PEM Ed25519 private key back to its seed. */
export function ed25519SeedFromPem(pem: string): Uint8Array {
  let der: Buffer;
  try {
    const key = createPrivateKey({ key: pem, format: 'pem' });
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`key type ${key.asymmetricKeyType}`);
    der = key.export({ format: 'der', type: 'pkcs8' });
  } catch (e) {
    throw cryptoError('ERR_KEY_FILE', 'not an Ed25519 PKCS#8 private key', e);
  }
  if (der.length !== PKCS8_PREFIX.length + ED25519_SEED_LENGTH) throw cryptoError('ERR_KEY_FILE', 'unexpected Ed25519 key encoding');
  return new Uint8Array(der.subarray(PKCS8_PREFIX.length));
}

// --- node:crypto (OpenSSL): cross-check and the limit's price -----------------------

const privCache = new WeakMap<Uint8Array, KeyObject>();
const pubCache = new Map<string, KeyObject>();

function nodePrivate(secretKey: Uint8Array): KeyObject {
  let k = privCache.get(secretKey);
  if (!k) {
    k = createPrivateKey({ key: Buffer.from(ed25519Pkcs8Der(secretKey)), format: 'der', type: 'pkcs8' });
    privCache.set(secretKey, k);
  }
  return k;
}

function nodePublic(publicKey: Uint8Array): KeyObject {
  const id = Buffer.from(publicKey).toString('hex');
  let k = pubCache.get(id);
  if (!k) {
    k = createPublicKey({ key: Buffer.from(ed25519SpkiDer(publicKey)), format: 'der', type: 'spki' });
    if (pubCache.size > 4096) pubCache.clear();
    pubCache.set(id, k);
  }
  return k;
}

/** Ed25519 signature by OpenSSL; byte-identical to the others (RFC 8032 is deterministic). */
export function ed25519SignOpenssl(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  abytes(secretKey, ED25519_SEED_LENGTH, 'secretKey');
  if (!(message instanceof Uint8Array)) throw new TypeError('message must be a Uint8Array');
  return new Uint8Array(nodeSign(null, message, nodePrivate(secretKey)));
}

/** Strict Ed25519 verification by OpenSSL, without the verified-signature cache; false (never a throw) for anything that does not verify. */
export function ed25519VerifyOpenssl(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (!(signature instanceof Uint8Array) || !(message instanceof Uint8Array) || !(publicKey instanceof Uint8Array)) return false;
  if (signature.length !== ED25519_SIGNATURE_LENGTH || publicKey.length !== ED25519_PUBLIC_LENGTH) return false;
  try {
    return nodeVerify(null, message, nodePublic(publicKey), signature);
  } catch {
    return false;
  }
}

// --- libsodium: the implementation used everywhere else ------------------------------

/**
 * libsodium, or undefined where its native module cannot be loaded (a platform its
 * prebuilt binaries do not cover): Parley then signs and verifies in OpenSSL, the same
 * results at about half the speed. Called as `sodium.f(...)`, never destructured:
 * bench/limit-count.ts counts the calls by wrapping the module's functions.
 */
const sodium: typeof Sodium | undefined = (() => {
  try {
    return createRequire(import.meta.url)('sodium-native') as typeof Sodium;
  } catch {
    return undefined;
  }
})();

/** Which implementation `ed25519Sign` and `ed25519Verify` use in this process. */
export const ED25519_BACKEND: 'libsodium' | 'openssl' = sodium ? 'libsodium' : 'openssl';

/** libsodium's 64-byte secret keys (seed ‖ public key), derived once per seed array. */
const sodiumSecrets = new WeakMap<Uint8Array, Uint8Array>();

function sodiumSecret(sodium: typeof Sodium, seed: Uint8Array): Uint8Array {
  let sk = sodiumSecrets.get(seed);
  if (!sk) {
    sk = new Uint8Array(64);
    sodium.crypto_sign_seed_keypair(new Uint8Array(ED25519_PUBLIC_LENGTH), sk, seed);
    sodiumSecrets.set(seed, sk);
  }
  return sk;
}

/** Ed25519 signature by libsodium (OpenSSL without it); byte-identical to the others (RFC 8032 is deterministic). */
export function ed25519Sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  abytes(secretKey, ED25519_SEED_LENGTH, 'secretKey');
  if (!(message instanceof Uint8Array)) throw new TypeError('message must be a Uint8Array');
  if (!sodium) return ed25519SignOpenssl(message, secretKey);
  const sig = new Uint8Array(ED25519_SIGNATURE_LENGTH);
  sodium.crypto_sign_detached(sig, message, sodiumSecret(sodium, secretKey));
  return sig;
}

/**
 * Signatures this process has verified, as (public key ‖ signature ‖ SHA-256(message)): the
 * same signed bytes reach a process more than once (a visit record in a progress report and
 * again in the agent's log, a voucher in an invitation and again in a contract), and a hit
 * stands for a verification of exactly those bytes by libsodium before. Only successes are
 * kept; the oldest entry goes first when full.
 */
const VERIFIED_LIMIT = 8192;
const verified = new Set<string>();

/** Who is verifying; one process is one party, except where several share a process (below). */
let verifierScope: () => string = () => '';

/**
 * For a process that hosts several parties at once (the limit benchmark's in-process world):
 * `scope` names the party doing the current work, and a signature one party verified is
 * never taken as verified for another, as it is not when each runs in its own process.
 */
export function scopeVerifiedSignatures(scope: () => string): void {
  verifierScope = scope;
}

function verifiedKey(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): string {
  // one char per byte, fixed lengths (32, 64, 32): the concatenation is unambiguous; the
  // scope comes last, so it cannot run into them
  const latin1 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');
  return latin1(publicKey) + latin1(signature) + sha256Binary(message) + verifierScope();
}

/** Strict Ed25519 verification by libsodium (OpenSSL without it); false (never a throw) for anything that does not verify. */
export function ed25519Verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (!(signature instanceof Uint8Array) || !(message instanceof Uint8Array) || !(publicKey instanceof Uint8Array)) return false;
  if (signature.length !== ED25519_SIGNATURE_LENGTH || publicKey.length !== ED25519_PUBLIC_LENGTH) return false;
  const key = verifiedKey(signature, message, publicKey);
  if (verified.has(key)) return true;
  let ok: boolean;
  try {
    ok = sodium ? sodium.crypto_sign_verify_detached(signature, message, publicKey) : ed25519VerifyOpenssl(signature, message, publicKey);
  } catch {
    return false;
  }
  if (ok) {
    if (verified.size >= VERIFIED_LIMIT) verified.delete(verified.values().next().value!);
    verified.add(key);
  }
  return ok;
}
