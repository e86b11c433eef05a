/**
 * Verifying a party certificate against the trusted CA certificate (RFC 5280 §6, for
 * Parley's one-level hierarchy): the CA is a self-signed, currently valid CA; the leaf
 * is named and signed by it (Ed25519, strict RFC 8032 verification), is an end entity
 * allowed to sign, is valid at `at`, and carries the expected role and id.
 *
 * Signature and structure results are cached per (leaf, CA) fingerprint pair in a
 * small bounded cache; validity times, role and id are checked on every call.
 */
import { equalBytes } from '../bytes.js';
import { ed25519Verify } from '../ed25519.js';
import { cryptoError } from '../errors.js';
import { certificateDer, copyParsed, decodeCertificate, sha256Hex, type CertificateInput, type DecodedCertificate, type ParsedCertificate } from './parse.js';
import { isRole, type Role } from './profile.js';

export interface VerifyOptions {
  /** accepted role(s); any party role when omitted */
  role?: Role | readonly Role[];
  /** required party id */
  id?: string;
  /** the time to check validity at; now when omitted */
  at?: Date;
}

const CACHE_LIMIT = 256;
const verified = new Map<string, { leaf: ParsedCertificate; ca: ParsedCertificate }>();

/** Forgets every cached verification (for tests and key rollover). */
export function clearCertificateCache(): void {
  verified.clear();
}

function checkTime(cert: ParsedCertificate, at: Date, what: string): void {
  // RFC 5280 §4.1.2.5: both bounds are inclusive
  if (at.getTime() < cert.notBefore.getTime()) {
    throw cryptoError('ERR_CERT_NOT_YET_VALID', `${what} is not valid before ${cert.notBefore.toISOString()}`);
  }
  if (at.getTime() > cert.notAfter.getTime()) {
    throw cryptoError('ERR_CERT_EXPIRED', `${what} expired at ${cert.notAfter.toISOString()}`);
  }
}

function checkCa(ca: DecodedCertificate): void {
  const p = ca.parsed;
  if (!p.isCa || p.role !== 'ca' || !p.keyUsage.includes('keyCertSign')) {
    throw cryptoError('ERR_CERT_CHAIN', 'the trusted certificate is not a Parley CA certificate');
  }
  if (ca.unknownCritical.length > 0) {
    throw cryptoError('ERR_CERT_CHAIN', `CA certificate has unknown critical extension ${ca.unknownCritical[0]}`);
  }
  if (!equalBytes(ca.issuerDer, ca.subjectDer) || !ed25519Verify(ca.signature, ca.tbs, p.publicKey)) {
    throw cryptoError('ERR_CERT_CHAIN', 'CA certificate is not validly self-signed');
  }
}

function checkLeaf(leaf: DecodedCertificate, ca: DecodedCertificate): void {
  if (!equalBytes(leaf.issuerDer, ca.subjectDer)) {
    throw cryptoError('ERR_CERT_CHAIN', 'certificate was not issued by this CA (issuer name differs)');
  }
  if (leaf.authorityKeyId !== undefined && ca.subjectKeyId !== undefined && leaf.authorityKeyId !== ca.subjectKeyId) {
    throw cryptoError('ERR_CERT_CHAIN', 'certificate was not issued by this CA (key identifier differs)');
  }
  if (!ed25519Verify(leaf.signature, leaf.tbs, ca.parsed.publicKey)) {
    throw cryptoError('ERR_CERT_CHAIN', 'certificate signature does not verify under the CA key');
  }
  const p = leaf.parsed;
  if (p.isCa || p.role === 'ca') throw cryptoError('ERR_CERT_USAGE', 'a CA certificate cannot be used as a party certificate');
  if (!leaf.hasKeyUsage || !p.keyUsage.includes('digitalSignature')) {
    throw cryptoError('ERR_CERT_USAGE', 'certificate does not allow digital signatures');
  }
  if (leaf.unknownCritical.length > 0) {
    throw cryptoError('ERR_CERT_USAGE', `certificate has unknown critical extension ${leaf.unknownCritical[0]}`);
  }
}

function remember(key: string, value: { leaf: ParsedCertificate; ca: ParsedCertificate }): void {
  if (verified.size >= CACHE_LIMIT) {
    const oldest = verified.keys().next().value;
    if (oldest !== undefined) verified.delete(oldest);
  }
  verified.set(key, value);
}

/**
 * Verifies `cert` against the trusted `caCert` and returns the identity it proves.
 * Throws ERR_CERT_MALFORMED, ERR_CERT_CHAIN, ERR_CERT_USAGE, ERR_CERT_EXPIRED,
 * ERR_CERT_NOT_YET_VALID, ERR_CERT_ROLE or ERR_CERT_ID.
 */
export function verifyCertificate(cert: CertificateInput, caCert: CertificateInput, opts: VerifyOptions = {}): ParsedCertificate {
  const at = opts.at ?? new Date();
  if (!(at instanceof Date) || Number.isNaN(at.getTime())) throw new TypeError('at must be a valid Date');
  const roles = opts.role === undefined ? undefined : typeof opts.role === 'string' ? [opts.role] : opts.role;
  if (roles !== undefined && (roles.length === 0 || !roles.every(isRole))) throw new TypeError('role must be a Parley role or a non-empty list of them');
  if (opts.id !== undefined && typeof opts.id !== 'string') throw new TypeError('id must be a string');

  const leafDer = certificateDer(cert);
  const caDer = certificateDer(caCert);
  const key = `${sha256Hex(leafDer)}:${sha256Hex(caDer)}`;
  let hit = verified.get(key);
  if (hit) {
    verified.delete(key); // keep recently used entries at the end
    verified.set(key, hit);
  } else {
    const ca = decodeCertificate(caDer);
    checkCa(ca);
    const leaf = decodeCertificate(leafDer);
    checkLeaf(leaf, ca);
    hit = { leaf: leaf.parsed, ca: ca.parsed };
    remember(key, hit);
  }

  checkTime(hit.ca, at, 'CA certificate');
  checkTime(hit.leaf, at, 'certificate');
  if (roles !== undefined && !roles.includes(hit.leaf.role)) {
    throw cryptoError('ERR_CERT_ROLE', `certificate is for role ${hit.leaf.role}, expected ${roles.join(' or ')}`);
  }
  if (opts.id !== undefined && hit.leaf.id !== opts.id) {
    throw cryptoError('ERR_CERT_ID', `certificate is for ${hit.leaf.id}, expected ${opts.id}`);
  }
  return copyParsed(hit.leaf);
}

/** Checks that `caCert` is a usable trust anchor now (or at `at`) and returns it parsed. */
export function verifyCaCertificate(caCert: CertificateInput, at: Date = new Date()): ParsedCertificate {
  const ca = decodeCertificate(caCert);
  checkCa(ca);
  checkTime(ca.parsed, at, 'CA certificate');
  return copyParsed(ca.parsed);
}
