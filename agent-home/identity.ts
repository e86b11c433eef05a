/**
 * The Agent Home's identity files, `<home>/agent-home/{ca.pem,home.pem,home.key}`, as
 * `parley home init` installs them: issued on the spot by the local CA (`parley ca init`,
 * default `<home>/ca`), or taken from files a CA issued elsewhere (`--cert/--key/--ca-cert`).
 * Existing identity files are kept unless `force`; a key is written 0600 (encrypted under
 * the passphrase when there is one) and never printed.
 */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../agents/storage/atomic-file.js';
import { caTrust, selfFrom } from '../agents/runtime/trust.js';
import { readText } from '../cli/kit/read-text.js';
import { readIdentityKey } from '../cli/kit/passphrase.js';
import { UsageError } from '../cli/kit/output.js';
import { equalBytes } from '../crypto/bytes.js';
import { ed25519PrivateKeyPem, ed25519SeedFromPem, generateIdentityKey, identityPublicKey } from '../crypto/ed25519.js';
import { keyFileText } from '../crypto/key-file.js';
import { BACKDATE_MS, DEFAULT_LEAF_DAYS, issueCertificate, parseCertificate } from '../crypto/x509/index.js';
import { parleyError } from '../protocol/errors.js';

export const DEFAULT_HOME_ID = 'home';

export interface HomeIdentityPaths {
  dir: string;
  ca: string;
  cert: string;
  key: string;
}

export function homeIdentityPaths(parleyHomeDir: string): HomeIdentityPaths {
  const dir = join(parleyHomeDir, 'agent-home');
  return { dir, ca: join(dir, 'ca.pem'), cert: join(dir, 'home.pem'), key: join(dir, 'home.key') };
}

export interface IdentityOptions {
  parleyHomeDir: string;
  /** the Agent Home id when issuing (default "home") */
  id?: string;
  /** take these files instead of issuing */
  cert?: string;
  key?: string;
  caCert?: string;
  /** the CA directory that issues (default <home>/ca) */
  caDir?: string;
  passphrase?: Uint8Array;
  force?: boolean;
}

export interface IdentitySummary {
  id: string;
  how: 'issued' | 'installed' | 'kept';
  ca: string;
  cert: string;
  key: string;
}

/** Installs (or keeps) the Agent Home identity; returns what it did. */
export async function installHomeIdentity(o: IdentityOptions): Promise<IdentitySummary> {
  const p = homeIdentityPaths(o.parleyHomeDir);
  const exists = existsSync(p.cert) || existsSync(p.key);
  if (exists && !o.force) {
    if (o.cert) throw parleyError('ERR_FILE_EXISTS', `an Agent Home identity is already installed in ${p.dir} (use --force to replace it)`);
    const id = parseCertificate(readText(p.cert, 'Agent Home certificate')).id;
    if (o.id && o.id !== id) throw parleyError('ERR_CERT_ID', `${p.cert} is the identity of ${id}, not ${o.id} (use --force to replace it)`);
    return { id, how: 'kept', ...p };
  }
  mkdirSync(p.dir, { recursive: true, mode: 0o700 });
  if (o.cert || o.key) {
    if (!o.cert || !o.key) throw new UsageError('--cert and --key go together');
    const caFile = o.caCert ?? join(resolve(o.caDir ?? join(o.parleyHomeDir, 'ca')), 'ca.pem');
    const keyPem = readIdentityKey(o.key, 'Agent Home key', o.passphrase);
    const self = selfFrom(readText(o.cert, 'Agent Home certificate'), keyPem);
    caTrust(readText(caFile, 'CA certificate (--ca-cert)')).verify(self.certPem, ['agent-home']);
    if (o.id && o.id !== self.id) throw parleyError('ERR_CERT_ID', `the certificate is for ${self.id}, not ${o.id}`);
    copyFileSync(caFile, p.ca);
    writeFileAtomic(p.cert, self.certPem, 0o644);
    writeFileAtomic(p.key, keyFileText(keyPem, o.passphrase), 0o600);
    return { id: self.id, how: 'installed', ...p };
  }
  const caDir = resolve(o.caDir ?? join(o.parleyHomeDir, 'ca'));
  const caCertFile = join(caDir, 'ca.pem');
  if (!existsSync(caCertFile)) {
    throw parleyError('ERR_CONFIG', `no CA in ${caDir} to issue the Agent Home's certificate: run \`parley ca init\` first, or give --cert, --key and --ca-cert issued by your CA (\`parley ca issue --role agent-home\`)`);
  }
  const certificate = parseCertificate(readText(caCertFile, 'CA certificate'));
  const caSecret = ed25519SeedFromPem(readIdentityKey(join(caDir, 'ca.key'), 'CA key', o.passphrase));
  if (!equalBytes(identityPublicKey(caSecret), certificate.publicKey)) throw parleyError('ERR_KEY_FILE', `${caDir}/ca.key does not belong to ${caCertFile}`);
  const id = o.id ?? DEFAULT_HOME_ID;
  const key = generateIdentityKey();
  const end = Math.min(Date.now() - BACKDATE_MS + DEFAULT_LEAF_DAYS * 86_400_000, certificate.notAfter.getTime());
  const cert = await issueCertificate({ certificate, secretKey: caSecret }, { role: 'agent-home', id, publicKey: key.publicKey, notAfter: new Date(end) });
  writeFileAtomic(p.ca, certificate.pem, 0o644);
  writeFileAtomic(p.key, keyFileText(ed25519PrivateKeyPem(key.secretKey), o.passphrase), 0o600);
  writeFileAtomic(p.cert, cert.pem, 0o644);
  return { id, how: 'issued', ...p };
}
