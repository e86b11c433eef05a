/**
 * The buyer's session keys at rest. A session file holds the RSA session key and its split
 * (d2 among them): with a passphrase (the one that protects the identity key) its `key`
 * field is sealed:
 *
 *   files.key   a random 32-byte file key, in the encrypted key-file envelope
 *               (crypto/key-file.ts: scrypt + XChaCha20-Poly1305, content "buyer-file-key")
 *   key field   {sealed: 1, blob}: crypto/at-rest.ts under HKDF(file key, "session:" + id),
 *               aad naming the kind of file and its id, so a sealed key copied into
 *               another session's file does not open
 *
 * The passphrase is stretched once per invocation (the file key is then held in memory),
 * however many sessions a command reads. Without a passphrase the key stays in clear in a
 * 0600 file, as the identity key does; a clear key read when a passphrase is given is
 * sealed on the spot (migration of files written before).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createFileAtomic } from '../agents/storage/atomic-file.js';
import { atRestAad, decryptAtRest, deriveSessionKey, encryptAtRest, generateMasterKey } from '../crypto/at-rest.js';
import { fromB64u, fromUtf8, toB64u, utf8 } from '../crypto/bytes.js';
import { decryptKeyFile, encryptKeyFile, type Passphrase } from '../crypto/key-file.js';
import { isParleyError, parleyError } from '../protocol/errors.js';
import type { StoredKey } from './state.js';

const FILE_KEY_CONTENT = 'buyer-file-key';

export interface SealedKey {
  sealed: 1;
  blob: string;
}

export type KeyKind = 'session' | 'pending';

export function isSealedKey(v: unknown): v is SealedKey {
  return typeof v === 'object' && v !== null && (v as SealedKey).sealed === 1 && typeof (v as SealedKey).blob === 'string';
}

export class KeySeal {
  private fileKey?: Uint8Array;

  constructor(
    private readonly dir: string,
    private readonly passphrase: Passphrase | undefined,
  ) {}

  /** Sealing happens only under a passphrase. */
  get enabled(): boolean {
    return this.passphrase !== undefined;
  }

  private get keyPath(): string {
    return join(this.dir, 'files.key');
  }

  /** The file key: read (one scrypt) or, the first time, created. */
  private key(): Uint8Array {
    if (this.fileKey) return this.fileKey;
    if (!this.passphrase) throw parleyError('ERR_PASSPHRASE', 'the session files are encrypted: give --passphrase-file (or set PARLEY_PASSPHRASE_FILE)');
    if (!existsSync(this.keyPath)) {
      const fresh = generateMasterKey();
      // two buyer commands at once: the first file key written wins, the other reads it
      if (createFileAtomic(this.keyPath, encryptKeyFile(utf8(toB64u(fresh)), this.passphrase, FILE_KEY_CONTENT), 0o600)) return (this.fileKey = fresh);
    }
    const text = readFileSync(this.keyPath, 'utf8');
    this.fileKey = fromB64u(fromUtf8(decryptKeyFile(text, this.passphrase, FILE_KEY_CONTENT)), 'file key');
    return this.fileKey;
  }

  seal(stored: StoredKey, kind: KeyKind, id: string): SealedKey {
    const k = deriveSessionKey(this.key(), id);
    return { sealed: 1, blob: toB64u(encryptAtRest(k, utf8(JSON.stringify(stored)), atRestAad(`buyer-${kind}-key`, id))) };
  }

  open(sealed: SealedKey, kind: KeyKind, id: string): StoredKey {
    const k = deriveSessionKey(this.key(), id);
    try {
      return JSON.parse(fromUtf8(decryptAtRest(k, fromB64u(sealed.blob, 'sealed key'), atRestAad(`buyer-${kind}-key`, id)))) as StoredKey;
    } catch (e) {
      if (isParleyError(e) && e.code === 'ERR_PASSPHRASE') throw e;
      throw parleyError('ERR_DECRYPTION_FAILED', `the session key of ${kind} ${id} does not decrypt: the file was altered or belongs elsewhere`, e);
    }
  }
}
