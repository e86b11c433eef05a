/**
 * A mobile agent is data, never code: `{kind, id, header, payload, hop, visits}`.
 *
 * - `header` is signed by the issuer (kind, id, issuer, session, created/expires, the
 *   itinerary with per-hop timeouts, where home is, and the hash of `payload`), so no host
 *   can redirect the agent, extend its life or change what it carries.
 * - `payload` is the issuer's immutable data (for the Invite Agent: the public request,
 *   voucher and SG_REQ; for a Sales Agent: its offer and bid list), bound by `payloadHash`.
 * - `hop` is the itinerary index of the host the agent is addressed to (= itinerary.length
 *   when it is going home); `visits` is the hash-linked, host-signed visit log.
 *
 * Hosts run behaviour registered per kind; nothing received is ever executed, so a host
 * cannot be made to run injected code, and host and issuer never disagree about class
 * versions of a serialised object.
 */
import { randomBytes } from 'node:crypto';
import { sha256 } from '../../crypto/hash.js';
import { z } from 'zod';
import { canonicalBytes, canonicalJson } from '../../crypto/canonical.js';
import { toB64u, utf8, equalBytes, fromB64u } from '../../crypto/bytes.js';
import { canonicalSignedJson, openSignedObjectCanonical, signObject, type SignedObject } from '../../crypto/signed.js';
import { parleyError } from '../../protocol/errors.js';
import { b64u, isoTime, partyId, pem, signedObject } from '../../protocol/wire.js';
import type { PartyIdentity, Role, Self, Trust } from './trust.js';

export const AGENT_HEADER_TYPE = 'agent-header';
export const VISIT_TYPE = 'visit';
export const MAX_ITINERARY = 256;
export const MAX_VISITS = 2 * MAX_ITINERARY + 8;

export const agentKind = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'must be an agent kind');
export const agentId = z.string().regex(/^[A-Za-z0-9_-]{22}$/, 'must be a 128-bit base64url agent id');

export const HopSchema = z.strictObject({ host: partyId, timeoutMs: z.number().int().min(10).max(600_000) });

export const AgentHeaderSchema = z.strictObject({
  kind: agentKind,
  id: agentId,
  issuer: partyId,
  sn: z.string().regex(/^[0-9a-f]{32}$/).nullable(),
  created: isoTime,
  expires: isoTime,
  itinerary: z.array(HopSchema).max(MAX_ITINERARY),
  home: partyId,
  payloadHash: b64u(64),
});
export type AgentHeader = z.infer<typeof AgentHeaderSchema>;
export type Hop = z.infer<typeof HopSchema>;

export const VisitSchema = z.strictObject({
  agent: agentId,
  hop: z.number().int().min(0).max(MAX_ITINERARY),
  /** the host that signed this record */
  host: partyId,
  at: isoTime,
  /** visited: `host` ran the agent; skipped: `host` could not hand it to `target` */
  event: z.enum(['visited', 'skipped']),
  target: partyId,
  /** kind-specific outcome (e.g. "interested"), or the reason a host was skipped */
  note: z.string().max(200),
  /** hash of the previous record (or of the signed header for the first one) */
  prev: b64u(64),
});
export type Visit = z.infer<typeof VisitSchema>;

export const VisitEntrySchema = z.strictObject({ record: signedObject(VISIT_TYPE, VisitSchema), cert: pem });
export type VisitEntry = z.infer<typeof VisitEntrySchema>;

export const EnvelopeSchema = z.strictObject({
  v: z.literal(1),
  kind: agentKind,
  id: agentId,
  header: signedObject(AGENT_HEADER_TYPE, AgentHeaderSchema),
  issuerCert: pem,
  payload: z.unknown(),
  hop: z.number().int().min(0).max(MAX_ITINERARY),
  visits: z.array(VisitEntrySchema).max(MAX_VISITS),
});
export type Envelope = z.infer<typeof EnvelopeSchema>;

export function newAgentId(): string {
  return toB64u(randomBytes(16));
}

