/**
 * The buyer's per-session RSA key and its split, to and from the session file. Restoring
 * re-checks the key and the split, so a damaged file is refused rather than used.
 */
import { b64uToBigint, bigintToB64u } from '../crypto/bytes.js';
import { checkSplit, rsaKeyFromJwk, rsaPrivateJwk, type RsaPrivateKey, type SplitKey } from '../crypto/rsa/index.js';
import type { StoredKey } from './state.js';

export interface SessionKey {
  key: RsaPrivateKey;
  split: SplitKey;
}

export function storeKey(k: SessionKey): StoredKey {
  const s = k.split;
  return {
    jwk: rsaPrivateJwk(k.key),
    e1: bigintToB64u(s.e1),
    d1: bigintToB64u(s.d1),
    d2: bigintToB64u(s.d2),
    d1p: bigintToB64u(s.d1p),
    d1q: bigintToB64u(s.d1q),
    qi: bigintToB64u(s.qi),
  };
}

export function restoreKey(stored: StoredKey): SessionKey {
  const key = rsaKeyFromJwk(stored.jwk);
  const split: SplitKey = {
    n: key.n,
    e1: b64uToBigint(stored.e1, 'e1'),
    d1: b64uToBigint(stored.d1, 'd1'),
    d2: b64uToBigint(stored.d2, 'd2'),
    d1p: b64uToBigint(stored.d1p, 'd1p'),
    d1q: b64uToBigint(stored.d1q, 'd1q'),
    qi: b64uToBigint(stored.qi, 'qi'),
  };
  checkSplit(key, split);
  return { key, split };
}
