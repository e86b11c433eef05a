/**
 * The part of sodium-native (libsodium bindings) that crypto/ed25519.ts uses. The package
 * ships no types of its own, and @types/sodium-native describes an older major version.
 */
declare module 'sodium-native' {
  interface Sodium {
    /** Derives the key pair of a 32-byte seed; `sk` receives seed ‖ public key. */
    crypto_sign_seed_keypair(pk: Uint8Array, sk: Uint8Array, seed: Uint8Array): void;
    /** Writes the 64-byte signature of `m` under `sk` into `sig`. */
    crypto_sign_detached(sig: Uint8Array, m: Uint8Array, sk: Uint8Array): void;
    crypto_sign_verify_detached(sig: Uint8Array, m: Uint8Array, pk: Uint8Array): boolean;
  }
  const sodium: Sodium;
  export default sodium;
}
