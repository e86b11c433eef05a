/**
 * Everything a buyer does, as a library the CLI (and `parley demo`) drive:
 *   request  — phase 1: fresh session key, delegation, escrow proof, d2 and rules sealed to
 *              the Agent Home; notify; the session is saved (key included, 0600)
 *   results  — progress and agreements, ranked by the buyer's utility
 *   sign     — phase 3: contract with binding statement, SG1 to the merchant, check SG_S,
 *              then the complete signature (or withhold it)
 *   abort    — phase 4: end an exchange whose countersignature never came
 *   inbox    — what the Agent Home kept for the buyer (SG_S after a resolution)
 * State is saved before each message that commits the buyer leaves, so a killed buyer can
 * always finish or abort.
 */
import { randomBytes } from 'node:crypto';
import type { NatsConnection } from 'nats';
import { bigintToB64u, toB64u } from '../crypto/bytes.js';
import { createEscrowProof, generateSessionKey, partialSignMessage, rsaPublicKey, signRs256, splitKey, type RsaKeySize } from '../crypto/rsa/index.js';
import { sealJson } from '../crypto/seal.js';
import { canonicalJson, type JsonValue } from '../crypto/canonical.js';
import {
  assembleContractJws,
  buyerProtected,
  legacyBuyerProtected,
  buyerSignature,
  checkMerchantSignature,
  merchantCertificate,
  type GeneralJws,
  type JwsSignature,
} from '../crypto/jws.js';
import { parseCertificate, verifyCertificate, type ParsedCertificate } from '../crypto/x509/index.js';
import { call } from '../agents/transport/rpc.js';
import type { Self, Trust } from '../agents/runtime/trust.js';
import { parleyError } from '../protocol/errors.js';
import { subjects } from '../protocol/subjects.js';
import { signRequest } from '../protocol/signed-request.js';
import type { PurchaseRequest } from '../protocol/commerce.js';
import { parseRules, type Rules } from '../protocol/rules.js';
import {
  DELEGATION_PURPOSE,
  EncryptionKeyReplySchema,
  NOTIFY_TYPE,
  NotifyReplySchema,
  escrowContext,
  openEncryptionKey,
  openRequestStatement,
  requestHash,
  sealContext,
  signDelegation,
  type NotifyBody,
} from '../protocol/session.js';
import { openVoucher } from '../protocol/voucher.js';
import { verifyBidProof } from '../protocol/sales.js';
import { RESULTS_TYPE, ResultsReplySchema, type Agreement, type ResultsReply, type ResultsRequest } from '../protocol/directory.js';
import {
  ABORT_TYPE,
  AbortReplySchema,
  CONTRACT_COMPLETE_TYPE,
  CONTRACT_OFFER_TYPE,
  ContractCompleteReplySchema,
  ContractOfferReplySchema,
  MAILBOX_TYPE,
  MailboxReplySchema,
  openAbortToken,
  type AbortReply,
} from '../protocol/exchange.js';
import { checkContract, contractId as contractIdOf, encodeContractPayload, signBinding, termsHash, buyerSigningInput, type ContractPayload } from '../protocol/contract.js';
import { restoreKey, storeKey, type SessionKey } from './session-key.js';
import { crashPoint } from '../agents/crash-point.js';
import type { BuyerFiles, ExchangeFile, SessionFile } from './state.js';

export interface BuyerClientOptions {
  nc: NatsConnection;
  self: Self;
  trust: Trust;
  ca: ParsedCertificate;
  /** the Agent Home's party id */
  home: string;
  files: BuyerFiles;
  timeoutMs?: number;
}

export interface NewRequest {
  request: PurchaseRequest;
  rules: Rules | unknown;
  deadline: Date;
  bits?: RsaKeySize;
  /** a key generated ahead of time (keeps key generation off the clock) */
  sessionKey?: SessionKey;
}

export interface SignOptions {
  /** stop after the merchant's countersignature: do not send the complete signature */
  withhold?: boolean;
  /** how long the merchant waits for the complete signature before asking the Agent Home */
  completeWithinMs?: number;
  /** how long after that the Agent Home may still resolve */
  resolveWindowMs?: number;
}

export interface PreparedNotify {
  body: NotifyBody;
  sessionKey: SessionKey;
  homeCert: ParsedCertificate;
}

export interface SignOutcome {
  contractId: string;
  state: ExchangeFile['state'];
  contractFile?: string;
  merchant: string;
}

export async function newSessionKey(bits: RsaKeySize = 2048): Promise<SessionKey> {
  const key = await generateSessionKey(bits);
  return { key, split: splitKey(key) };
}

