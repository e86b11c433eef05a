/**
 * A buyer for tests, built only from protocol/ and crypto/ (independent of buyer-cli/):
 * `buyerNotify` opens a session at an Agent Home exactly as PROTOCOL.md phase 1 says (fresh
 * split of a session key, delegation, escrow proof, d2 and the rules sealed to the Agent
 * Home's encryption key); `buildContract` makes the contract of phase 3 from an agreement
 * (binding statement, SG1, and the complete signature SG); `buyerCall` sends any signed
 * request and decodes the reply.
 */
import { randomBytes } from 'node:crypto';
import type { NatsConnection } from 'nats';
import type { z } from 'zod';
import { bigintToB64u, toB64u } from '../../crypto/bytes.js';
import { createEscrowProof, partialSignMessage, rsaPublicKey, signRs256, splitKey, type RsaPrivateKey, type SplitKey } from '../../crypto/rsa/index.js';
import { sealJson } from '../../crypto/seal.js';
import type { JsonValue } from '../../crypto/canonical.js';
import { buyerProtected } from '../../crypto/jws.js';
import type { Self, Trust } from '../../agents/runtime/trust.js';
import { signRequest } from '../../protocol/signed-request.js';
import { subjects, type HomeOp } from '../../protocol/subjects.js';
import { decodeReply, encodeJson } from '../../protocol/wire.js';
import type { PurchaseRequest } from '../../protocol/commerce.js';
import {
  DELEGATION_PURPOSE,
  EncryptionKeyReplySchema,
  NOTIFY_TYPE,
  NotifyReplySchema,
  escrowContext,
  openEncryptionKey,
  requestHash,
  sealContext,
  signDelegation,
  type Delegation,
  type NotifyBody,
  type NotifyReply,
} from '../../protocol/session.js';
import { RESULTS_TYPE, ResultsReplySchema, type Agreement, type ResultsReply } from '../../protocol/directory.js';
import { CONTRACT_KIND, buyerSigningInput, contractId, encodeContractPayload, signBinding, termsHash, type ContractPayload } from '../../protocol/contract.js';
import { sharedSessionKey } from './session-keys.js';

export interface BuyerSession {
  buyer: Self;
  sn: string;
  home: string;
  homeCert: string;
  request: PurchaseRequest;
  deadline: string;
  nonce: string;
  key: RsaPrivateKey;
  split: SplitKey;
  delegation: Delegation;
  voucher: NotifyReply['voucher'];
  sgReq: NotifyReply['sgReq'];
}

/** Sends a signed request to `subject` and returns the decoded reply body (throws the peer's coded error). */
export async function buyerCall<S extends z.ZodType>(nc: NatsConnection, subject: string, type: string, body: object, to: string, from: Self, schema: S, timeoutMs = 10_000): Promise<z.infer<S>> {
  const msg = await nc.request(subject, encodeJson(signRequest(type, body, to, from)), { timeout: timeoutMs });
  return decodeReply(schema, msg.data, type);
}

export function homeCall<S extends z.ZodType>(nc: NatsConnection, home: string, op: HomeOp, type: string, body: object, from: Self, schema: S): Promise<z.infer<S>> {
  return buyerCall(nc, subjects.home(home, op), type, body, home, from, schema);
}

export interface NotifyOptions {
  request: PurchaseRequest;
  rules: JsonValue;
  /** negotiation deadline, from now */
  deadlineMs: number;
  /** the session key (default: the suite-wide shared 2048-bit key, split afresh) */
  key?: RsaPrivateKey;
}

