/**
 * The nats-server configuration for one Agent Home and its parties (pure: text in, text
 * out; `agent-home/init.ts` writes the files). Each party is one nkey user with
 * permissions for its role, every subject taken from protocol/subjects.ts:
 *
 *   agent-home  two users. Its *service* user serves its home and host subjects, answers
 *               requests and dispatches Invite Agents to any host; it may publish only to
 *               host arrival subjects and to the other parties' inboxes. Its *JetStream*
 *               user is the only user of JetStream (the API, KV buckets, its streams) and
 *               subscribes to nothing but its own replies, so it never answers anybody.
 *   merchant    serves its own host and store subjects; sends agents to any host (the
 *               next stop of an Invite Agent, its Sales Agent to the Agent Home), progress
 *               to the Agent Home, register/resolve/key requests, and answers to the
 *               other parties' inboxes
 *   buyer       sends requests only: notify/results/abort/mailbox/key to the Agent Home,
 *               contract offer/complete to any store
 *   console     reads the Agent Home's records for `parley home console` (agent-home/console-access.ts):
 *               JetStream API reads and watches of those buckets and streams only, nothing else
 *
 * Everything not allowed is denied by the server. Replies travel on per-party inboxes
 * (`_INBOX_<id>.…`, nats.js `inboxPrefix`), so no party can subscribe to another's replies.
 * No user has `allow_responses`: nats-server lets a response through even to a subject the
 * deny list names, so a request with the reply subject `$KV.parley_escrow.<SN>` would have
 * its answer written into JetStream. Instead a responder may publish to the inboxes of the
 * parties listed here, and every responder also checks that a reply subject is its
 * requester's own inbox (agents/transport/reply-guard.ts). Clients reach the server over
 * TLS and authenticate with their nkey.
 *
 * The Agent Home's JetStream user keeps nats.js's default inbox, `_INBOX.…`: nobody else may
 * publish or subscribe there, and every JetStream helper and tool (which create inboxes
 * without a prefix unless told) works for it unchanged.
 */
import { fromPublic } from 'nkeys.js';
import { parleyError } from '../protocol/errors.js';
import { consolePermissions } from './console-access.js';
import { checkPartyId, JETSTREAM_SUBJECTS, subjectPatterns, subjects, SYSTEM_SUBJECTS, type HomeOp } from '../protocol/subjects.js';

export const BROKER_ROLES = ['agent-home', 'merchant', 'buyer', 'console'] as const;
export type BrokerRole = (typeof BROKER_ROLES)[number];

export interface BrokerParty {
  id: string;
  role: BrokerRole;
  /** the party's nkey public key (`U…`); the Agent Home's JetStream user */
  nkey: string;
  /** the Agent Home's service user (the one that answers requests) */
  serviceNkey?: string;
}

/** The broker users: each role's, and the Agent Home's second one. */
export type BrokerUser = BrokerRole | 'agent-home-service';

export interface BrokerConfigInput {
  /** the Agent Home's party id (one agent-home party with this id must be listed) */
  home: string;
  parties: readonly BrokerParty[];
  tls: { certFile: string; keyFile: string };
}

export interface Permissions {
  publish: string[];
  subscribe: string[];
  /** denied even if an allow entry matched (defence in depth for non-JetStream roles) */
  deny: string[];
}

const BUYER_HOME_OPS: readonly HomeOp[] = ['notify', 'results', 'abort', 'mailbox', 'key'];
const MERCHANT_HOME_OPS: readonly HomeOp[] = ['register', 'resolve', 'key'];

export function isBrokerRole(v: unknown): v is BrokerRole {
  return typeof v === 'string' && (BROKER_ROLES as readonly string[]).includes(v);
}

/**
 * What one broker user may publish and subscribe to. `parties` are the ids of every listed
 * party: a responder may publish to the inboxes of the others.
 */
export function partyPermissions(user: BrokerUser, id: string, home: string, parties: readonly string[] = []): Permissions {
  checkPartyId(id);
  checkPartyId(home, 'home id');
  if ((user === 'agent-home' || user === 'agent-home-service') && id !== home) throw parleyError('ERR_CONFIG', `the agent-home party ${id} is not the Agent Home ${home}`);
  const inboxesOfOthers = [...new Set(parties)].filter((p) => p !== id).sort().map((p) => subjectPatterns.inbox(p));
  switch (user) {
    case 'agent-home':
      return {
        // JetStream and the subjects of its own streams (mailbox, audit log), all under
        // parley.v1; it subscribes only to its own inbox, so no request ever reaches it
        publish: [...JETSTREAM_SUBJECTS, subjectPatterns.all()],
        subscribe: [subjectPatterns.defaultInbox()],
        deny: [],
      };
    case 'agent-home-service':
      return {
        // Invite Agents go out to merchants; answers go to the parties' own inboxes
        publish: [subjectPatterns.anyHostArrive(), ...inboxesOfOthers],
        subscribe: [subjects.homeAll(home), subjects.hostAll(home), subjectPatterns.inbox(id)],
        deny: [...SYSTEM_SUBJECTS],
      };
    case 'merchant':
      return {
        publish: [subjectPatterns.anyHostArrive(), subjects.hostProgress(home), ...MERCHANT_HOME_OPS.map((op) => subjects.home(home, op)), ...inboxesOfOthers],
        subscribe: [subjects.hostAll(id), subjects.storeAll(id), subjectPatterns.inbox(id)],
        deny: [...SYSTEM_SUBJECTS],
      };
    case 'buyer':
      return {
        publish: [...BUYER_HOME_OPS.map((op) => subjects.home(home, op)), subjectPatterns.anyStoreContract('offer'), subjectPatterns.anyStoreContract('complete')],
        subscribe: [subjectPatterns.inbox(id)],
        deny: [...SYSTEM_SUBJECTS],
      };
    case 'console':
      return consolePermissions(subjectPatterns.inbox(id));
    default:
      throw parleyError('ERR_CONFIG', `unknown broker role ${JSON.stringify(user)}`);
  }
}

