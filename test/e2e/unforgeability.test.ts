/**
 * Unforgeability and non-repudiation, end to end. Every message is signed by its creator:
 * each tampered field of a real request is refused with its own code and changes no stored
 * state; every revealed bid, the Agent Home's statements and the finished contract verify
 * against their signers' keys, so nobody can deny them.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { generalVerify } from 'jose';
import type { NatsConnection } from 'nats';
import { worldSuite, negotiated, exampleRules, LAPTOPS } from '../helpers/world.js';
import { rejectsCode, flipBit } from '../helpers/assert.js';
import { call } from '../../agents/transport/rpc.js';
import { signRequest, newRequestId } from '../../protocol/signed-request.js';
import { subjects } from '../../protocol/subjects.js';
import { NOTIFY_TYPE, NotifyReplySchema, openRequestStatement, type NotifyBody } from '../../protocol/session.js';
import { CONTRACT_OFFER_TYPE, ContractOfferReplySchema, RESOLVE_TYPE, ResolveReplySchema } from '../../protocol/exchange.js';
import { verifyBidProof } from '../../protocol/sales.js';
import { openVoucher } from '../../protocol/voucher.js';
import { checkContract } from '../../protocol/contract.js';
import { listContracts } from '../../store/listing.js';
import { newSessionKey } from '../../buyer-cli/client.js';
import { bigintToB64u, b64uToBigint, fromB64u, toB64u } from '../../crypto/bytes.js';
import { signObject } from '../../crypto/signed.js';
import { encodeJwsPayload, merchantProtected, signMerchant } from '../../crypto/jws.js';
import { ed25519SpkiDer } from '../../crypto/ed25519.js';
import { parseCertificate } from '../../crypto/x509/index.js';
import { rsaPublicJwk } from '../../crypto/rsa/index.js';

const test = suite('unforgeability and non-repudiation');
const world = worldSuite(test);
let nc: NatsConnection;

test.before(async () => {
  // the buyer carol's connection: the Agent Home answers only on a party's own inbox
  nc = await world.nats.party('carol');
});

async function sessionCount(): Promise<number> {
  return (await world.home.state.sessionNumbers()).length;
}

test('every tampered field of a notify is refused with its own code and stores nothing', async () => {
  const { client, self } = await world.buyer('carol');
  const prepared = await client.prepareNotify({ request: LAPTOPS, rules: exampleRules(), deadline: new Date(Date.now() + 60_000), sessionKey: await newSessionKey() });
  const body = prepared.body;
  const send = async (b: unknown, signer = self, to = 'home') => call(await world.nats.party(signer.id), subjects.home('home', 'notify'), signRequest(NOTIFY_TYPE, b as NotifyBody, to, signer), NotifyReplySchema);
  const before = await sessionCount();

  const signed = signRequest(NOTIFY_TYPE, body, 'home', self);
  await rejectsCode(() => call(nc, subjects.home('home', 'notify'), { ...signed, req: { ...signed.req, sig: toB64u(flipBit(fromB64u(signed.req.sig), 9)) } }, NotifyReplySchema), 'ERR_OBJECT_SIGNATURE_INVALID', 'forged signature');
  await rejectsCode(() => send(body, world.stores.get('shop-a')!.self), 'ERR_CERT_ROLE', 'a merchant acting as buyer');
  await rejectsCode(() => send(body, self, 'other-home'), 'ERR_FORBIDDEN', 'addressed to another Agent Home');
  await rejectsCode(() => send({ ...body, e1: bigintToB64u(b64uToBigint(body.e1) + 2n) }), 'ERR_ESCROW_PROOF_INVALID', 'e1');
  await rejectsCode(() => send({ ...body, escrowProof: { sg1t: toB64u(flipBit(fromB64u(body.escrowProof.sg1t), 100)) } }), 'ERR_ESCROW_PROOF_INVALID', 'escrow proof');
  await rejectsCode(() => send({ ...body, request: { ...body.request, quantity: 3 } }), 'ERR_DELEGATION_INVALID', 'request changed after delegation');
  await rejectsCode(() => send({ ...body, delegation: { ...body.delegation, body: { ...body.delegation.body, notAfter: new Date(Date.now() + 9e9).toISOString() } } }), 'ERR_DELEGATION_INVALID', 'delegation body');
  await rejectsCode(() => send({ ...body, sealed: toB64u(flipBit(fromB64u(body.sealed), 400)) }), 'ERR_SEALED_BOX_INVALID', 'sealed secrets');
  await rejectsCode(() => send({ ...body, extra: 1 }), 'ERR_SCHEMA', 'unknown field');
  const stale = signObject(NOTIFY_TYPE, { ...body, id: newRequestId(), ts: new Date(Date.now() - 3600_000).toISOString(), to: 'home' }, self.secretKey);
  await rejectsCode(() => call(nc, subjects.home('home', 'notify'), { cert: self.certPem, req: stale }, NotifyReplySchema), 'ERR_STALE', 'an hour-old request');
  assert.is(await sessionCount(), before, 'no rejected request created a session');

  // the untampered request works once; its replay is answered with the same result
  const first = await call(nc, subjects.home('home', 'notify'), signed, NotifyReplySchema);
  const replay = await call(nc, subjects.home('home', 'notify'), signed, NotifyReplySchema);
  assert.is(replay.sn, first.sn);
  assert.is(await sessionCount(), before + 1, 'the replay did not open a second session');
});

test('tampered contracts are refused by the store and by the Agent Home, and change nothing', async () => {
  const { client, self } = await world.buyer('dave');
  const { session, results } = await negotiated(client);
  const merchant = results.agreements[0]!.merchant;
  const x = await client.prepare(session.sn, merchant);
  const storeDir = world.stores.get(merchant)!.dataDir;
  const stored = listContracts(storeDir).length;
  const offer = async (b: object, signer = self) => call(await world.nats.party(signer.id), subjects.storeContract(merchant, 'offer'), signRequest(CONTRACT_OFFER_TYPE, b, merchant, signer), ContractOfferReplySchema);

  const p = JSON.parse(Buffer.from(x.payload, 'base64url').toString());
  const cheaper = encodeJwsPayload({ ...p, terms: { ...p.terms, price: p.terms.price - 100 } });
  await rejectsCode(() => offer({ payload: cheaper, protected: x.protected, sg1: x.sg1 }), 'ERR_BINDING_INVALID', 'terms changed');
  await rejectsCode(() => offer({ payload: x.payload, protected: x.protected, sg1: toB64u(flipBit(fromB64u(x.sg1), 7)) }), 'ERR_PARTIAL_SIGNATURE_INVALID', 'SG1 bit');
  await rejectsCode(() => offer({ payload: x.payload, protected: x.protected, sg1: x.sg1 }, world.stores.get('shop-c')!.self), 'ERR_CERT_ROLE', 'a merchant acting as buyer');
  assert.is(listContracts(storeDir).length, stored, 'the store stored nothing');

  const m = world.stores.get(merchant)!.self;
  const sig = signMerchant(merchantProtected([parseCertificate(m.certPem).der]), x.payload, m.secretKey);
  const resolve = async (b: object, signer = m) => call(await world.nats.party(signer.id), subjects.home('home', 'resolve'), signRequest(RESOLVE_TYPE, b, 'home', signer), ResolveReplySchema);
  await rejectsCode(() => resolve({ payload: x.payload, protected: x.protected, sg1: toB64u(flipBit(fromB64u(x.sg1), 3)), merchantSignature: sig }), 'ERR_PARTIAL_SIGNATURE_INVALID', 'resolve with a bad SG1');
  await rejectsCode(() => resolve({ payload: x.payload, protected: x.protected, sg1: x.sg1, merchantSignature: { ...sig, signature: toB64u(flipBit(fromB64u(sig.signature), 1)) } }), 'ERR_JWS_SIGNATURE_INVALID', 'resolve with a bad SG_S');
  await rejectsCode(() => resolve({ payload: x.payload, protected: x.protected, sg1: x.sg1, merchantSignature: sig }, world.stores.get('shop-c')!.self), 'ERR_FORBIDDEN', 'another merchant resolves');
  await rejectsCode(() => resolve({ payload: cheaper, protected: x.protected, sg1: x.sg1, merchantSignature: sig }), 'ERR_BINDING_INVALID', 'resolve other terms');
  assert.is(await world.home.state.exchange(x.contractId), undefined, 'no exchange recorded');
});

test('non-repudiation: revealed bids, the Agent Home statements and the contract all verify against their signers', async () => {
  const { client, files } = await world.buyer('erin');
  const { session, results } = await negotiated(client);
  // the Agent Home cannot deny SG_REQ or the voucher
  const homeKey = parseCertificate(files.session(session.sn).homeCert).publicKey;
  assert.is(openRequestStatement(session.sgReq, homeKey).sn, session.sn);
  assert.is(openVoucher(session.voucher, homeKey).sn, session.sn);
  // a merchant cannot deny any bid it revealed, accepted or not
  const s = (await world.home.state.session(session.sn))!;
  let revealed = 0;
  for (const merchant of Object.keys(s.negotiated)) {
    const n = (await world.home.state.negotiation(session.sn, merchant))!;
    const cert = parseCertificate(n.merchantCert);
    const proven = verifyBidProof({ offer: n.offer as never, reveals: n.rounds.map((r) => ({ bid: r.bid, next: r.next })) }, merchant, cert.publicKey);
    assert.is(proven.index, n.rounds.length);
    revealed += n.rounds.length;
  }
  assert.ok(revealed >= 3);
  // neither party can deny the completed contract: it verifies offline, and with jose
  const best = results.agreements[0]!;
  const r = await client.sign(session.sn, best.merchant);
  const jws = JSON.parse(readFileSync(r.contractFile!, 'utf8'));
  const check = checkContract(jws, world.pki.ca.certificate);
  assert.ok(check.valid, check.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`).join('; '));
  const facts = check.facts!;
  await generalVerify(jws, createPublicKey({ key: rsaPublicJwk(facts.session), format: 'jwk' }));
  await generalVerify(jws, createPublicKey({ key: Buffer.from(ed25519SpkiDer(facts.merchant.publicKey)), format: 'der', type: 'spki' }));
});

test.run();
