/**
 * The Agent Home's own secrets, in one file (mode 0600, written atomically):
 * - the master key from which each session's at-rest key is derived (HKDF, SN as info), so
 *   one leaked session key exposes no other session;
 * - its X25519 encryption key, to which buyers seal d2 and their rules.
 * Created on first start. Never logged or printed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fromB64u, toB64u } from '../crypto/bytes.js';
import { generateMasterKey } from '../crypto/at-rest.js';
import { encryptionPublicKey, generateEncryptionKey } from '../crypto/seal.js';
import { writeJsonAtomic } from '../agents/storage/atomic-file.js';
import { parleyError } from '../protocol/errors.js';

export interface HomeSecrets {
  masterKey: Uint8Array;
  encryption: { secretKey: Uint8Array; publicKey: Uint8Array };
}

export function generateHomeSecrets(): HomeSecrets {
  return { masterKey: generateMasterKey(), encryption: generateEncryptionKey() };
}

export function loadOrCreateSecrets(path: string): HomeSecrets {
  if (!existsSync(path)) {
    const s = generateHomeSecrets();
    writeJsonAtomic(path, { v: 1, masterKey: toB64u(s.masterKey), x25519: toB64u(s.encryption.secretKey) }, 0o600);
    return s;
  }
  try {
    const j = JSON.parse(readFileSync(path, 'utf8')) as { masterKey: string; x25519: string };
    const secretKey = fromB64u(j.x25519, 'x25519');
    return { masterKey: fromB64u(j.masterKey, 'masterKey'), encryption: { secretKey, publicKey: encryptionPublicKey(secretKey) } };
  } catch (e) {
    throw parleyError('ERR_CONFIG', `cannot read the Agent Home secrets file ${path}`, e);
  }
}