/**
 * How long `waitForResults` lets the Agent Home hold each request. Short enough that a
 * request held by an Agent Home process that then dies costs seconds, not a minute; long
 * enough that an idle session costs a request every few seconds.
 */
const FOLLOW_HOLD_MS = 8000;
/** Beyond its hold, how long a held request may take to be answered. */
const HELD_ANSWER_SLACK_MS = 4000;

export class BuyerClient {
  constructor(private readonly o: BuyerClientOptions) {}

  private get timeout(): number {
    return this.o.timeoutMs ?? 15_000;
  }

  private home(op: Parameters<typeof subjects.home>[1]): string {
    return subjects.home(this.o.home, op);
  }

  /** The Agent Home's certificate and sealing key, both checked. */
  async homeKey(): Promise<{ cert: ParsedCertificate; x25519: Uint8Array }> {
    const r = await call(this.o.nc, this.home('key'), {}, EncryptionKeyReplySchema, this.timeout);
    this.o.trust.verify(r.cert, ['agent-home']);
    const cert = parseCertificate(r.cert);
    if (cert.id !== this.o.home) throw parleyError('ERR_CERT_ID', `the Agent Home answered with the certificate of ${cert.id}`);
    return { cert, x25519: openEncryptionKey(r.key, this.o.home, cert.publicKey) };
  }

  /** Builds the notify for a request (exposed for tests that tamper with single fields). */
  async prepareNotify(spec: NewRequest): Promise<PreparedNotify> {
    const rules = parseRules(spec.rules);
    const { cert: homeCert, x25519 } = await this.homeKey();
    const sk = spec.sessionKey ?? (await newSessionKey(spec.bits));
    const nonce = toB64u(randomBytes(16));
    const deadline = spec.deadline.toISOString();
    const reqHash = requestHash(spec.request, deadline, nonce);
    const notAfter = new Date(spec.deadline.getTime() + 30 * 24 * 3600_000).toISOString();
    const delegation = signDelegation(
      { buyer: this.o.self.id, n: bigintToB64u(sk.key.n), e: bigintToB64u(sk.key.e), requestHash: reqHash, notAfter, purpose: DELEGATION_PURPOSE },
      this.o.self.secretKey,
    );
    const proof = createEscrowProof(sk.key, sk.split, escrowContext(reqHash));
    const sealed = sealJson({ d2: bigintToB64u(sk.split.d2), rules: rules as unknown as JsonValue }, x25519, sealContext(reqHash));
    const body: NotifyBody = {
      request: spec.request,
      deadline,
      nonce,
      delegation: delegation as NotifyBody['delegation'],
      e1: bigintToB64u(sk.split.e1),
      escrowProof: { sg1t: toB64u(proof.sg1t) },
      sealed,
    };
    return { body, sessionKey: sk, homeCert };
  }

  /** Phase 1: opens a purchase session. */
  async request(spec: NewRequest): Promise<SessionFile> {
    const { body, sessionKey: sk, homeCert } = await this.prepareNotify(spec);
    // keep the key before anything leaves: an answer lost in a crash still finds its key
    this.o.files.savePending(body.nonce, { nonce: body.nonce, request: body.request, deadline: body.deadline, key: storeKey(sk) });
    const reply = await call(this.o.nc, this.home('notify'), signRequest(NOTIFY_TYPE, body, this.o.home, this.o.self), NotifyReplySchema, this.timeout);
    // the answer must be the Agent Home's, for this request and this key
    const voucher = openVoucher(reply.voucher, homeCert.publicKey);
    const statement = openRequestStatement(reply.sgReq, homeCert.publicKey);
    if (voucher.sn !== reply.sn || statement.sn !== reply.sn || voucher.n !== sk.key.n || voucher.e1 !== sk.split.e1 || canonicalJson(statement.request) !== canonicalJson(body.request)) {
      throw parleyError('ERR_VOUCHER_INVALID', "the Agent Home's answer does not match the request");
    }
    const session: SessionFile = {
      sn: reply.sn,
      home: this.o.home,
      request: body.request,
      deadline: body.deadline,
      nonce: body.nonce,
      key: storeKey(sk),
      delegation: body.delegation,
      voucher: reply.voucher,
      sgReq: reply.sgReq,
      created: new Date().toISOString(),
      homeCert: homeCert.pem,
    };
    this.o.files.saveSession(session);
    this.o.files.dropPending(body.nonce);
    return session;
  }

