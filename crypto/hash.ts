/**
 * SHA-256 on hot paths (link hashes, payload hashes, bid chains, PKCS#1 digests) through
 * OpenSSL, several times faster than JavaScript for these sizes. @noble/hashes stays the
 * implementation inside HKDF; the tests compare results against independent code.
 */
import { createHash, hash } from 'node:crypto';

/** SHA-256 of the concatenation of `parts`. */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  // one part: one-shot, without a hash object (several times cheaper for small inputs)
  if (parts.length === 1) return new Uint8Array(hash('sha256', parts[0]!, 'buffer'));
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/**
 * SHA-256 of `data` as a 'binary' string, one char per byte (char code = byte), for
 * digests that are only compared: for small inputs a Buffer result costs more than the
 * hashing itself.
 */
export function sha256Binary(data: Uint8Array): string {
  return hash('sha256', data, 'binary');
}
