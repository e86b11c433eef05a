/**
 * Every verifier accepts a contract only in its one canonical form (issue 22 parts 3-4) and
 * only with the header key the delegation names (issue 19): the store before countersigning,
 * the Agent Home before resolving, the buyer's check before it saves a contract, and
 * `parley verify`. Each variant below carries valid signatures over its own bytes (made with
 * the real session key and the real merchant key), so only the new checks can refuse it; each
 * is refused with its code and leaves no stored state. A message with a repeated key is
 * refused at the wire boundary.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NatsConnection } from 'nats';
import { EmbeddedJWK, generalVerify } from 'jose';
import { worldSuite, negotiated } from '../helpers/world.js';
import { rejectsCode } from '../helpers/assert.js';
import { jsonOf, parleySync } from '../helpers/cli.js';
import { REPO_ROOT, tempDir } from '../helpers/paths.js';
import { listContracts } from '../../store/listing.js';
import { buyerSigningInput, checkContract, contractId as contractIdOf } from '../../protocol/contract.js';
import { restoreKey } from '../../buyer-cli/session-key.js';
import { partialSignMessage, rsaPublicKey, signRs256, type RsaPrivateKey } from '../../crypto/rsa/index.js';
import { toB64u, utf8 } from '../../crypto/bytes.js';
import { canonicalJson } from '../../crypto/canonical.js';
import { CONTRACT_OFFER_TYPE, ContractOfferReplySchema, RESOLVE_TYPE, ResolveReplySchema } from '../../protocol/exchange.js';
import { signRequest } from '../../protocol/signed-request.js';
import { subjects } from '../../protocol/subjects.js';
import { decodeReply } from '../../protocol/wire.js';
import { call } from '../../agents/transport/rpc.js';
import { assembleContractJws, buyerProtected, buyerSignature, decodeProtectedHeader, merchantProtected, signMerchant } from '../../crypto/jws.js';
import { parseCertificate } from '../../crypto/x509/index.js';
import { sharedSessionKey } from '../helpers/session-keys.js';

const test = suite('canonical contracts at every verifier');
const world = worldSuite(test);
const tmp = tempDir('parley-strict-contracts-');
let nc: NatsConnection;

test.before(async () => {
  nc = await world.nats.connectAs('strict-tester');
});
test.after(() => tmp.remove());

const b64 = (text: string) => toB64u(utf8(text));

/** Variants of one payload text, all the same JSON value, none canonical. */
function variants(text: string): Record<string, { payload: string; code: string }> {
  const price = /"price":(\d+)/.exec(text)![0];
  return {
    'repeated key': { payload: b64(text.replace(price, `"price":1,${price}`)), code: 'ERR_JSON_DUPLICATE_KEY' },
    'reordered keys': { payload: b64(JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(text) as object).reverse()))), code: 'ERR_JWS_PAYLOAD_NOT_CANONICAL' },
    'extra whitespace': { payload: b64(JSON.stringify(JSON.parse(text), null, 1)), code: 'ERR_JWS_PAYLOAD_NOT_CANONICAL' },
    'escaped unicode': { payload: b64(text.replace('"kind"', '"\\u006bind"')), code: 'ERR_JWS_PAYLOAD_NOT_CANONICAL' },
    'byte-order mark': { payload: toB64u(new Uint8Array([0xef, 0xbb, 0xbf, ...utf8(text)])), code: 'ERR_JWS_PAYLOAD_NOT_CANONICAL' },
  };
}

async function prepared(name: string) {
  const { client, files, self } = await world.buyer(name);
  const { session, results } = await negotiated(client);
  const merchant = results.agreements[0]!.merchant;
  const x = await client.prepare(session.sn, merchant);
  const sk = restoreKey(files.session(session.sn).key);
  const text = Buffer.from(x.payload, 'base64url').toString('utf8');
  assert.is(canonicalJson(JSON.parse(text)), text, 'the buyer signs canonical bytes');
  assert.is(x.protected, buyerProtected(rsaPublicKey(sk.key)), "the buyer's header names the session key");
  const sg1 = (payload: string, prot = x.protected, key = sk) => toB64u(partialSignMessage(key.key, key.split, buyerSigningInput(payload, prot)));
  return { client, files, self, sn: session.sn, merchant, x, sk, text, sg1 };
}

test('the store refuses non-canonical payloads, repeated keys and a swapped header key before countersigning, and stores nothing', async () => {
  const { self, merchant, x, text, sg1 } = await prepared('strict-1');
  const storeDir = world.stores.get(merchant)!.dataDir;
  const stored = listContracts(storeDir).length;
  const offer = async (b: object) => call(await world.nats.party(self.id), subjects.storeContract(merchant, 'offer'), signRequest(CONTRACT_OFFER_TYPE, b, merchant, self), ContractOfferReplySchema);
  for (const [why, v] of Object.entries(variants(text))) {
    await rejectsCode(() => offer({ payload: v.payload, protected: x.protected, sg1: sg1(v.payload) }), v.code, `store: ${why}`);
  }
  // a header naming another key than the delegated one (SG1 is still the session key's)
  const other = await sharedSessionKey(3072);
  const swapped = buyerProtected(rsaPublicKey(other));
  await rejectsCode(() => offer({ payload: x.payload, protected: swapped, sg1: sg1(x.payload, swapped) }), 'ERR_JWS_KEY_MISMATCH', 'store: swapped jwk');
  const h = decodeProtectedHeader(x.protected);
  const crit = b64(canonicalJson({ ...h, crit: ['exp'], exp: 1 }));
  await rejectsCode(() => offer({ payload: x.payload, protected: crit, sg1: sg1(x.payload, crit) }), 'ERR_JWS_CRIT_UNSUPPORTED', 'store: crit');
  // a repeated key in the message itself, outside anything signed
  const msg = JSON.stringify(signRequest(CONTRACT_OFFER_TYPE, { payload: x.payload, protected: x.protected, sg1: x.sg1 }, merchant, self));
  const dup = msg.replace(`"cert":`, `"cert":"x","cert":`);
  const reply = await nc.request(subjects.storeContract(merchant, 'offer'), utf8(dup), { timeout: 20_000 });
  await rejectsCode(async () => decodeReply(ContractOfferReplySchema, reply.data), 'ERR_JSON_DUPLICATE_KEY', 'store: repeated key in the message');
  assert.is(listContracts(storeDir).length, stored, 'the store stored nothing');
});

