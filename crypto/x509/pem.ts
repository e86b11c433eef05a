/**
 * PEM armour for certificates (RFC 7468 §5, strict form): exactly one
 * `CERTIFICATE` block, canonical base64, nothing but whitespace around it.
 */
import { cryptoError } from '../errors.js';

const BLOCK = /^\s*-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n]+?)-----END CERTIFICATE-----\s*$/;

export function certificateToPem(der: Uint8Array): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

export function pemToCertificateDer(pem: string): Uint8Array {
  const m = BLOCK.exec(pem);
  if (!m) throw cryptoError('ERR_CERT_MALFORMED', 'expected exactly one PEM CERTIFICATE block');
  const b64 = m[1]!.replace(/\r?\n/g, '');
  const der = Buffer.from(b64, 'base64');
  if (der.length === 0 || der.toString('base64') !== b64) {
    throw cryptoError('ERR_CERT_MALFORMED', 'PEM body is not canonical base64');
  }
  return new Uint8Array(der);
}

/** True when the bytes look like PEM text rather than DER. */
export function looksLikePem(bytes: Uint8Array): boolean {
  return bytes.length > 10 && Buffer.from(bytes.subarray(0, 64)).toString('latin1').trimStart().startsWith('-----BEGIN');
}
