/**
 * Parsing a Parley certificate into the identity it states. Everything an attacker
 * controls is read defensively: any defect is ERR_CERT_MALFORMED (never a raw exception
 * from the ASN.1 layer); a well-formed certificate whose key or signature algorithm is
 * not Ed25519 is ERR_CERT_USAGE. Parsing checks structure and profile only, not trust:
 * that is `verifyCertificate`.
 */
import { createHash } from 'node:crypto';
import { equalBytes, fromHex, toHex } from '../bytes.js';
import { ParleyError, cryptoError } from '../errors.js';
import { splitCertificate } from './der.js';
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  KeyUsagesExtension,
  Name,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509Certificate,
} from './lib.js';
import { certificateToPem, looksLikePem, pemToCertificateDer } from './pem.js';
import { ORGANIZATION, parseIdentityUri, type Role } from './profile.js';

export const KEY_USAGES = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
] as const;
export type KeyUsageName = (typeof KEY_USAGES)[number];

/** What a certificate states. Identity fields are derived from `der` alone. */
export interface ParsedCertificate {
  readonly id: string;
  readonly role: Role;
  /** 32-byte Ed25519 public key */
  readonly publicKey: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** serial number, lowercase hex without leading zero bytes */
  readonly serial: string;
  /** SHA-256 of the DER encoding, lowercase hex */
  readonly fingerprint: string;
  readonly der: Uint8Array;
  readonly pem: string;
  /** RFC 4514 strings, e.g. `CN=alice,OU=buyer,O=Parley` */
  readonly subject: string;
  readonly issuer: string;
  /** basicConstraints cA */
  readonly isCa: boolean;
  /** keyUsage bits that are set; empty when the extension is absent */
  readonly keyUsage: readonly KeyUsageName[];
}

export type CertificateInput = string | Uint8Array | ParsedCertificate;

/** The parsed certificate plus what verification needs (internal to crypto/x509). */
export interface DecodedCertificate {
  parsed: ParsedCertificate;
  tbs: Uint8Array;
  signature: Uint8Array;
  issuerDer: Uint8Array;
  subjectDer: Uint8Array;
  hasKeyUsage: boolean;
  subjectKeyId: string | undefined;
  authorityKeyId: string | undefined;
  /** OIDs of critical extensions this profile does not know */
  unknownCritical: string[];
}

// AlgorithmIdentifier { id-Ed25519 } with absent parameters, and the SPKI prefix (RFC 8410 §3, §4)
const ED25519_ALG = fromHex('300506032b6570');
const ED25519_SPKI_PREFIX = fromHex('302a300506032b6570032100');

const OID = {
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  subjectKeyId: '2.5.29.14',
  authorityKeyId: '2.5.29.35',
  subjectAltName: '2.5.29.17',
} as const;
const KNOWN = new Set<string>(Object.values(OID));

function malformed(message: string, cause?: unknown): ParleyError {
  return cryptoError('ERR_CERT_MALFORMED', message, cause);
}