const PAYLOAD_TAG = utf8('parley/v1/agent-payload\u0000');
const LINK_TAG = utf8('parley/v1/visit-link\u0000');

export function payloadHash(payload: unknown): string {
  return toB64u(sha256(PAYLOAD_TAG, canonicalBytes(payload)));
}

/** Hash that links a record (or the header) into the visit log. */
export function linkHash(obj: SignedObject<unknown>): string {
  return toB64u(linkDigest(canonicalJson(obj)));
}

/** The link hash from the signed object's canonical JSON (see `canonicalSignedJson`). */
function linkDigest(canonicalSigned: string): Uint8Array {
  return sha256(LINK_TAG, utf8(canonicalSigned));
}

export interface NewAgent {
  kind: string;
  sn?: string | null;
  itinerary: Hop[];
  payload: unknown;
  /** lifetime in ms from now */
  ttlMs: number;
  id?: string;
}

/** Issues an agent: signs its header with the issuer's identity key. */
export function createAgent(issuer: Self, spec: NewAgent): Envelope {
  const now = Date.now();
  const header: AgentHeader = {
    kind: spec.kind,
    id: spec.id ?? newAgentId(),
    issuer: issuer.id,
    sn: spec.sn ?? null,
    created: new Date(now).toISOString(),
    expires: new Date(now + spec.ttlMs).toISOString(),
    itinerary: spec.itinerary,
    home: issuer.id,
    payloadHash: payloadHash(spec.payload),
  };
  AgentHeaderSchema.parse(header);
  return {
    v: 1,
    kind: header.kind,
    id: header.id,
    header: signObject(AGENT_HEADER_TYPE, header, issuer.secretKey) as Envelope['header'],
    issuerCert: issuer.certPem,
    payload: spec.payload,
    hop: 0,
    visits: [],
  };
}

/** The host id an envelope is addressed to at its current hop. */
export function addressee(env: Envelope): string {
  const h = env.header.body;
  return env.hop >= h.itinerary.length ? h.home : h.itinerary[env.hop]!.host;
}

export interface VerifiedAgent {
  issuer: PartyIdentity;
  header: AgentHeader;
  visits: Visit[];
}

/**
 * How much of the visit log a host checks. `all`: every record's certificate and signature
 * and every link (the issuer, when the agent comes home: the log is its record of the
 * journey). `last`: every link, but only the last record's signature (a host on the way:
 * no earlier record bears on what it does, and each record's link commits to the exact
 * bytes, signature included, of the one before it, so a record altered, removed or
 * reordered after it was signed over still breaks a link here). Checking every signature
 * at every hop made the journey's verification work grow with the square of its length.
 */
export type VisitLogCheck = 'all' | 'last';

/**
 * Everything a host checks before accepting an agent: issuer certificate and role, header
 * signature, consistency of kind/id/payload with the header, expiry, the visit log.
 */
export function verifyAgent(env: Envelope, trust: Trust, issuerRoles: readonly Role[], now = Date.now(), log: VisitLogCheck = 'all'): VerifiedAgent {
  const issuer = trust.verify(env.issuerCert, issuerRoles);
  const opened = openSignedObjectCanonical<AgentHeader>(env.header, AGENT_HEADER_TYPE, issuer.publicKey, 'ERR_AGENT_HEADER_INVALID');
  const header = opened.body;
  if (header.issuer !== issuer.id || header.home !== issuer.id) throw parleyError('ERR_AGENT_HEADER_INVALID', 'agent header names another issuer than its certificate');
  if (header.kind !== env.kind || header.id !== env.id) throw parleyError('ERR_AGENT_HEADER_INVALID', 'envelope kind or id differs from the signed header');
  if (payloadHash(env.payload) !== header.payloadHash) throw parleyError('ERR_AGENT_HEADER_INVALID', 'agent payload does not match the signed header');
  if (Date.parse(header.expires) <= now) throw parleyError('ERR_AGENT_EXPIRED', `agent ${env.id} expired at ${header.expires}`);
  if (env.hop > header.itinerary.length) throw parleyError('ERR_SCHEMA', 'hop is beyond the itinerary');
  // the header's body was canonicalised to check its signature: the log's first link reuses it
  const visits = checkVisitLog(env, trust, linkDigest(canonicalSignedJson(env.header, opened.canonicalBody)), log);
  return { issuer, header, visits };
}