  /** The session's results; with `wait`, a long poll (protocol/directory.ts). */
  async results(sn: string, wait?: ResultsRequest['wait']): Promise<ResultsReply> {
    const body: ResultsRequest = wait ? { sn, wait } : { sn };
    // a held request is answered within its hold; a few seconds more mean the Agent Home
    // process holding it is gone (another one answers the next try)
    const timeout = wait ? wait.ms + Math.min(this.timeout, HELD_ANSWER_SLACK_MS) : this.timeout;
    const r = await call(this.o.nc, this.home('results'), signRequest(RESULTS_TYPE, body, this.o.home, this.o.self), ResultsReplySchema, timeout);
    // every agreement must prove itself: the merchant's certificate, signed offer and revealed chain
    for (const a of r.agreements) {
      const cert = verifyCertificate(a.merchantCert, this.o.ca, { role: 'merchant', id: a.merchant });
      const proven = verifyBidProof(a.proof, a.merchant, cert.publicKey);
      if (proven.offer.sn !== sn || canonicalJson(proven.bid) !== canonicalJson(a.bid) || proven.index !== a.index) {
        throw parleyError('ERR_SALES_OFFER_INVALID', `the agreement with ${a.merchant} does not match its proof`);
      }
    }
    // kept, so that signing needs nothing more from the Agent Home (optimism)
    const files = this.o.files;
    if (r.agreements.length) files.saveSession({ ...files.session(sn), agreements: r.agreements });
    return r;
  }

  /**
   * Follows the session until it is complete or closed (or `until`), by long polls: with
   * `onProgress` every change is reported as it happens; without it the Agent Home answers
   * only when the session settles.
   */
  async waitForResults(sn: string, onProgress?: (r: ResultsReply) => void, opts: { until?: Date; retryMs?: number } = {}): Promise<ResultsReply> {
    let last = '';
    let after: number | undefined;
    const session = this.o.files.session(sn);
    const giveUp = Date.parse(session.deadline) + 30_000;
    for (;;) {
      const left = opts.until ? opts.until.getTime() - Date.now() : FOLLOW_HOLD_MS;
      const ms = Math.max(1, Math.min(FOLLOW_HOLD_MS, left));
      let r: ResultsReply;
      try {
        // following progress, the first answer comes at once and each next one at a change
        r = await this.results(sn, !onProgress ? { ms } : after === undefined ? undefined : { ms, after });
      } catch (e) {
        // a broker failover or a restarting Agent Home: keep following until well past the deadline
        const code = (e as { code?: string }).code;
        if (!(code === 'ERR_TIMEOUT' || code === 'ERR_UNAVAILABLE') || Date.now() > giveUp) throw e;
        await new Promise((res) => setTimeout(res, opts.retryMs ?? 200));
        continue;
      }
      after = r.revision;
      const key = JSON.stringify([r.status, r.progress]);
      if (key !== last) {
        last = key;
        onProgress?.(r);
      }
      if (r.status !== 'open' || (opts.until && Date.now() >= opts.until.getTime())) return r;
    }
  }

  /** Phase 3: signs the agreement with `merchant` (optimistic: the Agent Home takes no part). */
  async sign(sn: string, merchant: string, opts: SignOptions = {}): Promise<SignOutcome> {
    const files = this.o.files;
    const session = files.session(sn);
    const existing = files.exchangeWith(sn, merchant, new Date(session.created));
    if (existing && existing.state !== 'offered' && existing.state !== 'countersigned') {
      return { contractId: existing.contractId, state: existing.state, contractFile: existing.contractFile, merchant };
    }
    const sk = restoreKey(session.key);
    // after a restart, the very same offer is sent again (the merchant answers it idempotently)
    let x = existing ?? (await this.prepareFor(session, merchant, opts, sk));
    const storeSubject = (op: 'offer' | 'complete') => subjects.storeContract(merchant, op);
    if (x.state === 'offered') {
      let reply;
      try {
        reply = await call(
          this.o.nc,
          storeSubject('offer'),
          signRequest(CONTRACT_OFFER_TYPE, { payload: x.payload, protected: x.protected, sg1: x.sg1 }, merchant, this.o.self),
          ContractOfferReplySchema,
          this.timeout,
        );
      } catch (e) {
        const err = e as { code?: string; message?: string };
        if (err.code && !['ERR_TIMEOUT', 'ERR_UNAVAILABLE', 'ERR_NATS_CONNECT'].includes(err.code)) {
          files.saveExchange({ ...x, state: 'refused', error: { code: err.code, message: err.message ?? '' } });
        }
        throw e;
      }
      crashPoint('buyer:sign:after-offer');
      this.checkMerchantSignature(x.payload, reply.merchantSignature, merchant);
      x = { ...x, state: 'countersigned', merchantSignature: reply.merchantSignature };
      // written here only when the buyer stops here: otherwise `finish` writes the contract
      // and this state together just below, and a crash before that is the after-offer case
      // (the offer goes again, and the merchant answers it with the same countersignature)
      if (opts.withhold) files.saveExchange(x);
    }
    if (opts.withhold) return { contractId: x.contractId, state: x.state, merchant };
    const sg = signRs256(sk.key, buyerSigningInput(x.payload, x.protected));
    // the contract file is written now (we hold both signatures); the exchange stays
    // countersigned until the merchant has acknowledged SG, so a buyer killed before that
    // sends SG again when `sign` runs again
    const file = this.finish(x, sg, 'countersigned');
    crashPoint('buyer:sign:before-complete');
    await call(
      this.o.nc,
      storeSubject('complete'),
      signRequest(CONTRACT_COMPLETE_TYPE, { contractId: x.contractId, sg: toB64u(sg) }, merchant, this.o.self),
      ContractCompleteReplySchema,
      this.timeout,
    );
    files.saveExchange({ ...x, state: 'complete', contractFile: file });
    return { contractId: x.contractId, state: 'complete', contractFile: file, merchant };
  }