export function sha256Hex(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

/** The DER of a certificate given as PEM text, DER bytes, PEM bytes or a parsed certificate. */
/** Far above any Parley certificate (about 600 bytes); bounds the work spent on hostile input. */
const MAX_CERTIFICATE_BYTES = 16 * 1024;

export function certificateDer(input: CertificateInput): Uint8Array {
  const size = typeof input === 'string' ? input.length : input instanceof Uint8Array ? input.length : 0;
  if (size > MAX_CERTIFICATE_BYTES * 2) throw malformed('certificate is too large');
  if (typeof input === 'string') return pemToCertificateDer(input);
  if (input instanceof Uint8Array) {
    if (looksLikePem(input)) return pemToCertificateDer(Buffer.from(input).toString('latin1'));
    return new Uint8Array(input);
  }
  if (input && typeof input === 'object' && (input as ParsedCertificate).der instanceof Uint8Array) {
    return new Uint8Array((input as ParsedCertificate).der);
  }
  throw new TypeError('certificate must be PEM text, DER bytes or a parsed certificate');
}

function serialHex(content: Uint8Array): string {
  // INTEGER (X.690 §8.3): minimal, and RFC 5280 §4.1.2.2: positive, at most 20 octets
  if (content.length === 0) throw malformed('serial number is empty');
  if (content.length > 1 && ((content[0] === 0 && content[1]! < 0x80) || (content[0] === 0xff && content[1]! >= 0x80))) {
    throw malformed('serial number is not minimally encoded');
  }
  if (content[0]! >= 0x80) throw malformed('serial number is negative');
  const body = content[0] === 0 && content.length > 1 ? content.subarray(1) : content;
  if (body.length > 20) throw malformed('serial number is longer than 20 octets');
  if (body.every((b) => b === 0)) throw malformed('serial number is zero');
  return toHex(body);
}

function escapeDn(value: string): string {
  return value.replace(/[\\,+"<>;=]/g, (c) => '\\' + c).replace(/^[ #]| $/g, (c) => '\\' + c);
}

/** RFC 4514 string: RDNs in reverse DER order, multi-valued RDNs joined with '+'. */
function rfc4514(der: Uint8Array): string {
  const rdns = new Name(der).toJSON();
  return rdns
    .map((rdn) =>
      Object.entries(rdn)
        .flatMap(([type, values]) => values.map((v) => `${type}=${escapeDn(v)}`))
        .join('+'),
    )
    .reverse()
    .join(',');
}

/** Subject must be exactly O=Parley / OU=<role> / CN=<id>, one value per RDN. */
function readSubject(der: Uint8Array): { role: string; id: string } {
  const rdns = new Name(der).toJSON();
  const value = (i: number, type: string): string => {
    const rdn = rdns[i];
    const keys = rdn ? Object.keys(rdn) : [];
    const values = rdn?.[type];
    if (keys.length !== 1 || !values || values.length !== 1) throw malformed('subject does not follow the Parley profile');
    return values[0]!;
  };
  if (rdns.length !== 3 || value(0, 'O') !== ORGANIZATION) throw malformed('subject does not follow the Parley profile');
  return { role: value(1, 'OU'), id: value(2, 'CN') };
}

function usageNames(flags: number): KeyUsageName[] {
  return KEY_USAGES.filter((_, i) => (flags & (1 << i)) !== 0);
}

function decode(der: Uint8Array): DecodedCertificate {
  const parts = splitCertificate(der);
  const serial = serialHex(parts.serial);

  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch (e) {
    throw malformed('certificate cannot be parsed', e);
  }

  // algorithms: Ed25519 only, identical inside and outside the signed part (RFC 5280 §4.1.1.2)
  if (!equalBytes(parts.signatureAlgorithm, parts.tbsSignatureAlgorithm)) {
    throw malformed('signature algorithm differs inside and outside tbsCertificate');
  }
  if (!equalBytes(parts.signatureAlgorithm, ED25519_ALG)) {
    throw cryptoError('ERR_CERT_USAGE', 'certificate is not signed with Ed25519');
  }
  if (!parts.signature || parts.signature.length !== 64) throw malformed('Ed25519 signature must be 64 bytes');
  if (parts.spki.length !== ED25519_SPKI_PREFIX.length + 32 || !equalBytes(parts.spki.subarray(0, ED25519_SPKI_PREFIX.length), ED25519_SPKI_PREFIX)) {
    throw cryptoError('ERR_CERT_USAGE', 'certificate key is not an Ed25519 key');
  }
  const publicKey = new Uint8Array(parts.spki.subarray(ED25519_SPKI_PREFIX.length));

  // extensions: each at most once (RFC 5280 §4.2)
  const seen = new Set<string>();
  const unknownCritical: string[] = [];
  for (const ext of cert.extensions) {
    if (seen.has(ext.type)) throw malformed(`extension ${ext.type} appears twice`);
    seen.add(ext.type);
    if (ext.critical && !KNOWN.has(ext.type)) unknownCritical.push(ext.type);
  }
  const bc = cert.getExtension(BasicConstraintsExtension);
  const ku = cert.getExtension(KeyUsagesExtension);
  const ski = cert.getExtension(SubjectKeyIdentifierExtension);
  const aki = cert.getExtension(AuthorityKeyIdentifierExtension);
  const san = cert.getExtension(SubjectAlternativeNameExtension);
  if (seen.has(OID.basicConstraints) && !(bc instanceof BasicConstraintsExtension)) throw malformed('basicConstraints cannot be parsed');
  if (seen.has(OID.keyUsage) && !(ku instanceof KeyUsagesExtension)) throw malformed('keyUsage cannot be parsed');

  // identity: the SAN URI is authoritative, the subject must agree with it
  const names = san?.names.items ?? [];
  if (names.length !== 1 || names[0]!.type !== 'url') {
    throw malformed('certificate must carry exactly one SAN URI urn:parley:<role>:<id>');
  }
  const identity = parseIdentityUri(names[0]!.value);
  if (!identity) throw malformed('SAN URI is not urn:parley:<role>:<id> with a valid role and id');
  const subject = readSubject(parts.subject);
  if (subject.role !== identity.role || subject.id !== identity.id) {
    throw malformed('subject does not agree with the SAN identity');
  }

  const notBefore = cert.notBefore;
  const notAfter = cert.notAfter;
  if (!(notBefore.getTime() <= notAfter.getTime())) throw malformed('validity period is empty');

  const parsed: ParsedCertificate = {
    id: identity.id,
    role: identity.role,
    publicKey,
    notBefore,
    notAfter,
    serial,
    fingerprint: sha256Hex(der),
    der,
    pem: certificateToPem(der),
    subject: rfc4514(parts.subject),
    issuer: rfc4514(parts.issuer),
    isCa: bc?.ca === true,
    keyUsage: ku ? usageNames(ku.usages) : [],
  };
  return {
    parsed,
    tbs: parts.tbs,
    signature: parts.signature,
    issuerDer: parts.issuer,
    subjectDer: parts.subject,
    hasKeyUsage: ku !== null,
    subjectKeyId: ski?.keyId.toLowerCase(),
    authorityKeyId: aki?.keyId?.toLowerCase(),
    unknownCritical,
  };
}

/** Parses and profile-checks a certificate (internal form, for verification). */
export function decodeCertificate(input: CertificateInput): DecodedCertificate {
  const der = certificateDer(input);
  if (der.length > MAX_CERTIFICATE_BYTES) throw malformed('certificate is too large');
  try {
    return decode(der);
  } catch (e) {
    if (e instanceof ParleyError) throw e;
    throw malformed('certificate cannot be parsed', e);
  }
}

/** Copy with fresh byte arrays, so callers cannot alter cached state. */
export function copyParsed(p: ParsedCertificate): ParsedCertificate {
  return Object.freeze({
    ...p,
    publicKey: new Uint8Array(p.publicKey),
    der: new Uint8Array(p.der),
    notBefore: new Date(p.notBefore),
    notAfter: new Date(p.notAfter),
    keyUsage: Object.freeze([...p.keyUsage]),
  });
}

/**
 * Parses a certificate (PEM text, DER bytes, or PEM bytes) into the identity it states.
 * Does not check trust, validity time or usage; use `verifyCertificate` for that.
 */
export function parseCertificate(input: string | Uint8Array): ParsedCertificate {
  if (typeof input !== 'string' && !(input instanceof Uint8Array)) {
    throw new TypeError('certificate must be PEM text or DER bytes');
  }
  const der = certificateDer(input);
  // the same certificates come back again and again (every contract names its merchant's):
  // parsed ones are remembered by their exact DER bytes, and every caller gets its own copy
  const key = Buffer.from(der.buffer, der.byteOffset, der.length).toString('latin1');
  let parsed = parsedCertificates.get(key);
  if (!parsed) {
    parsed = decodeCertificate(der).parsed;
    if (parsedCertificates.size >= PARSED_LIMIT) parsedCertificates.delete(parsedCertificates.keys().next().value!);
    parsedCertificates.set(key, parsed);
  }
  return copyParsed(parsed);
}

const PARSED_LIMIT = 512;
const parsedCertificates = new Map<string, ParsedCertificate>();
