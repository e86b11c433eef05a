/**
 * SHA-256 on hot paths (link hashes, payload hashes, bid chains, PKCS#1 digests) through
 * OpenSSL, several times faster than JavaScript for these sizes. @noble/hashes stays the
 * implementation inside HKDF; the tests compare results against independent code.
 */
import { createHash } from 'node:crypto';

/** SHA-256 of the concatenation of `parts`. */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}
