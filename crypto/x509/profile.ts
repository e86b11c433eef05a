/**
 * Parley's certificate profile: roles, party ids and where a certificate states them.
 *
 * The authoritative identity is the single SAN URI `urn:parley:<role>:<id>`; the subject
 * (RFC 4514: `CN=<id>,OU=<role>,O=Parley`) must agree with it. Party ids become NATS
 * subject tokens, so they are lowercase and contain no dots or wildcards.
 */
import { cryptoError } from '../errors.js';

export const ROLES = ['ca', 'buyer', 'merchant', 'agent-home'] as const;
export type Role = (typeof ROLES)[number];
/** Roles a leaf (end-entity) certificate can carry. */
export const PARTY_ROLES = ['buyer', 'merchant', 'agent-home'] as const;
export type PartyRole = (typeof PARTY_ROLES)[number];

export const ORGANIZATION = 'Parley';
export const DEFAULT_CA_ID = 'parley-ca';
export const DEFAULT_CA_DAYS = 3650;
export const DEFAULT_LEAF_DAYS = 365;
export const MAX_DAYS = 36500;
/** notBefore is set this far in the past by default, to tolerate clock skew. */
export const BACKDATE_MS = 5 * 60 * 1000;

const PARTY_ID = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const URI = /^urn:parley:([a-z-]+):([^:]*)$/;

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

export function isPartyRole(value: unknown): value is PartyRole {
  return typeof value === 'string' && (PARTY_ROLES as readonly string[]).includes(value);
}

export function isPartyId(value: unknown): value is string {
  return typeof value === 'string' && PARTY_ID.test(value);
}

/** Throws ERR_INVALID_INPUT unless `id` is a valid party id. */
export function assertPartyId(id: unknown, what = 'party id'): asserts id is string {
  if (!isPartyId(id)) {
    throw cryptoError('ERR_INVALID_INPUT', `${what} must match ^[a-z0-9][a-z0-9_-]{0,62}$`);
  }
}

export function identityUri(role: Role, id: string): string {
  return `urn:parley:${role}:${id}`;
}

/** Reads `urn:parley:<role>:<id>`; undefined when it is not one. */
export function parseIdentityUri(uri: string): { role: Role; id: string } | undefined {
  const m = URI.exec(uri);
  if (!m) return undefined;
  const [, role, id] = m;
  if (!isRole(role) || !isPartyId(id)) return undefined;
  return { role, id };
}

/** Subject in DER order (most significant RDN first): O=Parley, OU=<role>, CN=<id>. */
export function subjectJson(role: Role, id: string) {
  return [{ O: [{ utf8String: ORGANIZATION }] }, { OU: [{ utf8String: role }] }, { CN: [{ utf8String: id }] }];
}
