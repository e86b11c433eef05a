/**
 * Private keys at rest under a passphrase. A key file is either a plain PKCS#8 PEM (what
 * OpenSSL writes and reads) or this envelope:
 *
 *   -----BEGIN PARLEY ENCRYPTED KEY-----
 *   base64 of the UTF-8 JSON {v: 1, content, kdf: {name: "scrypt", N, r, p, salt},
 *                             aead: "xchacha20-poly1305", nonce, ct}      (64 columns)
 *   -----END PARLEY ENCRYPTED KEY-----
 *
 *   key = scrypt(passphrase, salt (16 random bytes), N = 2^15, r = 8, p = 1, 32 bytes)  RFC 7914
 *   ct  = XChaCha20-Poly1305(key, nonce (24 random bytes), plaintext ‖ tag,
 *         aad = "parley/v1/key-file" ‖ 0x00 ‖ canonical(envelope without ct))
 *
 * The parameters are recorded in the file and authenticated with it, so they can be raised
 * later without breaking old files; on reading they are bounded (N ≤ 2^20, 128·N·r ≤ 256 MiB)
 * so a hostile file cannot make the reader allocate without limit. `content` names what
 * the plaintext is ("pkcs8-pem" for an identity key), so one kind of secret file is never
 * taken for another. scrypt makes each guess cost about 32 MiB and tens of milliseconds.
 *
 * Errors: ERR_PASSPHRASE when the passphrase is missing, empty or wrong, or the ciphertext
 * or its parameters were altered (the AEAD cannot tell these apart); ERR_KEY_FILE for a
 * file that is not an envelope or a PEM at all. Binary base64url values inside use the
 * strict decoder. JavaScript cannot promise that passphrase or key bytes are wiped.
 */
import { readFileSync } from 'node:fs';
import { scryptSync } from 'node:crypto';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { canonicalBytes } from './canonical.js';
import { concatBytes, fromB64u, fromUtf8, toB64u, utf8 } from './bytes.js';
import { cryptoError } from './errors.js';
import { parseStrictJson } from './strict-json.js';

export const KEY_FILE_VERSION = 1;
/** The armour label of an encrypted key file. */
export const ENCRYPTED_KEY_LABEL = 'PARLEY ENCRYPTED KEY';
/** What an encrypted identity key file holds: the PKCS#8 PEM text. */
export const PKCS8_PEM_CONTENT = 'pkcs8-pem';
/** scrypt cost used for new files (RFC 7914 §2: N a power of two, r block size, p parallelism). */
export const SCRYPT_PARAMS = { N: 2 ** 15, r: 8, p: 1 } as const;
export const SALT_LENGTH = 16;
const NONCE_LENGTH = 24;
const TAG_LENGTH = 16;
const KEY_LENGTH = 32;
const AEAD = 'xchacha20-poly1305';
const AAD_PREFIX = concatBytes(utf8('parley/v1/key-file'), new Uint8Array([0]));
const BEGIN = `-----BEGIN ${ENCRYPTED_KEY_LABEL}-----`;
const END = `-----END ${ENCRYPTED_KEY_LABEL}-----`;
/** Longest key file read (an identity key is ~120 bytes, the Agent Home secrets ~150). */
export const MAX_KEY_FILE_BYTES = 64 * 1024;
/** Longest passphrase accepted. */
export const MAX_PASSPHRASE_BYTES = 1024;
// bounds for parameters read from a file: cheap enough to refuse nothing we would write,
// tight enough that a hostile file cannot exhaust memory or time
const MIN_LOG_N = 14;
const MAX_LOG_N = 20;
const MAX_SCRYPT_MEMORY = 256 * 1024 * 1024;
const CONTENT_RE = /^[a-z0-9][a-z0-9-]{0,63}$/;

/** A passphrase: text (NFC-normalised, then UTF-8) or the bytes of a passphrase file. */
export type Passphrase = string | Uint8Array;

interface ScryptParams {
  name: 'scrypt';
  N: number;
  r: number;
  p: number;
  salt: string;
}

interface Envelope {
  v: number;
  content: string;
  kdf: ScryptParams;
  aead: string;
  nonce: string;
  ct: string;
}

function passphraseBytes(passphrase: Passphrase): Uint8Array {
  let b: Uint8Array;
  if (typeof passphrase === 'string') b = utf8(passphrase.normalize('NFC'));
  else if (passphrase instanceof Uint8Array) b = passphrase;
  else throw new TypeError('passphrase must be a string or a Uint8Array');
  if (b.length === 0) throw cryptoError('ERR_PASSPHRASE', 'the passphrase is empty');
  if (b.length > MAX_PASSPHRASE_BYTES) throw cryptoError('ERR_PASSPHRASE', `the passphrase is longer than ${MAX_PASSPHRASE_BYTES} bytes`);
  return b;
}

