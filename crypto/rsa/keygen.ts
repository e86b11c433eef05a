/**
 * Per-session RSA keys: generation by OpenSSL, import from JWK or PEM (with consistency
 * checks), and export as JWK.
 *
 * Every purchase session gets its own key (PROTOCOL.md "Keys and identities"): the Agent
 * Home learns d2 and e1, which together with e let it factor n (Dodis–Reyzin), so the key
 * must be good for nothing beyond that one session.
 */
import { generateKeyPair, createPrivateKey, type JsonWebKey } from 'node:crypto';
import { promisify } from 'node:util';
import { b64uToBigint, bigintToB64u } from '../bytes.js';
import { cryptoError } from '../errors.js';
import { checkPublicKey, isKeySize } from './checks.js';
import { RSA_KEY_SIZES, SESSION_PUBLIC_EXPONENT, type RsaPrivateKey, type RsaPublicKey } from './types.js';
import { checkPrivateKeyValues, rememberKeyObject } from './validate.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/**
 * A fresh RSA session key with e = 65537. Only 2048, 3072 and 4096 bits are accepted:
 * smaller moduli are refused with ERR_KEY_SIZE.
 */
export async function generateSessionKey(bits: number = 2048): Promise<RsaPrivateKey> {
  if (typeof bits !== 'number') throw new TypeError('bits must be a number');
  if (!isKeySize(bits)) {
    throw cryptoError('ERR_KEY_SIZE', `session keys must have ${RSA_KEY_SIZES.join(', ')} bits, not ${bits}`);
  }
  const { privateKey } = await generateKeyPairAsync('rsa', { modulusLength: bits, publicExponent: Number(SESSION_PUBLIC_EXPONENT) });
  const key = rsaKeyFromJwk(privateKey.export({ format: 'jwk' }));
  rememberKeyObject(key, privateKey);
  return key;
}

function member(jwk: Record<string, unknown>, name: string): bigint {
  const v = jwk[name];
  if (typeof v !== 'string') throw cryptoError('ERR_KEY_INVALID', `JWK member "${name}" is missing`);
  try {
    return b64uToBigint(v, `JWK member "${name}"`);
  } catch (e) {
    throw cryptoError('ERR_KEY_INVALID', `JWK member "${name}" is not a base64url integer`, e);
  }
}

/**
 * Private key from an RSA JWK (RFC 7518 §6.3) with all CRT members; multi-prime keys
 * ("oth") are refused. Checks n = p·q, e·d ≡ 1 (mod λ(n)), the CRT values and the size.
 * Any odd e ≥ 3 is accepted here (test vectors use e = 3); the protocol layer insists on
 * e = 65537 for session keys.
 */
export function rsaKeyFromJwk(jwk: unknown): RsaPrivateKey {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw new TypeError('jwk must be an object');
  const j = jwk as Record<string, unknown>;
  if (j.kty !== 'RSA') throw cryptoError('ERR_KEY_INVALID', 'JWK is not an RSA key');
  if (j.oth !== undefined) throw cryptoError('ERR_KEY_INVALID', 'multi-prime RSA keys are not supported');
  return checkPrivateKeyValues({
    n: member(j, 'n'),
    e: member(j, 'e'),
    d: member(j, 'd'),
    p: member(j, 'p'),
    q: member(j, 'q'),
    dp: member(j, 'dp'),
    dq: member(j, 'dq'),
    qi: member(j, 'qi'),
  });
}

/** Private key from PEM: PKCS#1 "RSA PRIVATE KEY" or PKCS#8 "PRIVATE KEY". */
export function rsaKeyFromPem(pem: string): RsaPrivateKey {
  if (typeof pem !== 'string') throw new TypeError('pem must be a string');
  let jwk: JsonWebKey;
  try {
    const object = createPrivateKey({ key: pem, format: 'pem' });
    if (object.asymmetricKeyType !== 'rsa') throw new Error(`key type ${object.asymmetricKeyType}`);
    jwk = object.export({ format: 'jwk' });
  } catch (e) {
    throw cryptoError('ERR_KEY_INVALID', 'not an RSA private key in PEM', e);
  }
  return rsaKeyFromJwk(jwk);
}

/** The public half {n, e} (a new plain object without secrets). */
export function rsaPublicKey(key: RsaPublicKey): RsaPublicKey {
  checkPublicKey(key, 'key');
  return Object.freeze({ n: key.n, e: key.e });
}

/** Public JWK {kty, n, e} (what `crypto.createPublicKey({format: 'jwk'})` and jose take). */
export function rsaPublicJwk(pub: RsaPublicKey): { kty: 'RSA'; n: string; e: string } {
  checkPublicKey(pub);
  return { kty: 'RSA', n: bigintToB64u(pub.n), e: bigintToB64u(pub.e) };
}

/** Private JWK with CRT members. Secret: store it encrypted, never log it. */
export function rsaPrivateJwk(key: RsaPrivateKey): Record<'kty' | 'n' | 'e' | 'd' | 'p' | 'q' | 'dp' | 'dq' | 'qi', string> {
  const k = checkPrivateKeyValues(key);
  return {
    kty: 'RSA',
    n: bigintToB64u(k.n),
    e: bigintToB64u(k.e),
    d: bigintToB64u(k.d),
    p: bigintToB64u(k.p),
    q: bigintToB64u(k.q),
    dp: bigintToB64u(k.dp),
    dq: bigintToB64u(k.dq),
    qi: bigintToB64u(k.qi),
  };
}