  /**
   * Builds the contract for the agreement with `merchant` and its partial signature SG1,
   * and saves the exchange before anything leaves (state 'offered').
   */
  prepare(sn: string, merchant: string, opts: SignOptions = {}): Promise<ExchangeFile> {
    return this.prepareFor(this.o.files.session(sn), merchant, opts);
  }

  /** `sk`: the session's key when the caller has restored it already (its checks take a while). */
  private async prepareFor(session: SessionFile, merchant: string, opts: SignOptions, sk?: SessionKey): Promise<ExchangeFile> {
    const { sn } = session;
    const known = session.agreements?.find((a) => a.merchant === merchant);
    const agreement = known ?? (await this.results(sn)).agreements.find((a) => a.merchant === merchant);
    if (!agreement) throw parleyError('ERR_AGREEMENT_UNKNOWN', `no agreement with ${merchant} in session ${sn}`);
    // the session as stored (results, when it ran, has just added the agreements)
    if (!known) session = this.o.files.session(sn);
    const x = this.prepareContract(session, sk ?? restoreKey(session.key), agreement, parseCertificate(session.homeCert), opts);
    this.o.files.saveExchange(x);
    return x;
  }

  private prepareContract(session: SessionFile, sk: SessionKey, agreement: Agreement, homeCert: ParsedCertificate, opts: SignOptions): ExchangeFile {
    const merchantCert = verifyCertificate(agreement.merchantCert, this.o.ca, { role: 'merchant', id: agreement.merchant });
    const now = Date.now();
    const voucher = openVoucher(session.voucher, homeCert.publicKey);
    const completeBy = new Date(now + (opts.completeWithinMs ?? 30_000));
    const exchangeDeadline = new Date(Math.min(completeBy.getTime() + (opts.resolveWindowMs ?? 120_000), voucher.signBy.getTime()));
    if (exchangeDeadline <= completeBy) throw parleyError('ERR_EXCHANGE_DEADLINE', 'the voucher no longer leaves time for an exchange');
    const binding = signBinding(
      { n: bigintToB64u(sk.key.n), sn: session.sn, merchant: agreement.merchant, termsHash: termsHash(session.sn, agreement.merchant, agreement.bid, agreement.template) },
      this.o.self.secretKey,
    );
    const payload: ContractPayload = {
      kind: 'parley-contract',
      v: 1,
      sn: session.sn,
      home: { id: this.o.home, cert: homeCert.pem },
      buyer: { id: this.o.self.id, cert: this.o.self.certPem },
      merchant: { id: agreement.merchant, cert: merchantCert.pem },
      request: session.request,
      deadline: session.deadline,
      nonce: session.nonce,
      terms: agreement.bid,
      template: agreement.template,
      bidProof: agreement.proof,
      voucher: session.voucher as ContractPayload['voucher'],
      delegation: session.delegation as ContractPayload['delegation'],
      binding: binding as ContractPayload['binding'],
      issuedAt: new Date(now).toISOString(),
      completeBy: completeBy.toISOString(),
      exchangeDeadline: exchangeDeadline.toISOString(),
    };
    const payloadB64 = encodeContractPayload(payload);
    const prot = buyerProtected(rsaPublicKey(sk.key));
    const sg1 = partialSignMessage(sk.key, sk.split, buyerSigningInput(payloadB64, prot));
    return {
      contractId: contractIdOf(payloadB64),
      sn: session.sn,
      merchant: agreement.merchant,
      state: 'offered',
      payload: payloadB64,
      protected: prot,
      sg1: toB64u(sg1),
      completeBy: payload.completeBy,
      exchangeDeadline: payload.exchangeDeadline,
      updated: new Date().toISOString(),
    };
  }

