/**
 * Serving authenticated requests on `parley.v1.home.<id>.<op>` (a queue group, so several
 * Agent Home processes share the load). Each request is decoded, authenticated
 * (protocol/signed-request.ts) and only then acted on. Its id is claimed in
 * `parley_replies`: a replay gets the reply already given (or ERR_REPLAY while the first
 * is still being handled), never a second action. Errors reply `{code, message}`.
 * A request whose reply subject is not its signer's own inbox is dropped unanswered and
 * unacted on (agents/transport/reply-guard.ts); one that fails to open is answered only
 * when its reply subject is some party's inbox.
 */
import type { NatsConnection, Subscription } from 'nats';
import type { z } from 'zod';
import { isParleyError, parleyError } from '../protocol/errors.js';
import { openRequest, type CertificateVerifier, type OpenedRequest } from '../protocol/signed-request.js';
import { queueGroup, subjects, type HomeOp } from '../protocol/subjects.js';
import { errorReply, okReply } from '../protocol/wire.js';
import type { ReplyRefusals } from '../agents/transport/reply-guard.js';
import type { Role } from '../crypto/x509/profile.js';
import type { HomeState, StoredReply } from './state.js';

export interface Operation<S extends z.ZodObject> {
  op: HomeOp;
  type: string;
  schema: S;
  roles: readonly Role[];
  /** reads need no replay bookkeeping */
  idempotentRead?: boolean;
  handle(req: OpenedRequest<z.infer<S>>): Promise<unknown>;
  /** work that follows a successful answer, started once the answer has been sent */
  afterReply?(result: unknown): void;
}

export interface ServeContext {
  nc: NatsConnection;
  homeId: string;
  trust: CertificateVerifier;
  state: HomeState;
  onError?: (err: unknown, context: string) => void;
  /** counts of messages received per operation (tests check optimism with it) */
  received: Map<string, number>;
  /** requests dropped because their reply subject was not the requester's inbox */
  refusals: ReplyRefusals;
}

export function serve<S extends z.ZodObject>(ctx: ServeContext, op: Operation<S>): Subscription {
  return ctx.nc.subscribe(subjects.home(ctx.homeId, op.op), {
    queue: queueGroup(`home-${ctx.homeId}`),
    callback: (err, msg) => {
      if (err) return ctx.onError?.(err, op.op);
      ctx.received.set(op.op, (ctx.received.get(op.op) ?? 0) + 1);
      void (async () => {
        let reply: Uint8Array;
        let done: { result: unknown } | undefined;
        try {
          const req = openRequest(op.type, op.schema, msg.data, { trust: ctx.trust, roles: op.roles, audience: ctx.homeId });
          if (!ctx.refusals.allow(op.op, msg.reply, req.signer.id)) return;
          if (op.idempotentRead) reply = okReply(await op.handle(req));
          else ({ reply, done } = await once(ctx, op, req));
        } catch (e) {
          if (!isParleyError(e)) ctx.onError?.(e, op.op);
          // nobody authenticated: an error goes only to some party's inbox
          if (!ctx.refusals.allow(op.op, msg.reply)) return;
          reply = errorReply(e);
        }
        msg.respond(reply);
        if (done && op.afterReply) {
          // on the next turn, once the answer is written out
          const result = done.result;
          setImmediate(() => op.afterReply!(result));
        }
      })();
    },
  });
}

/**
 * Runs a state-changing request at most once per request id; `done` is set when this call
 * handled it successfully (not for a replay, not for a failure).
 */
async function once<S extends z.ZodObject>(ctx: ServeContext, op: Operation<S>, req: OpenedRequest<z.infer<S>>): Promise<{ reply: Uint8Array; done?: { result: unknown } }> {
  const key = req.body.id;
  const claim: StoredReply = { type: op.type, signer: req.signer.id };
  if (!(await ctx.state.createOnce(ctx.state.replies, key, claim))) {
    const prior = await ctx.state.read<StoredReply>(ctx.state.replies, key);
    if (prior && prior.reply && prior.type === op.type && prior.signer === req.signer.id) return { reply: Buffer.from(prior.reply, 'base64') };
    throw parleyError('ERR_REPLAY', `request ${key} was already received`);
  }
  let reply: Uint8Array;
  let done: { result: unknown } | undefined;
  try {
    const result = await op.handle(req);
    reply = okReply(result);
    done = { result };
  } catch (e) {
    if (!isParleyError(e)) ctx.onError?.(e, op.op);
    reply = errorReply(e);
  }
  const stored: StoredReply = { ...claim, reply: Buffer.from(reply).toString('base64') };
  await ctx.state.put(ctx.state.replies, key, stored);
  return { reply, done };
}
