/**
 * Ed25519 identity keys: libsodium (the implementation in use), OpenSSL (node:crypto) and
 * noble produce byte-identical signatures and accept each other's; tampering is rejected
 * by all three; the PKCS#8 PEM key files round-trip; and all three agree with every
 * Wycheproof verdict.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fromHex, toHex, utf8 } from '../../crypto/bytes.js';
import {
  ed25519PrivateKeyPem,
  ed25519SeedFromPem,
  ed25519SignNoble,
  ed25519Sign,
  ed25519VerifyNoble,
  ed25519Verify,
  ed25519SignOpenssl,
  ed25519VerifyOpenssl,
  ED25519_BACKEND,
  generateIdentityKey,
  identityPublicKey,
  scopeVerifiedSignatures,
} from '../../crypto/ed25519.js';
import { flipBit, throwsCode } from '../helpers/assert.js';
import { noteMissingVectors, wycheproofDir } from '../helpers/paths.js';

test('libsodium is loaded here (on a platform without it, Parley falls back to OpenSSL)', () => {
  assert.is(ED25519_BACKEND, 'libsodium');
});

test('RFC 8032 §7.1 test 1, by all three implementations', () => {
  const sk = fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
  const pk = fromHex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
  const sig = 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';
  assert.equal(identityPublicKey(sk), pk);
  assert.is(toHex(ed25519SignNoble(new Uint8Array(0), sk)), sig);
  assert.is(toHex(ed25519Sign(new Uint8Array(0), sk)), sig);
  assert.is(toHex(ed25519SignOpenssl(new Uint8Array(0), sk)), sig);
  assert.ok(ed25519VerifyNoble(fromHex(sig), new Uint8Array(0), pk));
  assert.ok(ed25519Verify(fromHex(sig), new Uint8Array(0), pk));
  assert.ok(ed25519VerifyOpenssl(fromHex(sig), new Uint8Array(0), pk));
});

test('libsodium, OpenSSL and noble signatures are byte-identical and cross-verify', () => {
  for (let i = 0; i < 40; i++) {
    const { secretKey, publicKey } = generateIdentityKey();
    // a view into a larger buffer as well as whole arrays
    const msg = i % 2 ? randomBytes(i * 17) : new Uint8Array(randomBytes(i * 17 + 9)).subarray(5, 5 + i * 17);
    const a = ed25519SignNoble(msg, secretKey);
    const b = ed25519Sign(msg, secretKey);
    const c = ed25519SignOpenssl(msg, secretKey);
    assert.equal(b, a, `libsodium signature ${i} differs`);
    assert.equal(c, a, `OpenSSL signature ${i} differs`);
    assert.ok(ed25519VerifyNoble(b, msg, publicKey), 'noble verifies libsodium');
    assert.ok(ed25519Verify(a, msg, publicKey), 'libsodium verifies noble');
    assert.ok(ed25519VerifyOpenssl(b, msg, publicKey), 'OpenSSL verifies libsodium');
  }
});

test('a remembered verification stands only for the exact bytes verified', () => {
  const { secretKey, publicKey } = generateIdentityKey();
  const msg = utf8('parley/test remembered');
  const sig = ed25519Sign(msg, secretKey);
  // a failure is not remembered: the same triple fails again, and a later good one passes
  assert.not.ok(ed25519Verify(flipBit(sig, 40), msg, publicKey));
  assert.not.ok(ed25519Verify(flipBit(sig, 40), msg, publicKey));
  assert.ok(ed25519Verify(sig, msg, publicKey));
  assert.ok(ed25519Verify(sig, msg.slice(), publicKey), 'same bytes in another array');
  // after the success, every change is still caught
  assert.not.ok(ed25519Verify(sig, flipBit(msg, 9), publicKey), 'message');
  assert.not.ok(ed25519Verify(sig, msg.subarray(1), publicKey), 'shorter message');
  assert.not.ok(ed25519Verify(flipBit(sig, 3), msg, publicKey), 'R');
  assert.not.ok(ed25519Verify(addL(sig), msg, publicKey), 'S + L');
  assert.not.ok(ed25519Verify(sig, msg, flipBit(publicKey, 17)), 'key');
  assert.not.ok(ed25519Verify(sig, msg, generateIdentityKey().publicKey), 'other key');
  // the array verified before, rewritten in place, is judged by its new bytes
  const mutable = msg.slice();
  assert.ok(ed25519Verify(sig, mutable, publicKey));
  mutable[0] = (mutable[0] as number) ^ 1;
  assert.not.ok(ed25519Verify(sig, mutable, publicKey), 'rewritten message');
});

test('a remembered verification answers only the party that made it (several parties in one process)', () => {
  // count what reaches libsodium: a remembered verification does not
  const require = createRequire(import.meta.url);
  const sodium = require('sodium-native') as { crypto_sign_verify_detached: (...a: unknown[]) => boolean };
  const real = sodium.crypto_sign_verify_detached;
  let calls = 0;
  sodium.crypto_sign_verify_detached = (...a: unknown[]) => (calls++, real(...a));
  let party = 'home';
  try {
    scopeVerifiedSignatures(() => party);
    const { secretKey, publicKey } = generateIdentityKey();
    const msg = utf8('parley/test scoped');
    const sig = ed25519Sign(msg, secretKey);
    assert.ok(ed25519Verify(sig, msg, publicKey));
    assert.ok(ed25519Verify(sig, msg, publicKey));
    assert.is(calls, 1, 'the second time, remembered');
    party = 'buyer';
    assert.ok(ed25519Verify(sig, msg, publicKey));
    assert.is(calls, 2, 'another party verifies for itself');
    party = 'home';
    assert.ok(ed25519Verify(sig, msg, publicKey));
    assert.is(calls, 2, 'and the first still remembers');
  } finally {
    scopeVerifiedSignatures(() => '');
    sodium.crypto_sign_verify_detached = real;
  }
});

test('tampered message, signature or key is rejected by all three', () => {
  const { secretKey, publicKey } = generateIdentityKey();
  const other = generateIdentityKey().publicKey;
  const msg = utf8('parley/test message');
  const sig = ed25519SignNoble(msg, secretKey);
  const cases: [string, Uint8Array, Uint8Array, Uint8Array][] = [
    ['message bit', sig, flipBit(msg, 9), publicKey],
    ['longer message', sig, new Uint8Array([...msg, 0]), publicKey],
    ['R bit', flipBit(sig, 3), msg, publicKey],
    ['S bit', flipBit(sig, 300), msg, publicKey],
    ['S + L (non-canonical)', addL(sig), msg, publicKey],
    ['key bit', sig, msg, flipBit(publicKey, 17)],
    ['other key', sig, msg, other],
    ['short signature', sig.subarray(0, 63), msg, publicKey],
    ['short key', sig, msg, publicKey.subarray(0, 31)],
  ];
  for (const [name, s, m, k] of cases) {
    assert.not.ok(ed25519VerifyNoble(s, m, k), `noble accepted: ${name}`);
    assert.not.ok(ed25519Verify(s, m, k), `libsodium accepted: ${name}`);
    assert.not.ok(ed25519VerifyOpenssl(s, m, k), `OpenSSL accepted: ${name}`);
  }
  assert.not.ok(ed25519VerifyNoble('x' as unknown as Uint8Array, msg, publicKey));
  assert.not.ok(ed25519Verify(sig, 'x' as unknown as Uint8Array, publicKey));
  assert.not.ok(ed25519VerifyOpenssl(sig, 'x' as unknown as Uint8Array, publicKey));
});

/** S + L: same signature value mod L, but non-canonical; strict verifiers must refuse it. */
function addL(sig: Uint8Array): Uint8Array {
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  const s = BigInt('0x' + toHex(sig.slice(32).reverse())) + L;
  const out = new Uint8Array(sig);
  out.set(fromHex(s.toString(16).padStart(64, '0')).reverse(), 32);
  return out;
}

