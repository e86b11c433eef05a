/**
 * At-rest encryption for what the Agent Home escrows (PROTOCOL.md, Phase 1 step 2: d2 and
 * NRule are stored encrypted). Keys are hierarchical:
 *
 *   sessionKey = HKDF-SHA256(ikm = master, salt = utf8("parley/v1/at-rest"),
 *                            info = utf8("session:" + SN), L = 32)            (RFC 5869)
 *
 * HKDF is one-way, so a leaked session key reveals neither the master key nor any other
 * session's key. Each record is sealed with XChaCha20-Poly1305 under a random 24-byte
 * nonce (safe to draw at random for any realistic number of records):
 *
 *   blob = 0x01 ‖ nonce (24) ‖ ciphertext ‖ tag (16)
 *   AEAD associated data = 0x01 ‖ aad
 *
 * The caller's `aad` names the field and the session (see `atRestAad`), so a blob copied
 * to another field or session does not decrypt. Every failure is ERR_DECRYPTION_FAILED;
 * the Poly1305 tag check is constant time. JavaScript cannot promise to wipe key bytes.
 */
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { canonicalBytes } from './canonical.js';
import { concatBytes, utf8 } from './bytes.js';
import { cryptoError } from './errors.js';

export const AT_REST_VERSION = 0x01;
export const AT_REST_KEY_LENGTH = 32;
const NONCE_LENGTH = 24;
const TAG_LENGTH = 16;
/** Bytes a blob adds to its plaintext. */
export const AT_REST_OVERHEAD = 1 + NONCE_LENGTH + TAG_LENGTH;
const SALT = utf8('parley/v1/at-rest');
// Session numbers are random tokens; visible ASCII keeps "session:" + SN unambiguous in UTF-8.
const SESSION_NUMBER_RE = /^[\x21-\x7e]{1,256}$/;

function assertKey(value: unknown, name: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (value.length !== AT_REST_KEY_LENGTH) throw new TypeError(`${name} must be ${AT_REST_KEY_LENGTH} bytes, got ${value.length}`);
}

function assertBytes(value: unknown, name: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
}

function checkSessionNumber(sessionNumber: unknown): asserts sessionNumber is string {
  if (typeof sessionNumber !== 'string') throw new TypeError('sessionNumber must be a string');
  if (!SESSION_NUMBER_RE.test(sessionNumber)) throw cryptoError('ERR_INVALID_INPUT', 'sessionNumber must be 1..256 visible ASCII characters');
}

/** A fresh random 32-byte master key. Never log, print or send it. */
export function generateMasterKey(): Uint8Array {
  return randomBytes(AT_REST_KEY_LENGTH);
}

/** The 32-byte key for session `sessionNumber` under `masterKey`. */
export function deriveSessionKey(masterKey: Uint8Array, sessionNumber: string): Uint8Array {
  assertKey(masterKey, 'masterKey');
  checkSessionNumber(sessionNumber);
  return hkdf(sha256, masterKey, SALT, utf8(`session:${sessionNumber}`), AT_REST_KEY_LENGTH);
}

/**
 * Associated data naming a stored field of a session: canonical JSON of
 * {at-rest: field, sn: SN}, so distinct (field, SN) pairs never collide.
 */
export function atRestAad(field: string, sessionNumber: string): Uint8Array {
  if (typeof field !== 'string' || field.length === 0) throw new TypeError('field must be a non-empty string');
  checkSessionNumber(sessionNumber);
  return canonicalBytes({ 'at-rest': field, sn: sessionNumber });
}

/** Encrypts `plaintext` under `key`, bound to `aad`. */
export function encryptAtRest(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  assertKey(key, 'key');
  assertBytes(plaintext, 'plaintext');
  assertBytes(aad, 'aad');
  const header = new Uint8Array([AT_REST_VERSION]);
  const nonce = randomBytes(NONCE_LENGTH);
  const ct = xchacha20poly1305(key, nonce, concatBytes(header, aad)).encrypt(plaintext);
  return concatBytes(header, nonce, ct);
}

/** Decrypts a blob from `encryptAtRest`; ERR_DECRYPTION_FAILED unless key, aad and every byte match. */
export function decryptAtRest(key: Uint8Array, blob: Uint8Array, aad: Uint8Array): Uint8Array {
  assertKey(key, 'key');
  assertBytes(blob, 'blob');
  assertBytes(aad, 'aad');
  if (blob.length < AT_REST_OVERHEAD) throw cryptoError('ERR_DECRYPTION_FAILED', 'encrypted record is truncated');
  if (blob[0] !== AT_REST_VERSION) throw cryptoError('ERR_DECRYPTION_FAILED', `encrypted record version ${blob[0]} is not supported`);
  const nonce = blob.subarray(1, 1 + NONCE_LENGTH);
  const ct = blob.subarray(1 + NONCE_LENGTH);
  try {
    return xchacha20poly1305(key, nonce, concatBytes(blob.subarray(0, 1), aad)).decrypt(ct);
  } catch (e) {
    throw cryptoError('ERR_DECRYPTION_FAILED', 'encrypted record does not authenticate', e);
  }
}
