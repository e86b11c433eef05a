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
 *   PARLEY_AUDIT         stream: the signed, hash-linked audit log (agent-home/audit.ts)
 * Updates of shared records are compare-and-set; creations are create-if-absent, so two
 * Agent Home processes on the same JetStream never both act on one thing. Every update
 * function is idempotent (applying it twice gives what applying it once gave), because a
 * write whose acknowledgement was lost is retried (agents/transport/retry.ts) and a handler
 * interrupted by a crash runs again after the restart.
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
import type { Envelope, Visit } from '../agents/runtime/envelope.js';
import { KvUpdater, watchEntries } from '../agents/storage/kv.js';
import { KvClient } from '../agents/storage/kv-client.js';
import { retry } from '../agents/transport/retry.js';
import { readAuditLog, type AuditEntry } from './audit.js';
import { parseStrictJson, parseStrictJsonBytes } from '../crypto/strict-json.js';

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
  /** invitation rounds still out: invites neither home nor lost */
  invitesOut: number;
  /** Invite Agents recorded here but not yet handed to a host (sent again after a crash) */
  pendingInvites?: Envelope[];
  /** invites counted back (home or lost), so none is counted twice */
  returned?: string[];
  /** invites whose visit log is merged into `visits` */
  arrived?: string[];
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
  /** the Sales Agent's id (its own arrival may finish the bookkeeping after a crash) */
  agent?: string;
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
  /** resolved: what the merchant sent to justify it (the contract's payload, the buyer's header, SG1) */
  contract?: { payload: string; protected: string; sg1: string };
  /** aborted: the signed token */
  token?: AbortToken;
  /** resolved: SG_S is in the buyer's mailbox */
  delivered?: boolean;
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

/**
 * How many agreements a process keeps in memory (they never change once stored): the
 * buyer's results read them within moments, so enough for about a hundred sessions in
 * flight (a 10-minute soak held 4096 of them, some tens of MiB, for nothing)
 */
const AGREEMENTS_KEPT = 1024;