test('PKCS#8 PEM key files round-trip; anything else is ERR_KEY_FILE', () => {
  const { secretKey } = generateIdentityKey();
  const pem = ed25519PrivateKeyPem(secretKey);
  assert.match(pem, /^-----BEGIN PRIVATE KEY-----\n/);
  assert.equal(ed25519SeedFromPem(pem), secretKey);
  throwsCode(() => ed25519SeedFromPem('not a key'), 'ERR_KEY_FILE');
  throwsCode(() => ed25519SeedFromPem(pem.slice(0, 40) + pem.slice(48)), 'ERR_KEY_FILE', 'damaged PEM');
  const x25519 = generateKeyPairSync('x25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  throwsCode(() => ed25519SeedFromPem(x25519), 'ERR_KEY_FILE', 'X25519 key');
});

interface WycheproofFile {
  numberOfTests: number;
  testGroups: { publicKey: { pk: string }; tests: { tcId: number; msg: string; sig: string; result: 'valid' | 'invalid' | 'acceptable'; comment: string }[] }[];
}

test('Wycheproof ed25519_test.json: libsodium, OpenSSL and noble agree with all 151 verdicts', () => {
  const dir = wycheproofDir();
  if (dir === undefined) {
    noteMissingVectors('ed25519');
    return;
  }
  const file = JSON.parse(readFileSync(join(dir, 'ed25519_test.json'), 'utf8')) as WycheproofFile;
  let processed = 0;
  for (const group of file.testGroups) {
    const pk = fromHex(group.publicKey.pk);
    for (const t of group.tests) {
      assert.is.not(t.result, 'acceptable', `tcId ${t.tcId}: no "acceptable" cases expected for Ed25519`);
      const expected = t.result === 'valid';
      const msg = fromHex(t.msg);
      const sig = fromHex(t.sig);
      assert.is(ed25519VerifyNoble(sig, msg, pk), expected, `noble, tcId ${t.tcId} (${t.comment})`);
      assert.is(ed25519Verify(sig, msg, pk), expected, `libsodium, tcId ${t.tcId} (${t.comment})`);
      assert.is(ed25519VerifyOpenssl(sig, msg, pk), expected, `OpenSSL, tcId ${t.tcId} (${t.comment})`);
      processed++;
    }
  }
  assert.is(processed, 151);
  assert.is(file.numberOfTests, 151);
});

test.run();
