/**
 * The Agent Home's own secrets, in one file (mode 0600, written atomically):
 * - the master key from which each session's at-rest key is derived (HKDF, SN as info), so
 *   one leaked session key exposes no other session;
 * - its X25519 encryption key, to which buyers seal d2 and their rules.
 * Created on first start. Never logged or printed.
 *
 * The file is the JSON {v: 1, masterKey, x25519}; with a passphrase it is that JSON inside
 * the encrypted envelope of crypto/key-file.ts (content "agent-home-secrets"), and it is
 * never written in clear: a plain file found while a passphrase is configured is replaced
 * by its encrypted form.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fromB64u, fromUtf8, toB64u, utf8 } from '../crypto/bytes.js';
import { generateMasterKey } from '../crypto/at-rest.js';
import { isParleyError } from '../crypto/errors.js';
import { decryptKeyFile, encryptKeyFile, isEncryptedKeyFile, type Passphrase } from '../crypto/key-file.js';
import { encryptionPublicKey, generateEncryptionKey } from '../crypto/seal.js';
import { writeFileAtomic } from '../agents/storage/atomic-file.js';
import { parleyError } from '../protocol/errors.js';
import { parseStrictJson } from '../crypto/strict-json.js';

export interface HomeSecrets {
  masterKey: Uint8Array;
  encryption: { secretKey: Uint8Array; publicKey: Uint8Array };
}

/** The `content` label of an encrypted secrets file. */
export const SECRETS_CONTENT = 'agent-home-secrets';

export function generateHomeSecrets(): HomeSecrets {
  return { masterKey: generateMasterKey(), encryption: generateEncryptionKey() };
}

function encode(s: HomeSecrets): string {
  return JSON.stringify({ v: 1, masterKey: toB64u(s.masterKey), x25519: toB64u(s.encryption.secretKey) }, null, 2) + '\n';
}

function decode(text: string): HomeSecrets {
  const j = parseStrictJson(text) as { v?: unknown; masterKey: string; x25519: string };
  const masterKey = fromB64u(j.masterKey, 'masterKey');
  const secretKey = fromB64u(j.x25519, 'x25519');
  if (masterKey.length !== 32 || secretKey.length !== 32) throw new Error('keys must be 32 bytes');
  return { masterKey, encryption: { secretKey, publicKey: encryptionPublicKey(secretKey) } };
}

function write(path: string, s: HomeSecrets, passphrase: Passphrase | undefined): void {
  writeFileAtomic(path, passphrase === undefined ? encode(s) : encryptKeyFile(utf8(encode(s)), passphrase, SECRETS_CONTENT), 0o600);
}

/**
 * Loads the secrets from `path`, creating them on first use. With `passphrase` they are
 * written encrypted, and an encrypted file needs it (ERR_PASSPHRASE otherwise, or when it
 * is wrong); a malformed file is ERR_CONFIG.
 */
export function loadOrCreateSecrets(path: string, passphrase?: Passphrase): HomeSecrets {
  if (!existsSync(path)) {
    const s = generateHomeSecrets();
    write(path, s, passphrase);
    return s;
  }
  let text: string;
  let encrypted: boolean;
  try {
    text = readFileSync(path, 'utf8');
    encrypted = isEncryptedKeyFile(text);
    if (encrypted) text = fromUtf8(decryptKeyFile(text, passphrase, SECRETS_CONTENT));
  } catch (e) {
    if (isParleyError(e, 'ERR_PASSPHRASE')) throw parleyError('ERR_PASSPHRASE', `cannot decrypt the Agent Home secrets file ${path}: ${e.message}`, e);
    throw parleyError('ERR_CONFIG', `cannot read the Agent Home secrets file ${path}`, e);
  }
  let s: HomeSecrets;
  try {
    s = decode(text);
  } catch (e) {
    throw parleyError('ERR_CONFIG', `cannot read the Agent Home secrets file ${path}`, e);
  }
  if (!encrypted && passphrase !== undefined) write(path, s, passphrase);
  return s;
}
