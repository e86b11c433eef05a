/**
 * The limit benchmark's crypto counter (bench/limit-count.ts) sees the Ed25519 calls the
 * implementation makes, whichever library runs them: were crypto/ed25519.ts to hold
 * libsodium's functions in variables of its own, the counter would miss every signature and
 * the `limit` figure would come out too high.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { utf8 } from '../../crypto/bytes.js';
import { ed25519Sign, ed25519Verify, generateIdentityKey } from '../../crypto/ed25519.js';
import { countCrypto } from '../../bench/limit-count.js';

test('every Ed25519 signature and verification is counted, a repeat as not distinct', () => {
  const { secretKey, publicKey } = generateIdentityKey();
  const counter = countCrypto(() => 'party');
  let counts;
  try {
    const msg = utf8('parley/test counted');
    const sig = ed25519Sign(msg, secretKey);
    ed25519Sign(msg, secretKey);
    // a failing check is never remembered, so each of these reaches the library
    const bad = new Uint8Array(sig);
    bad[0] = (bad[0] as number) ^ 1;
    assert.not.ok(ed25519Verify(bad, msg, publicKey));
    assert.not.ok(ed25519Verify(bad, msg, publicKey));
    assert.ok(ed25519Verify(sig, utf8('parley/test counted'), publicKey));
  } finally {
    counts = counter.stop();
  }
  assert.equal(counts.get('ed25519 sign'), { count: 2, distinct: 1, bytes: 38, distinctBytes: 19 });
  const v = counts.get('ed25519 verify');
  assert.is(v?.count, 3);
  assert.is(v?.distinct, 2, 'the same failing check twice is one distinct operation');
  assert.is(counter.byParty.get('party'), 5);
});

test('after stop, calls are no longer counted', () => {
  const counter = countCrypto();
  const counts = counter.stop();
  const { secretKey } = generateIdentityKey();
  ed25519Sign(utf8('after'), secretKey);
  assert.is(counts.get('ed25519 sign'), undefined);
});

test.run();
