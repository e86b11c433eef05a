/**
 * Everything the Agent Home must not lose, in JetStream:
 *   parley_sessions      SN → session record (request, session key, voucher, progress)
 *   parley_escrow        SN → d2 and the buyer's rules, encrypted at rest with the session's key
 *   parley_negotiations  SN.merchant → the Sales Agent's offer and every round (bid, verdict)
 *   parley_agreements    SN.merchant → the agreed bid with its proof
 *   parley_exchanges     contractId → resolved (SG, SG_S) or aborted (token)
 *   parley_directory     merchant → categories it sells
 *   parley_replies       request id → the reply already given (replays get the same answer)
 *   PARLEY_MAILBOX       stream: what a buyer must receive while offline
 * Updates of shared records are compare-and-set; creations are create-if-absent, so two
 * Agent Home processes on the same JetStream never both act on one thing.
 */
import type { JetStreamClient, JetStreamManager, KV, NatsConnection, StoredMsg } from 'nats';

/** nats.js implements direct get (`jsm.direct`) but its JetStreamManager type omits it. */
type WithDirect = JetStreamManager & { direct: { getMessage(stream: string, q: { next_by_subj: string; seq: number }): Promise<StoredMsg> } };
import type { SignedObject } from '../crypto/signed.js';
import type { PurchaseRequest, ContractTemplate } from '../protocol/commerce.js';
import type { Agreement } from '../protocol/directory.js';
import type { JwsSignature } from '../crypto/jws.js';
import type { AbortToken, MailMessage } from '../protocol/exchange.js';
import type { Round } from '../agents/negotiation.js';
import type { Visit } from '../agents/runtime/envelope.js';
import { createJson, getJson, listKeys, putJson, updateJson } from '../agents/storage/kv.js';

export interface SessionRecord {
  sn: string;
  home: string;
  buyer: string;
  buyerCert: string;
  request: PurchaseRequest;
  deadline: string;
  nonce: string;
  requestHash: string;
  n: string;
  e: string;
  e1: string;
  delegation: SignedObject<unknown>;
  voucher: SignedObject<unknown>;
  sgReq: SignedObject<unknown>;
  created: string;
  signBy: string;
  /** Invite Agents sent for this session (a lost one is replaced for the hosts it missed) */
  invites: string[];
  invited: string[];
  /** invitation rounds still out */
  invitesOut: number;
  /** no merchant sells the requested category: nothing to wait for */
  nobodyToInvite?: boolean;
  /** the Invite Agents' verified visit logs, as they came home */
  visits: Visit[];
  interested: string[];
  /** merchant → outcome of its Sales Agent */
  negotiated: Record<string, { status: string; rounds: number }>;
  agreed: string[];
  exchanges: string[];
}

export interface NegotiationRecord {
  sn: string;
  merchant: string;
  merchantCert: string;
  offer: SignedObject<unknown>;
  template: ContractTemplate;
  k: number;
  status: string;
  rounds: Round[];
  error?: string;
  at: string;
}

export interface ExchangeRecord {
  contractId: string;
  sn: string;
  merchant: string;
  buyer: string;
  status: 'resolved' | 'aborted';
  at: string;
  /** resolved: the completed buyer signature and the merchant's, as sent to the buyer */
  sg?: string;
  merchantSignature?: JwsSignature;
  /** aborted: the signed token */
  token?: AbortToken;
}

export interface DirectoryEntry {
  id: string;
  name: string;
  categories: string[];
  cert: string;
  registeredAt: string;
}

export interface StoredReply {
  type: string;
  signer: string;
  /** base64 of the reply bytes; absent while the first request is still being handled */
  reply?: string;
}

export const MAILBOX_STREAM = 'PARLEY_MAILBOX';
export const mailboxSubject = (buyer: string) => `parley.v1.mailbox.${buyer}`;