function deriveKey(passphrase: Uint8Array, salt: Uint8Array, N: number, r: number, p: number): Uint8Array {
  // node's default maxmem (32 MiB) is just below what N = 2^15, r = 8 needs
  return new Uint8Array(scryptSync(passphrase, salt, KEY_LENGTH, { N, r, p, maxmem: 2 * 128 * N * r * p + 1024 * 1024 }));
}

function aad(env: Omit<Envelope, 'ct'>): Uint8Array {
  return concatBytes(AAD_PREFIX, canonicalBytes({ v: env.v, content: env.content, kdf: { ...env.kdf }, aead: env.aead, nonce: env.nonce }));
}

function armour(json: string): string {
  const b64 = Buffer.from(json, 'utf8').toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `${BEGIN}\n${lines.join('\n')}\n${END}\n`;
}

/** True when `text` is an encrypted key file (rather than a plain PEM). */
export function isEncryptedKeyFile(text: string): boolean {
  return typeof text === 'string' && text.trimStart().startsWith(BEGIN);
}

/**
 * Encrypts `secret` under `passphrase` into the armoured envelope. `content` names what the
 * secret is; `decryptKeyFile` insists on the same name.
 */
export function encryptKeyFile(secret: Uint8Array, passphrase: Passphrase, content: string = PKCS8_PEM_CONTENT): string {
  if (!(secret instanceof Uint8Array)) throw new TypeError('secret must be a Uint8Array');
  if (typeof content !== 'string' || !CONTENT_RE.test(content)) throw new TypeError('content must be a lowercase label');
  const pass = passphraseBytes(passphrase);
  const salt = randomBytes(SALT_LENGTH);
  const nonce = randomBytes(NONCE_LENGTH);
  const { N, r, p } = SCRYPT_PARAMS;
  const head = { v: KEY_FILE_VERSION, content, kdf: { name: 'scrypt' as const, N, r, p, salt: toB64u(salt) }, aead: AEAD, nonce: toB64u(nonce) };
  const ct = xchacha20poly1305(deriveKey(pass, salt, N, r, p), nonce, aad(head)).encrypt(secret);
  return armour(JSON.stringify({ ...head, ct: toB64u(ct) }));
}