test('the Agent Home refuses them before resolving, and records nothing', async () => {
  const { merchant, x, text, sg1 } = await prepared('strict-2');
  const m = world.stores.get(merchant)!.self;
  const mp = merchantProtected([parseCertificate(m.certPem).der]);
  const resolve = async (payload: string, prot = x.protected) =>
    call(await world.nats.party(m.id), subjects.home('home', 'resolve'), signRequest(RESOLVE_TYPE, { payload, protected: prot, sg1: sg1(payload, prot), merchantSignature: signMerchant(mp, payload, m.secretKey) }, 'home', m), ResolveReplySchema);
  for (const [why, v] of Object.entries(variants(text))) {
    await rejectsCode(() => resolve(v.payload), v.code, `home: ${why}`);
    assert.is(await world.home.state.exchange(contractIdOf(v.payload)), undefined, `home: ${why}: nothing recorded`);
  }
  const swapped = buyerProtected(rsaPublicKey(await sharedSessionKey(3072)));
  await rejectsCode(() => resolve(x.payload, swapped), 'ERR_JWS_KEY_MISMATCH', 'home: swapped jwk');
  assert.is(await world.home.state.exchange(x.contractId), undefined);
});

test('the buyer and `parley verify` refuse a fully signed non-canonical contract that jose accepts', async () => {
  const { client, sn, merchant, sk, text } = await prepared('strict-3');
  const done = await client.sign(sn, merchant);
  const good = JSON.parse(readFileSync(done.contractFile!, 'utf8'));
  const prot: string = good.signatures[0].protected;
  const m = world.stores.get(merchant)!.self;
  const mp = merchantProtected([parseCertificate(m.certPem).der]);
  const signed = (payload: string, bp = prot, key: RsaPrivateKey = sk.key) =>
    assembleContractJws(payload, buyerSignature(bp, signRs256(key, buyerSigningInput(payload, bp))), signMerchant(mp, payload, m.secretKey));
  const caFile = join(tmp.path, 'ca.pem');
  writeFileSync(caFile, world.pki.ca.certificate.pem);
  const verifyFile = (name: string, jws: unknown) => {
    const f = join(tmp.path, name);
    writeFileSync(f, JSON.stringify(jws));
    return parleySync(['verify', f, '--ca', caFile, '--json']);
  };
  const ok = verifyFile('good.json', good);
  assert.is(ok.status, 0, ok.stdout + ok.stderr);

  for (const [why, v] of Object.entries(variants(text))) {
    const jws = signed(v.payload);
    // a standard JOSE library checks the signature and nothing else: it accepts the variant
    if (why !== 'byte-order mark') await generalVerify({ payload: jws.payload, signatures: [jws.signatures[0]!] }, EmbeddedJWK);
    const check = checkContract(jws, world.pki.ca.certificate);
    assert.not.ok(check.valid, why);
    assert.is(check.checks.find((c) => !c.ok)?.code, v.code, `buyer's check: ${why}`);
    const r = verifyFile(`bad-${why.replace(/ /g, '-')}.json`, jws);
    assert.is(r.status, 3, `parley verify exits 3: ${why}`);
    const doc = jsonOf<{ valid: boolean; checks: Array<{ ok: boolean; code?: string }> }>(r);
    assert.is(doc.checks.find((c) => !c.ok)?.code, v.code, `parley verify: ${why}`);
  }
  // the header key swapped for another one, signature re-made with it
  const other = await sharedSessionKey(3072);
  const swapped = signed(good.payload, buyerProtected(rsaPublicKey(other)), other);
  await generalVerify({ payload: swapped.payload, signatures: [swapped.signatures[0]!] }, EmbeddedJWK);
  const r = verifyFile('swapped.json', swapped);
  assert.is(r.status, 3);
  assert.is(jsonOf<{ checks: Array<{ ok: boolean; code?: string }> }>(r).checks.find((c) => !c.ok)?.code, 'ERR_JWS_KEY_MISMATCH');
  // the envelope itself with a repeated member
  const f = join(tmp.path, 'dup-envelope.json');
  writeFileSync(f, JSON.stringify(good).replace('"payload":', '"payload":"e30","payload":'));
  const d = parleySync(['verify', f, '--ca', caFile, '--json']);
  assert.is.not(d.status, 0);
  assert.match(d.stdout + d.stderr, /ERR_JSON_DUPLICATE_KEY/);
});

test('contracts of the earlier header format still verify with `parley verify`', () => {
  const dir = join(REPO_ROOT, 'test', 'fixtures', 'contract-v0');
  for (const f of ['contract-1-shop-a.json', 'contract-2-shop-b-resolved.json']) {
    const r = parleySync(['verify', join(dir, f), '--ca', join(dir, 'ca.pem'), '--json']);
    assert.is(r.status, 0, r.stdout + r.stderr);
    assert.ok(jsonOf<{ valid: boolean }>(r).valid, f);
  }
});

test.run();
