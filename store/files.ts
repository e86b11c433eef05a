/**
 * What a store keeps on disk, under its data directory (`<home>/store/<id>` for the CLI).
 * Every file is written atomically (agents/storage/atomic-file.ts); records that must exist
 * at most once are created with create-if-absent, so a crash or a repeated message never
 * makes a second one.
 *
 *   agents/journal.jsonl                Invite Agents hosted here (runtime/host-store.ts)
 *   offers/journal.jsonl                the one sales offer made in each session and how its
 *                                       Sales Agent's delivery ended (offer-book.ts, 0600)
 *   sessions/<sn>.json                  the contract this store signed in session sn
 *   contracts/<contractId>.json         one exchange: state, payload, SG1, SG_S, and once
 *                                       known the buyer's full signature SG (0600)
 *   contracts/<contractId>.jws.json     the complete contract (general JWS JSON), for
 *                                       `parley verify`
 *   seen/journal.jsonl                  request ids already acted on and the reply given
 *                                       (kept for twice the accepted clock skew; replay-guard.ts)
 *
 * One process per data directory.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createFileAtomicAsync, readJsonFile, writeFileAtomicAsync, writeJsonAtomicAsync } from '../agents/storage/atomic-file.js';
import type { Bid } from '../protocol/commerce.js';
import type { WireError } from '../protocol/errors.js';
import type { AbortToken } from '../protocol/exchange.js';
import type { GeneralJws, JwsSignature } from '../crypto/jws.js';

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
}

function names(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
