/**
 * A running store's records as its console reads them (`parley store console`): from the
 * data directory the daemon writes, read-only and incrementally (the offers journal is
 * tailed, agents/storage/journal-tail.ts; contract files are read when asked for). The
 * console process never writes there, so it may run beside the daemon or without it.
 *
 * Only what the merchant itself knows is here: its offers (the bids it committed to), how
 * each Sales Agent's delivery ended, the invitations it declined and the contracts buyers
 * offered it. The Agent Home tells a merchant nothing of a rejection (PROTOCOL.md, phase 2),
 * so the verdicts shown are the ones an agreement implies: a contract on bid j means bids
 * 1..j-1 were revealed and rejected, bid j accepted, the rest never revealed.
 */
import { join } from 'node:path';
import { JournalTail } from '../agents/storage/journal-tail.js';
import type { Bid } from '../protocol/commerce.js';
import type { WireError } from '../protocol/errors.js';
import { StoreFiles, type ContractRecord, type ContractState } from './files.js';
import { bookKey, type DeclineRecord, type DispatchRecord, type OfferRecord } from './offer-book.js';

/** An offer without its Sales Agent, its signature and K[k+1] (the console needs none of them). */
export type OfferFacts = Pick<OfferRecord, 'sn' | 'home' | 'item' | 'request' | 'deadline' | 'createdAt' | 'expiry' | 'bids'>;

export type BidVerdict = 'rejected' | 'accepted' | 'not revealed' | 'not told';

export type SessionOutcome =
  /** a contract binds both sides (complete or resolved) */
  | 'won'
  /** countersigned, the buyer's complete signature awaited */
  | 'signing'
  /** a contract was offered and ended without binding anyone (aborted, expired) */
  | 'contract ended'
  /** the session is still open: no contract yet */
  | 'open'
  /** the deadline passed without a contract */
  | 'no contract'
  | 'declined'
  /** the Agent Home never took the Sales Agent (refused, or it expired on the way) */
  | 'not delivered';

export interface ContractFacts {
  contractId: string;
  state: ContractState;
  /** the buyer, who signed the offer of this contract (SG1) before the store saw its name */
  buyer: string;
  terms: Bid;
  countersignedAt: string;
  completeBy: string;
  exchangeDeadline: string;
  updated: string;
  lastError?: WireError;
}

const BINDING: ReadonlySet<ContractState> = new Set(['complete', 'resolved']);
const sameTerms = (a: Bid, b: Bid) => a.item === b.item && a.quantity === b.quantity && a.currency === b.currency && a.price === b.price && a.deliveryDays === b.deliveryDays && a.warrantyMonths === b.warrantyMonths;

function offerFacts(o: OfferRecord): OfferFacts {
  return { sn: o.sn, home: o.home, item: o.item, request: o.request, deadline: o.deadline, createdAt: o.createdAt, expiry: o.expiry, bids: o.bids };
}

function contractFacts(r: ContractRecord): ContractFacts {
  return {
    contractId: r.contractId,
    state: r.state,
    buyer: r.buyer,
    terms: r.terms,
    countersignedAt: r.countersignedAt,
    completeBy: r.completeBy,
    exchangeDeadline: r.exchangeDeadline,
    updated: r.updated,
    ...(r.state === 'countersigned' && r.lastError ? { lastError: r.lastError } : {}),
  };
}

export class StoreRecords {
  private readonly tail: JournalTail;
  private readonly files: StoreFiles;
  private readonly offers = new Map<string, OfferFacts>();
  private readonly sent = new Map<string, DispatchRecord>();
  private readonly declines = new Map<string, DeclineRecord>();

  constructor(readonly dataDir: string) {
    this.files = new StoreFiles(dataDir);
    this.tail = new JournalTail(join(this.files.offersDir, 'journal.jsonl'));
  }

  get offersDir(): string {
    return this.files.offersDir;
  }
  get contractsDir(): string {
    return this.files.contractsDir;
  }

  /** Reads what the daemon appended since the last call. */
  refresh(): void {
    const { records, reset } = this.tail.read();
    if (reset) {
      this.offers.clear();
      this.sent.clear();
      this.declines.clear();
    }
    for (const r of records) {
      const { k, v } = (r ?? {}) as { k?: unknown; v?: unknown };
      const key = typeof k === 'string' ? bookKey(k) : undefined;
      if (!key || typeof v !== 'object' || v === null) continue;
      const { kind, sn } = key;
      if (kind === 'offer') this.offers.set(sn, offerFacts(v as OfferRecord));
      else if (kind === 'sent') this.sent.set(sn, v as DispatchRecord);
      else if (kind === 'declined') this.declines.set(sn, v as DeclineRecord);
    }
  }

  offer(sn: string): OfferFacts | undefined {
    return this.offers.get(sn);
  }
  dispatch(sn: string): DispatchRecord | undefined {
    return this.sent.get(sn);
  }
  offerSessions(): string[] {
    return [...this.offers.keys()];
  }
  declined(): DeclineRecord[] {
    return [...this.declines.values()].filter((d) => !this.offers.has(d.sn));
  }

  /** Every contract, oldest first. */
  contracts(): Array<ContractFacts & { sn: string }> {
    const out: Array<ContractFacts & { sn: string }> = [];
    for (const id of this.files.contractIds()) {
      const r = this.files.contract(id);
      if (r) out.push({ ...contractFacts(r), sn: r.sn });
    }
    return out.sort((a, b) => a.countersignedAt.localeCompare(b.countersignedAt) || a.contractId.localeCompare(b.contractId));
  }
}

/** Which of the session's bids the contract is on (1-based), if any. */
export function acceptedIndex(bids: readonly Bid[], contracts: ReadonlyArray<{ terms: Bid }>): number | undefined {
  for (const c of contracts) {
    const i = bids.findIndex((b) => sameTerms(b, c.terms));
    if (i >= 0) return i + 1;
  }
  return undefined;
}

/** The verdict of each bid as the merchant can know it. */
export function verdicts(k: number, accepted: number | undefined): BidVerdict[] {
  return Array.from({ length: k }, (_, i) => (accepted === undefined ? 'not told' : i + 1 < accepted ? 'rejected' : i + 1 === accepted ? 'accepted' : 'not revealed'));
}

export function outcomeOf(offer: OfferFacts, dispatch: DispatchRecord | undefined, contracts: ReadonlyArray<{ state: ContractState }>, now = Date.now()): SessionOutcome {
  if (contracts.some((c) => BINDING.has(c.state))) return 'won';
  if (contracts.some((c) => c.state === 'countersigned')) return 'signing';
  if (contracts.length) return 'contract ended';
  if (dispatch && dispatch.state !== 'delivered') return 'not delivered';
  return Date.parse(offer.deadline) > now ? 'open' : 'no contract';
}
