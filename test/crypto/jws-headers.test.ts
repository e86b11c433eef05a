/**
 * Self-describing contract signatures (issue 19) and strict contract bytes (issue 22):
 * the buyer's RS256 header carries the session key as `jwk` with its RFC 7638 `kid`, the
 * merchant's EdDSA header `kid` and `x5t#S256`; jose verifies both with nothing but the
 * contract (EmbeddedJWK, the x5c certificate), and so does the OpenSSL command line with the
 * recipe of docs/file-formats.md. A header naming another key, an unknown `crit`, a repeated
 * key in a header and a payload whose bytes are not canonical are each refused with their code.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { calculateJwkThumbprint, EmbeddedJWK, generalVerify, importX509, type GeneralJWSInput } from 'jose';
import { sharedSessionKey } from '../helpers/session-keys.js';
import { throwsCode } from '../helpers/assert.js';
import { testPki, type TestPki } from '../helpers/parties.js';
import { REPO_ROOT, tempDir } from '../helpers/paths.js';
import { OPENSSL_CHECK, OPENSSL_PREPARE, sh } from '../helpers/openssl-recipe.js';
import { rsaPublicKey, signRs256, type RsaPrivateKey } from '../../crypto/rsa/index.js';
import { parseCertificate } from '../../crypto/x509/index.js';
import { toB64u, utf8 } from '../../crypto/bytes.js';
import { canonicalJson } from '../../crypto/canonical.js';
import {
  assembleContractJws,
  buyerProtected,
  buyerSignature,
  decodeProtectedHeader,
  ed25519Thumbprint,
  encodeJwsPayload,
  jwsSigningInput,
  legacyBuyerProtected,
  merchantProtected,
  rsaThumbprint,
  signMerchant,
  verifyContractJws,
  type GeneralJws,
} from '../../crypto/jws.js';

const test = suite('self-describing contract signatures');
const tmp = tempDir('parley-jws-headers-');
test.after(() => tmp.remove());

interface Fixture {
  key: RsaPrivateKey;
  pki: TestPki;
  merchant: { certPem: string; secretKey: Uint8Array; publicKey: Uint8Array };
  /** signs `payloadB64` under both headers (the buyer's header may be given) */
  sign(payloadB64: string, buyerHeader?: string, merchantHeader?: string, buyerKey?: RsaPrivateKey): GeneralJws;
  jws: GeneralJws;
}

let fx: Fixture;
const PAYLOAD = { sn: '0'.repeat(32), terms: { price: 1050, item: 'laptop', note: 'Grüße ✓' } };

test.before(async () => {
  const key = await sharedSessionKey(2048);
  const pki = await testPki();
  const merchant = await pki.party('shop-1', 'merchant');
  const mp = merchantProtected([parseCertificate(merchant.certPem).der]);
  const sign = (payloadB64: string, bp = buyerProtected(rsaPublicKey(key)), mh = mp, bk = key) =>
    assembleContractJws(payloadB64, buyerSignature(bp, signRs256(bk, jwsSigningInput(bp, payloadB64))), signMerchant(mh, payloadB64, merchant.secretKey));
  fx = { key, pki, merchant, sign, jws: sign(encodeJwsPayload(PAYLOAD)) };
});

const opts = () => ({ session: rsaPublicKey(fx.key), ca: fx.pki.ca.certificate });
const b64 = (v: unknown) => toB64u(utf8(typeof v === 'string' ? v : JSON.stringify(v)));

test('the headers name their keys: jwk and RFC 7638 kid for RS256, kid and x5t#S256 for EdDSA', async () => {
  const b = decodeProtectedHeader(fx.jws.signatures[0]!.protected);
  assert.equal(Object.keys(b).sort(), ['alg', 'jwk', 'kid', 'typ']);
  assert.equal(Object.keys(b.jwk!).sort(), ['e', 'kty', 'n'], 'public members only');
  assert.is(b.kid, await calculateJwkThumbprint(b.jwk!, 'sha256'), 'kid is the thumbprint jose computes');
  assert.is(b.kid, rsaThumbprint(rsaPublicKey(fx.key)));
  const m = decodeProtectedHeader(fx.jws.signatures[1]!.protected);
  const cert = parseCertificate(fx.merchant.certPem);
  assert.is(m.kid, await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: toB64u(cert.publicKey) }, 'sha256'));
  assert.is(m.kid, ed25519Thumbprint(cert.publicKey));
  assert.is(m['x5t#S256'], Buffer.from(cert.fingerprint, 'hex').toString('base64url'));
  assert.is(verifyContractJws(fx.jws, opts()).merchant.id, 'shop-1');
});

