/**
 * Authenticated requests between parties: `{cert, req}` where `req` is a signed object
 * whose body carries, besides its own fields, a unique `id` (128-bit), a timestamp `ts` and
 * the audience `to` (the service it is for). The receiver checks, before acting: the
 * certificate chains to the CA and holds a role allowed for this message type; the
 * signature; the audience; and that `ts` is within the accepted clock skew. Replays within
 * that window are caught by the receiver's de-duplication on `id`.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { toB64u } from '../crypto/bytes.js';
import { openSignedObject, signObject, type SignedObject } from '../crypto/signed.js';
import type { Role } from '../crypto/x509/profile.js';
import { parleyError } from './errors.js';
import { b64u, decodeMessage, isoTime, partyId, pem, signedObject } from './wire.js';

/** How far a request's timestamp may be from the receiver's clock. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

export const requestId = b64u(22).regex(/^[A-Za-z0-9_-]{22}$/, 'must be a 128-bit base64url id');

export const RequestMetaSchema = z.strictObject({ id: requestId, ts: isoTime, to: partyId });
export type RequestMeta = z.infer<typeof RequestMetaSchema>;

/** Who a request is from, as its verified certificate says. */
export interface Signer {
  id: string;
  role: Role;
  publicKey: Uint8Array;
}

/** The checks a receiver needs: certificate verification (see agents/runtime/trust.ts). */
export interface CertificateVerifier {
  verify(certPem: string, roles: readonly Role[]): Signer;
}

export interface Requester {
  secretKey: Uint8Array;
  certPem: string;
}

export interface SignedRequest<B> {
  cert: string;
  req: SignedObject<B & RequestMeta>;
}

export function newRequestId(): string {
  return toB64u(randomBytes(16));
}

/** Signs `body` as a request of `type` addressed to `to`. */
export function signRequest<B extends object>(type: string, body: B, to: string, from: Requester): SignedRequest<B> {
  const full = { ...body, id: newRequestId(), ts: new Date().toISOString(), to };
  return { cert: from.certPem, req: signObject(type, full, from.secretKey) };
}

function buildSignedRequestSchema<S extends z.ZodObject>(type: string, schema: S) {
  return z.strictObject({ cert: pem, req: signedObject(type, schema.extend(RequestMetaSchema.shape)) });
}

/**
 * Wire schemas built so far, by body schema and type. Building one per request cost more
 * than checking the request with it: zod compiles each new object schema into a parser of
 * its own (generated code) on its first use, and a schema used once runs that code cold.
 * Body schemas are module constants, so this holds one entry per request type.
 */
const built = new WeakMap<z.ZodObject, Map<string, ReturnType<typeof buildSignedRequestSchema>>>();

/** The wire schema of a signed request of `type` with body `schema`. */
export function signedRequestSchema<S extends z.ZodObject>(type: string, schema: S): ReturnType<typeof buildSignedRequestSchema<S>> {
  let byType = built.get(schema);
  if (!byType) built.set(schema, (byType = new Map()));
  let s = byType.get(type);
  if (!s) byType.set(type, (s = buildSignedRequestSchema(type, schema)));
  return s as ReturnType<typeof buildSignedRequestSchema<S>>;
}

export interface OpenOptions {
  trust: CertificateVerifier;
  /** roles allowed to send this message type */
  roles: readonly Role[];
  /** this service's id: requests addressed elsewhere are refused */
  audience: string;
  now?: number;
  maxBytes?: number;
}

export interface OpenedRequest<B> {
  signer: Signer;
  /** the signer's certificate (PEM), as verified */
  cert: string;
  body: B & RequestMeta;
}

/**
 * Decodes and authenticates a request. Failure codes: ERR_MESSAGE_TOO_LARGE,
 * ERR_MALFORMED_MESSAGE, ERR_SCHEMA, ERR_CERT_* (including ERR_CERT_ROLE for a party
 * acting outside its role), ERR_OBJECT_SIGNATURE_INVALID, ERR_FORBIDDEN (other audience),
 * ERR_STALE (timestamp outside the window).
 */
export function openRequest<S extends z.ZodObject>(type: string, schema: S, data: Uint8Array, opts: OpenOptions): OpenedRequest<z.infer<S>> {
  const msg = decodeMessage(signedRequestSchema(type, schema), data, type, opts.maxBytes);
  const signer = opts.trust.verify(msg.cert, opts.roles);
  const body = openSignedObject<z.infer<S> & RequestMeta>(msg.req, type, signer.publicKey);
  if (body.to !== opts.audience) throw parleyError('ERR_FORBIDDEN', `request is addressed to ${body.to}, not ${opts.audience}`);
  const skew = Math.abs((opts.now ?? Date.now()) - Date.parse(body.ts));
  if (!(skew <= MAX_CLOCK_SKEW_MS)) throw parleyError('ERR_STALE', `request timestamp ${body.ts} is more than ${MAX_CLOCK_SKEW_MS / 1000} s off`);
  return { signer, cert: msg.cert, body };
}
