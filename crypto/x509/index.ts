/**
 * Parley's X.509 layer: Ed25519 certificates for the CA and the parties (buyer,
 * merchant, agent-home), with the role and id in the certificate, and verification of
 * a party certificate against the trusted CA.
 */
export { createCa, type CertificateAuthority, type CreateCaOptions } from './create-ca.js';
export { issueCertificate, type IssueOptions } from './issue.js';
export { parseCertificate, KEY_USAGES, type CertificateInput, type KeyUsageName, type ParsedCertificate } from './parse.js';
export { verifyCertificate, verifyCaCertificate, clearCertificateCache, type VerifyOptions } from './verify.js';
export { certificateToPem } from './pem.js';
export type { ValidityOptions } from './build.js';
export {
  ROLES,
  PARTY_ROLES,
  DEFAULT_CA_ID,
  DEFAULT_CA_DAYS,
  DEFAULT_LEAF_DAYS,
  MAX_DAYS,
  BACKDATE_MS,
  isRole,
  isPartyRole,
  isPartyId,
  assertPartyId,
  identityUri,
  parseIdentityUri,
  type Role,
  type PartyRole,
} from './profile.js';