test('jose verifies the RS256 signature with EmbeddedJWK and the EdDSA one with the x5c certificate; a tampered payload fails both', async () => {
  const buyerOnly: GeneralJWSInput = { payload: fx.jws.payload, signatures: [fx.jws.signatures[0]!] };
  const a = await generalVerify(buyerOnly, EmbeddedJWK);
  assert.is(a.protectedHeader?.alg, 'RS256');
  assert.equal(JSON.parse(new TextDecoder().decode(a.payload)), PAYLOAD);
  const m = decodeProtectedHeader(fx.jws.signatures[1]!.protected);
  const certKey = await importX509(`-----BEGIN CERTIFICATE-----\n${m.x5c![0]}\n-----END CERTIFICATE-----`, 'EdDSA');
  const b = await generalVerify({ payload: fx.jws.payload, signatures: [fx.jws.signatures[1]!] }, certKey);
  assert.is(b.protectedHeader?.alg, 'EdDSA');
  const tampered = encodeJwsPayload({ ...PAYLOAD, terms: { ...PAYLOAD.terms, price: 1 } });
  let refused = 0;
  await generalVerify({ payload: tampered, signatures: [fx.jws.signatures[0]!] }, EmbeddedJWK).catch(() => refused++);
  await generalVerify({ payload: tampered, signatures: [fx.jws.signatures[1]!] }, certKey).catch(() => refused++);
  assert.is(refused, 2);
});

test('a header jwk swapped for another key (signature re-made with it) is refused with ERR_JWS_KEY_MISMATCH, though jose accepts it', async () => {
  const other = await sharedSessionKey(3072);
  const swapped = fx.sign(fx.jws.payload, buyerProtected(rsaPublicKey(other)), undefined, other);
  // on its own the signature is fine: only the delegation tells whose key it must be
  await generalVerify({ payload: swapped.payload, signatures: [swapped.signatures[0]!] }, EmbeddedJWK);
  throwsCode(() => verifyContractJws(swapped, opts()), 'ERR_JWS_KEY_MISMATCH', 'swapped jwk');
  // only the kid changed
  const h = decodeProtectedHeader(buyerProtected(rsaPublicKey(fx.key)));
  throwsCode(() => verifyContractJws(fx.sign(fx.jws.payload, b64({ ...h, kid: rsaThumbprint(rsaPublicKey(other)) })), opts()), 'ERR_JWS_KEY_MISMATCH', 'kid of another key');
  throwsCode(() => verifyContractJws(fx.sign(fx.jws.payload, b64({ ...h, jwk: { ...h.jwk, d: 'AQAB' } })), opts()), 'ERR_JWS_MALFORMED', 'private member in jwk');
  // the merchant header naming another certificate or key
  const mh = decodeProtectedHeader(fx.jws.signatures[1]!.protected);
  throwsCode(() => verifyContractJws(fx.sign(fx.jws.payload, undefined, b64({ ...mh, 'x5t#S256': toB64u(new Uint8Array(32)) })), opts()), 'ERR_JWS_KEY_MISMATCH', 'x5t#S256');
  throwsCode(() => verifyContractJws(fx.sign(fx.jws.payload, undefined, b64({ ...mh, kid: h.kid })), opts()), 'ERR_JWS_KEY_MISMATCH', 'merchant kid');
});

test('an unknown crit entry in either header is refused with ERR_JWS_CRIT_UNSUPPORTED', () => {
  const h = decodeProtectedHeader(buyerProtected(rsaPublicKey(fx.key)));
  const mh = decodeProtectedHeader(fx.jws.signatures[1]!.protected);
  throwsCode(() => verifyContractJws(fx.sign(fx.jws.payload, b64({ ...h, crit: ['exp'], exp: 1 })), opts()), 'ERR_JWS_CRIT_UNSUPPORTED', 'buyer crit');
  throwsCode(() => verifyContractJws(fx.sign(fx.jws.payload, undefined, b64({ ...mh, crit: ['b64'], b64: true })), opts()), 'ERR_JWS_CRIT_UNSUPPORTED', 'merchant crit');
  throwsCode(() => verifyContractJws(fx.sign(fx.jws.payload, b64({ ...h, crit: [] })), opts()), 'ERR_JWS_MALFORMED', 'empty crit');
});

test('a contract of the earlier format (no jwk, no kid) still verifies', () => {
  const legacyMerchant = b64(canonicalJson({ alg: 'EdDSA', typ: 'parley-contract+jws', x5c: decodeProtectedHeader(fx.jws.signatures[1]!.protected).x5c }));
  const old = fx.sign(fx.jws.payload, legacyBuyerProtected(), legacyMerchant);
  assert.is(verifyContractJws(old, opts()).merchant.id, 'shop-1');
});

