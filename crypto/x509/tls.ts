/**
 * Certificates for the broker's TLS listener (not Parley identities): a CA and a server
 * certificate for the addresses clients dial (`127.0.0.1`, `localhost`…). Keys are ECDSA
 * P-256, which Go's crypto/tls (nats-server) and OpenSSL (Node) both accept everywhere.
 * An existing CA may sign instead of a fresh one: its key may be ECDSA P-256 or Ed25519
 * (so the Parley CA itself can serve, when one file of trust is wanted).
 *
 * Clients only check the server; they authenticate with their nkey, not a certificate.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, type webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import { cryptoError } from '../errors.js';
import { randomSerial, resolveValidity } from './build.js';
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  webCrypto,
  X509Certificate,
  X509CertificateGenerator,
} from './lib.js';

/** A certificate and its private key, both PEM (the key PKCS#8). Never log `keyPem`. */
export interface TlsKeyPair {
  certPem: string;
  keyPem: string;
}

export interface TlsCaOptions {
  /** subject common name (default `Parley broker CA`) */
  name?: string;
  /** lifetime in days (default 3650) */
  days?: number;
}

export interface TlsServerOptions {
  /** DNS names and IP addresses the certificate is for (at least one) */
  hosts: string[];
  /** lifetime in days (default 825, never past the CA's end) */
  days?: number;
}

const DNS_RE = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

interface Signer {
  key: webcrypto.CryptoKey;
  alg: { name: string; hash?: string };
}

/** The WebCrypto signing key for a CA key (ECDSA P-256 or Ed25519). */
async function signerOf(key: KeyObject): Promise<Signer> {
  const der = key.export({ format: 'der', type: 'pkcs8' });
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
    return { key: await webCrypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']), alg: { name: 'ECDSA', hash: 'SHA-256' } };
  }
  if (key.asymmetricKeyType === 'ed25519') {
    return { key: await webCrypto.subtle.importKey('pkcs8', der, { name: 'Ed25519' }, false, ['sign']), alg: { name: 'Ed25519' } };
  }
  throw cryptoError('ERR_KEY_INVALID', `a TLS CA key must be ECDSA P-256 or Ed25519, not ${key.asymmetricKeyType ?? 'unknown'}`);
}

function spki(key: KeyObject): Uint8Array {
  return new Uint8Array(createPublicKey(key).export({ format: 'der', type: 'spki' }));
}

function pkcs8Pem(key: KeyObject): string {
  return key.export({ format: 'pem', type: 'pkcs8' }).toString();
}

function newKey(): KeyObject {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}

/**
 * The AKI must repeat the CA's own SKI (OpenSSL skips an issuer whose SKI differs): copied
 * when the CA has one, else computed from its key.
 */
async function authorityKeyId(caCert: X509Certificate, caSpki: Uint8Array): Promise<AuthorityKeyIdentifierExtension> {
  const ski = caCert.getExtension(SubjectKeyIdentifierExtension);
  return ski ? new AuthorityKeyIdentifierExtension(ski.keyId) : AuthorityKeyIdentifierExtension.create(caSpki, false, webCrypto);
}

/** A fresh self-signed CA for the broker's TLS. */
export async function createTlsCa(opts: TlsCaOptions = {}): Promise<TlsKeyPair> {
  const { notBefore, notAfter } = resolveValidity({ days: opts.days }, 3650);
  const key = newKey();
  const signer = await signerOf(key);
  const publicKey = spki(key);
  const name = `CN=${(opts.name ?? 'Parley broker CA').replace(/[,+="\\<>;#]/g, ' ')}, O=Parley`;
  const cert = await X509CertificateGenerator.create(
    {
      serialNumber: randomSerial(),
      subject: name,
      issuer: name,
      notBefore,
      notAfter,
      publicKey,
      signingKey: signer.key,
      signingAlgorithm: signer.alg,
      extensions: [
        new BasicConstraintsExtension(true, 0, true),
        new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
        await SubjectKeyIdentifierExtension.create(publicKey, false, webCrypto),
      ],
    },
    webCrypto,
  );
  return { certPem: cert.toString('pem') + '\n', keyPem: pkcs8Pem(key) };
}

/** A server certificate for `hosts`, signed by `ca` (a CA made by createTlsCa, or another P-256/Ed25519 CA). */
export async function issueTlsServerCertificate(ca: TlsKeyPair, opts: TlsServerOptions): Promise<TlsKeyPair> {
  if (!Array.isArray(opts.hosts) || opts.hosts.length === 0) throw cryptoError('ERR_INVALID_INPUT', 'a server certificate needs at least one host');
  const names = opts.hosts.map((h) => {
    if (typeof h !== 'string') throw cryptoError('ERR_INVALID_INPUT', 'hosts must be strings');
    if (isIP(h)) return { type: 'ip' as const, value: h };
    if (DNS_RE.test(h)) return { type: 'dns' as const, value: h.toLowerCase() };
    throw cryptoError('ERR_INVALID_INPUT', `${JSON.stringify(h)} is neither a DNS name nor an IP address`);
  });
  let caCert: X509Certificate;
  let caKey: KeyObject;
  try {
    caCert = new X509Certificate(ca.certPem);
    caKey = createPrivateKey(ca.keyPem);
  } catch (e) {
    throw cryptoError('ERR_CERT_MALFORMED', 'the TLS CA certificate or key cannot be read', e);
  }
  const caSpki = new Uint8Array(caCert.publicKey.rawData);
  if (Buffer.compare(Buffer.from(caSpki), Buffer.from(spki(caKey))) !== 0) throw cryptoError('ERR_KEY_INVALID', 'the TLS CA key does not belong to the CA certificate');
  const signer = await signerOf(caKey);
  const validity = resolveValidity({ days: opts.days }, 825);
  const notAfter = new Date(Math.min(validity.notAfter.getTime(), caCert.notAfter.getTime()));
  const key = newKey();
  const publicKey = spki(key);
  const cert = await X509CertificateGenerator.create(
    {
      serialNumber: randomSerial(),
      subject: `CN=${names[0]!.value}, O=Parley`,
      // the CA's subject as encoded in its certificate, so chain building matches it byte for byte
      issuer: caCert.subjectName,
      notBefore: validity.notBefore,
      notAfter,
      publicKey,
      signingKey: signer.key,
      signingAlgorithm: signer.alg,
      extensions: [
        new BasicConstraintsExtension(false, undefined, true),
        new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true),
        new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth]),
        new SubjectAlternativeNameExtension(names),
        await SubjectKeyIdentifierExtension.create(publicKey, false, webCrypto),
        await authorityKeyId(caCert, caSpki),
      ],
    },
    webCrypto,
  );
  return { certPem: cert.toString('pem') + '\n', keyPem: pkcs8Pem(key) };
}