export class HomeState {
  /** compare-and-set updates, one queue per bucket (see KvUpdater) */
  private readonly updaters = new Map<KV, KvUpdater>();
  /**
   * The merchant directory, kept up to date by a watch from the first `merchants()` on:
   * every session reads it, and it changes only when a merchant registers
   */
  private directoryView?: Promise<Map<string, DirectoryEntry>>;
  private stopDirectoryWatch?: () => void;
  /** agreements this process stored or read, oldest first: the buyer's results read them again */
  private readonly agreementsKept = new Map<string, Agreement>();
  private constructor(
    /** reads and writes of each bucket, past nats.js's per-request overhead (kv-client.ts) */
    private readonly clients: Map<KV, KvClient>,
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

  /**
   * `readOnly` (the console party): binds to the buckets that exist and creates nothing; the
   * buckets it may not read (escrow, replies) are bound but never read.
   */
  static async open(nc: NatsConnection, opts: { replicas?: number; readOnly?: boolean } = {}): Promise<HomeState> {
    const js = nc.jetstream();
    const jsm = await nc.jetstreamManager({ checkAPI: !opts.readOnly });
    const replicas = opts.replicas ?? 1;
    const clients = new Map<KV, KvClient>();
    const kv = async (name: string, ttl?: number) => {
      const view = await js.views.kv(name, opts.readOnly ? { bindOnly: true } : { history: 1, replicas, ...(ttl ? { ttl } : {}) });
      clients.set(view, new KvClient(nc, name));
      return view;
    };
    if (!opts.readOnly) {
      try {
        await jsm.streams.info(MAILBOX_STREAM);
      } catch {
        await jsm.streams.add({ name: MAILBOX_STREAM, subjects: ['parley.v1.mailbox.>'], num_replicas: replicas, allow_direct: true, duplicate_window: 24 * 3600 * 1e9 });
      }
    }
    return new HomeState(
      clients,
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

  /**
   * The keys of a bucket, from its stream's list of subjects: one request, and no consumer.
   * (nats.js's `kv.keys()` runs an ordered consumer that can miss its end and never finish
   * while the bucket is written to — seen when a session was listed while its invitation was
   * being recorded.) These buckets never delete keys; callers read each record anyway.
   */
  private async keysOf(bucket: string): Promise<string[]> {
    const info = await retry(() => this.jsm.streams.info(`KV_${bucket}`, { subjects_filter: '>' }));
    const prefix = `$KV.${bucket}.`;
    return Object.keys(info.state.subjects ?? {})
      .filter((s) => s.startsWith(prefix))
      .map((s) => s.slice(prefix.length));
  }

  /** A record's current value (reads are retried on transient failures). */
  read<T>(kv: KV, key: string): Promise<T | undefined> {
    return retry(() => this.client(kv).getJson<T>(key)).then((r) => r?.value);
  }
  private client(kv: KV): KvClient {
    const c = this.clients.get(kv);
    if (!c) throw new Error('not a bucket of this state');
    return c;
  }
  /** Stores `value` under `key` whatever was there (retried on transient failures). */
  put(kv: KV, key: string, value: unknown): Promise<number> {
    return retry(() => this.client(kv).putJson(key, value));
  }
  /**
   * Create-if-absent that may be retried: a create whose acknowledgement was lost looks, on
   * the next try, like someone else's record, so a record holding exactly what we wrote
   * counts as ours. True when `value` is (now) the record, false when another one is.
   */
  createOnce(kv: KV, key: string, value: unknown): Promise<boolean> {
    const c = this.client(kv);
    return retry(async (attempt) => {
      if (await c.createJson(key, value)) return true;
      if (attempt === 1) return false;
      const cur = await c.getJson<unknown>(key);
      return !!cur && JSON.stringify(cur.value) === JSON.stringify(value);
    });
  }
  /** Compare-and-set update (KvUpdater), retried on transient failures; `fn` must be idempotent and leave its argument unchanged. */
  update<T>(kv: KV, key: string, fn: (cur: T) => T | undefined): Promise<T | undefined> {
    return retry(() => this.updater(kv).update(key, fn));
  }
  private updater(kv: KV): KvUpdater {
    let u = this.updaters.get(kv);
    if (!u) this.updaters.set(kv, (u = new KvUpdater(this.client(kv))));
    return u;
  }
  session(sn: string) {
    return this.read<SessionRecord>(this.sessions, sn);
  }
  /**
   * The session as this process last wrote it, else as stored: possibly behind the stored
   * record (another process may have written since), so only for fields that never change
   * once the session exists, or for a check that reads the record again when it fails.
   */
  async recentSession(sn: string): Promise<SessionRecord | undefined> {
    return this.updater(this.sessions).recent<SessionRecord>(sn) ?? (await this.session(sn));
  }
  /** The session record with its revision (long polls wait for a newer one). */
  sessionAt(sn: string) {
    return retry(() => this.client(this.sessions).getJson<SessionRecord>(sn));
  }
  updateSession(sn: string, fn: (s: SessionRecord) => SessionRecord | undefined) {
    return this.update(this.sessions, sn, fn);
  }
  negotiation(sn: string, merchant: string) {
    return this.read<NegotiationRecord>(this.negotiations, `${sn}.${merchant}`);
  }
  async agreement(sn: string, merchant: string): Promise<Agreement | undefined> {
    const key = `${sn}.${merchant}`;
    const kept = this.agreementsKept.get(key);
    if (kept) return kept;
    const a = await this.read<Agreement>(this.agreements, key);
    if (a) this.keepAgreement(key, a);
    return a;
  }
  /** Stores the agreement unless one exists (createOnce); true when `a` is (now) the record. */
  async createAgreement(a: Agreement): Promise<boolean> {
    const key = `${a.sn}.${a.merchant}`;
    const ours = await this.createOnce(this.agreements, key, a);
    if (ours) this.keepAgreement(key, a);
    return ours;
  }
  private keepAgreement(key: string, a: Agreement): void {
    if (this.agreementsKept.size >= AGREEMENTS_KEPT) this.agreementsKept.delete(this.agreementsKept.keys().next().value!);
    this.agreementsKept.set(key, a);
  }
  exchange(contractId: string) {
    return this.read<ExchangeRecord>(this.exchanges, contractId);
  }
  /** Creates the exchange's outcome unless one exists; returns the outcome that holds. */
  async settleExchange(rec: ExchangeRecord): Promise<ExchangeRecord> {
    if (await this.createOnce(this.exchanges, rec.contractId, rec)) return rec;
    return (await this.exchange(rec.contractId))!;
  }
  async register(entry: DirectoryEntry): Promise<void> {
    await this.put(this.directory, entry.id, entry);
    // seen at once here; other processes see it through their watch
    (await this.directoryView?.catch(() => undefined))?.set(entry.id, entry);
  }
  /**
   * Every registered merchant, by id. From a watch of the directory kept from the first call
   * on (a registration made through another process shows up milliseconds later); when the
   * watch cannot be set up, read from the bucket.
   */
  async merchants(): Promise<DirectoryEntry[]> {
    this.directoryView ??= this.watchDirectory().catch((e: unknown) => {
      this.directoryView = undefined;
      throw e;
    });
    let view: Map<string, DirectoryEntry>;
    try {
      view = await this.directoryView;
    } catch {
      view = new Map();
      for (const k of await this.keysOf('parley_directory')) {
        const e = await this.read<DirectoryEntry>(this.directory, k);
        if (e) view.set(k, e);
      }
    }
    return [...view.values()].sort((a, b) => a.id.localeCompare(b.id));
  }
  private async watchDirectory(): Promise<Map<string, DirectoryEntry>> {
    const view = new Map<string, DirectoryEntry>();
    const dec = new TextDecoder();
    this.stopDirectoryWatch = await watchEntries(
      this.directory,
      (e) => {
        if (e.operation === 'PUT') view.set(e.key, parseStrictJson(dec.decode(e.value)) as DirectoryEntry);
        else view.delete(e.key);
      },
      { initTimeoutMs: 10_000 },
    );
    return view;
  }
  /** Stops the directory watch (the process keeps no other subscription here). */
  close(): void {
    this.stopDirectoryWatch?.();
    this.stopDirectoryWatch = undefined;
    this.directoryView = undefined;
  }
  async sessionNumbers(): Promise<string[]> {
    return (await this.keysOf('parley_sessions')).sort();
  }
  async exchangeIds(): Promise<string[]> {
    return this.keysOf('parley_exchanges');
  }

  /**
   * Delivers to a buyer's mailbox once per (contract, kind): the message id makes JetStream
   * drop a repeat within its 24-hour duplicate window, so a retried publish, or one repeated
   * after a crash, is stored once.
   */
  async deliver(buyer: string, msg: Omit<MailMessage, 'seq'>): Promise<void> {
    const data = new TextEncoder().encode(JSON.stringify(msg));
    await retry(() => this.js.publish(mailboxSubject(buyer), data, { msgID: `${msg.contractId}.${msg.kind}` }));
  }

  /** The audit log as stored, position by position from `from` on (1: all of it; agent-home/audit.ts). */
  auditEntries(from = 1): Promise<AuditEntry[]> {
    return readAuditLog(this.jsm, from);
  }

  /** A buyer's mailbox messages after sequence `after` (at most `limit`). */
  async mailbox(buyer: string, after: number, limit = 100): Promise<MailMessage[]> {
    const out: MailMessage[] = [];
    let seq = after;
    while (out.length < limit) {
      let m;
      try {
        const q = { next_by_subj: mailboxSubject(buyer), seq: seq + 1 };
        m = await retry(() => (this.jsm as WithDirect).direct.getMessage(MAILBOX_STREAM, q));
      } catch {
        break; // no further message (or JetStream stayed unavailable: the buyer asks again later)
      }
      out.push({ ...(parseStrictJsonBytes(m.data) as Omit<MailMessage, 'seq'>), seq: m.seq });
      seq = m.seq;
    }
    return out;
  }
}
