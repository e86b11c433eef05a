/** At-rest encryption: per-session keys from a master key, and blobs bound to their field and session. */
import { hkdfSync } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  AT_REST_OVERHEAD,
  AT_REST_VERSION,
  atRestAad,
  decryptAtRest,
  deriveSessionKey,
  encryptAtRest,
  generateMasterKey,
} from '../../crypto/at-rest.js';
import { equalBytes, fromHex, toHex, utf8 } from '../../crypto/bytes.js';
import { throwsCode } from '../helpers/assert.js';

const SN = 'q3Vb8k2yJx0T9mZc4L1pWg';
const d2 = utf8('1234567890123456789012345678901234567890');

test('roundtrip; format is version ‖ nonce ‖ ciphertext+tag', () => {
  const key = deriveSessionKey(generateMasterKey(), SN);
  const aad = atRestAad('d2', SN);
  const blob = encryptAtRest(key, d2, aad);
  assert.is(blob.length, d2.length + AT_REST_OVERHEAD);
  assert.is(AT_REST_OVERHEAD, 1 + 24 + 16);
  assert.is(blob[0], AT_REST_VERSION);
  assert.equal(decryptAtRest(key, blob, aad), d2);
  // random nonce: encrypting twice gives different blobs
  assert.not.equal(encryptAtRest(key, d2, aad), blob);
  assert.equal(decryptAtRest(key, encryptAtRest(key, new Uint8Array(0), aad), aad), new Uint8Array(0));
});

test('known-answer: deriveSessionKey equals node:crypto hkdfSync (independent HKDF-SHA256)', () => {
  const master = fromHex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
  for (const sn of [SN, '1', 'ffffffffffffffffffffffffffffffff']) {
    const want = new Uint8Array(hkdfSync('sha256', master, 'parley/v1/at-rest', `session:${sn}`, 32));
    assert.is(toHex(deriveSessionKey(master, sn)), toHex(want), sn);
  }
  const random = generateMasterKey();
  const want = new Uint8Array(hkdfSync('sha256', random, utf8('parley/v1/at-rest'), utf8(`session:${SN}`), 32));
  assert.equal(deriveSessionKey(random, SN), want);
});

test('a different session number gives a different key, and its key cannot decrypt', () => {
  const master = generateMasterKey();
  const k1 = deriveSessionKey(master, SN);
  const k2 = deriveSessionKey(master, SN + 'x');
  assert.not.ok(equalBytes(k1, k2));
  assert.equal(deriveSessionKey(master, SN), k1, 'derivation is deterministic');
  const aad = atRestAad('d2', SN);
  const blob = encryptAtRest(k1, d2, aad);
  throwsCode(() => decryptAtRest(k2, blob, aad), 'ERR_DECRYPTION_FAILED');
  // another master key gives other session keys
  throwsCode(() => decryptAtRest(deriveSessionKey(generateMasterKey(), SN), blob, aad), 'ERR_DECRYPTION_FAILED');
});

test('the session key is not the master and differs per session', () => {
  const master = generateMasterKey();
  const keys = ['a', 'b', 'c', SN].map((sn) => deriveSessionKey(master, sn));
  const hex = new Set(keys.map(toHex));
  assert.is(hex.size, keys.length);
  assert.not.ok(hex.has(toHex(master)));
  for (const k of keys) assert.is(k.length, 32);
  // data under the master key itself does not decrypt with a session key, and vice versa
  const aad = atRestAad('nrule', SN);
  throwsCode(() => decryptAtRest(keys[3] as Uint8Array, encryptAtRest(master, d2, aad), aad), 'ERR_DECRYPTION_FAILED');
  throwsCode(() => decryptAtRest(master, encryptAtRest(keys[3] as Uint8Array, d2, aad), aad), 'ERR_DECRYPTION_FAILED');
});

test('a wrong aad (other field or other session) fails', () => {
  const key = deriveSessionKey(generateMasterKey(), SN);
  const blob = encryptAtRest(key, d2, atRestAad('d2', SN));
  throwsCode(() => decryptAtRest(key, blob, atRestAad('nrule', SN)), 'ERR_DECRYPTION_FAILED');
  throwsCode(() => decryptAtRest(key, blob, atRestAad('d2', SN + '0')), 'ERR_DECRYPTION_FAILED');
  throwsCode(() => decryptAtRest(key, blob, new Uint8Array(0)), 'ERR_DECRYPTION_FAILED');
  assert.not.equal(atRestAad('a', 'b:c'), atRestAad('a:b', 'c'));
});

test('every flipped bit, truncation or wrong version fails', () => {
  const key = deriveSessionKey(generateMasterKey(), SN);
  const aad = atRestAad('d2', SN);
  const blob = encryptAtRest(key, utf8('d2'), aad);
  for (let pos = 0; pos < blob.length; pos++) {
    for (let bit = 0; bit < 8; bit++) {
      const bad = blob.slice();
      bad[pos] = (bad[pos] as number) ^ (1 << bit);
      throwsCode(() => decryptAtRest(key, bad, aad), 'ERR_DECRYPTION_FAILED', `byte ${pos} bit ${bit}`);
    }
  }
  for (const len of [0, 1, 25, AT_REST_OVERHEAD - 1, AT_REST_OVERHEAD, blob.length - 1]) {
    throwsCode(() => decryptAtRest(key, blob.subarray(0, len), aad), 'ERR_DECRYPTION_FAILED', `length ${len}`);
  }
  throwsCode(() => decryptAtRest(key, new Uint8Array([...blob, 0]), aad), 'ERR_DECRYPTION_FAILED', 'extended');
  const v2 = blob.slice();
  v2[0] = 2;
  throwsCode(() => decryptAtRest(key, v2, aad), 'ERR_DECRYPTION_FAILED');
});

test('argument checks', () => {
  const master = generateMasterKey();
  const key = deriveSessionKey(master, SN);
  assert.throws(() => deriveSessionKey(master.subarray(0, 16), SN), TypeError);
  assert.throws(() => deriveSessionKey(master, 42 as unknown as string), TypeError);
  throwsCode(() => deriveSessionKey(master, ''), 'ERR_INVALID_INPUT');
  throwsCode(() => deriveSessionKey(master, 'has space'), 'ERR_INVALID_INPUT');
  throwsCode(() => deriveSessionKey(master, 'é'), 'ERR_INVALID_INPUT');
  throwsCode(() => deriveSessionKey(master, 'x'.repeat(257)), 'ERR_INVALID_INPUT');
  assert.throws(() => encryptAtRest(key.subarray(1), d2, new Uint8Array(0)), TypeError);
  assert.throws(() => encryptAtRest(key, 'd2' as unknown as Uint8Array, new Uint8Array(0)), TypeError);
  assert.throws(() => encryptAtRest(key, d2, 'aad' as unknown as Uint8Array), TypeError);
  assert.throws(() => decryptAtRest(key, 'blob' as unknown as Uint8Array, new Uint8Array(0)), TypeError);
  assert.throws(() => atRestAad('', SN), TypeError);
  assert.is(generateMasterKey().length, 32);
  assert.not.equal(generateMasterKey(), generateMasterKey());
});

test.run();