function malformed(why: string): never {
  throw cryptoError('ERR_KEY_FILE', `encrypted key file is malformed: ${why}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function exactKeys(o: Record<string, unknown>, keys: readonly string[], what: string): void {
  const got = Object.keys(o);
  if (got.length !== keys.length || !got.every((k) => keys.includes(k))) malformed(`${what} must have exactly the fields ${keys.join(', ')}`);
}

function parseEnvelope(text: string): Envelope {
  const t = text.trim();
  if (!t.startsWith(BEGIN) || !t.endsWith(END)) malformed('missing armour');
  const body = t.slice(BEGIN.length, t.length - END.length).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0) malformed('body is not base64');
  const raw = Buffer.from(body, 'base64');
  if (raw.toString('base64') !== body) malformed('body is not canonical base64');
  let j: unknown;
  try {
    j = parseStrictJson(fromUtf8(new Uint8Array(raw)));
  } catch {
    malformed('body is not JSON');
  }
  if (!isObject(j)) malformed('body is not a JSON object');
  exactKeys(j, ['v', 'content', 'kdf', 'aead', 'nonce', 'ct'], 'the envelope');
  if (j.v !== KEY_FILE_VERSION) throw cryptoError('ERR_KEY_FILE', `encrypted key file version ${JSON.stringify(j.v)} is not supported`);
  if (typeof j.content !== 'string' || !CONTENT_RE.test(j.content)) malformed('content');
  if (j.aead !== AEAD) throw cryptoError('ERR_KEY_FILE', `cipher ${JSON.stringify(j.aead)} is not supported`);
  if (typeof j.nonce !== 'string' || typeof j.ct !== 'string') malformed('nonce and ct must be base64url');
  const kdf = j.kdf;
  if (!isObject(kdf)) malformed('kdf');
  exactKeys(kdf, ['name', 'N', 'r', 'p', 'salt'], 'kdf');
  if (kdf.name !== 'scrypt') throw cryptoError('ERR_KEY_FILE', `key derivation ${JSON.stringify(kdf.name)} is not supported`);
  const { N, r, p } = kdf;
  if (typeof N !== 'number' || typeof r !== 'number' || typeof p !== 'number' || typeof kdf.salt !== 'string') malformed('scrypt parameters');
  const logN = Math.log2(N);
  if (!Number.isInteger(logN) || logN < MIN_LOG_N || logN > MAX_LOG_N) throw cryptoError('ERR_KEY_FILE', `scrypt N = ${N} is outside 2^${MIN_LOG_N}..2^${MAX_LOG_N}`);
  if (!Number.isInteger(r) || r < 1 || r > 32 || !Number.isInteger(p) || p < 1 || p > 16 || 128 * N * r * p > MAX_SCRYPT_MEMORY) {
    throw cryptoError('ERR_KEY_FILE', `scrypt r = ${r}, p = ${p} are outside the supported bounds`);
  }
  return { v: j.v, content: j.content, kdf: { name: 'scrypt', N, r, p, salt: kdf.salt }, aead: j.aead, nonce: j.nonce, ct: j.ct };
}

/**
 * Decrypts an envelope made by `encryptKeyFile`. ERR_PASSPHRASE when `passphrase` is
 * missing or wrong or any authenticated byte changed; ERR_KEY_FILE when the text is not an
 * envelope, or holds another `content` than expected.
 */
export function decryptKeyFile(text: string, passphrase: Passphrase | undefined, content: string = PKCS8_PEM_CONTENT): Uint8Array {
  if (typeof text !== 'string') throw new TypeError('text must be a string');
  const env = parseEnvelope(text);
  if (env.content !== content) throw cryptoError('ERR_KEY_FILE', `the encrypted file holds ${env.content}, not ${content}`);
  if (passphrase === undefined) throw cryptoError('ERR_PASSPHRASE', 'the key file is encrypted and no passphrase was given');
  const pass = passphraseBytes(passphrase);
  let salt: Uint8Array, nonce: Uint8Array, ct: Uint8Array;
  try {
    salt = fromB64u(env.kdf.salt, 'salt');
    nonce = fromB64u(env.nonce, 'nonce');
    ct = fromB64u(env.ct, 'ct');
  } catch (e) {
    throw cryptoError('ERR_KEY_FILE', 'encrypted key file is malformed: salt, nonce or ct is not base64url', e);
  }
  if (salt.length < SALT_LENGTH || salt.length > 64) malformed(`salt of ${salt.length} bytes`);
  if (nonce.length !== NONCE_LENGTH) malformed(`nonce of ${nonce.length} bytes`);
  if (ct.length < TAG_LENGTH) malformed('ciphertext is truncated');
  const key = deriveKey(pass, salt, env.kdf.N, env.kdf.r, env.kdf.p);
  try {
    return xchacha20poly1305(key, nonce, aad(env)).decrypt(ct);
  } catch (e) {
    throw cryptoError('ERR_PASSPHRASE', 'wrong passphrase, or the encrypted key file was altered', e);
  }
}

/**
 * What to write to a private key file: the PEM itself, or with a passphrase its
 * encrypted envelope. The caller writes it with mode 0600.
 */
export function keyFileText(pem: string, passphrase?: Passphrase): string {
  if (typeof pem !== 'string') throw new TypeError('pem must be a string');
  return passphrase === undefined ? pem : encryptKeyFile(utf8(pem), passphrase, PKCS8_PEM_CONTENT);
}

/** The PEM text of a key file's contents: decrypted when it is an envelope, else as it is. */
export function privateKeyPem(text: string, passphrase?: Passphrase): string {
  if (typeof text !== 'string') throw new TypeError('text must be a string');
  if (!isEncryptedKeyFile(text)) return text;
  try {
    return fromUtf8(decryptKeyFile(text, passphrase, PKCS8_PEM_CONTENT));
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_ENCODING') throw cryptoError('ERR_KEY_FILE', 'the decrypted key is not PEM text', e);
    throw e;
  }
}

function readBounded(path: string, what: string): Buffer {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw cryptoError('ERR_FILE_NOT_FOUND', `${what} not found: ${path}`);
    throw cryptoError('ERR_KEY_FILE', `cannot read ${what} ${path}`, e);
  }
  if (data.length > MAX_KEY_FILE_BYTES) throw cryptoError('ERR_KEY_FILE', `${what} ${path} is larger than ${MAX_KEY_FILE_BYTES} bytes`);
  return data;
}

/**
 * Reads a private key file (plain PKCS#8 PEM, or encrypted under `passphrase`) and returns
 * its PEM text, as `selfFrom` and `ed25519SeedFromPem` take it. ERR_FILE_NOT_FOUND,
 * ERR_KEY_FILE or ERR_PASSPHRASE.
 */
export function readPrivateKeyFile(path: string, passphrase?: Passphrase): string {
  const text = readBounded(path, 'key file').toString('utf8');
  return privateKeyPem(text, passphrase);
}

/**
 * Reads a passphrase file: its bytes without one trailing newline ("\n" or "\r\n"), as
 * `echo secret > file` leaves it. ERR_PASSPHRASE when it is empty.
 */
export function readPassphraseFile(path: string): Uint8Array {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw cryptoError('ERR_FILE_NOT_FOUND', `passphrase file not found: ${path}`);
    throw cryptoError('ERR_PASSPHRASE', `cannot read the passphrase file ${path}`, e);
  }
  if (data.length > MAX_PASSPHRASE_BYTES + 2) throw cryptoError('ERR_PASSPHRASE', `the passphrase file ${path} is longer than ${MAX_PASSPHRASE_BYTES} bytes`);
  let end = data.length;
  if (end > 0 && data[end - 1] === 0x0a) end--;
  if (end > 0 && data[end - 1] === 0x0d && end < data.length) end--;
  const b = new Uint8Array(data.subarray(0, end));
  if (b.length === 0) throw cryptoError('ERR_PASSPHRASE', `the passphrase file ${path} is empty`);
  return b;
}