/** The nats.js `inboxPrefix` a user must connect with (undefined: the default, `_INBOX`). */
export function inboxPrefixOf(user: BrokerUser, id: string): string | undefined {
  return user === 'agent-home' ? undefined : subjectPatterns.inboxPrefix(id);
}

function checkNkey(id: string, nkey: unknown): void {
  if (typeof nkey !== 'string' || !/^U[A-Z2-7]{55}$/.test(nkey)) throw parleyError('ERR_CONFIG', `party ${id}: ${JSON.stringify(nkey)} is not an nkey user public key`);
  try {
    fromPublic(nkey);
  } catch (e) {
    throw parleyError('ERR_CONFIG', `party ${id}: nkey ${nkey} is invalid`, e);
  }
}

/** Checks the party list: ids and keys unique, exactly one Agent Home (the given one). */
export function checkParties(home: string, parties: readonly BrokerParty[]): void {
  checkPartyId(home, 'home id');
  const ids = new Map<string, BrokerRole>();
  const keys = new Set<string>();
  for (const p of parties) {
    if (!isBrokerRole(p.role)) throw parleyError('ERR_CONFIG', `party ${p.id}: unknown role ${JSON.stringify(p.role)}`);
    checkPartyId(p.id);
    const prior = ids.get(p.id);
    // one id, one inbox: a buyer and a merchant with the same id would share replies
    if (prior) throw parleyError('ERR_CONFIG', `party id ${p.id} is listed twice (${prior}, ${p.role}); ids must be unique across roles`);
    ids.set(p.id, p.role);
    checkNkey(p.id, p.nkey);
    if (keys.has(p.nkey)) throw parleyError('ERR_CONFIG', `party ${p.id}: nkey ${p.nkey} is used twice`);
    keys.add(p.nkey);
    if (p.serviceNkey !== undefined) {
      if (p.role !== 'agent-home') throw parleyError('ERR_CONFIG', `party ${p.id}: only the Agent Home has a service key`);
      checkNkey(p.id, p.serviceNkey);
      if (keys.has(p.serviceNkey)) throw parleyError('ERR_CONFIG', `party ${p.id}: nkey ${p.serviceNkey} is used twice`);
      keys.add(p.serviceNkey);
    }
  }
  const homes = parties.filter((p) => p.role === 'agent-home');
  if (homes.length !== 1 || homes[0]!.id !== home) throw parleyError('ERR_CONFIG', `exactly one agent-home party, ${home}, must be listed`);
}

/** A nats-server string literal (the config parser reads JSON escapes in double quotes). */
function str(s: string): string {
  if (/[\u0000-\u001f]/.test(s)) throw parleyError('ERR_CONFIG', `control character in ${JSON.stringify(s)}`);
  return JSON.stringify(s);
}

function list(items: readonly string[]): string {
  return `[${items.map(str).join(', ')}]`;
}

function userBlock(user: BrokerUser, id: string, nkey: string, home: string, parties: readonly string[]): string {
  const perm = partyPermissions(user, id, home, parties);
  const deny = perm.deny.length ? `, deny: ${list(perm.deny)}` : '';
  const lines = [
    `    # ${user} ${id}`,
    `    {`,
    `      nkey: ${str(nkey)}`,
    `      permissions: {`,
    `        publish: { allow: ${list(perm.publish)}${deny} }`,
    `        subscribe: { allow: ${list(perm.subscribe)}${deny} }`,
    `      }`,
    `    }`,
  ];
  return lines.join('\n');
}

function userBlocks(p: BrokerParty, home: string, parties: readonly string[]): string[] {
  const own = userBlock(p.role, p.id, p.nkey, home, parties);
  if (p.role !== 'agent-home') return [own];
  if (!p.serviceNkey) throw parleyError('ERR_CONFIG', `the Agent Home ${p.id} has no service key: run \`parley home init --add-party\` or \`parley home start\` to add one`);
  return [own, userBlock('agent-home-service', p.id, p.serviceNkey, home, parties)];
}

/** The whole configuration file. */
export function brokerConfig(input: BrokerConfigInput): string {
  checkParties(input.home, input.parties);
  const order: Record<BrokerRole, number> = { 'agent-home': 0, merchant: 1, buyer: 2, console: 3 };
  const parties = [...input.parties].sort((a, b) => order[a.role] - order[b.role] || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const ids = parties.map((p) => p.id);
  return [
    `# nats-server configuration for Parley Agent Home ${input.home}.`,
    `# Generated by \`parley home init\`: edit the party list with \`parley home init --add-party\`, not here.`,
    `# JetStream is left to the file that includes this one (agents/transport/nats-server.ts),`,
    `# or to the -js -sd flags; the -a/-p flags override listen addresses.`,
    ``,
    `# Clients check the server against the CA; they authenticate with their nkey, not a certificate.`,
    `tls {`,
    `  cert_file: ${str(input.tls.certFile)}`,
    `  key_file: ${str(input.tls.keyFile)}`,
    `  verify: false`,
    `  timeout: 5`,
    `}`,
    ``,
    `authorization {`,
    `  users: [`,
    parties.flatMap((p) => userBlocks(p, input.home, ids)).join('\n'),
    `  ]`,
    `}`,
    ``,
  ].join('\n');
}
