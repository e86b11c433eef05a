/**
 * An agent host: receives migrating agents on `parley.v1.host.<id>.arrive`, checks them,
 * accepts them durably, acknowledges, runs the behaviour registered for their kind exactly
 * once, appends its signed visit record and sends them on along the itinerary, skipping
 * hosts that do not acknowledge in time, and finally home.
 *
 * The acknowledgement is sent only after the arrival is stored, so a sender that got an
 * ack may forget the agent; a repeated arrival of the same (agent, hop) is acknowledged
 * again and not run again.
 */
import type { NatsConnection, Subscription, Msg } from 'nats';
import { z } from 'zod';
import { parleyError, isParleyError, ParleyError } from '../../protocol/errors.js';
import { subjects, queueGroup } from '../../protocol/subjects.js';
import { decodeMessage, decodeReply, encodeJson, errorReply, okReply, MAX_MESSAGE_BYTES } from '../../protocol/wire.js';
import { appendVisit, addressee, EnvelopeSchema, verifyAgent, type AgentHeader, type Envelope, type Visit, type VisitEntry } from './envelope.js';
import { workKey, type HostStore, type WorkState } from './host-store.js';
import type { PartyIdentity, Role, Self, Trust } from './trust.js';

export interface ArrivedAgent {
  envelope: Envelope;
  header: AgentHeader;
  issuer: PartyIdentity;
  visits: Visit[];
}

export interface KindBehaviour {
  /** roles allowed to issue agents of this kind */
  issuerRoles: readonly Role[];
  /** extra checks of the payload (schema, signatures inside); throw a coded error to refuse */
  check?(agent: ArrivedAgent): void | Promise<void>;
  /** at an itinerary stop: returns the note for the visit record; `stay` ends the journey here */
  visit?(agent: ArrivedAgent): Promise<{ note: string; stay?: boolean }>;
  /** back at its issuer */
  home?(agent: ArrivedAgent): Promise<void>;
}

export const AckSchema = z.strictObject({ accepted: z.literal(true), duplicate: z.boolean() });
const ACK_NEW = okReply({ accepted: true, duplicate: false });
const ACK_DUPLICATE = okReply({ accepted: true, duplicate: true });

/** Resolves on the next turn of the event loop, after pending output has been written. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export interface HostOptions {
  nc: NatsConnection;
  self: Self;
  trust: Trust;
  store: HostStore;
  /** largest agent accepted */
  maxBytes?: number;
  /** how long to keep retrying the trip home */
  homeRetryMs?: number;
  /** called with each failure that did not reach a peer (for logs; never secrets) */
  onError?: (err: unknown, context: string) => void;
}

export class AgentHost {
  private readonly kinds = new Map<string, KindBehaviour>();
  private sub?: Subscription;
  private readonly running = new Map<string, Promise<void>>();
  private stopped = false;
  /** hooks for tests and benchmarks: counts of handler runs per agent kind */
  readonly runs = new Map<string, number>();

  constructor(private readonly opts: HostOptions) {}

  get id(): string {
    return this.opts.self.id;
  }

  register(kind: string, behaviour: KindBehaviour): this {
    this.kinds.set(kind, behaviour);
    return this;
  }

  /** Subscribes and resumes any work a previous run left unfinished. */
  async start(): Promise<void> {
    const subject = subjects.hostArrive(this.id);
    this.sub = this.opts.nc.subscribe(subject, {
      queue: queueGroup(`host-${this.id}`),
      callback: (err, msg) => {
        if (err) return this.report(err, 'subscription');
        void this.onArrive(msg);
      },
    });
    await this.opts.nc.flush();
    for (const key of await this.opts.store.pending()) this.process(key);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.sub?.drain().catch(() => undefined);
    await Promise.allSettled([...this.running.values()]);
  }

  /** Waits until all work in progress has finished (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running.size) await Promise.allSettled([...this.running.values()]);
  }

  /** Sends a freshly issued agent on its way (this host is its issuer). */
  async dispatch(env: Envelope): Promise<void> {
    await this.forward(env, -1);
  }

  private report(err: unknown, context: string): void {
    this.opts.onError?.(err, context);
  }

  private async onArrive(msg: Msg): Promise<void> {
    try {
      const env = decodeMessage(EnvelopeSchema, msg.data, 'agent', this.opts.maxBytes ?? MAX_MESSAGE_BYTES);
      const agent = await this.check(env);
      const key = workKey(env.id, env.hop);
      // the bytes as received are what is stored: they parse back to exactly `env`
      const outcome = await this.opts.store.accept(key, env, msg.data);
      msg.respond(outcome === 'duplicate' ? ACK_DUPLICATE : ACK_NEW);
      if (outcome === 'new') this.process(key, agent);
    } catch (err) {
      if (!isParleyError(err)) this.report(err, 'arrival');
      msg.respond(errorReply(err));
    }
  }

  private async check(env: Envelope): Promise<ArrivedAgent> {
    const behaviour = this.kinds.get(env.kind);
    if (!behaviour) throw parleyError('ERR_AGENT_KIND', `host ${this.id} does not host ${env.kind} agents`);
    if (addressee(env) !== this.id) throw parleyError('ERR_AGENT_NOT_ADDRESSED', `agent is addressed to ${addressee(env)}, not ${this.id}`);
    const v = verifyAgent(env, this.opts.trust, behaviour.issuerRoles);
    const agent: ArrivedAgent = { envelope: env, header: v.header, issuer: v.issuer, visits: v.visits };
    await behaviour.check?.(agent);
    return agent;
  }

