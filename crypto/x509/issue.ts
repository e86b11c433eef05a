/**
 * Issuing a party certificate: subject `CN=<id>,OU=<role>,O=Parley`, SAN URI
 * `urn:parley:<role>:<id>`, basicConstraints cA=FALSE (critical), keyUsage
 * digitalSignature (critical), subject and authority key identifiers, and a random
 * 127-bit serial. The certificate may not outlive its CA.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { equalBytes } from '../bytes.js';
import { identityPublicKey } from '../ed25519.js';
import { cryptoError } from '../errors.js';
import { keyIdentifier, resolveValidity, signCertificate, type ValidityOptions } from './build.js';
import type { CertificateAuthority } from './create-ca.js';
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
} from './lib.js';
import { decodeCertificate, type ParsedCertificate } from './parse.js';
import { assertPartyId, DEFAULT_LEAF_DAYS, identityUri, isPartyRole, type PartyRole } from './profile.js';

export interface IssueOptions extends ValidityOptions {
  role: PartyRole;
  id: string;
  /** the party's 32-byte Ed25519 public key */
  publicKey: Uint8Array;
}

export async function issueCertificate(ca: CertificateAuthority, opts: IssueOptions): Promise<ParsedCertificate> {
  if (!ca || !(ca.secretKey instanceof Uint8Array) || !ca.certificate) throw new TypeError('ca must be { certificate, secretKey }');
  if (!(opts.publicKey instanceof Uint8Array) || opts.publicKey.length !== 32) throw new TypeError('publicKey must be 32 bytes');
  if (!isPartyRole(opts.role)) throw cryptoError('ERR_INVALID_INPUT', 'role must be buyer, merchant or agent-home');
  assertPartyId(opts.id);
  try {
    ed25519.Point.fromBytes(opts.publicKey);
  } catch (e) {
    throw cryptoError('ERR_INVALID_INPUT', 'publicKey is not a valid Ed25519 point', e);
  }

  const caCert = decodeCertificate(ca.certificate.der);
  if (!caCert.parsed.isCa || caCert.parsed.role !== 'ca') throw cryptoError('ERR_CERT_USAGE', 'issuer certificate is not a CA certificate');
  if (!equalBytes(identityPublicKey(ca.secretKey), caCert.parsed.publicKey)) {
    throw cryptoError('ERR_INVALID_INPUT', 'CA secret key does not match the CA certificate');
  }
  const { notBefore, notAfter } = resolveValidity(opts, DEFAULT_LEAF_DAYS);
  if (notAfter.getTime() > caCert.parsed.notAfter.getTime()) {
    throw cryptoError('ERR_INVALID_INPUT', `certificate would outlive its CA (CA expires ${caCert.parsed.notAfter.toISOString()})`);
  }

  const der = await signCertificate({
    role: opts.role,
    id: opts.id,
    publicKey: opts.publicKey,
    issuerDer: caCert.subjectDer,
    signingSeed: ca.secretKey,
    notBefore,
    notAfter,
    extensions: [
      new BasicConstraintsExtension(false, undefined, true),
      new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true),
      new SubjectKeyIdentifierExtension(keyIdentifier(opts.publicKey)),
      new AuthorityKeyIdentifierExtension(caCert.subjectKeyId ?? keyIdentifier(caCert.parsed.publicKey)),
      new SubjectAlternativeNameExtension([{ type: 'url', value: identityUri(opts.role, opts.id) }]),
    ],
  });
  return decodeCertificate(der).parsed;
}
