/**
 * What the agent runtime needs to know about parties: who this host is (its id, role,
 * signing key and certificate) and how to check another party's certificate against the
 * CA. The runtime depends only on the `Trust` interface; `caTrust` implements it with
 * crypto/x509 (chain to the CA, validity now, role), whose verified-certificate cache keeps
 * repeated checks of the same certificate cheap.
 */
import { parseCertificate, verifyCertificate, type CertificateInput } from '../../crypto/x509/index.js';
import { ed25519SeedFromPem, identityPublicKey } from '../../crypto/ed25519.js';
import { equalBytes } from '../../crypto/bytes.js';
import { parleyError } from '../../protocol/errors.js';
import type { Role } from '../../crypto/x509/profile.js';

export type { Role };

export interface PartyIdentity {
  id: string;
  role: Role;
  publicKey: Uint8Array;
}

/** A party able to sign: its secret key never leaves the process. */
export interface Self extends PartyIdentity {
  secretKey: Uint8Array;
  certPem: string;
}

export interface Trust {
  /**
   * Verifies `certPem` against the CA (chain, validity now, role among `roles`) and returns
   * the identity it certifies; throws a coded ParleyError otherwise.
   */
  verify(certPem: string, roles: readonly Role[]): PartyIdentity;
}

const TRUST_CACHE_LIMIT = 1024;

/**
 * Trust anchored in one CA certificate. Certificates that verified once are remembered by
 * their exact text (a hot path: every hop checks several), and their validity period and
 * role are still checked on every call; the CA's own validity is re-checked by the full
 * verification whenever a certificate is not in the cache.
 */
export function caTrust(caCert: CertificateInput): Trust {
  const ca = typeof caCert === 'object' && 'der' in caCert ? caCert : parseCertificate(caCert);
  const seen = new Map<string, { identity: PartyIdentity; notBefore: number; notAfter: number }>();
  return {
    verify(certPem, roles) {
      const hit = seen.get(certPem);
      const now = Date.now();
      if (hit && now >= hit.notBefore && now <= hit.notAfter && now <= ca.notAfter.getTime() && roles.includes(hit.identity.role)) {
        return hit.identity;
      }
      // full path: gives the precise error (expired, wrong role, chain…) on any failure
      const c = verifyCertificate(certPem, ca, { role: roles });
      const identity = { id: c.id, role: c.role, publicKey: c.publicKey };
      if (seen.size >= TRUST_CACHE_LIMIT) seen.delete(seen.keys().next().value!);
      seen.set(certPem, { identity, notBefore: c.notBefore.getTime(), notAfter: c.notAfter.getTime() });
      return identity;
    },
  };
}

/** Builds `Self` from a certificate and its PKCS#8 key, checking that they belong together. */
export function selfFrom(certPem: string, keyPem: string): Self {
  const cert = parseCertificate(certPem);
  const secretKey = ed25519SeedFromPem(keyPem);
  if (!equalBytes(identityPublicKey(secretKey), cert.publicKey)) {
    throw parleyError('ERR_KEY_FILE', `the key does not match the certificate of ${cert.id}`);
  }
  return { id: cert.id, role: cert.role, publicKey: cert.publicKey, secretKey, certPem: cert.pem };
}
