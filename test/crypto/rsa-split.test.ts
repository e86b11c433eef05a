/**
 * Split-key RSA: key generation and import, the d = d1 + d2 split, partial signatures,
 * completion and the escrow proof. The complete signature must be byte-identical to
 * OpenSSL's own RSA-SHA256 (RS256) signature for the same key.
 */
import { createPublicKey, generateKeyPairSync, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { generalVerify } from 'jose';
import { lcm, modInv } from 'bigint-crypto-utils';
import { bitLength, byteLength, i2osp, toB64u, utf8 } from '../../crypto/bytes.js';
import {
  assertEscrowProof,
  complete,
  completeMessage,
  createEscrowProof,
  escrowTestRepresentative,
  fullSign,
  generateSessionKey,
  partialSign,
  partialSignMessage,
  partialVerify,
  partialVerifyMessage,
  representative,
  rsaKeyFromJwk,
  rsaKeyFromPem,
  rsaPrivateJwk,
  rsaPublicJwk,
  rsaPublicKey,
  checkSplit,
  signRs256,
  splitKey,
  verifyEscrowProof,
  type RsaPrivateKey,
  type SplitKey,
} from '../../crypto/rsa/index.js';
import { flipBit, rejectsCode, throwsCode } from '../helpers/assert.js';
import { nodePrivateKey, sharedSessionKey } from '../helpers/session-keys.js';

const MESSAGES = [new Uint8Array(0), utf8('eyJhbGciOiJSUzI1NiJ9.eyJzbiI6IjEyMyJ9'), new Uint8Array(5000).fill(0xa5)];

const phiOf = (k: RsaPrivateKey) => (k.p - 1n) * (k.q - 1n);

// --- key generation and import -------------------------------------------------------

const keygen = suite('rsa keygen');

keygen('generateSessionKey(2048): e = 65537, n = p·q of exactly 2048 bits, d = e⁻¹ mod λ(n)', async () => {
  const key = await sharedSessionKey(2048);
  assert.is(key.bits, 2048);
  assert.is(bitLength(key.n), 2048);
  assert.is(key.e, 65537n);
  assert.is(key.p * key.q, key.n);
  assert.ok(Object.isFrozen(key));
  // OpenSSL's d is the inverse modulo λ(n), not φ(n); the split must cope with that (tested below)
  assert.is(key.d, modInv(key.e, lcm(key.p - 1n, key.q - 1n)), 'expected d = e⁻¹ mod λ(n) from OpenSSL');
});

keygen('keys below 2048 bits and odd sizes are refused with ERR_KEY_SIZE', async () => {
  for (const bits of [512, 1024, 2047, 2049, 8192]) await rejectsCode(() => generateSessionKey(bits), 'ERR_KEY_SIZE', `bits ${bits}`);
  await generateSessionKey('2048' as unknown as number).then(
    () => assert.unreachable('accepted a string'),
    (e: unknown) => assert.instance(e, TypeError),
  );
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'jwk' });
  throwsCode(() => rsaKeyFromJwk(small), 'ERR_KEY_SIZE', '1024-bit JWK');
  const smallPub = { n: 2n ** 1023n + 1n, e: 65537n };
  throwsCode(() => representative(new Uint8Array(1), smallPub.n), 'ERR_KEY_SIZE', '1024-bit modulus');
  throwsCode(() => rsaPublicJwk(smallPub), 'ERR_KEY_SIZE', '1024-bit public key');
});

