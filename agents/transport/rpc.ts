/**
 * Request/reply with the wire contract applied: the reply is decoded and checked against
 * its schema, a peer's `{code, message}` becomes its ParleyError, "nobody listening" is
 * ERR_UNAVAILABLE and silence is ERR_TIMEOUT.
 */
import type { Msg, NatsConnection } from 'nats';
import type { z } from 'zod';
import { parleyError } from '../../protocol/errors.js';
import { decodeReply, encodeJson } from '../../protocol/wire.js';
import { NO_RESPONDERS, replyStatus, RequestError, Requests } from './requests.js';

export async function call<S extends z.ZodType>(nc: NatsConnection, subject: string, body: unknown, schema: S, timeoutMs = 10_000): Promise<z.infer<S>> {
  return decodeReply(schema, await exchange(nc, subject, encodeJson(body), timeoutMs), subject);
}

/**
 * Sends `data` and returns the reply's bytes; ERR_UNAVAILABLE when nobody serves `subject`
 * (or the request could not be sent), ERR_TIMEOUT when nobody answered in time.
 */
export async function exchange(nc: NatsConnection, subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
  let reply: Msg;
  try {
    reply = await Requests.for(nc).request(subject, data, timeoutMs);
  } catch (e) {
    if (e instanceof RequestError && e.reason === 'timeout') throw parleyError('ERR_TIMEOUT', `no answer on ${subject} within ${timeoutMs} ms`, e);
    throw parleyError('ERR_UNAVAILABLE', `request on ${subject} failed: ${(e as Error).message}`, e);
  }
  const status = replyStatus(reply);
  if (status?.code === NO_RESPONDERS) throw parleyError('ERR_UNAVAILABLE', `nobody is serving ${subject}`);
  if (status) throw parleyError('ERR_UNAVAILABLE', `request on ${subject} failed: ${status.code} ${status.description}`);
  return reply.data;
}