test('repeated keys in the envelope, a protected header or the payload are refused with ERR_JSON_DUPLICATE_KEY', () => {
  const bh = buyerProtected(rsaPublicKey(fx.key));
  const headerText = new TextDecoder().decode(Buffer.from(bh, 'base64url'));
  const dupHeader = b64(headerText.replace('{"alg":"RS256",', '{"alg":"RS256","alg":"RS256",'));
  throwsCode(() => verifyContractJws(fx.sign(fx.jws.payload, dupHeader), opts()), 'ERR_JSON_DUPLICATE_KEY', 'in the buyer header');
  const dupTop = b64('{"sn":"x","sn":"' + '0'.repeat(32) + '"}');
  throwsCode(() => verifyContractJws(fx.sign(dupTop), opts()), 'ERR_JSON_DUPLICATE_KEY', 'top level of the payload');
  const dupNested = b64(canonicalJson(PAYLOAD).replace('"price":1050', '"price":1,"price":1050'));
  throwsCode(() => verifyContractJws(fx.sign(dupNested), opts()), 'ERR_JSON_DUPLICATE_KEY', 'nested in the payload');
});

test('a payload whose bytes are not canonical is refused with ERR_JWS_PAYLOAD_NOT_CANONICAL, signatures valid or not', () => {
  const text = canonicalJson(PAYLOAD);
  const variants: Record<string, string> = {
    'reordered keys': JSON.stringify({ terms: PAYLOAD.terms, sn: PAYLOAD.sn }),
    'pretty-printed': JSON.stringify(PAYLOAD, null, 2),
    'trailing newline': text + '\n',
    'escaped unicode': text.replace('ü', '\\u00fc'),
    'escaped ascii': text.replace('laptop', 'l\\u0061ptop'),
    'escaped key': text.replace('"item"', '"it\\u0065m"'),
    'number form': text.replace('1050', '1.05e3'),
  };
  for (const [why, t] of Object.entries(variants)) {
    assert.equal(JSON.parse(t), JSON.parse(text), `${why}: same value`);
    throwsCode(() => verifyContractJws(fx.sign(b64(t)), opts()), 'ERR_JWS_PAYLOAD_NOT_CANONICAL', why);
  }
  const bom = toB64u(new Uint8Array([0xef, 0xbb, 0xbf, ...utf8(text)]));
  throwsCode(() => verifyContractJws(fx.sign(bom), opts()), 'ERR_JWS_PAYLOAD_NOT_CANONICAL', 'byte-order mark');
});

test('fuzz: the canonical bytes of any JSON payload verify; the same value pretty-printed does not', () => {
  fc.assert(
    fc.property(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 4 }), { minKeys: 2, maxKeys: 8 }), (v) => {
      const value = JSON.parse(JSON.stringify(v)) as unknown;
      const jws = fx.sign(encodeJwsPayload(value));
      assert.equal(verifyContractJws(jws, opts()).payload, value);
      throwsCode(() => verifyContractJws(fx.sign(b64(JSON.stringify(value, null, 1))), opts()), 'ERR_JWS_PAYLOAD_NOT_CANONICAL');
    }),
    { numRuns: 40 },
  );
});

test('the OpenSSL command line verifies both signatures and the certificate; a tampered signing input is refused', () => {
  const dir = tmp.path;
  writeFileSync(join(dir, 'contract.json'), JSON.stringify(fx.jws, null, 2));
  writeFileSync(join(dir, 'ca.pem'), fx.pki.ca.certificate.pem);
  const doc = readFileSync(join(REPO_ROOT, 'docs', 'file-formats.md'), 'utf8');
  assert.ok(doc.includes(OPENSSL_PREPARE) && doc.includes(OPENSSL_CHECK), 'the recipe tested here is the one documented');
  const prep = sh(dir, OPENSSL_PREPARE);
  assert.is(prep.status, 0, prep.out);
  const lines = OPENSSL_CHECK.split('\n');
  for (const line of lines) {
    const r = sh(dir, line);
    assert.is(r.status, 0, `${line}\n${r.out}`);
  }
  // one changed byte of each signing input
  for (const f of ['buyer.input', 'merchant.input']) sh(dir, `cp ${f} ${f}.orig && printf 'x' | dd of=${f} bs=1 seek=10 conv=notrunc status=none`);
  assert.is.not(sh(dir, lines[0]!).status, 0, 'openssl dgst refuses the tampered buyer input');
  assert.is.not(sh(dir, lines[2]!).status, 0, 'openssl pkeyutl refuses the tampered merchant input');
  // and a certificate from another CA does not chain
  writeFileSync(join(dir, 'ca.pem'), parseCertificate(fx.merchant.certPem).pem);
  assert.is.not(sh(dir, lines[1]!).status, 0, 'openssl verify refuses a certificate not issued by the CA');
});

test.run();
