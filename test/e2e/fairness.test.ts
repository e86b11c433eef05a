/**
 * Fairness and timeliness, end to end: in each of the report's four cases (no signing; both
 * honest; the buyer withholds its complete signature; the merchant resolves without ever
 * sending its countersignature) and in both abort cases, either both parties end holding
 * the other's signature or neither does — and every exchange ends by its deadline.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { worldSuite, negotiated, eventually, type World } from '../helpers/world.js';
import { rejectsCode } from '../helpers/assert.js';
import { listContracts } from '../../store/listing.js';
import { buyerSigningInput, checkContract, contractId as contractIdOf } from '../../protocol/contract.js';
import { signDelegation } from '../../protocol/session.js';
import { restoreKey } from '../../buyer-cli/session-key.js';
import { partialSignMessage } from '../../crypto/rsa/index.js';
import { toB64u } from '../../crypto/bytes.js';
import { RESOLVE_TYPE, ResolveReplySchema } from '../../protocol/exchange.js';
import { signRequest } from '../../protocol/signed-request.js';
import { subjects } from '../../protocol/subjects.js';
import { call } from '../../agents/transport/rpc.js';
import { assembleContractJws, buyerSignature, encodeJwsPayload, merchantProtected, signMerchant, type JwsSignature } from '../../crypto/jws.js';
import { parseCertificate } from '../../crypto/x509/index.js';
import { fromB64u } from '../../crypto/bytes.js';
import { verifyRs256 } from '../../crypto/rsa/index.js';
import type { BuyerClient } from '../../buyer-cli/client.js';
import type { BuyerFiles, ExchangeFile } from '../../buyer-cli/state.js';

const test = suite('fairness and timeliness');
const world = worldSuite(test);

test.before(async () => {
});

/** Does the merchant hold a complete, valid contract (the buyer's signature)? */
function merchantHolds(w: World, merchant: string, contractId: string): boolean {
  const c = listContracts(w.stores.get(merchant)!.dataDir).find((x) => x.contractId === contractId);
  return !!c?.contractFile && checkContract(JSON.parse(readFileSync(c.contractFile, 'utf8')), w.pki.ca.certificate).valid;
}

/** Does the buyer hold a complete, valid contract (the merchant's signature)? */
function buyerHolds(w: World, files: BuyerFiles, contractId: string): boolean {
  const x = files.exchange(contractId);
  return !!x?.contractFile && checkContract(JSON.parse(readFileSync(x.contractFile, 'utf8')), w.pki.ca.certificate).valid;
}

/** A merchant that countersigns and goes straight to the Agent Home, never answering the buyer. */
async function resolveAsMerchant(x: ExchangeFile, merchantSig?: JwsSignature) {
  const m = world.stores.get(x.merchant)!.self;
  const sig = merchantSig ?? signMerchant(merchantProtected([parseCertificate(m.certPem).der]), x.payload, m.secretKey);
  const reply = await call(await world.nats.party(m.id), subjects.home('home', 'resolve'), signRequest(RESOLVE_TYPE, { payload: x.payload, protected: x.protected, sg1: x.sg1, merchantSignature: sig }, 'home', m), ResolveReplySchema);
  return { reply, sig };
}

async function sessionWithSelf(name: string) {
  const { client, files, self } = await world.buyer(name);
  const { session, results } = await negotiated(client);
  return { client, files, self, sn: session.sn, merchants: results.agreements.map((a) => a.merchant) };
}

async function session(name: string): Promise<{ client: BuyerClient; files: BuyerFiles; sn: string; merchants: string[] }> {
  const { client, files } = await world.buyer(name);
  const { session, results } = await negotiated(client);
  return { client, files, sn: session.sn, merchants: results.agreements.map((a) => a.merchant) };
}

test('case 1, no signing: neither party holds anything', async () => {
  const { files, sn, merchants } = await session('b1');
  assert.ok(merchants.length >= 2);
  for (const m of merchants) assert.equal(listContracts(world.stores.get(m)!.dataDir).filter((c) => c.sn === sn), []);
  assert.equal(files.exchanges().filter((x) => x.sn === sn), []);
});

test('case 2, both honest: both hold the same valid contract, before its deadline', async () => {
  const { client, files, sn, merchants } = await session('b2');
  const r = await client.sign(sn, merchants[0]!);
  assert.is(r.state, 'complete');
  await eventually('merchant stored the complete contract', () => merchantHolds(world, merchants[0]!, r.contractId));
  assert.ok(buyerHolds(world, files, r.contractId));
  const storeCopy = listContracts(world.stores.get(merchants[0]!)!.dataDir).find((c) => c.contractId === r.contractId)!;
  assert.is(readFileSync(storeCopy.contractFile!, 'utf8').trim() === readFileSync(r.contractFile!, 'utf8').trim() || JSON.stringify(JSON.parse(readFileSync(storeCopy.contractFile!, 'utf8'))) === JSON.stringify(JSON.parse(readFileSync(r.contractFile!, 'utf8'))), true, 'same contract on both sides');
  assert.ok(Date.parse(storeCopy.updated) <= Date.parse(storeCopy.exchangeDeadline), 'ended before the deadline');
});

