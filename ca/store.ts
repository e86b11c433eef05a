/**
 * The CA directory on disk:
 *
 *   D/ca.pem              CA certificate
 *   D/ca.key              CA private key, PKCS#8 PEM, mode 0600
 *   D/issued/<id>.pem     issued party certificates
 *   D/issued/<id>.key     their private keys, mode 0600
 *
 * Keys are written atomically (temp file created 0600, fsync, rename, fsync of the
 * directory) and never returned as text to callers that print. With a passphrase they are
 * written encrypted (crypto/key-file.ts) and read back with it. Existing files are never
 * replaced without `force`.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../agents/storage/atomic-file.js';
import { equalBytes } from '../crypto/bytes.js';
import { ed25519PrivateKeyPem, ed25519SeedFromPem, generateIdentityKey, identityPublicKey } from '../crypto/ed25519.js';
import { cryptoError } from '../crypto/errors.js';
import { keyFileText, readPrivateKeyFile, type Passphrase } from '../crypto/key-file.js';
import { BACKDATE_MS, DEFAULT_LEAF_DAYS, createCa, issueCertificate, parseCertificate, type CertificateAuthority, type ParsedCertificate, type PartyRole } from '../crypto/x509/index.js';

export interface CaPaths {
  dir: string;
  cert: string;
  key: string;
  issued: string;
}

export function caPaths(dir: string): CaPaths {
  const d = resolve(dir);
  return { dir: d, cert: join(d, 'ca.pem'), key: join(d, 'ca.key'), issued: join(d, 'issued') };
}

/** Reads a certificate file (PEM or DER) and parses it. */
export function readCertificateFile(path: string): ParsedCertificate {
  try {
    return parseCertificate(new Uint8Array(readFileSync(path)));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw cryptoError('ERR_FILE_NOT_FOUND', `certificate not found: ${path}`);
    throw e;
  }
}

/** Reads an Ed25519 key file (PKCS#8 PEM, or encrypted under `passphrase`) to its seed. */
export function readKeyFile(path: string, passphrase?: Passphrase): Uint8Array {
  return ed25519SeedFromPem(readPrivateKeyFile(path, passphrase));
}

export interface InitOptions {
  id?: string;
  days?: number;
  force?: boolean;
  /** encrypts ca.key under it */
  passphrase?: Passphrase;
}

export interface InitResult {
  paths: CaPaths;
  certificate: ParsedCertificate;
}

/** Creates a CA in `dir`; ERR_FILE_EXISTS if one is there and `force` is not set. */
export async function initCaDir(dir: string, opts: InitOptions = {}): Promise<InitResult> {
  const paths = caPaths(dir);
  if (!opts.force && (existsSync(paths.cert) || existsSync(paths.key))) {
    throw cryptoError('ERR_FILE_EXISTS', `a CA already exists in ${paths.dir} (use --force to replace it)`);
  }
  const ca = await createCa({ ...(opts.id !== undefined && { id: opts.id }), ...(opts.days !== undefined && { days: opts.days }) });
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  mkdirSync(paths.issued, { recursive: true, mode: 0o700 });
  writeFileAtomic(paths.key, keyFileText(ed25519PrivateKeyPem(ca.secretKey), opts.passphrase), 0o600);
  writeFileAtomic(paths.cert, ca.certificate.pem, 0o644);
  return { paths, certificate: ca.certificate };
}

export interface LoadedCa extends CertificateAuthority {
  paths: CaPaths;
  /** permission bits of ca.key */
  keyMode: number;
}

/** Loads the CA in `dir` (its key decrypted with `passphrase` if encrypted) and checks that the key matches the certificate. */
export function loadCaDir(dir: string, passphrase?: Passphrase): LoadedCa {
  const paths = caPaths(dir);
  if (!existsSync(paths.cert)) {
    throw cryptoError('ERR_FILE_NOT_FOUND', `no CA in ${paths.dir} (ca.pem missing; run \`parley ca init --dir ${paths.dir}\`)`);
  }
  const certificate = readCertificateFile(paths.cert);
  const secretKey = readKeyFile(paths.key, passphrase);
  if (!equalBytes(identityPublicKey(secretKey), certificate.publicKey)) {
    throw cryptoError('ERR_KEY_FILE', `${paths.key} does not belong to ${paths.cert}`);
  }
  return { paths, certificate, secretKey, keyMode: statSync(paths.key).mode & 0o777 };
}

export interface IssueToDirOptions {
  role: PartyRole;
  id: string;
  days?: number;
  /** output directory; default D/issued */
  out?: string;
  force?: boolean;
  /** reads ca.key with it, and encrypts the issued key under it */
  passphrase?: Passphrase;
}

export interface IssueResult {
  certificate: ParsedCertificate;
  certPath: string;
  keyPath: string;
  ca: LoadedCa;
  /** true when the default lifetime was cut to end with the CA's */
  clampedToCa: boolean;
}

/** Generates an identity key for `id`, issues its certificate, writes `<id>.pem` and `<id>.key`. */
export async function issueToDir(dir: string, opts: IssueToDirOptions): Promise<IssueResult> {
  const ca = loadCaDir(dir, opts.passphrase);
  const out = resolve(opts.out ?? ca.paths.issued);
  const certPath = join(out, `${opts.id}.pem`);
  const keyPath = join(out, `${opts.id}.key`);
  if (certPath === ca.paths.cert || keyPath === ca.paths.key) {
    throw cryptoError('ERR_FILE_EXISTS', `refusing to write ${opts.id}'s files over the CA's own`);
  }
  if (!opts.force && (existsSync(certPath) || existsSync(keyPath))) {
    throw cryptoError('ERR_FILE_EXISTS', `a certificate or key for ${opts.id} already exists in ${out} (use --force to replace it)`);
  }
  // without an explicit --days, a certificate that would outlive the CA ends with it instead
  const defaultEnd = Date.now() - BACKDATE_MS + DEFAULT_LEAF_DAYS * 86_400_000;
  const clampedToCa = opts.days === undefined && defaultEnd > ca.certificate.notAfter.getTime();
  const key = generateIdentityKey();
  const certificate = await issueCertificate(ca, {
    role: opts.role,
    id: opts.id,
    publicKey: key.publicKey,
    ...(opts.days !== undefined && { days: opts.days }),
    ...(clampedToCa && { notAfter: ca.certificate.notAfter }),
  });
  mkdirSync(out, { recursive: true, mode: 0o700 });
  writeFileAtomic(keyPath, keyFileText(ed25519PrivateKeyPem(key.secretKey), opts.passphrase), 0o600);
  writeFileAtomic(certPath, certificate.pem, 0o644);
  return { certificate, certPath, keyPath, ca, clampedToCa };
}
