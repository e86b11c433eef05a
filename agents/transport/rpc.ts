/**
 * Request/reply with the wire contract applied: the reply is decoded and checked against
 * its schema, a peer's `{code, message}` becomes its ParleyError, "nobody listening" is
 * ERR_UNAVAILABLE and silence is ERR_TIMEOUT.
 */
import type { NatsConnection } from 'nats';
import type { z } from 'zod';
import { parleyError } from '../../protocol/errors.js';
import { decodeReply, encodeJson } from '../../protocol/wire.js';

export async function call<S extends z.ZodType>(nc: NatsConnection, subject: string, body: unknown, schema: S, timeoutMs = 10_000): Promise<z.infer<S>> {
  let data: Uint8Array;
  try {
    data = (await nc.request(subject, encodeJson(body), { timeout: timeoutMs })).data;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === '503') throw parleyError('ERR_UNAVAILABLE', `nobody is serving ${subject}`, e);
    if (code === 'TIMEOUT') throw parleyError('ERR_TIMEOUT', `no answer on ${subject} within ${timeoutMs} ms`, e);
    throw parleyError('ERR_UNAVAILABLE', `request on ${subject} failed: ${(e as Error).message}`, e);
  }
  return decodeReply(schema, data, subject);
}