  /**
   * Runs one accepted arrival to completion; at most one run per key at a time. `checked` is
   * given only by the host that has just stored the arrival as new.
   */
  private process(key: string, checked?: ArrivedAgent): void {
    if (!this.running.has(key)) this.running.set(key, this.run(key, checked));
  }

  private async run(key: string, checked?: ArrivedAgent): Promise<void> {
    try {
      // the work starts on the next turn of the event loop, once the acknowledgement (which
      // nats.js writes out in a microtask) has left: its synchronous start (the handler's
      // first steps, the first store request) would otherwise delay the ack
      await nextTurn();
      await this.work(key, checked);
    } catch (err) {
      this.report(err, `agent ${key}`);
    } finally {
      this.running.delete(key);
    }
  }

  private async work(key: string, checked?: ArrivedAgent): Promise<void> {
    const store = this.opts.store;
    // an arrival this host has just stored as new has no state yet: state records are only
    // written after their arrival record, and only one accept of a key ever sees it as new
    let state: WorkState | undefined = checked ? { phase: 'accepted' } : await store.state(key);
    if (!state || state.phase === 'done') return;
    if (state.phase === 'accepted') {
      const agent = checked ?? (await this.recheck(key));
      if (!agent) return;
      const behaviour = this.kinds.get(agent.envelope.kind)!;
      const env = agent.envelope;
      this.runs.set(env.kind, (this.runs.get(env.kind) ?? 0) + 1);
      if (env.hop >= agent.header.itinerary.length) {
        await behaviour.home?.(agent);
        state = { phase: 'done', note: 'home' };
      } else {
        const r = behaviour.visit ? await behaviour.visit(agent) : { note: 'visited' };
        const outgoing = r.stay ? null : appendVisit(env, this.opts.self, { event: 'visited', target: this.id, hop: env.hop, note: r.note });
        state = { phase: r.stay ? 'done' : 'handled', note: r.note, outgoing };
      }
      await store.setState(key, state);
    }
    if (state.phase === 'handled' && state.outgoing) {
      await this.forward(state.outgoing, state.outgoing.hop);
      await store.setState(key, { ...state, phase: 'done', outgoing: null });
    }
  }

  /** After a restart the arrival is checked again from the store (certificates may have expired). */
  private async recheck(key: string): Promise<ArrivedAgent | undefined> {
    const env = await this.opts.store.envelope(key);
    if (!env) return undefined;
    try {
      return await this.check(env);
    } catch (err) {
      this.report(err, `stored agent ${key} no longer valid`);
      await this.opts.store.setState(key, { phase: 'done', note: `dropped: ${(err as ParleyError).code ?? 'error'}` });
      return undefined;
    }
  }

  /**
   * Hands `env` to the next host after itinerary index `fromHop` that acknowledges; each one
   * that does not is recorded as skipped (signed by this host). The trip home is retried
   * with backoff until the agent expires.
   */
  private async forward(env: Envelope, fromHop: number): Promise<void> {
    const header = env.header.body;
    let out = env;
    const before = env.visits.length - (fromHop >= 0 ? 1 : 0);
    for (let j = fromHop + 1; j < header.itinerary.length; j++) {
      const hop = header.itinerary[j]!;
      try {
        await this.send({ ...out, hop: j }, hop.host, hop.timeoutMs);
        this.publishProgress(out, before);
        return;
      } catch (err) {
        const code = err instanceof ParleyError ? err.code : 'ERR_UNAVAILABLE';
        out = appendVisit(out, this.opts.self, { event: 'skipped', target: hop.host, hop: j, note: code });
      }
    }
    this.publishProgress(out, before);
    const home = { ...out, hop: header.itinerary.length };
    if (header.home === this.id) {
      // the issuer itself is the last stop: deliver locally through the same checks
      await this.deliverLocally(home);
      return;
    }
    const until = Math.min(Date.parse(header.expires), Date.now() + (this.opts.homeRetryMs ?? 60_000));
    let wait = 100;
    for (;;) {
      try {
        await this.send(home, header.home, 5000);
        return;
      } catch (err) {
        if (this.stopped || Date.now() + wait > until) throw parleyError('ERR_UNAVAILABLE', `home ${header.home} unreachable: ${(err as Error).message}`, err);
        await new Promise((r) => setTimeout(r, wait));
        wait = Math.min(wait * 2, 5000);
      }
    }
  }

  private async deliverLocally(env: Envelope): Promise<void> {
    const agent = await this.check(env);
    const key = workKey(env.id, env.hop);
    if ((await this.opts.store.accept(key, env)) === 'new') this.process(key, agent);
  }

  /** Visit records this host added are reported to the issuer, which tracks lost agents. */
  private publishProgress(env: Envelope, from: number): void {
    const issuer = env.header.body.issuer;
    const fresh: VisitEntry[] = env.visits.slice(Math.max(0, from));
    if (!fresh.length || issuer === this.id) return;
    try {
      this.opts.nc.publish(subjects.hostProgress(issuer), encodeJson({ agent: env.id, entries: fresh }));
    } catch (err) {
      this.report(err, 'progress');
    }
  }

  private async send(env: Envelope, host: string, timeoutMs: number): Promise<void> {
    let reply: Msg;
    try {
      reply = await this.opts.nc.request(subjects.hostArrive(host), encodeJson(env), { timeout: timeoutMs });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === '503') throw parleyError('ERR_UNAVAILABLE', `host ${host} is not listening`, err);
      throw parleyError('ERR_TIMEOUT', `host ${host} did not acknowledge within ${timeoutMs} ms`, err);
    }
    decodeReply(AckSchema, reply.data, 'migration ack');
  }
}