keygen('JWK and PEM import round-trip and reject inconsistent keys with ERR_KEY_INVALID', async () => {
  const key = await sharedSessionKey(2048);
  const jwk = rsaPrivateJwk(key);
  assert.equal(rsaKeyFromJwk(jwk), key);
  const pem = nodePrivateKey(key).export({ format: 'pem', type: 'pkcs1' }).toString();
  assert.ok(pem.startsWith('-----BEGIN RSA PRIVATE KEY-----'));
  assert.equal(rsaKeyFromPem(pem), key);
  const other = rsaPrivateJwk(await sharedSessionKey(3072));
  throwsCode(() => rsaKeyFromJwk({ ...jwk, d: rsaPrivateJwk({ ...key, d: key.d + 2n }).d }), 'ERR_KEY_INVALID', 'wrong d');
  throwsCode(() => rsaKeyFromJwk({ ...jwk, qi: rsaPrivateJwk({ ...key, qi: key.qi + 1n }).qi }), 'ERR_KEY_INVALID', 'wrong qi');
  throwsCode(() => rsaKeyFromJwk({ ...jwk, p: other.p }), 'ERR_KEY_INVALID', 'p of another key');
  throwsCode(() => rsaKeyFromJwk({ ...jwk, dp: jwk.dq }), 'ERR_KEY_INVALID', 'swapped CRT exponent');
  throwsCode(() => rsaKeyFromJwk({ ...jwk, e: 'AQAA' }), 'ERR_KEY_INVALID', 'even e');
  throwsCode(() => rsaKeyFromJwk({ ...jwk, kty: 'EC' }), 'ERR_KEY_INVALID', 'kty');
  throwsCode(() => rsaKeyFromJwk({ ...jwk, d: undefined }), 'ERR_KEY_INVALID', 'missing d');
  throwsCode(() => rsaKeyFromJwk({ ...jwk, n: 'AA' + jwk.n }), 'ERR_KEY_INVALID', 'non-minimal n');
  throwsCode(() => rsaKeyFromPem('-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n'), 'ERR_KEY_INVALID', 'garbage PEM');
  const ed = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  throwsCode(() => rsaKeyFromPem(ed), 'ERR_KEY_INVALID', 'Ed25519 PEM');
  assert.throws(() => rsaKeyFromJwk('{}'), TypeError);
  assert.equal(rsaPublicKey(key), { n: key.n, e: key.e });
  assert.not.ok('d' in rsaPublicKey(key));
});

keygen.run();

// --- split, partial signature, completion --------------------------------------------

const split = suite('rsa split signatures');

function checkSplitShape(key: RsaPrivateKey, s: SplitKey): void {
  const phi = phiOf(key);
  assert.is(bitLength(s.e1), 64);
  assert.is((s.e1 * s.d1) % phi, 1n);
  assert.ok(s.d2 > 0n && s.d2 < phi);
  assert.is((s.d1 + s.d2 - key.d) % phi, 0n);
}

async function sameAsOpenssl(bits: 2048 | 3072): Promise<void> {
  const key = await sharedSessionKey(bits);
  const s = splitKey(key);
  checkSplitShape(key, s);
  const node = nodePrivateKey(key);
  const pub = rsaPublicKey(key);
  for (const msg of MESSAGES) {
    const expected = new Uint8Array(nodeSign('sha256', msg, node));
    const sg1 = partialSignMessage(key, s, msg);
    assert.is(sg1.length, bits / 8);
    assert.ok(partialVerifyMessage(pub, s.e1, msg, sg1), 'partial signature verifies under e1');
    const sg = completeMessage(pub, s.d2, msg, sg1);
    assert.equal(sg, expected, `split signature equals OpenSSL RSA-SHA256 (${msg.length}-byte message)`);
    assert.equal(signRs256(key, msg), expected, 'full signature equals OpenSSL RSA-SHA256');
    assert.ok(nodeVerify('sha256', msg, createPublicKey(node), sg));
  }
}

split('2048: partialSign + complete and fullSign are byte-identical to crypto.sign(sha256)', () => sameAsOpenssl(2048));
split('3072: partialSign + complete and fullSign are byte-identical to crypto.sign(sha256)', () => sameAsOpenssl(3072));

split('4096: split works through the modPow fallback for m^d2', async () => {
  const key = await sharedSessionKey(4096);
  const s = splitKey(key);
  checkSplitShape(key, s);
  const msg = MESSAGES[1]!;
  const sg1 = partialSignMessage(key, s, msg);
  assert.ok(partialVerifyMessage(key, s.e1, msg, sg1));
  assert.equal(completeMessage(key, s.d2, msg, sg1), new Uint8Array(nodeSign('sha256', msg, nodePrivateKey(key))));
});

split('a key whose d is not reduced modulo λ(n) (e.g. e⁻¹ mod φ(n)) splits and signs identically', async () => {
  const key = await sharedSessionKey(2048);
  const lambda = lcm(key.p - 1n, key.q - 1n);
  // e⁻¹ mod φ(n) equals e⁻¹ mod λ(n) for about half of all keys; then d + λ(n) is another valid d
  const dPhi = modInv(key.e, phiOf(key));
  const dAlt = dPhi !== key.d ? dPhi : key.d + lambda;
  assert.ok(dAlt > lambda && dAlt < phiOf(key));
  const keyAlt = rsaKeyFromJwk(rsaPrivateJwk({ ...key, d: dAlt, dp: dAlt % (key.p - 1n), dq: dAlt % (key.q - 1n) }));
  const s = splitKey(keyAlt);
  const msg = MESSAGES[1]!;
  assert.equal(completeMessage(keyAlt, s.d2, msg, partialSignMessage(keyAlt, s, msg)), signRs256(key, msg));
});