/** Phase 1: the buyer's notify; returns everything the buyer keeps about the session. */
export async function buyerNotify(nc: NatsConnection, buyer: Self, trust: Trust, home: string, opts: NotifyOptions): Promise<BuyerSession> {
  const keyMsg = await nc.request(subjects.home(home, 'key'), new Uint8Array(0), { timeout: 5000 });
  const keyReply = decodeReply(EncryptionKeyReplySchema, keyMsg.data, 'encryption key');
  const homeIdentity = trust.verify(keyReply.cert, ['agent-home']);
  if (homeIdentity.id !== home) throw new Error(`key reply from ${homeIdentity.id}, not ${home}`);
  const x25519 = openEncryptionKey(keyReply.key, home, homeIdentity.publicKey);

  const key = opts.key ?? (await sharedSessionKey(2048));
  const split = splitKey(key);
  const deadline = new Date(Date.now() + opts.deadlineMs).toISOString();
  const nonce = toB64u(randomBytes(16));
  const rh = requestHash(opts.request, deadline, nonce);
  const delegation = signDelegation(
    { buyer: buyer.id, n: bigintToB64u(key.n), e: bigintToB64u(key.e), requestHash: rh, notAfter: new Date(Date.now() + opts.deadlineMs + 2 * 24 * 3600_000).toISOString(), purpose: DELEGATION_PURPOSE },
    buyer.secretKey,
  );
  const proof = createEscrowProof(key, split, escrowContext(rh));
  const body: NotifyBody = {
    request: opts.request,
    deadline,
    nonce,
    delegation: delegation as NotifyBody['delegation'],
    e1: bigintToB64u(split.e1),
    escrowProof: { sg1t: toB64u(proof.sg1t) },
    sealed: sealJson({ d2: bigintToB64u(split.d2), rules: opts.rules }, x25519, sealContext(rh)),
  };
  const reply = await homeCall(nc, home, 'notify', NOTIFY_TYPE, body, buyer, NotifyReplySchema);
  return { buyer, sn: reply.sn, home, homeCert: keyReply.cert, request: opts.request, deadline, nonce, key, split, delegation, voucher: reply.voucher, sgReq: reply.sgReq };
}

export function buyerResults(nc: NatsConnection, s: BuyerSession): Promise<ResultsReply> {
  return homeCall(nc, s.home, 'results', RESULTS_TYPE, { sn: s.sn }, s.buyer, ResultsReplySchema);
}

/** Polls the session's results until `merchant` has an agreement. */
export async function waitForAgreement(nc: NatsConnection, s: BuyerSession, merchant: string, ms = 10_000): Promise<Agreement> {
  const end = Date.now() + ms;
  for (;;) {
    const a = (await buyerResults(nc, s)).agreements.find((x) => x.merchant === merchant);
    if (a) return a;
    if (Date.now() > end) throw new Error(`no agreement with ${merchant} in session ${s.sn} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface BuiltContract {
  payload: ContractPayload;
  payloadB64: string;
  protected: string;
  /** SG1 = m^d1, base64url */
  sg1: string;
  /** SG = m^d, base64url (the complete RS256 signature) */
  sg: string;
  contractId: string;
}

export interface ContractTimes {
  completeBy: Date;
  exchangeDeadline: Date;
  issuedAt?: Date;
}

/** Phase 3, the buyer's part: the contract for an agreement, with SG1 and SG. */
export function buildContract(s: BuyerSession, agreement: Agreement, times: ContractTimes): BuiltContract {
  const binding = signBinding(
    { n: bigintToB64u(s.key.n), sn: s.sn, merchant: agreement.merchant, termsHash: termsHash(s.sn, agreement.merchant, agreement.bid, agreement.template) },
    s.buyer.secretKey,
  );
  const payload: ContractPayload = {
    kind: CONTRACT_KIND,
    v: 1,
    sn: s.sn,
    home: { id: s.home, cert: s.homeCert },
    buyer: { id: s.buyer.id, cert: s.buyer.certPem },
    merchant: { id: agreement.merchant, cert: agreement.merchantCert },
    request: s.request,
    deadline: s.deadline,
    nonce: s.nonce,
    terms: agreement.bid,
    template: agreement.template,
    bidProof: agreement.proof,
    voucher: s.voucher,
    delegation: s.delegation as ContractPayload['delegation'],
    binding: binding as ContractPayload['binding'],
    issuedAt: (times.issuedAt ?? new Date()).toISOString(),
    completeBy: times.completeBy.toISOString(),
    exchangeDeadline: times.exchangeDeadline.toISOString(),
  };
  const payloadB64 = encodeContractPayload(payload);
  const prot = buyerProtected(rsaPublicKey(s.key));
  const input = buyerSigningInput(payloadB64, prot);
  return {
    payload,
    payloadB64,
    protected: prot,
    sg1: toB64u(partialSignMessage(s.key, s.split, input)),
    sg: toB64u(signRs256(s.key, input)),
    contractId: contractId(payloadB64),
  };
}
