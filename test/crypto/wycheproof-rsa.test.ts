/**
 * Wycheproof conformance for RSASSA-PKCS1-v1_5 (google/wycheproof, files in
 * ../shared/vectors/wycheproof):
 * - rsa_pkcs1_{2048,3072}_sig_gen_test.json: the split (partialSign + complete) must
 *   reproduce every expected signature byte for byte. Groups use SHA-1/224/256/384/512;
 *   for other hashes than SHA-256 the DigestInfo is built here (RFC 8017 §9.2 note 1)
 *   and fed to the same encoder. "acceptable" vectors are ordinary signatures flagged
 *   for a weak hash (SHA-1) or a small public exponent (e = 3), so they reproduce too.
 * - rsa_signature_{2048,3072}_sha256_test.json: verifyRs256 must agree with every
 *   verdict ("acceptable", i.e. tcId 8 MissingNull, may go either way).
 * Each file ends with a check that the number of vectors run equals numberOfTests.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { concatBytes, fromHex, os2ip, toHex } from '../../crypto/bytes.js';
import {
  complete,
  emsaPkcs1v15EncodeDigestInfo,
  partialSign,
  partialVerify,
  representative,
  rsaKeyFromJwk,
  rsaKeyFromPem,
  splitKey,
  verifyRs256,
  type RsaPrivateKey,
} from '../../crypto/rsa/index.js';
import { noteMissingVectors, wycheproofDir } from '../helpers/paths.js';

interface Vector {
  tcId: number;
  comment: string;
  msg: string;
  sig: string;
  result: 'valid' | 'invalid' | 'acceptable';
  flags: string[];
}
interface GenGroup {
  keySize: number;
  sha: string;
  privateKeyPem: string;
  privateKeyJwk?: Record<string, string>;
  tests: Vector[];
}
interface VerifyGroup {
  keySize: number;
  sha: string;
  publicKey: { modulus: string; publicExponent: string };
  tests: Vector[];
}
interface VectorFile<G> {
  numberOfTests: number;
  testGroups: G[];
}

/** DER DigestInfo prefixes (RFC 8017 §9.2 note 1) and node hash names. */
const HASHES: Record<string, { node: string; prefix: string }> = {
  'SHA-1': { node: 'sha1', prefix: '3021300906052b0e03021a05000414' },
  'SHA-224': { node: 'sha224', prefix: '302d300d06096086480165030402040500041c' },
  'SHA-256': { node: 'sha256', prefix: '3031300d060960864801650304020105000420' },
  'SHA-384': { node: 'sha384', prefix: '3041300d060960864801650304020205000430' },
  'SHA-512': { node: 'sha512', prefix: '3051300d060960864801650304020305000440' },
};

function representativeFor(sha: string, msg: Uint8Array, key: RsaPrivateKey): bigint {
  const h = HASHES[sha];
  if (!h) throw new Error(`unexpected hash ${sha}`);
  const digestInfo = concatBytes(fromHex(h.prefix), new Uint8Array(createHash(h.node).update(msg).digest()));
  const m = os2ip(emsaPkcs1v15EncodeDigestInfo(digestInfo, key.bits / 8));
  if (sha === 'SHA-256') assert.is(m, representative(msg, key.n), 'SHA-256 path equals the library encoder');
  return m;
}

const dir = wycheproofDir();
if (dir === undefined) {
  noteMissingVectors('wycheproof-rsa');
} else {
  const read = <G>(name: string): VectorFile<G> => JSON.parse(readFileSync(join(dir, name), 'utf8')) as VectorFile<G>;

  for (const bits of [2048, 3072]) {
    const file = `rsa_pkcs1_${bits}_sig_gen_test.json`;
    const data = read<GenGroup>(file);
    const gen = suite(`wycheproof ${file}`);
    let done = 0;
    data.testGroups.forEach((g, i) => {
      gen(`group ${i}: ${g.sha}, ${g.keySize} bits, ${g.tests.length} vectors reproduced by the split`, () => {
        const key = rsaKeyFromPem(g.privateKeyPem);
        assert.is(key.bits, g.keySize);
        if (g.privateKeyJwk) assert.equal(rsaKeyFromJwk(g.privateKeyJwk), key, 'JWK and PEM give the same key');
        const split = splitKey(key);
        for (const t of g.tests) {
          assert.ok(t.result === 'valid' || t.result === 'acceptable', `tcId ${t.tcId}: generation vectors are valid or acceptable`);
          const m = representativeFor(g.sha, fromHex(t.msg), key);
          const sg1 = partialSign(key, split, m);
          assert.ok(partialVerify(key, split.e1, m, sg1), `tcId ${t.tcId}: partial signature verifies`);
          assert.is(toHex(complete(key, split.d2, m, sg1)), t.sig, `tcId ${t.tcId} (${t.result} ${t.flags.join(',')})`);
          done++;
        }
      });
    });
    gen(`all ${data.numberOfTests} vectors of ${file} were run`, () => {
      assert.is(done, data.numberOfTests);
    });
    gen.run();
  }

  for (const bits of [2048, 3072]) {
    const file = `rsa_signature_${bits}_sha256_test.json`;
    const data = read<VerifyGroup>(file);
    const ver = suite(`wycheproof ${file}`);
    let done = 0;
    let acceptable = 0;
    data.testGroups.forEach((g, i) => {
      ver(`group ${i}: e = 0x${g.publicKey.publicExponent}, ${g.tests.length} verdicts of verifyRs256`, () => {
        assert.is(g.sha, 'SHA-256');
        const pub = { n: os2ip(fromHex(g.publicKey.modulus)), e: os2ip(fromHex(g.publicKey.publicExponent)) };
        for (const t of g.tests) {
          const ok = verifyRs256(pub, fromHex(t.msg), fromHex(t.sig));
          if (t.result === 'valid') assert.ok(ok, `tcId ${t.tcId} valid (${t.comment}) rejected`);
          else if (t.result === 'invalid') assert.not.ok(ok, `tcId ${t.tcId} invalid (${t.comment}; ${t.flags.join(',')}) accepted`);
          else acceptable++;
          done++;
        }
      });
    });
    ver(`all ${data.numberOfTests} vectors of ${file} were run (acceptable: MissingNull only)`, () => {
      assert.is(done, data.numberOfTests);
      assert.is(acceptable, 1);
    });
    ver.run();
  }
}