split('every split is fresh: new e1 and d2 each time', async () => {
  const key = await sharedSessionKey(2048);
  const a = splitKey(key);
  const b = splitKey(key);
  assert.is.not(a.e1, b.e1);
  assert.is.not(a.d2, b.d2);
});

split('jose generalVerify accepts a general JWS whose RS256 signature came from the split', async () => {
  const key = await sharedSessionKey(2048);
  const s = splitKey(key);
  const protectedHeader = toB64u(utf8(JSON.stringify({ alg: 'RS256' })));
  const payload = toB64u(utf8(JSON.stringify({ sn: 'abc', terms: { price: 1000 } })));
  const signingInput = utf8(`${protectedHeader}.${payload}`);
  const sg = completeMessage(key, s.d2, signingInput, partialSignMessage(key, s, signingInput));
  const jws = { payload, signatures: [{ protected: protectedHeader, signature: toB64u(sg) }] };
  const publicKey = createPublicKey({ key: rsaPublicJwk(key), format: 'jwk' });
  const result = await generalVerify(jws, publicKey);
  assert.is(result.protectedHeader?.alg, 'RS256');
  const bad = { payload, signatures: [{ protected: protectedHeader, signature: toB64u(flipBit(sg, 100)) }] };
  await generalVerify(bad, publicKey).then(
    () => assert.unreachable('tampered JWS accepted'),
    (e: { code?: string }) => assert.is(e.code, 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED'),
  );
});

split.run();

// --- tampering and ranges -------------------------------------------------------------

const tamper = suite('rsa split tampering and ranges');

interface Fixture {
  key: RsaPrivateKey;
  s: SplitKey;
  m: bigint;
  sg1: Uint8Array;
  k: number;
}
let fx: Fixture;
tamper.before(async () => {
  const key = await sharedSessionKey(2048);
  const s = splitKey(key);
  const m = representative(MESSAGES[1]!, key.n);
  fx = { key, s, m, sg1: partialSign(key, s, m), k: byteLength(key.n) };
});

tamper('a flipped bit in SG1: partialVerify false, complete throws ERR_COMPLETION_FAILED', () => {
  const { key, s, m, sg1 } = fx;
  assert.ok(partialVerify(key, s.e1, m, sg1));
  for (const bit of [0, 77, 1000, 2040]) {
    const bad = flipBit(sg1, bit);
    assert.not.ok(partialVerify(key, s.e1, m, bad), `bit ${bit}`);
    throwsCode(() => complete(key, s.d2, m, bad), 'ERR_COMPLETION_FAILED', `bit ${bit}`);
  }
});

tamper('a changed m, a wrong e1 or a wrong d2 does not verify', () => {
  const { key, s, m, sg1 } = fx;
  assert.not.ok(partialVerify(key, s.e1, m ^ (1n << 8n), sg1), 'flipped m');
  assert.not.ok(partialVerify(key, s.e1 ^ 2n, m, sg1), 'flipped bit of e1');
  assert.not.ok(partialVerify(key, splitKey(key).e1, m, sg1), 'e1 of another split');
  assert.not.ok(partialVerify(key, key.e, m, sg1), 'e instead of e1');
  throwsCode(() => complete(key, s.d2 + 1n, m, sg1), 'ERR_COMPLETION_FAILED', 'd2 + 1');
  throwsCode(() => complete(key, splitKey(key).d2, m, sg1), 'ERR_COMPLETION_FAILED', 'd2 of another split');
  throwsCode(() => complete(key, s.d2, m ^ (1n << 8n), sg1), 'ERR_COMPLETION_FAILED', 'other m');
});

tamper('m outside 1 < m < n − 1 is ERR_RANGE everywhere', () => {
  const { key, s, sg1 } = fx;
  for (const [label, m] of [['0', 0n], ['1', 1n], ['n − 1', key.n - 1n], ['n', key.n], ['n + 1', key.n + 1n], ['-2', -2n]] as const) {
    throwsCode(() => partialSign(key, s, m), 'ERR_RANGE', `partialSign m = ${label}`);
    throwsCode(() => partialVerify(key, s.e1, m, sg1), 'ERR_RANGE', `partialVerify m = ${label}`);
    throwsCode(() => complete(key, s.d2, m, sg1), 'ERR_RANGE', `complete m = ${label}`);
    throwsCode(() => fullSign(key, m), 'ERR_RANGE', `fullSign m = ${label}`);
  }
});

tamper('SG1 outside 0 < SG1 < n or not k bytes: complete ERR_RANGE, partialVerify false', () => {
  const { key, s, m, k } = fx;
  const cases: Array<[string, Uint8Array]> = [
    ['0', new Uint8Array(k)],
    ['n', i2osp(key.n, k)],
    ['n + 1', i2osp(key.n + 1n, k)],
    ['2^(8k) − 1', new Uint8Array(k).fill(0xff)],
    ['k − 1 bytes', new Uint8Array(k - 1).fill(1)],
    ['k + 1 bytes', new Uint8Array(k + 1).fill(1)],
  ];
  for (const [label, sg1] of cases) {
    throwsCode(() => complete(key, s.d2, m, sg1), 'ERR_RANGE', `complete SG1 = ${label}`);
    assert.not.ok(partialVerify(key, s.e1, m, sg1), `partialVerify SG1 = ${label}`);
  }
  assert.not.ok(partialVerify(key, s.e1, m, 'AAAA' as unknown as Uint8Array), 'non-bytes SG1');
  // 1 is in range but is only a valid partial signature of m = 1, which is itself refused
  assert.not.ok(partialVerify(key, s.e1, m, i2osp(1n, k)));
  throwsCode(() => complete(key, s.d2, m, i2osp(1n, k)), 'ERR_COMPLETION_FAILED', 'SG1 = 1');
});

tamper('e1 and d2 out of range are ERR_RANGE; malformed keys ERR_KEY_*', () => {
  const { key, s, m, sg1 } = fx;
  for (const [label, e1] of [['1', 1n], ['even', s.e1 + 1n], ['n', key.n], ['0', 0n], ['-3', -3n]] as const) {
    throwsCode(() => partialVerify(key, e1, m, sg1), 'ERR_RANGE', `e1 = ${label}`);
  }
  for (const [label, d2] of [['0', 0n], ['n', key.n], ['-1', -1n]] as const) {
    throwsCode(() => complete(key, d2, m, sg1), 'ERR_RANGE', `d2 = ${label}`);
  }
  throwsCode(() => partialVerify({ n: key.n, e: 2n }, s.e1, m, sg1), 'ERR_KEY_INVALID', 'even e');
  throwsCode(() => partialVerify({ n: key.n + 1n, e: 3n }, s.e1, m, sg1), 'ERR_KEY_INVALID', 'even n');
  throwsCode(() => complete({ n: key.n >> 1n, e: key.e }, s.d2, m, sg1), 'ERR_KEY_SIZE', '2047-bit n');
});

tamper('a checked key is frozen, and a split rewritten after its check is checked again', () => {
  const { key, s } = fx;
  // checks are remembered (they cost an lcm of 1024-bit numbers), but never past a change
  const restored = rsaKeyFromJwk(rsaPrivateJwk(key));
  assert.ok(Object.isFrozen(restored));
  assert.is(rsaKeyFromJwk(rsaPrivateJwk(restored)).n, key.n);
  const mine: { -readonly [K in keyof SplitKey]: SplitKey[K] } = { ...s };
  checkSplit(restored, mine);
  checkSplit(restored, mine);
  mine.d1 = s.d1 + 2n;
  throwsCode(() => checkSplit(restored, mine), 'ERR_SPLIT_INVALID', 'd1 rewritten in place');
  mine.d1 = s.d1;
  checkSplit(restored, mine);
  throwsCode(() => checkSplit({ ...restored, d: restored.d + 2n }, mine), 'ERR_SPLIT_INVALID', 'another key object');
});

tamper('a split that does not belong to the key is ERR_SPLIT_INVALID', async () => {
  const { key, s, m } = fx;
  const other = await sharedSessionKey(3072);
  throwsCode(() => partialSign(other, s, m), 'ERR_SPLIT_INVALID', 'split of another key');
  throwsCode(() => partialSign(key, { ...s, d1: s.d1 + 2n }, m), 'ERR_SPLIT_INVALID', 'wrong d1');
  throwsCode(() => partialSign(key, { ...s, d2: s.d2 + 2n }, m), 'ERR_SPLIT_INVALID', 'wrong d2');
  throwsCode(() => partialSign(key, { ...s, d1p: s.d1p + 1n }, m), 'ERR_SPLIT_INVALID', 'wrong d1 mod p − 1');
  throwsCode(() => partialSign(key, { ...s, e1: s.e1 + 2n }, m), 'ERR_SPLIT_INVALID', 'wrong e1');
  throwsCode(() => partialSign({ ...key, d: key.d + 2n }, s, m), 'ERR_KEY_INVALID', 'inconsistent key');
});

tamper('wrong JavaScript types are TypeErrors', () => {
  const { key, s, m, sg1 } = fx;
  assert.throws(() => partialSign(key, s, Number(1234) as unknown as bigint), TypeError);
  assert.throws(() => partialVerify(key, Number(s.e1) as unknown as bigint, m, sg1), TypeError);
  assert.throws(() => partialVerify(null as unknown as RsaPrivateKey, s.e1, m, sg1), TypeError);
  assert.throws(() => complete(key, s.d2, m, 'sg1' as unknown as Uint8Array), TypeError);
  assert.throws(() => partialSignMessage(key, s, 'text' as unknown as Uint8Array), TypeError);
  assert.throws(() => splitKey(null as unknown as RsaPrivateKey), TypeError);
  assert.throws(() => partialSign(key, null as unknown as SplitKey, m), TypeError);
});

tamper.run();

// --- escrow proof ---------------------------------------------------------------------

const escrow = suite('rsa escrow proof');
const CONTEXT = utf8('request-hash:0123456789abcdef');

escrow('a valid proof passes; t is bound to the context and 1 < t < n − 1', () => {
  const { key, s } = fx;
  const proof = createEscrowProof(key, s, CONTEXT);
  assert.is(proof.sg1t.length, fx.k);
  assert.ok(verifyEscrowProof(key, s.e1, s.d2, CONTEXT, proof));
  assertEscrowProof(key, s.e1, s.d2, CONTEXT, proof);
  const t = escrowTestRepresentative(key, s.e1, CONTEXT);
  assert.ok(t > 1n && t < key.n - 1n);
  assert.is(escrowTestRepresentative(key, s.e1, CONTEXT), t, 'deterministic');
  assert.is.not(escrowTestRepresentative(key, s.e1, utf8('other')), t);
  assert.is.not(escrowTestRepresentative(key, s.e1 + 2n, CONTEXT), t);
});

escrow('wrong d2, wrong e1, tampered SG1_t or another context are rejected', () => {
  const { key, s } = fx;
  const proof = createEscrowProof(key, s, CONTEXT);
  const other = splitKey(key);
  const rejected: Array<[string, () => boolean, () => void]> = [
    ['d2 + 1', () => verifyEscrowProof(key, s.e1, s.d2 + 1n, CONTEXT, proof), () => assertEscrowProof(key, s.e1, s.d2 + 1n, CONTEXT, proof)],
    ['d2 of another split', () => verifyEscrowProof(key, s.e1, other.d2, CONTEXT, proof), () => assertEscrowProof(key, s.e1, other.d2, CONTEXT, proof)],
    ['e1 of another split', () => verifyEscrowProof(key, other.e1, s.d2, CONTEXT, proof), () => assertEscrowProof(key, other.e1, s.d2, CONTEXT, proof)],
    ['tampered SG1_t', () => verifyEscrowProof(key, s.e1, s.d2, CONTEXT, { sg1t: flipBit(proof.sg1t, 300) }), () => assertEscrowProof(key, s.e1, s.d2, CONTEXT, { sg1t: flipBit(proof.sg1t, 300) })],
    ['another context', () => verifyEscrowProof(key, s.e1, s.d2, utf8('request-hash:other'), proof), () => assertEscrowProof(key, s.e1, s.d2, utf8('request-hash:other'), proof)],
  ];
  for (const [label, verify, assertIt] of rejected) {
    assert.not.ok(verify(), label);
    throwsCode(assertIt, 'ERR_ESCROW_PROOF_INVALID', label);
  }
  for (const bad of [{}, { sg1t: new Uint8Array(fx.k) }, { sg1t: i2osp(key.n, fx.k) }, { sg1t: 'x' }, null]) {
    assert.not.ok(verifyEscrowProof(key, s.e1, s.d2, CONTEXT, bad as never), 'malformed proof');
  }
  throwsCode(() => verifyEscrowProof(key, s.e1, 0n, CONTEXT, proof), 'ERR_RANGE', 'd2 = 0');
  throwsCode(() => verifyEscrowProof(key, 4n, s.d2, CONTEXT, proof), 'ERR_RANGE', 'even e1');
  assert.throws(() => verifyEscrowProof(key, s.e1, s.d2, 'ctx' as unknown as Uint8Array, proof), TypeError);
});

escrow.run();
