/** What every Agent Home handler works with. */
import type { NatsConnection } from 'nats';
import type { AgentHost } from '../agents/runtime/host.js';
import type { AgentTracker } from '../agents/runtime/tracker.js';
import type { Self, Trust } from '../agents/runtime/trust.js';
import type { ParsedCertificate } from '../crypto/x509/index.js';
import type { CompiledRules } from '../protocol/rules.js';
import type { HomeSecrets } from './secrets.js';
import type { HomeState, SessionRecord } from './state.js';
import type { KvWaits } from '../agents/storage/kv-wait.js';
import type { AuditLog } from './audit.js';

export interface HomeSettings {
  /** how long after T_C contracts of a session may still be exchanged (voucher signBy) */
  exchangeWindowMs: number;
  /** the longest negotiation a buyer may ask for */
  maxDeadlineMs: number;
  /** how long a merchant host has to acknowledge an Invite Agent */
  hopTimeoutMs: number;
  /** most merchants invited per session */
  maxInvited: number;
  /** rounds of re-invitation for hosts a lost Invite Agent never reached */
  reinviteRounds: number;
}

export const DEFAULT_SETTINGS: HomeSettings = {
  exchangeWindowMs: 24 * 3600_000,
  maxDeadlineMs: 7 * 24 * 3600_000,
  hopTimeoutMs: 2000,
  maxInvited: 256,
  reinviteRounds: 2,
};

export interface HomeContext {
  nc: NatsConnection;
  self: Self;
  trust: Trust;
  /** the CA certificate, for offline checks of contracts */
  ca: ParsedCertificate;
  state: HomeState;
  /** the signed, hash-linked log of every state change */
  audit: AuditLog;
  secrets: HomeSecrets;
  host: AgentHost;
  tracker: AgentTracker;
  /** long polls of results wait on session updates here */
  sessionWaits: KvWaits<SessionRecord>;
  settings: HomeSettings;
  /** compiled rules per session, so a session's rules are decrypted and compiled once */
  rulesCache: Map<string, CompiledRules>;
  log(line: string): void;
}
