/**
 * What createCa and issueCertificate share: checking the requested validity period,
 * key identifiers, random serial numbers, and signing a TBS with @peculiar/x509 over
 * WebCrypto Ed25519.
 */
import { createHash, randomBytes } from 'node:crypto';
import { toHex } from '../bytes.js';
import { ed25519SpkiDer } from '../ed25519.js';
import { cryptoError } from '../errors.js';
import { importSigningKey, Name, webCrypto, X509CertificateGenerator, type Extension } from './lib.js';
import { BACKDATE_MS, MAX_DAYS, subjectJson, type Role } from './profile.js';

export interface ValidityOptions {
  /** lifetime in days from notBefore (integer 1..36500) */
  days?: number;
  /** start of validity; default now minus 5 minutes (clock skew) */
  notBefore?: Date;
  /** end of validity; give this or `days`, not both */
  notAfter?: Date;
}

// UTCTime cannot express years before 1950 (RFC 5280 §4.1.2.5)
const EARLIEST = Date.UTC(1950, 0, 1);
const LATEST = Date.UTC(9999, 11, 31, 23, 59, 59);

function checkDate(d: unknown, name: string): asserts d is Date {
  if (!(d instanceof Date) || Number.isNaN(d.getTime())) throw new TypeError(`${name} must be a valid Date`);
  if (d.getTime() < EARLIEST || d.getTime() > LATEST) throw cryptoError('ERR_INVALID_INPUT', `${name} is outside 1950..9999`);
}

const DAY_MS = 86_400_000;
const wholeSeconds = (ms: number): Date => new Date(Math.floor(ms / 1000) * 1000);

export function resolveValidity(opts: ValidityOptions, defaultDays: number): { notBefore: Date; notAfter: Date } {
  if (opts.days !== undefined && opts.notAfter !== undefined) {
    throw cryptoError('ERR_INVALID_INPUT', 'give either days or notAfter, not both');
  }
  const days = opts.days ?? defaultDays;
  if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS) {
    throw cryptoError('ERR_INVALID_INPUT', `days must be an integer from 1 to ${MAX_DAYS}`);
  }
  if (opts.notBefore !== undefined) checkDate(opts.notBefore, 'notBefore');
  if (opts.notAfter !== undefined) checkDate(opts.notAfter, 'notAfter');
  // whole seconds: that is all X.509 Time encodes
  const notBefore = wholeSeconds(opts.notBefore?.getTime() ?? Date.now() - BACKDATE_MS);
  const notAfter = wholeSeconds(opts.notAfter?.getTime() ?? notBefore.getTime() + days * DAY_MS);
  checkDate(notAfter, 'notAfter');
  if (notAfter.getTime() <= notBefore.getTime()) throw cryptoError('ERR_INVALID_INPUT', 'notAfter must be after notBefore');
  return { notBefore, notAfter };
}

/** RFC 7093 §2 method 1: the leftmost 160 bits of SHA-256 of the subjectPublicKey bits. */
export function keyIdentifier(publicKey: Uint8Array): string {
  return createHash('sha256').update(publicKey).digest('hex').slice(0, 40);
}

/** 127-bit random positive serial, always 16 octets (RFC 5280 §4.1.2.2 allows up to 20). */
export function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x40;
  return toHex(b);
}

export interface SignParams {
  role: Role;
  id: string;
  publicKey: Uint8Array;
  /** DER of the issuer Name; the subject itself when omitted (self-signed) */
  issuerDer?: Uint8Array;
  signingSeed: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  extensions: Extension[];
}

export async function signCertificate(p: SignParams): Promise<Uint8Array> {
  const subject = new Name(subjectJson(p.role, p.id));
  const cert = await X509CertificateGenerator.create(
    {
      serialNumber: randomSerial(),
      subject,
      issuer: p.issuerDer ? new Name(p.issuerDer) : subject,
      publicKey: ed25519SpkiDer(p.publicKey),
      signingKey: await importSigningKey(p.signingSeed),
      notBefore: p.notBefore,
      notAfter: p.notAfter,
      extensions: p.extensions,
    },
    webCrypto,
  );
  return new Uint8Array(cert.rawData);
}
