/** Domain-separated signed objects: each defect is refused with its own code. */
import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openSignedObject, PROTOCOL_VERSION, signingInput, signObject, verifyObject } from '../../crypto/signed.js';
import { generateIdentityKey } from '../../crypto/ed25519.js';
import { fromB64u, toB64u } from '../../crypto/bytes.js';
import { flipBit, throwsCode } from '../helpers/assert.js';

const ah = generateIdentityKey();
const voucherBody = { SN: 'q3Vb8k2yJx0T9mZc4L1pWg', n: 'AQAB', e: 65537, e1: 'xyz', T_C: '2030-01-01T00:00:00Z' };

/** A JSON round trip, as the object would arrive over the wire. */
function wire<T>(o: T): Record<string, unknown> {
  return JSON.parse(JSON.stringify(o)) as Record<string, unknown>;
}

test('sign / verify roundtrip, also after a JSON round trip with reordered keys', () => {
  const obj = signObject('voucher', voucherBody, ah.secretKey);
  assert.is(obj.v, PROTOCOL_VERSION);
  assert.is(obj.type, 'voucher');
  assert.equal(openSignedObject(wire(obj), 'voucher', ah.publicKey), voucherBody);
  assert.ok(verifyObject(wire(obj), 'voucher', ah.publicKey));
  const reordered = { sig: obj.sig, body: Object.fromEntries(Object.entries(voucherBody).reverse()), type: 'voucher', v: 1 };
  assert.ok(verifyObject(reordered, 'voucher', ah.publicKey));
});

test('known-answer: signing input is "parley/v1/<type>" ‖ 0x00 ‖ RFC 8785 body, checked by OpenSSL', () => {
  const body = { b: 2, a: [1, 'é'] };
  const input = signingInput('request', body);
  assert.equal(input, new Uint8Array(Buffer.concat([Buffer.from('parley/v1/request'), Buffer.from([0]), Buffer.from('{"a":[1,"é"],"b":2}', 'utf8')])));
  const obj = signObject('request', body, ah.secretKey);
  const pub = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), ah.publicKey]), format: 'der', type: 'spki' });
  assert.ok(nodeVerify(null, input, pub, fromB64u(obj.sig)));
  // Ed25519 is deterministic: OpenSSL signs the same bytes to the same signature
  const priv = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), ah.secretKey]), format: 'der', type: 'pkcs8' });
  assert.is(toB64u(nodeSign(null, input, priv)), obj.sig);
});

test('a voucher signature is not accepted as a request', () => {
  const voucher = signObject('voucher', voucherBody, ah.secretKey);
  // the type field still says voucher
  throwsCode(() => openSignedObject(wire(voucher), 'request', ah.publicKey), 'ERR_WRONG_MESSAGE_TYPE');
  // someone relabels it as a request, keeping the signature: the tag no longer matches
  const relabelled = { ...wire(voucher), type: 'request' };
  throwsCode(() => openSignedObject(relabelled, 'request', ah.publicKey), 'ERR_OBJECT_SIGNATURE_INVALID');
  assert.not.ok(verifyObject(relabelled, 'request', ah.publicKey));
  assert.not.ok(verifyObject(wire(voucher), 'request', ah.publicKey));
  // nor across protocol versions: the v2 tag differs
  assert.not.equal(signingInput('voucher', voucherBody, 2), signingInput('voucher', voucherBody));
});

