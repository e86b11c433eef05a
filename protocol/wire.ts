/**
 * The boundary every incoming message crosses before any code acts on it: a size limit,
 * strict UTF-8 JSON without duplicate keys (crypto/strict-json.ts) with bounded nesting, then
 * a schema (zod, strict objects: unknown fields are refused). Replies are `{ok: true, body}`
 * or `{ok: false, error: {code, message}}`.
 *
 * zod was chosen because it is the most widely used TypeScript schema library, infers the
 * static type from the schema (one source of truth), and its strict objects reject extra
 * fields, which matters for signed messages.
 */
import { z } from 'zod';
import { parseStrictJsonBytes } from '../crypto/strict-json.js';
import { errorFromWire, errorToWire, isParleyError, parleyError, type WireError } from './errors.js';

/** Default largest message accepted (nats-server's default max_payload is 1 MiB). */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
export const MAX_NESTING = 32;

const encoder = new TextEncoder();

function depthOk(value: unknown, depth = 0): boolean {
  // the recursion stops at MAX_NESTING, so a hostile document cannot overflow our stack
  if (value === null || typeof value !== 'object') return true;
  if (depth >= MAX_NESTING) return false;
  if (Array.isArray(value)) {
    for (const child of value) if (!depthOk(child, depth + 1)) return false;
    return true;
  }
  for (const child of Object.values(value)) if (!depthOk(child, depth + 1)) return false;
  return true;
}

/** Bytes → JSON value, with the size, encoding, duplicate-key and nesting checks. */
export function parseJson(data: Uint8Array, maxBytes = MAX_MESSAGE_BYTES): unknown {
  if (data.length > maxBytes) throw parleyError('ERR_MESSAGE_TOO_LARGE', `message of ${data.length} bytes exceeds the ${maxBytes}-byte limit`);
  let value: unknown;
  try {
    value = parseStrictJsonBytes(data);
  } catch (e) {
    if (isParleyError(e, 'ERR_JSON_DUPLICATE_KEY')) throw e;
    throw parleyError('ERR_MALFORMED_MESSAGE', 'message is not UTF-8 JSON');
  }
  if (!depthOk(value)) throw parleyError('ERR_MALFORMED_MESSAGE', `message nests deeper than ${MAX_NESTING}`);
  return value;
}

/** Validates an already-parsed value against a schema; ERR_SCHEMA names the first defect. */
export function checkSchema<S extends z.ZodType>(schema: S, value: unknown, what = 'message'): z.infer<S> {
  const r = schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue && issue.path.length ? issue.path.map(String).join('.') : '(root)';
    throw parleyError('ERR_SCHEMA', `${what}: ${where}: ${issue?.message ?? 'invalid'}`);
  }
  return r.data;
}

/** parseJson + checkSchema. */
export function decodeMessage<S extends z.ZodType>(schema: S, data: Uint8Array, what?: string, maxBytes?: number): z.infer<S> {
  return checkSchema(schema, parseJson(data, maxBytes), what);
}

export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

export type Reply<T> = { ok: true; body: T } | { ok: false; error: WireError };

export function okReply<T>(body: T): Uint8Array {
  return encodeJson({ ok: true, body } satisfies Reply<T>);
}

export function errorReply(err: unknown): Uint8Array {
  return encodeJson({ ok: false, error: errorToWire(err) } satisfies Reply<never>);
}

const ReplyShape = z.union([
  z.strictObject({ ok: z.literal(true), body: z.unknown() }),
  z.strictObject({ ok: z.literal(false), error: z.strictObject({ code: z.string(), message: z.string() }) }),
]);

/** Decodes a reply: returns the body checked against `schema`, or throws the peer's error. */
export function decodeReply<S extends z.ZodType>(schema: S, data: Uint8Array, what = 'reply'): z.infer<S> {
  const r = checkSchema(ReplyShape, parseJson(data), what);
  if (!r.ok) throw errorFromWire(r.error);
  return checkSchema(schema, r.body, what);
}

// ---- schema building blocks shared by every message --------------------------------

/** base64url text (no padding) with a length bound. */
export const b64u = (maxLen = 8192) => z.string().max(maxLen).regex(/^[A-Za-z0-9_-]*$/, 'must be base64url');
/** A positive integer as minimal big-endian base64url (JWK style). */
export const bigIntB64u = (maxBytes = 1024) => b64u(Math.ceil((maxBytes * 4) / 3) + 4).min(1);
export const partyId = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be a party id');
export const isoTime = z.string().max(40).refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO-8601 time');
export const pem = z.string().max(8192).startsWith('-----BEGIN CERTIFICATE-----');
export const signedObject = <B extends z.ZodType>(type: string, body: B) =>
  z.strictObject({ v: z.literal(1), type: z.literal(type), body, sig: b64u(100) });
