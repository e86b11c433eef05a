/** Sealed boxes: only the right recipient under the right context opens a box, and any change is caught. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import {
  encryptionPublicKey,
  encryptionPublicKeyNoble,
  generateEncryptionKey,
  open,
  openJson,
  seal,
  SEALED_BOX_OVERHEAD,
  SEALED_BOX_VERSION,
  sealJson,
  x25519SharedSecret,
  x25519SharedSecretNoble,
} from '../../crypto/seal.js';
import { fromB64u, fromHex, toB64u, toHex, utf8 } from '../../crypto/bytes.js';
import { throwsCode } from '../helpers/assert.js';

const ctx = utf8('notify\0' + 'a'.repeat(64));
const secret = utf8('d2=0x1234; NRule: price <= 1200');

// Low-order X25519 u-coordinates (RFC 7748 §6.1 / the libsodium blocklist), including the
// non-canonical encodings p and p + 1 that reduce to 0 and 1.
const LOW_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].map((h) => fromHex(h));

test('X25519: OpenSSL matches the RFC 7748 vectors and agrees with @noble/curves', () => {
  // RFC 7748 §5.2 (scalar multiplication) and §6.1 (Diffie-Hellman)
  const k = fromHex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4');
  const u = fromHex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c');
  assert.is(toHex(x25519SharedSecret(k, u)!), 'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552');
  const aSk = fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
  const bSk = fromHex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
  assert.is(toHex(encryptionPublicKey(aSk)), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
  assert.is(toHex(encryptionPublicKey(bSk)), 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
  const sharedHex = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
  assert.is(toHex(x25519SharedSecret(aSk, encryptionPublicKey(bSk))!), sharedHex);
  assert.is(toHex(x25519SharedSecret(bSk, encryptionPublicKey(aSk))!), sharedHex);
  for (let i = 0; i < 64; i++) {
    const a = generateEncryptionKey();
    const b = generateEncryptionKey();
    assert.equal(encryptionPublicKeyNoble(a.secretKey), a.publicKey, 'public key');
    // any 32 bytes as the peer's u-coordinate, top bit included (RFC 7748 masks it)
    const peer = i % 2 ? b.publicKey : generateEncryptionKey().secretKey;
    assert.equal(x25519SharedSecret(a.secretKey, peer), x25519SharedSecretNoble(a.secretKey, peer), `shared ${i}`);
  }
  // low-order points: both refuse
  const sk = generateEncryptionKey().secretKey;
  for (const point of LOW_ORDER) {
    assert.is(x25519SharedSecret(sk, point), undefined, toHex(point));
    assert.is(x25519SharedSecretNoble(sk, point), undefined, toHex(point));
  }
});

test('roundtrip; format is version ‖ eph_pk ‖ nonce ‖ ciphertext+tag', () => {
  const ah = generateEncryptionKey();
  assert.equal(encryptionPublicKey(ah.secretKey), ah.publicKey);
  const box = seal(secret, ah.publicKey, ctx);
  assert.is(box.length, secret.length + SEALED_BOX_OVERHEAD);
  assert.is(SEALED_BOX_OVERHEAD, 1 + 32 + 24 + 16);
  assert.is(box[0], SEALED_BOX_VERSION);
  assert.equal(open(box, ah.secretKey, ctx), secret);
  // fresh ephemeral key and nonce every time
  const again = seal(secret, ah.publicKey, ctx);
  assert.not.equal(again.subarray(1, 33), box.subarray(1, 33));
  assert.not.equal(again.subarray(33, 57), box.subarray(33, 57));
  // empty plaintext works
  assert.equal(open(seal(new Uint8Array(0), ah.publicKey, ctx), ah.secretKey, ctx), new Uint8Array(0));
});

test('known-answer: the box opens with an independent derivation (X25519 + HKDF + XChaCha20-Poly1305)', () => {
  const ah = generateEncryptionKey();
  const box = seal(secret, ah.publicKey, ctx);
  const ephPk = box.subarray(1, 33);
  const nonce = box.subarray(33, 57);
  const shared = x25519.getSharedSecret(ah.secretKey, ephPk);
  const info = new Uint8Array([...utf8('parley/v1/sealed-box'), 0, ...ctx]);
  const key = hkdf(sha256, shared, new Uint8Array([...ephPk, ...ah.publicKey]), info, 32);
  assert.equal(xchacha20poly1305(key, nonce, ctx).decrypt(box.subarray(57)), secret);
});

test('a box for another recipient is rejected', () => {
  const ah = generateEncryptionKey();
  const other = generateEncryptionKey();
  const box = seal(secret, ah.publicKey, ctx);
  throwsCode(() => open(box, other.secretKey, ctx), 'ERR_SEALED_BOX_INVALID');
});

test('every single-bit change anywhere in the box is rejected', () => {
  const ah = generateEncryptionKey();
  const box = seal(utf8('d2'), ah.publicKey, ctx);
  for (let pos = 0; pos < box.length; pos++) {
    for (let bit = 0; bit < 8; bit++) {
      const bad = box.slice();
      bad[pos] = (bad[pos] as number) ^ (1 << bit);
      throwsCode(() => open(bad, ah.secretKey, ctx), 'ERR_SEALED_BOX_INVALID', `byte ${pos} bit ${bit}`);
    }
  }
  // the top bit of eph_pk's last byte is ignored by X25519 itself (RFC 7748 §5); the salt still binds it
  const masked = box.slice();
  masked[32] = (masked[32] as number) ^ 0x80;
  throwsCode(() => open(masked, ah.secretKey, ctx), 'ERR_SEALED_BOX_INVALID');
  assert.equal(open(box, ah.secretKey, ctx), utf8('d2'));
});

test('a wrong context is rejected', () => {
  const ah = generateEncryptionKey();
  const box = seal(secret, ah.publicKey, ctx);
  throwsCode(() => open(box, ah.secretKey, utf8('notify\0' + 'b'.repeat(64))), 'ERR_SEALED_BOX_INVALID');
  throwsCode(() => open(box, ah.secretKey, ctx.subarray(0, ctx.length - 1)), 'ERR_SEALED_BOX_INVALID');
  throwsCode(() => open(box, ah.secretKey, utf8('resolve')), 'ERR_SEALED_BOX_INVALID');
});

test('truncated, extended, empty and wrong-version boxes are rejected', () => {
  const ah = generateEncryptionKey();
  const box = seal(secret, ah.publicKey, ctx);
  for (const len of [0, 1, 33, 57, SEALED_BOX_OVERHEAD - 1, SEALED_BOX_OVERHEAD, box.length - 1]) {
    throwsCode(() => open(box.subarray(0, len), ah.secretKey, ctx), 'ERR_SEALED_BOX_INVALID', `length ${len}`);
  }
  throwsCode(() => open(new Uint8Array([...box, 0]), ah.secretKey, ctx), 'ERR_SEALED_BOX_INVALID', 'extended');
  for (const v of [0x00, 0x02, 0xff]) {
    const bad = box.slice();
    bad[0] = v;
    throwsCode(() => open(bad, ah.secretKey, ctx), 'ERR_SEALED_BOX_INVALID', `version ${v}`);
  }
});

test('low-order / all-zero ephemeral public keys are rejected', () => {
  const ah = generateEncryptionKey();
  const box = seal(secret, ah.publicKey, ctx);
  for (const point of LOW_ORDER) {
    const bad = box.slice();
    bad.set(point, 1);
    throwsCode(() => open(bad, ah.secretKey, ctx), 'ERR_SEALED_BOX_INVALID', toB64u(point));
  }
  // sealing to a low-order recipient key is refused: everyone would know the shared secret
  for (const point of LOW_ORDER) throwsCode(() => seal(secret, point, ctx), 'ERR_INVALID_INPUT');
});

test('JSON convenience: sealJson / openJson', () => {
  const ah = generateEncryptionKey();
  const nrule = { limits: { price: { max: 1200 } }, weights: { price: 0.7, delivery: 0.3 }, reservation: 0.5 };
  const boxed = sealJson(nrule, ah.publicKey, ctx);
  assert.match(boxed, /^[A-Za-z0-9_-]+$/);
  assert.equal(openJson(boxed, ah.secretKey, ctx), nrule);
  throwsCode(() => openJson(boxed, generateEncryptionKey().secretKey, ctx), 'ERR_SEALED_BOX_INVALID');
  throwsCode(() => openJson(boxed + '=', ah.secretKey, ctx), 'ERR_SEALED_BOX_INVALID');
  throwsCode(() => openJson('!!', ah.secretKey, ctx), 'ERR_SEALED_BOX_INVALID');
  const raw = fromB64u(boxed);
  raw[raw.length - 1] = (raw[raw.length - 1] as number) ^ 1;
  throwsCode(() => openJson(toB64u(raw), ah.secretKey, ctx), 'ERR_SEALED_BOX_INVALID');
  // authenticated bytes that are not JSON are still refused with the box code
  throwsCode(() => openJson(toB64u(seal(utf8('{not json'), ah.publicKey, ctx)), ah.secretKey, ctx), 'ERR_SEALED_BOX_INVALID');
  throwsCode(() => sealJson({ x: NaN }, ah.publicKey, ctx), 'ERR_INVALID_INPUT');
});

test('programmer errors are TypeErrors', () => {
  const ah = generateEncryptionKey();
  const box = seal(secret, ah.publicKey, ctx);
  assert.throws(() => seal('text' as unknown as Uint8Array, ah.publicKey, ctx), TypeError);
  assert.throws(() => seal(secret, ah.publicKey.subarray(0, 31), ctx), TypeError);
  assert.throws(() => seal(secret, ah.publicKey, new Uint8Array(0)), TypeError);
  assert.throws(() => seal(secret, ah.publicKey, 'notify' as unknown as Uint8Array), TypeError);
  assert.throws(() => open(box, ah.secretKey.subarray(1), ctx), TypeError);
  assert.throws(() => open(Array.from(box) as unknown as Uint8Array, ah.secretKey, ctx), TypeError);
  assert.throws(() => encryptionPublicKey(new Uint8Array(31)), TypeError);
});

test.run();