test('a tampered body, signature or key is rejected with ERR_OBJECT_SIGNATURE_INVALID', () => {
  const obj = wire(signObject('voucher', voucherBody, ah.secretKey));
  const tamper = (body: unknown) => ({ ...obj, body });
  throwsCode(() => openSignedObject(tamper({ ...voucherBody, e: 3 }), 'voucher', ah.publicKey), 'ERR_OBJECT_SIGNATURE_INVALID');
  throwsCode(() => openSignedObject(tamper({ ...voucherBody, extra: true }), 'voucher', ah.publicKey), 'ERR_OBJECT_SIGNATURE_INVALID');
  throwsCode(() => openSignedObject(tamper({ ...voucherBody, e: '65537' }), 'voucher', ah.publicKey), 'ERR_OBJECT_SIGNATURE_INVALID');
  throwsCode(() => openSignedObject(tamper(null), 'voucher', ah.publicKey), 'ERR_OBJECT_SIGNATURE_INVALID');
  const sig = fromB64u(obj.sig as string);
  for (const bit of [0, 100, 511]) {
    throwsCode(() => openSignedObject({ ...obj, sig: toB64u(flipBit(sig, bit)) }, 'voucher', ah.publicKey), 'ERR_OBJECT_SIGNATURE_INVALID', `sig bit ${bit}`);
  }
  throwsCode(() => openSignedObject({ ...obj, sig: toB64u(sig.subarray(0, 63)) }, 'voucher', ah.publicKey), 'ERR_OBJECT_SIGNATURE_INVALID');
  throwsCode(() => openSignedObject(obj, 'voucher', generateIdentityKey().publicKey), 'ERR_OBJECT_SIGNATURE_INVALID');
  // the caller may name a more specific code
  throwsCode(() => openSignedObject(obj, 'voucher', generateIdentityKey().publicKey, 'ERR_VOUCHER_INVALID'), 'ERR_VOUCHER_INVALID');
});

test('a wrong version is ERR_UNSUPPORTED_VERSION', () => {
  const obj = wire(signObject('voucher', voucherBody, ah.secretKey));
  for (const v of [0, 2, '1', 1.5, null]) {
    throwsCode(() => openSignedObject({ ...obj, v }, 'voucher', ah.publicKey), 'ERR_UNSUPPORTED_VERSION', String(v));
  }
});

test('extra, missing or mistyped fields are ERR_SIGNED_OBJECT_MALFORMED', () => {
  const obj = wire(signObject('voucher', voucherBody, ah.secretKey));
  const without = (k: string) => Object.fromEntries(Object.entries(obj).filter(([key]) => key !== k));
  const cases: [string, unknown][] = [
    ['extra field', { ...obj, extra: 1 }],
    ['missing v', without('v')],
    ['missing type', without('type')],
    ['missing body', without('body')],
    ['missing sig', without('sig')],
    ['sig not a string', { ...obj, sig: 5 }],
    ['sig not base64url', { ...obj, sig: 'not base64!' }],
    ['sig with padding', { ...obj, sig: `${obj.sig as string}==` }],
    ['body not JSON', { ...obj, body: { x: NaN } }],
    ['null', null],
    ['array', [obj]],
    ['string', JSON.stringify(obj)],
    ['number', 1],
  ];
  for (const [note, value] of cases) throwsCode(() => openSignedObject(value, 'voucher', ah.publicKey), 'ERR_SIGNED_OBJECT_MALFORMED', note);
});

test('verifyObject returns false and never throws on junk', () => {
  const obj = signObject('voucher', voucherBody, ah.secretKey);
  const junk: unknown[] = [undefined, null, 0, '', [], {}, { ...obj, v: 2 }, { ...obj, sig: '@@' }, { ...obj, body: { x: 1n } }];
  for (const j of junk) assert.not.ok(verifyObject(j, 'voucher', ah.publicKey));
  assert.not.ok(verifyObject(obj, 'voucher', new Uint8Array(31)));
  assert.not.ok(verifyObject(obj, 'voucher', 'key' as unknown as Uint8Array));
});

test('programmer errors: invalid type names and non-JSON bodies when signing', () => {
  for (const t of ['', 'Voucher', 'a/b', 'x'.repeat(49), '1abc']) {
    assert.throws(() => signObject(t, {}, ah.secretKey), TypeError, t);
    assert.throws(() => openSignedObject({}, t, ah.publicKey), TypeError, t);
  }
  throwsCode(() => signObject('voucher', { a: undefined }, ah.secretKey), 'ERR_INVALID_INPUT');
  assert.throws(() => signObject('voucher', {}, new Uint8Array(16)), TypeError);
});

test.run();
