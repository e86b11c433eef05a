/**
 * Shapes of the RSA values Parley passes around. All integers are bigints; signatures and
 * partial signatures travel as byte strings exactly as long as the modulus (RFC 8017 I2OSP).
 */

/** Modulus sizes a session key may have (bits). Anything smaller is refused. */
export const RSA_KEY_SIZES = [2048, 3072, 4096] as const;
export type RsaKeySize = (typeof RSA_KEY_SIZES)[number];

/** The public exponent of every generated session key. */
export const SESSION_PUBLIC_EXPONENT = 65537n;

export interface RsaPublicKey {
  readonly n: bigint;
  readonly e: bigint;
}

/**
 * A complete RSA private key with its CRT values (RFC 8017 §3.2, two primes).
 * `d` may be e⁻¹ mod λ(n) (what OpenSSL produces) or e⁻¹ mod φ(n). Secret: never log it.
 */
export interface RsaPrivateKey extends RsaPublicKey {
  readonly d: bigint;
  readonly p: bigint;
  readonly q: bigint;
  readonly dp: bigint;
  readonly dq: bigint;
  readonly qi: bigint;
  readonly bits: RsaKeySize;
}

/**
 * A split of the private exponent: d1 + d2 ≡ d (mod φ(n)) and e1·d1 ≡ 1 (mod φ(n)).
 * The buyer keeps everything; the Agent Home receives only `d2` (sealed); anyone holding the
 * voucher learns `e1`. `d1p`, `d1q` and `qi` let OpenSSL compute m^d1 with the CRT.
 */
export interface SplitKey {
  readonly n: bigint;
  readonly e1: bigint;
  readonly d1: bigint;
  readonly d2: bigint;
  /** d1 mod (p − 1) */
  readonly d1p: bigint;
  /** d1 mod (q − 1) */
  readonly d1q: bigint;
  /** q⁻¹ mod p */
  readonly qi: bigint;
}
