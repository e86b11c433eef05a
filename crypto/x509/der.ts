/**
 * A minimal, strict DER reader (X.690 §10) for the outer layers of a certificate: it
 * splits Certificate into tbsCertificate / signatureAlgorithm / signatureValue and
 * tbsCertificate into its fields, so the signature is checked over the exact bytes that
 * were signed. Definite, minimal lengths and single-byte tags only; anything else is
 * ERR_CERT_MALFORMED. Deeper structures (names, extensions) are left to @peculiar/x509.
 */
import { cryptoError } from '../errors.js';

export interface Tlv {
  tag: number;
  /** offset of the tag byte */
  start: number;
  /** offset of the first content byte */
  body: number;
  /** offset just past the content */
  end: number;
}

function malformed(message: string): never {
  throw cryptoError('ERR_CERT_MALFORMED', message);
}

export function readTlv(buf: Uint8Array, pos: number, limit: number): Tlv {
  if (pos + 2 > limit) malformed('truncated DER element');
  const tag = buf[pos]!;
  if ((tag & 0x1f) === 0x1f) malformed('multi-byte DER tags are not used in certificates');
  const first = buf[pos + 1]!;
  let len: number;
  let body = pos + 2;
  if (first < 0x80) len = first;
  else {
    const n = first & 0x7f;
    if (n === 0) malformed('indefinite length is not DER');
    if (n > 3) malformed('DER length too large');
    if (body + n > limit) malformed('truncated DER length');
    if (buf[body] === 0) malformed('non-minimal DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[body + i]!;
    if (len < 0x80) malformed('non-minimal DER length');
    body += n;
  }
  const end = body + len;
  if (end > limit) malformed('DER element runs past its container');
  return { tag, start: pos, body, end };
}

/** The elements inside a constructed element; they must fill it exactly. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  if ((parent.tag & 0x20) === 0) malformed('expected a constructed DER element');
  const out: Tlv[] = [];
  let pos = parent.body;
  while (pos < parent.end) {
    const t = readTlv(buf, pos, parent.end);
    out.push(t);
    pos = t.end;
  }
  return out;
}

export function bytesOf(buf: Uint8Array, t: Tlv): Uint8Array {
  return buf.subarray(t.start, t.end);
}

export function contentOf(buf: Uint8Array, t: Tlv): Uint8Array {
  return buf.subarray(t.body, t.end);
}

export interface CertificateParts {
  tbs: Uint8Array;
  signatureAlgorithm: Uint8Array;
  tbsSignatureAlgorithm: Uint8Array;
  /** BIT STRING content without its unused-bits byte; undefined if that byte is not 0 */
  signature: Uint8Array | undefined;
  serial: Uint8Array;
  issuer: Uint8Array;
  subject: Uint8Array;
  spki: Uint8Array;
}

const TBS_TAGS = [0xa0, 0x02, 0x30, 0x30, 0x30, 0x30, 0x30, 0xa3];

/**
 * Splits an X.509 v3 certificate (RFC 5280 §4.1). Requires the version field to be v3
 * and extensions to be present; issuer/subject unique ids are not part of the profile.
 */
export function splitCertificate(der: Uint8Array): CertificateParts {
  const top = readTlv(der, 0, der.length);
  if (top.tag !== 0x30 || top.end !== der.length) malformed('certificate is not one DER SEQUENCE');
  const parts = children(der, top);
  if (parts.length !== 3) malformed('certificate must have three parts');
  const [tbsT, algT, sigT] = parts as [Tlv, Tlv, Tlv];
  if (tbsT.tag !== 0x30 || algT.tag !== 0x30 || sigT.tag !== 0x03) malformed('unexpected certificate structure');
  const fields = children(der, tbsT);
  if (fields.length !== TBS_TAGS.length || fields.some((f, i) => f.tag !== TBS_TAGS[i])) {
    malformed('tbsCertificate does not have the v3 fields in order');
  }
  const [versionT, serialT, tbsAlgT, issuerT, , subjectT, spkiT] = fields as Tlv[] as [Tlv, Tlv, Tlv, Tlv, Tlv, Tlv, Tlv];
  const version = contentOf(der, versionT);
  if (version.length !== 3 || version[0] !== 0x02 || version[1] !== 0x01 || version[2] !== 0x02) {
    malformed('certificate is not X.509 v3');
  }
  const bits = contentOf(der, sigT);
  return {
    tbs: bytesOf(der, tbsT),
    signatureAlgorithm: bytesOf(der, algT),
    tbsSignatureAlgorithm: bytesOf(der, tbsAlgT),
    signature: bits.length > 0 && bits[0] === 0 ? bits.subarray(1) : undefined,
    serial: contentOf(der, serialT),
    issuer: bytesOf(der, issuerT),
    subject: bytesOf(der, subjectT),
    spki: bytesOf(der, spkiT),
  };
}
