/**
 * The nats-server configuration for one Agent Home and its parties (pure: text in, text
 * out; `agent-home/init.ts` writes the files). Each party is one nkey user with
 * permissions for its role, every subject taken from protocol/subjects.ts:
 *
 *   agent-home  serves its home and host subjects, dispatches Invite Agents to any host,
 *               and is the only user of JetStream (the API, KV buckets, its streams)
 *   merchant    serves its own host and store subjects; sends agents to any host (the
 *               next stop of an Invite Agent, its Sales Agent to the Agent Home), progress
 *               to the Agent Home, and register/resolve/key requests
 *   buyer       sends requests only: notify/results/abort/mailbox/key to the Agent Home,
 *               contract offer/complete to any store
 *   console     reads the Agent Home's records for `parley home console` (agent-home/console-access.ts):
 *               JetStream API reads and watches of those buckets and streams only, nothing else
 *
 * Everything not allowed is denied by the server. Replies travel on per-party inboxes
 * (`_INBOX_<id>.…`, nats.js `inboxPrefix`), so no party can subscribe to another's replies;
 * responders answer through `allow_responses` (only to the reply subject of a request they
 * received, once). Clients reach the server over TLS and authenticate with their nkey.
 *
 * The Agent Home keeps nats.js's default inbox, `_INBOX.…`: no other party may subscribe
 * there, so it is as much its own as `_INBOX_<id>` would be, and every JetStream helper and
 * tool (which create inboxes without a prefix unless told) works for it unchanged.
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
  /** the party's nkey public key (`U…`) */
  nkey: string;
}

export interface BrokerConfigInput {
  /** the Agent Home's party id (one agent-home party with this id must be listed) */
  home: string;
  parties: readonly BrokerParty[];
  tls: { certFile: string; keyFile: string };
}

export interface Permissions {
  publish: string[];
  subscribe: string[];
  /** may answer the requests it receives (once each, on their reply subject) */
  allowResponses: boolean;
  /** denied even if an allow entry matched (defence in depth for non-JetStream roles) */
  deny: string[];
}

const BUYER_HOME_OPS: readonly HomeOp[] = ['notify', 'results', 'abort', 'mailbox', 'key'];
const MERCHANT_HOME_OPS: readonly HomeOp[] = ['register', 'resolve', 'key'];

export function isBrokerRole(v: unknown): v is BrokerRole {
  return typeof v === 'string' && (BROKER_ROLES as readonly string[]).includes(v);
}

/** What one party may publish and subscribe to, by role. */
export function partyPermissions(role: BrokerRole, id: string, home: string): Permissions {
  checkPartyId(id);
  checkPartyId(home, 'home id');
  const inbox = role === 'agent-home' ? subjectPatterns.defaultInbox() : subjectPatterns.inbox(id);
  switch (role) {
    case 'agent-home':
      if (id !== home) throw parleyError('ERR_CONFIG', `the agent-home party ${id} is not the Agent Home ${home}`);
      return {
        // any host (Invite Agents go out to merchants), and the subjects of its own streams
        // (mailbox, audit log), all under parley.v1: it is the one trusted party, and
        // everything it sends is signed and checked against its role by the receiver
        publish: [...JETSTREAM_SUBJECTS, subjectPatterns.all()],
        subscribe: [subjects.homeAll(home), subjects.hostAll(home), inbox],
        allowResponses: true,
        deny: [],
      };
    case 'merchant':
      return {
        publish: [subjectPatterns.anyHostArrive(), subjects.hostProgress(home), ...MERCHANT_HOME_OPS.map((op) => subjects.home(home, op))],
        subscribe: [subjects.hostAll(id), subjects.storeAll(id), inbox],
        allowResponses: true,
        deny: [...SYSTEM_SUBJECTS],
      };
    case 'buyer':
      return {
        publish: [...BUYER_HOME_OPS.map((op) => subjects.home(home, op)), subjectPatterns.anyStoreContract('offer'), subjectPatterns.anyStoreContract('complete')],
        subscribe: [inbox],
        allowResponses: false,
        deny: [...SYSTEM_SUBJECTS],
      };
    case 'console':
      return consolePermissions(inbox);
    default:
      throw parleyError('ERR_CONFIG', `unknown broker role ${JSON.stringify(role)}`);
  }
}

/** The nats.js `inboxPrefix` a party must connect with (undefined: the default, `_INBOX`). */
export function inboxPrefixOf(role: BrokerRole, id: string): string | undefined {
  return role === 'agent-home' ? undefined : subjectPatterns.inboxPrefix(id);
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
    if (typeof p.nkey !== 'string' || !/^U[A-Z2-7]{55}$/.test(p.nkey)) throw parleyError('ERR_CONFIG', `party ${p.id}: ${JSON.stringify(p.nkey)} is not an nkey user public key`);
    try {
      fromPublic(p.nkey);
    } catch (e) {
      throw parleyError('ERR_CONFIG', `party ${p.id}: nkey ${p.nkey} is invalid`, e);
    }
    if (keys.has(p.nkey)) throw parleyError('ERR_CONFIG', `party ${p.id}: nkey ${p.nkey} is used twice`);
    keys.add(p.nkey);
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

function userBlock(p: BrokerParty, home: string): string {
  const perm = partyPermissions(p.role, p.id, home);
  const deny = perm.deny.length ? `, deny: ${list(perm.deny)}` : '';
  const lines = [
    `    # ${p.role} ${p.id}`,
    `    {`,
    `      nkey: ${str(p.nkey)}`,
    `      permissions: {`,
    `        publish: { allow: ${list(perm.publish)}${deny} }`,
    `        subscribe: { allow: ${list(perm.subscribe)}${deny} }`,
    ...(perm.allowResponses ? [`        allow_responses: true`] : []),
    `      }`,
    `    }`,
  ];
  return lines.join('\n');
}

/** The whole configuration file. */
export function brokerConfig(input: BrokerConfigInput): string {
  checkParties(input.home, input.parties);
  const order: Record<BrokerRole, number> = { 'agent-home': 0, merchant: 1, buyer: 2, console: 3 };
  const parties = [...input.parties].sort((a, b) => order[a.role] - order[b.role] || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
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
    parties.map((p) => userBlock(p, input.home)).join('\n'),
    `  ]`,
    `}`,
    ``,
  ].join('\n');
}