/**
 * Checks the visit log: every record signed by the host it names (certificate chained to
 * the CA), hash-linked to its predecessor starting from the header, for this agent, with
 * non-decreasing hops that stay below the current one. Any removed, reordered, altered or
 * forged record breaks a link or a signature.
 */
export function verifyVisitLog(env: Envelope, trust: Trust): Visit[] {
  return checkVisitLog(env, trust, linkDigest(canonicalJson(env.header)));
}

function checkVisitLog(env: Envelope, trust: Trust, headerLink: Uint8Array, log: VisitLogCheck = 'all'): Visit[] {
  const out: Visit[] = [];
  const itinerary = env.header.body.itinerary;
  let prev = headerLink;
  let lastHop = -1;
  env.visits.forEach((entry, i) => {
    const fail = (why: string) => parleyError('ERR_VISIT_LOG_INVALID', `visit record ${i}: ${why}`);
    let v: Visit;
    let canonicalBody: string;
    if (log === 'all' || i === env.visits.length - 1) {
      let signer: PartyIdentity;
      try {
        signer = trust.verify(entry.cert, ['merchant', 'agent-home']);
      } catch (e) {
        throw parleyError('ERR_VISIT_LOG_INVALID', `visit record ${i}: signer certificate rejected (${(e as { code?: string }).code})`, e);
      }
      try {
        ({ body: v, canonicalBody } = openSignedObjectCanonical<Visit>(entry.record, VISIT_TYPE, signer.publicKey));
      } catch (e) {
        throw parleyError('ERR_VISIT_LOG_INVALID', `visit record ${i}: signature does not verify`, e);
      }
      if (v.host !== signer.id) throw fail('signed by another host than it names');
    } else {
      // checked by its link only (the schema has checked its shape)
      v = entry.record.body as Visit;
      canonicalBody = canonicalJson(v);
    }
    if (v.agent !== env.id) throw fail('belongs to another agent');
    if (!equalBytes(fromB64u(v.prev, 'prev'), prev)) throw fail('hash link broken (record removed, reordered or altered)');
    // each itinerary index appears once (visited, or skipped by whoever tried to reach it),
    // in order, and only for hops the agent has already passed
    if (v.hop <= lastHop || v.hop >= env.hop) throw fail('hop out of order');
    const planned = itinerary[v.hop]?.host;
    if (v.event === 'visited' && (v.target !== v.host || planned !== v.host)) throw fail('visit by a host not planned at this hop');
    if (v.event === 'skipped' && planned !== v.target) throw fail('skip of a host not planned at this hop');
    lastHop = v.hop;
    // the link to this record is checked by the next one, if any
    if (i < env.visits.length - 1) prev = linkDigest(canonicalSignedJson(entry.record, canonicalBody));
    out.push(v);
  });
  return out;
}

/** Appends a record signed by `host`, linked to the last record (or the header). */
export function appendVisit(env: Envelope, host: Self, rec: Pick<Visit, 'event' | 'target' | 'note' | 'hop'>): Envelope {
  const last = env.visits[env.visits.length - 1];
  const body: Visit = {
    agent: env.id,
    hop: rec.hop,
    host: host.id,
    at: new Date().toISOString(),
    event: rec.event,
    target: rec.target,
    note: rec.note.slice(0, 200),
    prev: linkHash(last ? last.record : env.header),
  };
  const record = signObject(VISIT_TYPE, body, host.secretKey) as VisitEntry['record'];
  return { ...env, visits: [...env.visits, { record, cert: host.certPem }] };
}
