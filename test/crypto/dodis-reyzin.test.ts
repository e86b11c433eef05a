/**
 * The Dodis–Reyzin attack on the report's scheme ("Breaking and repairing optimistic fair
 * exchange from PODC 2003", 2003), run for real.
 *
 * The Agent Home holds d2 and sees e and e1. Then e·e1·d2 − e1 + e is a multiple of λ(n):
 * e·e1·d2 ≡ e1·(e·d) − e·(e1·d1) ≡ e1 − e (mod λ(n)). Knowing a multiple of λ(n) factors n.
 * So an arbiter that escrows d2 for a long-term key learns that key. This is why Parley
 * gives every purchase session its own RSA key (PROTOCOL.md "Per-session contract key"):
 * the factors the AH can recover are only good for the one session they belong to.
 * DO NOT "optimise" session keys away into a reused long-term key: this test shows why.
 *
 * The attack lives here, in the tests, on purpose: nothing in crypto/ should ship it.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { gcd, modPow, randBetween } from 'bigint-crypto-utils';
import { splitKey, type RsaPublicKey } from '../../crypto/rsa/index.js';
import { sharedSessionKey } from '../helpers/session-keys.js';

/**
 * Factors n given a multiple k of λ(n) (the standard randomized reduction, e.g. Boneh,
 * "Twenty years of attacks on the RSA cryptosystem", §1): write k = 2^s·t with t odd; for a
 * random a, the sequence a^t, a^(2t), … reaches 1, and with probability ≥ 1/2 the element
 * just before the first 1 is a square root of 1 other than ±1, whose gcd with n splits n.
 */
function factorFromLambdaMultiple(n: bigint, k: bigint, maxTries = 100): { p: bigint; q: bigint } {
  let t = k;
  let s = 0;
  while ((t & 1n) === 0n) {
    t >>= 1n;
    s++;
  }
  for (let attempt = 0; attempt < maxTries; attempt++) {
    const a = randBetween(n - 2n, 2n);
    const g = gcd(a, n);
    if (g !== 1n) return order(g, n / g);
    let x = modPow(a, t, n);
    if (x === 1n || x === n - 1n) continue;
    for (let i = 0; i < s; i++) {
      const y = (x * x) % n;
      if (y === 1n) return order(gcd(x - 1n, n), n / gcd(x - 1n, n));
      if (y === n - 1n) break;
      x = y;
    }
  }
  throw new Error('no factor found');
}

function order(a: bigint, b: bigint): { p: bigint; q: bigint } {
  return a < b ? { p: a, q: b } : { p: b, q: a };
}

/** Everything the Agent Home sees: the public key, e1 (voucher) and d2 (escrow). */
function attack(pub: RsaPublicKey, e1: bigint, d2: bigint): { p: bigint; q: bigint } {
  const k = pub.e * e1 * d2 - e1 + pub.e;
  return factorFromLambdaMultiple(pub.n, k);
}

const dr = suite('dodis-reyzin attack');

dr('an Agent Home holding d2, e1 and e recovers p and q of the session key', async () => {
  const key = await sharedSessionKey(2048);
  const split = splitKey(key);
  const lambda = ((key.p - 1n) * (key.q - 1n)) / gcd(key.p - 1n, key.q - 1n);
  const k = key.e * split.e1 * split.d2 - split.e1 + key.e;
  assert.is(k % lambda, 0n, 'e·e1·d2 − e1 + e is a multiple of λ(n)');
  const found = attack({ n: key.n, e: key.e }, split.e1, split.d2);
  assert.equal(found, order(key.p, key.q), 'recovered factors equal the key’s p and q');
});

dr('the recovered factors are useless for another session’s key', async () => {
  const key = await sharedSessionKey(2048);
  const otherSession = await sharedSessionKey(3072);
  const split = splitKey(key);
  const { p, q } = attack(key, split.e1, split.d2);
  assert.is.not(otherSession.n % p, 0n);
  assert.is.not(otherSession.n % q, 0n);
});

dr.run();
