/**
 * Creating a Parley CA: a fresh Ed25519 key and a self-signed X.509 v3 certificate with
 * basicConstraints cA=TRUE (critical), keyUsage keyCertSign|cRLSign (critical), a
 * subject key identifier and the SAN URI `urn:parley:ca:<id>`.
 */
import { generateIdentityKey } from '../ed25519.js';
import { keyIdentifier, resolveValidity, signCertificate, type ValidityOptions } from './build.js';
import { BasicConstraintsExtension, KeyUsageFlags, KeyUsagesExtension, SubjectAlternativeNameExtension, SubjectKeyIdentifierExtension } from './lib.js';
import { decodeCertificate, type ParsedCertificate } from './parse.js';
import { assertPartyId, DEFAULT_CA_DAYS, DEFAULT_CA_ID, identityUri } from './profile.js';

/** A CA certificate with its signing seed. Never log, print or send `secretKey`. */
export interface CertificateAuthority {
  certificate: ParsedCertificate;
  /** 32-byte Ed25519 seed */
  secretKey: Uint8Array;
}

export interface CreateCaOptions extends ValidityOptions {
  /** CA id (party-id syntax); default `parley-ca` */
  id?: string;
}

export async function createCa(opts: CreateCaOptions = {}): Promise<CertificateAuthority> {
  const id = opts.id ?? DEFAULT_CA_ID;
  assertPartyId(id, 'CA id');
  const { notBefore, notAfter } = resolveValidity(opts, DEFAULT_CA_DAYS);
  const { secretKey, publicKey } = generateIdentityKey();
  const der = await signCertificate({
    role: 'ca',
    id,
    publicKey,
    signingSeed: secretKey,
    notBefore,
    notAfter,
    extensions: [
      new BasicConstraintsExtension(true, undefined, true),
      new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
      new SubjectKeyIdentifierExtension(keyIdentifier(publicKey)),
      new SubjectAlternativeNameExtension([{ type: 'url', value: identityUri('ca', id) }]),
    ],
  });
  return { certificate: decodeCertificate(der).parsed, secretKey };
}
