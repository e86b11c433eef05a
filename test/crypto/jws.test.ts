/**
 * Contract JWS: the buyer's RS256 signature made by the split (partial + completion) and the
 * merchant's EdDSA signature with x5c, checked by our verifier and by jose (an independent
 * JOSE implementation); tampering with payload, signatures or certificates is refused.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createPublicKey } from 'node:crypto';
import { generalVerify } from 'jose';
import { sharedSessionKey } from '../helpers/session-keys.js';
import { throwsCode, flipBit } from '../helpers/assert.js';
import { testPki } from '../helpers/parties.js';
import { completeMessage, partialSignMessage, rsaPublicJwk, rsaPublicKey, splitKey } from '../../crypto/rsa/index.js';
import { createCa, parseCertificate } from '../../crypto/x509/index.js';
import { ed25519SpkiDer } from '../../crypto/ed25519.js';
import { fromB64u, toB64u } from '../../crypto/bytes.js';
import {
  assembleContractJws,
  buyerProtected,
  buyerSignature,
  encodeJwsPayload,
  jwsSigningInput,
  merchantProtected,
  signMerchant,
  verifyContractJws,
  type GeneralJws,
} from '../../crypto/jws.js';

const test = suite('contract JWS');

async function fixture() {
  const key = await sharedSessionKey(2048);
  const split = splitKey(key);
  const pki = await testPki();
  const merchant = await pki.party('shop-1', 'merchant');
  const payloadB64 = encodeJwsPayload({ sn: '0'.repeat(32), terms: { price: 999, item: 'laptop' } });
  const bp = buyerProtected(rsaPublicKey(key));
  const input = jwsSigningInput(bp, payloadB64);
  // split signing: the buyer's SG1, then the Agent Home's completion with d2
  const sg1 = partialSignMessage(key, split, input);
  const sg = completeMessage(rsaPublicKey(key), split.d2, input, sg1);
  const mp = merchantProtected([parseCertificate(merchant.certPem).der]);
  const jws = assembleContractJws(payloadB64, buyerSignature(bp, sg), signMerchant(mp, payloadB64, merchant.secretKey));
  return { key, pki, merchant, jws };
}

test('a contract JWS from the split signature verifies with jose and with our verifier', async () => {
  const { key, pki, merchant, jws } = await fixture();
  const rsa = createPublicKey({ key: rsaPublicJwk(rsaPublicKey(key)), format: 'jwk' });
  const ed = createPublicKey({ key: Buffer.from(ed25519SpkiDer(merchant.publicKey)), format: 'der', type: 'spki' });
  const a = await generalVerify(jws, rsa);
  assert.is(a.protectedHeader?.alg, 'RS256');
  const b = await generalVerify(jws, ed);
  assert.is(b.protectedHeader?.alg, 'EdDSA');
  assert.ok(Array.isArray(b.protectedHeader?.x5c));
  const r = verifyContractJws(jws, { session: rsaPublicKey(key), ca: pki.ca.certificate });
  assert.is(r.merchant.id, 'shop-1');
  assert.equal(r.payload, { sn: '0'.repeat(32), terms: { price: 999, item: 'laptop' } });
});

test('tampered payload, signatures or certificate chain are rejected with their codes', async () => {
  const { key, pki, jws } = await fixture();
  const opts = { session: rsaPublicKey(key), ca: pki.ca.certificate };
  const other = encodeJwsPayload({ sn: '0'.repeat(32), terms: { price: 1, item: 'laptop' } });
  throwsCode(() => verifyContractJws({ ...jws, payload: other }, opts), 'ERR_JWS_SIGNATURE_INVALID', 'changed payload');
  const flip = (j: GeneralJws, i: number): GeneralJws => {
    const c = structuredClone(j);
    c.signatures[i]!.signature = toB64u(flipBit(fromB64u(c.signatures[i]!.signature), 77));
    return c;
  };
  throwsCode(() => verifyContractJws(flip(jws, 0), opts), 'ERR_JWS_SIGNATURE_INVALID', 'buyer signature bit');
  throwsCode(() => verifyContractJws(flip(jws, 1), opts), 'ERR_JWS_SIGNATURE_INVALID', 'merchant signature bit');
  throwsCode(() => verifyContractJws({ ...jws, signatures: [jws.signatures[1], jws.signatures[0]] }, opts), 'ERR_JWS_SIGNATURE_INVALID', 'swapped');
  throwsCode(() => verifyContractJws({ ...jws, signatures: [jws.signatures[0]] }, opts), 'ERR_JWS_MALFORMED', 'one signature');
  throwsCode(() => verifyContractJws({ ...jws, extra: 1 }, opts), 'ERR_JWS_MALFORMED', 'extra member');
  const otherCa = await createCa({ id: 'other-ca' });
  throwsCode(() => verifyContractJws(jws, { ...opts, ca: otherCa.certificate }), 'ERR_CERT_CHAIN', 'certificate from another CA');
  const key3072 = await sharedSessionKey(3072);
  // the header's jwk names the key that signed, so another session key is a key mismatch
  throwsCode(() => verifyContractJws(jws, { ...opts, session: rsaPublicKey(key3072) }), 'ERR_JWS_KEY_MISMATCH', 'other session key');
  // a buyer certificate in x5c cannot sign as merchant
  const buyer = await pki.party('alice', 'buyer');
  const mp = merchantProtected([parseCertificate(buyer.certPem).der]);
  const asBuyer = { ...jws, signatures: [jws.signatures[0]!, signMerchant(mp, jws.payload, buyer.secretKey)] };
  throwsCode(() => verifyContractJws(asBuyer, opts), 'ERR_CERT_ROLE', 'buyer acting as merchant');
});

test.run();
