/**
 * The one door to @peculiar/x509: it needs `reflect-metadata` loaded before it (its
 * dependency injection reads decorator metadata), so every x509 module imports the
 * library from here, never directly. Also the WebCrypto provider and key import used to
 * sign certificates.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { ed25519Pkcs8Der } from '../ed25519.js';

export {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  Extension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  Name,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509Certificate,
  X509CertificateGenerator,
} from '@peculiar/x509';

/** Node's WebCrypto, passed explicitly so no global provider state is involved. */
export const webCrypto = webcrypto;

/** Imports a 32-byte Ed25519 seed as a non-extractable WebCrypto signing key (via PKCS#8). */
export function importSigningKey(seed: Uint8Array): Promise<webcrypto.CryptoKey> {
  return webCrypto.subtle.importKey('pkcs8', ed25519Pkcs8Der(seed), { name: 'Ed25519' }, false, ['sign']);
}