export class HomeState {
  private constructor(
    readonly sessions: KV,
    readonly escrow: KV,
    readonly negotiations: KV,
    readonly agreements: KV,
    readonly exchanges: KV,
    readonly directory: KV,
    readonly replies: KV,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
  ) {}

  static async open(nc: NatsConnection, opts: { replicas?: number } = {}): Promise<HomeState> {
    const js = nc.jetstream();
    const jsm = await nc.jetstreamManager();
    const replicas = opts.replicas ?? 1;
    const kv = (name: string, ttl?: number) => js.views.kv(name, { history: 1, replicas, ...(ttl ? { ttl } : {}) });
    try {
      await jsm.streams.info(MAILBOX_STREAM);
    } catch {
      await jsm.streams.add({ name: MAILBOX_STREAM, subjects: ['parley.v1.mailbox.>'], num_replicas: replicas, allow_direct: true, duplicate_window: 24 * 3600 * 1e9 });
    }
    return new HomeState(
      await kv('parley_sessions'),
      await kv('parley_escrow'),
      await kv('parley_negotiations'),
      await kv('parley_agreements'),
      await kv('parley_exchanges'),
      await kv('parley_directory'),
      await kv('parley_replies', 15 * 60_000),
      js,
      jsm,
    );
  }

  session(sn: string) {
    return getJson<SessionRecord>(this.sessions, sn).then((r) => r?.value);
  }
  updateSession(sn: string, fn: (s: SessionRecord) => SessionRecord | undefined) {
    return updateJson(this.sessions, sn, fn);
  }
  negotiation(sn: string, merchant: string) {
    return getJson<NegotiationRecord>(this.negotiations, `${sn}.${merchant}`).then((r) => r?.value);
  }
  agreement(sn: string, merchant: string) {
    return getJson<Agreement>(this.agreements, `${sn}.${merchant}`).then((r) => r?.value);
  }
  exchange(contractId: string) {
    return getJson<ExchangeRecord>(this.exchanges, contractId).then((r) => r?.value);
  }
  /** Creates the exchange's outcome unless one exists; returns the outcome that holds. */
  async settleExchange(rec: ExchangeRecord): Promise<ExchangeRecord> {
    if (await createJson(this.exchanges, rec.contractId, rec)) return rec;
    return (await this.exchange(rec.contractId))!;
  }
  async register(entry: DirectoryEntry): Promise<void> {
    await putJson(this.directory, entry.id, entry);
  }
  async merchants(): Promise<DirectoryEntry[]> {
    const out: DirectoryEntry[] = [];
    for (const k of await listKeys(this.directory)) {
      const e = await getJson<DirectoryEntry>(this.directory, k);
      if (e) out.push(e.value);
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }
  async sessionNumbers(): Promise<string[]> {
    return (await listKeys(this.sessions)).sort();
  }
  async exchangeIds(): Promise<string[]> {
    return listKeys(this.exchanges);
  }

  /** Delivers to a buyer's mailbox exactly once per (contract, kind). */
  async deliver(buyer: string, msg: Omit<MailMessage, 'seq'>): Promise<void> {
    await this.js.publish(mailboxSubject(buyer), new TextEncoder().encode(JSON.stringify(msg)), { msgID: `${msg.contractId}.${msg.kind}` });
  }

  /** A buyer's mailbox messages after sequence `after` (at most `limit`). */
  async mailbox(buyer: string, after: number, limit = 100): Promise<MailMessage[]> {
    const out: MailMessage[] = [];
    let seq = after;
    while (out.length < limit) {
      let m;
      try {
        m = await (this.jsm as WithDirect).direct.getMessage(MAILBOX_STREAM, { next_by_subj: mailboxSubject(buyer), seq: seq + 1 });
      } catch {
        break; // no further message
      }
      out.push({ ...(JSON.parse(new TextDecoder().decode(m.data)) as Omit<MailMessage, 'seq'>), seq: m.seq });
      seq = m.seq;
    }
    return out;
  }
}
