/**
 * The buyer's files, under <home>/buyer (every file written atomically; secrets 0600):
 *   config.json                   {id, home, nats?}: who I am and which Agent Home I use
 *   identity.pem, identity.key    certificate and Ed25519 key (0600), ca.pem
 *   sessions/<sn>.json            one purchase session, with its RSA session key (0600;
 *                                 the key sealed under the passphrase, see sealed-keys.ts)
 *   pending/<nonce>.json          a session key whose notify has no answer yet (0600, sealed)
 *   files.key                     the key that seals them, encrypted under the passphrase
 *   exchanges/<contractId>.json   one contract exchange and how far it got (0600: holds SG1)
 *   contracts/<contractId>.jws.json  each complete contract (general JWS JSON)
 *   inbox.json                    the last mailbox sequence read
 * The session key is written before the partial signature leaves, so a buyer killed at any
 * point can finish (complete or abort) after restart.
 */
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonFile, writeJsonAtomic } from '../agents/storage/atomic-file.js';
import type { PurchaseRequest } from '../protocol/commerce.js';
import type { Agreement } from '../protocol/directory.js';
import type { JwsSignature } from '../crypto/jws.js';
import { parleyError } from '../protocol/errors.js';
import type { Passphrase } from '../crypto/key-file.js';
import { isSealedKey, KeySeal, type SealedKey } from './sealed-keys.js';

export interface BuyerConfig {
  id: string;
  /** the Agent Home's party id */
  home: string;
  nats?: string;
}

/** A session key as stored: the private JWK and the split, bigints as base64url. Secret. */
export interface StoredKey {
  jwk: Record<string, string>;
  e1: string;
  d1: string;
  d2: string;
  d1p: string;
  d1q: string;
  qi: string;
}

export interface SessionFile {
  sn: string;
  home: string;
  request: PurchaseRequest;
  deadline: string;
  nonce: string;
  key: StoredKey;
  delegation: unknown;
  voucher: unknown;
  sgReq: unknown;
  created: string;
  /** the Agent Home's certificate (PEM), as checked when the session opened */
  homeCert: string;
  /** the agreements last read (phase 3 step 1), each checked against its proof */
  agreements?: Agreement[];
}

export type ExchangeState = 'offered' | 'countersigned' | 'complete' | 'resolved' | 'aborted' | 'refused';

export interface ExchangeFile {
  contractId: string;
  sn: string;
  merchant: string;
  state: ExchangeState;
  payload: string;
  protected: string;
  sg1: string;
  completeBy: string;
  exchangeDeadline: string;
  merchantSignature?: JwsSignature;
  /** the abort token, when aborted */
  token?: unknown;
  /** why the merchant refused, when refused */
  error?: { code: string; message: string };
  contractFile?: string;
  updated: string;
}

export interface BuyerFilesOptions {
  /** seals session keys at rest (the passphrase of the identity key) */
  passphrase?: Passphrase;
}

export class BuyerFiles {
  private readonly seal: KeySeal;

  constructor(
    readonly dir: string,
    opts: BuyerFilesOptions = {},
  ) {
    this.seal = new KeySeal(dir, opts.passphrase);
  }

  get configPath() {
    return join(this.dir, 'config.json');
  }
  get certPath() {
    return join(this.dir, 'identity.pem');
  }
  get keyPath() {
    return join(this.dir, 'identity.key');
  }
  get caPath() {
    return join(this.dir, 'ca.pem');
  }

  config(): BuyerConfig {
    const c = readJsonFile<BuyerConfig>(this.configPath);
    if (!c) throw parleyError('ERR_CONFIG', `no buyer identity in ${this.dir}; run \`parley buyer init\` first`);
    return c;
  }

  saveConfig(c: BuyerConfig): void {
    writeJsonAtomic(this.configPath, c, 0o600);
  }

  savePending(nonce: string, value: { key: StoredKey } & Record<string, unknown>): void {
    const key = this.seal.enabled ? this.seal.seal(value.key, 'pending', nonce) : value.key;
    writeJsonAtomic(join(this.dir, 'pending', `${nonce}.json`), { ...value, key }, 0o600);
  }

  dropPending(nonce: string): void {
    rmSync(join(this.dir, 'pending', `${nonce}.json`), { force: true });
  }

  session(sn: string): SessionFile {
    const s = readJsonFile<Omit<SessionFile, 'key'> & { key: StoredKey | SealedKey }>(join(this.dir, 'sessions', `${sn}.json`));
    if (!s) throw parleyError('ERR_SESSION_UNKNOWN', `no session ${sn} in ${this.dir}`);
    if (isSealedKey(s.key)) return { ...s, key: this.seal.open(s.key, 'session', s.sn) };
    const clear = { ...s, key: s.key };
    // written before session keys were sealed, or without a passphrase then: sealed now
    if (this.seal.enabled) this.saveSession(clear);
    return clear;
  }

  saveSession(s: SessionFile): void {
    const key = this.seal.enabled ? this.seal.seal(s.key, 'session', s.sn) : s.key;
    writeJsonAtomic(join(this.dir, 'sessions', `${s.sn}.json`), { ...s, key }, 0o600);
  }

  sessions(): string[] {
    return list(join(this.dir, 'sessions'));
  }

  /** Every session file, oldest first (by the time it was opened). */
  sessionsByAge(): SessionFile[] {
    return this.sessions()
      .map((sn) => readJsonFile<SessionFile>(join(this.dir, 'sessions', `${sn}.json`)))
      .filter((s): s is SessionFile => !!s)
      .sort((a, b) => a.created.localeCompare(b.created));
  }

  exchange(contractId: string): ExchangeFile | undefined {
    return readJsonFile<ExchangeFile>(join(this.dir, 'exchanges', `${contractId}.json`));
  }

  saveExchange(x: ExchangeFile): void {
    writeJsonAtomic(join(this.dir, 'exchanges', `${x.contractId}.json`), { ...x, updated: new Date().toISOString() }, 0o600);
  }

  exchanges(): ExchangeFile[] {
    return list(join(this.dir, 'exchanges'))
      .map((id) => this.exchange(id))
      .filter((x): x is ExchangeFile => !!x);
  }

  /**
   * The exchange of a session with a merchant, if the buyer started one. `since`: when the
   * session was created. An exchange file last written more than an hour before it (the
   * margin allows for a clock set back) belongs to an older session and is not read: a
   * buyer with years of contracts looks at each file's time instead of reading them all.
   */
  exchangeWith(sn: string, merchant: string, since?: Date): ExchangeFile | undefined {
    const dir = join(this.dir, 'exchanges');
    const oldest = since ? since.getTime() - 3600_000 : -Infinity;
    for (const id of list(dir)) {
      try {
        if (statSync(join(dir, `${id}.json`)).mtimeMs < oldest) continue;
      } catch {
        continue; // gone meanwhile
      }
      const x = this.exchange(id);
      if (x?.sn === sn && x.merchant === merchant) return x;
    }
    return undefined;
  }

  saveContract(contractId: string, jws: unknown): string {
    const path = join(this.dir, 'contracts', `${contractId}.jws.json`);
    writeJsonAtomic(path, jws);
    return path;
  }

  inboxSeq(): number {
    return readJsonFile<{ last: number }>(join(this.dir, 'inbox.json'))?.last ?? 0;
  }

  saveInboxSeq(last: number): void {
    writeJsonAtomic(join(this.dir, 'inbox.json'), { last });
  }
}

function list(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json') && !f.startsWith('.'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
}