  /** SG_S must be the contract merchant's EdDSA signature over exactly this payload. */
  private checkMerchantSignature(payload: string, sig: JwsSignature, merchant: string): void {
    const jws: GeneralJws = { payload, signatures: [{ protected: legacyBuyerProtected(), signature: 'AA' }, sig] };
    const leaf = merchantCertificate(jws);
    const cert = verifyCertificate(leaf, this.o.ca, { role: 'merchant', id: merchant });
    if (!checkMerchantSignature(jws, cert)) throw parleyError('ERR_JWS_SIGNATURE_INVALID', `${merchant}'s countersignature does not verify`);
  }

  /** Assembles, checks and saves the complete contract. */
  private finish(x: ExchangeFile, sg: Uint8Array, state: 'countersigned' | 'resolved'): string {
    const jws = assembleContractJws(x.payload, buyerSignature(x.protected, sg), x.merchantSignature!);
    const check = checkContract(jws, this.o.ca);
    if (!check.valid) throw parleyError('ERR_CONTRACT_INVALID', `assembled contract does not verify: ${check.checks.filter((c) => !c.ok).map((c) => c.name).join(', ')}`);
    const file = this.o.files.saveContract(x.contractId, jws);
    this.o.files.saveExchange({ ...x, state, contractFile: file });
    return file;
  }

  /** Phase 4: asks the Agent Home to abort an exchange whose countersignature never came. */
  async abort(contractId: string): Promise<AbortReply & { contractFile?: string }> {
    const x = this.o.files.exchange(contractId);
    if (!x) throw parleyError('ERR_NOT_FOUND', `no exchange ${contractId}`);
    const reply = await call(
      this.o.nc,
      this.home('abort'),
      signRequest(ABORT_TYPE, { sn: x.sn, merchant: x.merchant, contractId }, this.o.home, this.o.self),
      AbortReplySchema,
      this.timeout,
    );
    const homeCert = parseCertificate(this.o.files.session(x.sn).homeCert);
    if (reply.outcome === 'aborted') {
      const t = openAbortToken(reply.token, homeCert.publicKey);
      if (t.contractId !== contractId) throw parleyError('ERR_EXCHANGE_STATE', 'abort token for another exchange');
      this.o.files.saveExchange({ ...x, state: 'aborted', token: reply.token });
      return reply;
    }
    // already resolved: the merchant is bound, so we are too; complete our copy
    this.checkMerchantSignature(x.payload, reply.merchantSignature, x.merchant);
    const sk = restoreKey(this.o.files.session(x.sn).key);
    const file = this.finish({ ...x, merchantSignature: reply.merchantSignature }, signRs256(sk.key, buyerSigningInput(x.payload, x.protected)), 'resolved');
    return { ...reply, contractFile: file };
  }

  /** Reads the mailbox; a countersignature delivered after a resolution completes our contract. */
  async inbox(): Promise<Array<{ seq: number; kind: string; sn: string; merchant: string; contractId: string; contractFile?: string }>> {
    const files = this.o.files;
    const reply = await call(this.o.nc, this.home('mailbox'), signRequest(MAILBOX_TYPE, { after: files.inboxSeq() }, this.o.home, this.o.self), MailboxReplySchema, this.timeout);
    const out = [];
    for (const m of reply.messages) {
      const x = files.exchange(m.contractId);
      let contractFile: string | undefined;
      if (x && x.state !== 'complete' && x.state !== 'resolved') {
        this.checkMerchantSignature(x.payload, m.merchantSignature, x.merchant);
        const sk = restoreKey(files.session(x.sn).key);
        contractFile = this.finish({ ...x, merchantSignature: m.merchantSignature }, signRs256(sk.key, buyerSigningInput(x.payload, x.protected)), 'resolved');
      } else contractFile = x?.contractFile;
      out.push({ seq: m.seq, kind: m.kind, sn: m.sn, merchant: m.merchant, contractId: m.contractId, contractFile });
    }
    files.saveInboxSeq(reply.last);
    return out;
  }
}
