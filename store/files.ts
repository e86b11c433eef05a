/**
 * What a store keeps on disk, under its data directory (`<home>/store/<id>` for the CLI).
 * Every file is written atomically (agents/storage/atomic-file.ts); records that must exist
 * at most once are created with create-if-absent, so a crash or a repeated message never
 * makes a second one.
 *
 *   agents/journal.jsonl                Invite Agents hosted here (runtime/host-store.ts)
 *   offers/<sn>.json                    the one sales offer made in session sn: the bids,
 *                                       K[k+1], the signed offer and the Sales Agent (0600)
 *   offers/<sn>.sent.json               how its Sales Agent's delivery to the Agent Home ended
 *   sessions/<sn>.json                  the contract this store signed in session sn
 *   contracts/<contractId>.json         one exchange: state, payload, SG1, SG_S, and once
 *                                       known the buyer's full signature SG (0600)
 *   contracts/<contractId>.jws.json     the complete contract (general JWS JSON), for
 *                                       `parley verify`
 *   seen/<requestId>.json               request ids already acted on and the reply given
 *                                       (kept for twice the accepted clock skew)
 *
 * One process per data directory.
 */
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createFileAtomicAsync, readJsonFile, writeFileAtomicAsync, writeJsonAtomicAsync } from '../agents/storage/atomic-file.js';
import type { Envelope } from '../agents/runtime/envelope.js';
import type { Bid, PurchaseRequest } from '../protocol/commerce.js';
import type { WireError } from '../protocol/errors.js';
import type { AbortToken } from '../protocol/exchange.js';
import type { SalesOffer } from '../protocol/sales.js';
import type { GeneralJws, JwsSignature } from '../crypto/jws.js';

/** The sales offer a store made in one session; never changes once written. */
export interface OfferRecord {
  v: 1;
  sn: string;
  /** the Agent Home the Sales Agent went to */
  home: string;
  item: string;
  /** the request and deadline the Invite Agent carried (signed by the Agent Home in SG_REQ) */
  request: PurchaseRequest;
  deadline: string;
  createdAt: string;
  /** the offer's expiry (MSG.expiry) */
  expiry: string;
  /** B[1..k], best for the merchant first */
  bids: Bid[];
  /** K[k+1], base64url: with the bids it yields every K[i] */
  tail: string;
  /** K[1], base64url (signed in the offer) */
  k1: string;
  /** SG_MSG over {SN, MSG, K[1]} */
  offer: SalesOffer;
  /** the Sales Agent as issued (re-sent unchanged until the Agent Home acknowledges it) */
  agent: Envelope;
}

export interface DispatchRecord {
  /** delivered: the Agent Home has the Sales Agent; refused/expired: it never will */
  state: 'delivered' | 'refused' | 'expired';
  at: string;
  detail?: string;
  error?: WireError;
}

export const CONTRACT_STATES = ['countersigned', 'complete', 'resolved', 'aborted', 'expired'] as const;
export type ContractState = (typeof CONTRACT_STATES)[number];

export interface ContractRecord {
  v: 1;
  contractId: string;
  /**
   * countersigned: SG_S sent, SG awaited; complete: the buyer sent SG; resolved: the Agent
   * Home completed SG; aborted: the buyer aborted first (token kept); expired: the exchange
   * deadline passed without SG
   */
  state: ContractState;
  sn: string;
  home: string;
  buyer: string;
  terms: Bid;
  issuedAt: string;
  completeBy: string;
  exchangeDeadline: string;
  /** when the store asks the Agent Home to resolve if SG has not come */
  resolveAt: string;
  payload: string;
  protected: string;
  sg1: string;
  merchantSignature: JwsSignature;
  countersignedAt: string;
  /** the buyer's complete RS256 signature, once known */
  sg?: string;
  contract?: GeneralJws;
  token?: AbortToken;
  resolveAttempts?: number;
  lastError?: WireError;
  updated: string;
}

export interface SeenRecord {
  type: string;
  signer: string;
  at: string;
  /** base64 of the reply bytes; absent while the request is being handled */
  reply?: string;
}

const SECRET = 0o600;

export class StoreFiles {
  constructor(readonly dir: string) {}

  get agentsDir(): string {
    return join(this.dir, 'agents');
  }
  get offersDir(): string {
    return join(this.dir, 'offers');
  }
  get contractsDir(): string {
    return join(this.dir, 'contracts');
  }
  get seenDir(): string {
    return join(this.dir, 'seen');
  }

  // ---- offers ---------------------------------------------------------------------------