test('case 3, the buyer withholds its complete signature: the store resolves, both end holding it', async () => {
  const { client, files, sn, merchants } = await session('b3');
  const r = await client.sign(sn, merchants[1]!, { withhold: true, completeWithinMs: 300, resolveWindowMs: 30_000 });
  assert.is(r.state, 'countersigned');
  assert.not.ok(buyerHolds(world, files, r.contractId), 'not complete yet');
  await eventually('the store resolved through the Agent Home', () => merchantHolds(world, merchants[1]!, r.contractId));
  const c = listContracts(world.stores.get(merchants[1]!)!.dataDir).find((x) => x.contractId === r.contractId)!;
  assert.is(c.state, 'resolved');
  assert.ok(Date.parse(c.updated) <= Date.parse(c.exchangeDeadline), 'resolved before the exchange deadline');
  await client.inbox();
  assert.ok(buyerHolds(world, files, r.contractId), "the buyer got the merchant's countersignature from its mailbox");
  assert.is(files.exchange(r.contractId)!.state, 'resolved');
});

test('case 4, the merchant resolves without sending its countersignature: the buyer gets it from the Agent Home', async () => {
  const { client, files, sn, merchants } = await session('b4');
  const x = await client.prepare(sn, merchants[0]!); // the buyer's SG1 "reached" the merchant
  const { reply, sig } = await resolveAsMerchant(x);
  assert.is(reply.outcome, 'resolved');
  // the merchant now holds a complete contract
  const sg = reply.outcome === 'resolved' ? reply.sg : '';
  const jws = assembleContractJws(x.payload, buyerSignature(x.protected, fromB64u(sg)), sig);
  assert.ok(checkContract(jws, world.pki.ca.certificate).valid, 'merchant holds a valid contract');
  // and so does the buyer, although the merchant never answered it
  const inbox = await client.inbox();
  assert.ok(inbox.some((m) => m.contractId === x.contractId));
  assert.ok(buyerHolds(world, files, x.contractId));
  // resolving again gives the same answer
  const again = await resolveAsMerchant(x, sig);
  assert.equal(again.reply, reply);
});

test('a buyer who re-signs its delegation cannot make the Agent Home refuse to resolve', async () => {
  const { client, files, self, sn, merchants } = await sessionWithSelf('b8');
  const x = await client.prepare(sn, merchants[0]!);
  const p = JSON.parse(Buffer.from(x.payload, 'base64url').toString());
  // same key, same request, another valid signature (a later notAfter)
  const delegation = signDelegation({ ...p.delegation.body, notAfter: new Date(Date.now() + 40 * 86400_000).toISOString() }, self.secretKey);
  const payload = encodeJwsPayload({ ...p, delegation });
  const sk = restoreKey(files.session(sn).key);
  const sg1 = toB64u(partialSignMessage(sk.key, sk.split, buyerSigningInput(payload, x.protected)));
  const { reply } = await resolveAsMerchant({ ...x, payload, sg1, contractId: contractIdOf(payload) });
  assert.is(reply.outcome, 'resolved');
});

test('abort before any resolution: the buyer gets a token, a later resolve is refused with it, nobody holds anything', async () => {
  const { client, files, sn, merchants } = await session('b5');
  const x = await client.prepare(sn, merchants[0]!);
  const aborted = await client.abort(x.contractId);
  assert.is(aborted.outcome, 'aborted');
  const { reply } = await resolveAsMerchant(x);
  assert.is(reply.outcome, 'aborted', 'resolve after abort answers the abort token');
  assert.equal(reply.outcome === 'aborted' ? reply.token : undefined, aborted.outcome === 'aborted' ? aborted.token : 'x');
  assert.not.ok(buyerHolds(world, files, x.contractId), "buyer holds no countersignature");
  // what the merchant holds, SG1, is not a signature under the session key
  const facts = checkContract({ payload: x.payload, signatures: [{ protected: x.protected, signature: x.sg1 }, { protected: 'e30', signature: 'AA' }] }, world.pki.ca.certificate);
  assert.not.ok(facts.valid);
  const n = JSON.parse(Buffer.from(x.payload, 'base64url').toString()).delegation.body.n as string;
  assert.not.ok(verifyRs256({ n: BigInt('0x' + Buffer.from(n, 'base64url').toString('hex')), e: 65537n }, new TextEncoder().encode(`${x.protected}.${x.payload}`), fromB64u(x.sg1)));
  assert.is(files.exchange(x.contractId)!.state, 'aborted');
});

test('abort after a resolution: the buyer gets the countersignature instead, both hold the contract', async () => {
  const { client, files, sn, merchants } = await session('b6');
  const x = await client.prepare(sn, merchants[1]!);
  const { reply } = await resolveAsMerchant(x);
  assert.is(reply.outcome, 'resolved');
  const r = await client.abort(x.contractId);
  assert.is(r.outcome, 'resolved');
  assert.ok(buyerHolds(world, files, x.contractId));
  assert.is(files.exchange(x.contractId)!.state, 'resolved');
});

test('timeliness: after the exchange deadline the Agent Home refuses to resolve, so an unresolved buyer knows it is free', async () => {
  const { client, sn, merchants } = await session('b7');
  const x = await client.prepare(sn, merchants[0]!, { completeWithinMs: 100, resolveWindowMs: 200 });
  await new Promise((r) => setTimeout(r, Date.parse(x.exchangeDeadline) - Date.now() + 50));
  await rejectsCode(() => resolveAsMerchant(x), 'ERR_EXCHANGE_DEADLINE');
  // the real store, too, gives up by the deadline instead of hanging: offer it and withhold
  const late = await client.sign(sn, merchants[1]!, { withhold: true, completeWithinMs: 2000, resolveWindowMs: 30_000 });
  await eventually('the store ended the exchange', () => {
    const c = listContracts(world.stores.get(merchants[1]!)!.dataDir).find((y) => y.contractId === late.contractId);
    return c && c.state !== 'countersigned' ? c : undefined;
  });
});

test.run();
