/**
 * Every NATS subject Parley uses, built only here. Each variable token is checked, so an
 * id can never smuggle a `.`, `*` or `>` into a subject and reach another party's traffic.
 */
import { parleyError } from './errors.js';

export const SUBJECT_PREFIX = 'parley.v1';

/** Party ids are lowercase tokens; they double as subject tokens and KV key parts. */
export const PARTY_ID_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;

function token(value: string, what: string): string {
  if (typeof value !== 'string' || !PARTY_ID_RE.test(value)) {
    throw parleyError('ERR_INVALID_INPUT', `${what} ${JSON.stringify(value)} is not a valid subject token`);
  }
  return value;
}

export const subjects = {
  /** Where an agent migrating to `hostId` is delivered (request/reply; ack after durable accept). */
  hostArrive: (hostId: string) => `${SUBJECT_PREFIX}.host.${token(hostId, 'host id')}.arrive`,
  /** Progress notes hosts send to an agent's issuer (signed visit records). */
  hostProgress: (issuerId: string) => `${SUBJECT_PREFIX}.host.${token(issuerId, 'issuer id')}.progress`,
  /** Wildcard for everything addressed to one host (permissions). */
  hostAll: (hostId: string) => `${SUBJECT_PREFIX}.host.${token(hostId, 'host id')}.>`,
  /** Agent Home services, by operation. */
  home: (homeId: string, op: HomeOp) => `${SUBJECT_PREFIX}.home.${token(homeId, 'home id')}.${op}`,
  homeAll: (homeId: string) => `${SUBJECT_PREFIX}.home.${token(homeId, 'home id')}.>`,
  /** A store's contract-signing responder. */
  storeContract: (merchantId: string, op: StoreOp) => `${SUBJECT_PREFIX}.store.${token(merchantId, 'merchant id')}.contract.${op}`,
  storeAll: (merchantId: string) => `${SUBJECT_PREFIX}.store.${token(merchantId, 'merchant id')}.>`,
} as const;

export const HOME_OPS = ['notify', 'results', 'resolve', 'abort', 'register', 'mailbox', 'key', 'session'] as const;
export type HomeOp = (typeof HOME_OPS)[number];

export const STORE_OPS = ['offer', 'complete'] as const;
export type StoreOp = (typeof STORE_OPS)[number];

/** Queue group shared by all instances of one service, so a load is split between them. */
export function queueGroup(service: string): string {
  return `parley.${token(service, 'service')}`;
}

export function checkPartyId(id: string, what = 'party id'): string {
  return token(id, what);
}

/**
 * Subject patterns for the broker's permissions (agent-home/broker-config.ts): wildcard
 * forms of the subjects above and per-party inboxes. Never published to; the fixed tokens
 * are the same as in `subjects`, the variable ones are checked the same way.
 */
export const subjectPatterns = {
  /** everything Parley sends, including the subjects of the Agent Home's own JetStream streams */
  all: () => `${SUBJECT_PREFIX}.>`,
  /** every host's arrival subject (agents migrate to any host) */
  anyHostArrive: () => `${SUBJECT_PREFIX}.host.*.arrive`,
  /** every store's contract responder for `op` */
  anyStoreContract: (op: StoreOp) => `${SUBJECT_PREFIX}.store.*.contract.${op}`,
  /** the inbox prefix of one party: its connection sets nats.js `inboxPrefix` to this */
  inboxPrefix: (partyId: string) => `_INBOX_${token(partyId, 'party id')}`,
  /** everything under one party's inbox prefix (reply subjects of its requests) */
  inbox: (partyId: string) => `_INBOX_${token(partyId, 'party id')}.>`,
  /** nats.js's default inbox (`createInbox()` without a prefix) */
  defaultInbox: () => '_INBOX.>',
} as const;

/** JetStream's own subjects (default API prefix): the API, KV writes, acks and flow control. */
export const JETSTREAM_SUBJECTS = ['$JS.API.>', '$JS.ACK.>', '$JS.FC.>', '$KV.>'] as const;
/** Server-internal subject spaces no party but the Agent Home (JetStream) may touch. */
export const SYSTEM_SUBJECTS = ['$JS.>', '$KV.>', '$O.>', '$SYS.>'] as const;