  offer(sn: string): OfferRecord | undefined {
    return readJsonFile<OfferRecord>(join(this.offersDir, `${sn}.json`));
  }

  /** Creates the session's offer record; false when one exists already. */
  createOffer(rec: OfferRecord): Promise<boolean> {
    return createFileAtomicAsync(join(this.offersDir, `${rec.sn}.json`), JSON.stringify(rec, null, 2) + '\n', SECRET);
  }

  offerSessions(): string[] {
    return names(this.offersDir)
      .filter((n) => /^[0-9a-f]{32}\.json$/.test(n))
      .map((n) => n.slice(0, -'.json'.length));
  }

  dispatch(sn: string): DispatchRecord | undefined {
    try {
      return readJsonFile<DispatchRecord>(join(this.offersDir, `${sn}.sent.json`));
    } catch {
      return undefined; // unreadable after a power loss (see setDispatch): as if absent
    }
  }

  /**
   * Not synced to disk: a record lost in a power failure only means the Sales Agent is sent
   * again, and the Agent Home acknowledges it as a duplicate (or refuses it as a replay).
   */
  setDispatch(sn: string, rec: DispatchRecord): Promise<void> {
    return writeJsonAtomicAsync(join(this.offersDir, `${sn}.sent.json`), rec, { durable: false });
  }

  // ---- contracts ------------------------------------------------------------------------

  contractPath(id: string): string {
    return join(this.contractsDir, `${id}.json`);
  }

  jwsPath(id: string): string {
    return join(this.contractsDir, `${id}.jws.json`);
  }

  contract(id: string): ContractRecord | undefined {
    return readJsonFile<ContractRecord>(this.contractPath(id));
  }

  createContract(rec: ContractRecord): Promise<boolean> {
    return createFileAtomicAsync(this.contractPath(rec.contractId), JSON.stringify(rec, null, 2) + '\n', SECRET);
  }

  /** Replaces a contract record; the JWS file is written first, so a record never points at a missing file. */
  async saveContract(rec: ContractRecord): Promise<void> {
    if (rec.contract) await writeFileAtomicAsync(this.jwsPath(rec.contractId), JSON.stringify(rec.contract, null, 2) + '\n');
    await writeJsonAtomicAsync(this.contractPath(rec.contractId), rec, SECRET);
  }

  contractIds(): string[] {
    return names(this.contractsDir)
      .filter((n) => n.endsWith('.json') && !n.endsWith('.jws.json') && !n.startsWith('.'))
      .map((n) => n.slice(0, -'.json'.length));
  }

  /** Which contract this store signed in session `sn`. */
  sessionContract(sn: string): string | undefined {
    return readJsonFile<{ contractId: string }>(join(this.dir, 'sessions', `${sn}.json`))?.contractId;
  }

  claimSession(sn: string, contractId: string): Promise<boolean> {
    return createFileAtomicAsync(join(this.dir, 'sessions', `${sn}.json`), JSON.stringify({ contractId, at: new Date().toISOString() }) + '\n');
  }

  /** Points the session at a new contract (the earlier one ended without binding anyone). */
  reassignSession(sn: string, contractId: string): Promise<void> {
    return writeJsonAtomicAsync(join(this.dir, 'sessions', `${sn}.json`), { contractId, at: new Date().toISOString() });
  }

  // ---- replay guard ---------------------------------------------------------------------

  seen(requestId: string): SeenRecord | undefined {
    return readJsonFile<SeenRecord>(join(this.seenDir, `${requestId}.json`));
  }

  claimRequest(requestId: string, rec: SeenRecord): Promise<boolean> {
    return createFileAtomicAsync(join(this.seenDir, `${requestId}.json`), JSON.stringify(rec) + '\n');
  }

  saveReply(requestId: string, rec: SeenRecord): Promise<void> {
    return writeJsonAtomicAsync(join(this.seenDir, `${requestId}.json`), rec);
  }

  dropRequest(requestId: string): void {
    rmSync(join(this.seenDir, `${requestId}.json`), { force: true });
  }

  /** Forgets request ids older than `maxAgeMs`: their timestamps are outside the window by now. */
  pruneSeen(maxAgeMs: number, now = Date.now()): number {
    let removed = 0;
    for (const n of names(this.seenDir)) {
      const p = join(this.seenDir, n);
      try {
        if (now - statSync(p).mtimeMs > maxAgeMs) {
          rmSync(p, { force: true });
          removed++;
        }
      } catch {
        // gone meanwhile
      }
    }
    return removed;
  }
}

function names(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
