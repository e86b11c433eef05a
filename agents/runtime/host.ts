/**
 * An agent host: receives migrating agents on `parley.v1.host.<id>.arrive`, checks them,
 * accepts them durably, acknowledges, runs the behaviour registered for their kind exactly
 * once, appends its signed visit record and sends them on along the itinerary, skipping
 * hosts that do not acknowledge in time, and finally home.
 *
 * The acknowledgement is sent only after the arrival is stored, so a sender that got an
 * ack may forget the agent; a repeated arrival of the same (agent, hop) is acknowledged
 * again and not run again.
 *
 * Several processes may serve one host id (a queue group) on a shared store. Each has a
 * random instance id and holds the work it accepted under a lease (agents/runtime/lease.ts);
 * work whose lease runs out because its process died is taken over by another one.
 */
import { randomBytes } from 'node:crypto';
import type { NatsConnection, Subscription, Msg } from 'nats';
import { z } from 'zod';
import { parleyError, isParleyError, ParleyError } from '../../protocol/errors.js';
import { subjects, queueGroup } from '../../protocol/subjects.js';
import { decodeMessage, decodeReply, encodeJson, errorReply, okReply, MAX_MESSAGE_BYTES } from '../../protocol/wire.js';
import { appendVisit, addressee, EnvelopeSchema, verifyAgent, type AgentHeader, type Envelope, type Visit, type VisitEntry } from './envelope.js';
import { exchange } from '../transport/rpc.js';
import { ReplyRefusals } from '../transport/reply-guard.js';
import { workKey, type HostStore, type PendingWork, type WorkState } from './host-store.js';
import { DEFAULT_LEASE_MS, leaseExpiry, WorkLease } from './lease.js';
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
/** waits between tries of a hop whose host nobody serves yet (`sendWithin`) */
const RESEND_FIRST_MS = 50;
const RESEND_MAX_MS = 500;

/**
 * Reads a host's reply to a migration. The two acknowledgements a host sends are fixed
 * bytes, so they are recognised by comparison; anything else is decoded and checked (an
 * error reply throws the host's error).
 */
export function decodeAck(data: Uint8Array, what = 'migration ack'): z.infer<typeof AckSchema> {
  if (sameBytes(data, ACK_NEW)) return { accepted: true, duplicate: false };
  if (sameBytes(data, ACK_DUPLICATE)) return { accepted: true, duplicate: true };
  return decodeReply(AckSchema, data, what);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

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
  /** notable events that are not failures, such as work taken over (for logs) */
  onInfo?: (line: string) => void;
  /**
   * How long an instance holds work it accepted or took over (default 15 s); it renews the
   * lease while the work runs. Once a lease has run out (its process died), another process
   * sharing the store takes the work over: longer than any pause of a live process, as short
   * as the wait for a failover may be.
   */
  leaseMs?: number;
  /**
   * How many accepted agents are worked on at once (default 16); the others wait their turn
   * in the order they came. Unbounded, a burst of arrivals all progresses at once and each
   * piece slowly: acknowledgements of new arrivals wait behind it, leases need renewing,
   * and records that several pieces update are written in races.
   */
  maxWork?: number;
  /** where arrivals with a reply subject that is not their sender's inbox are counted */
  refusals?: ReplyRefusals;
}

/** At most `max` holders at a time; the others wait in the order they came. */
class Slots {
  private busy = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly max: number) {}

  take(): Promise<void> | undefined {
    if (this.busy < this.max) {
      this.busy++;
      return undefined;
    }
    return new Promise<void>((r) => this.waiting.push(r));
  }

  /** Hands the slot to the next in line, if any. */
  give(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.busy--;
  }
}

/** Where work starts: its lease, the state it is in, and the agent when just checked. */
interface Job {
  lease: WorkLease;
  state: WorkState;
  checked?: ArrivedAgent;
}

export class AgentHost {
  private readonly kinds = new Map<string, KindBehaviour>();
  private sub?: Subscription;
  private readonly running = new Map<string, Promise<void>>();
  /** leases of the work in `running`, renewed by the timer */
  private readonly leases = new Map<string, WorkLease>();
  private timer?: NodeJS.Timeout;
  private scanning = false;
  private stopped = false;
  /** hooks for tests and benchmarks: counts of handler runs per agent kind */
  readonly runs = new Map<string, number>();
  /** this process's instance of the host, as its leases name it */
  readonly instance = randomBytes(8).toString('hex');
  private readonly leaseMs: number;
  private readonly slots: Slots;
  /** arrivals dropped because their reply subject was not their sender's inbox */
  readonly refusals: ReplyRefusals;

  constructor(private readonly opts: HostOptions) {
    this.leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS;
    this.refusals = opts.refusals ?? new ReplyRefusals(opts.onInfo);
    this.slots = new Slots(opts.maxWork ?? 16);
  }

  get id(): string {
    return this.opts.self.id;
  }

  register(kind: string, behaviour: KindBehaviour): this {
    this.kinds.set(kind, behaviour);
    return this;
  }

  /**
   * Subscribes and resumes any work a previous run left unfinished: on a store only this
   * process uses, all of it at once; on a shared one, work whose lease has run out, now and
   * from then on (checked every fifth of a lease).
   */
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
    const store = this.opts.store;
    if (!store.shared) {
      for (const p of await store.pending()) this.process(p.key, () => this.resume(p.key));
      return;
    }
    await this.scan();
    this.timer = setInterval(() => this.tick(), Math.max(20, Math.round(this.leaseMs / 5)));
    this.timer.unref();
  }

  /** Stops taking work and lets the work in progress finish (renewing its leases). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.sub?.drain().catch(() => undefined);
    await Promise.allSettled([...this.running.values()]);
    clearInterval(this.timer);
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

  /** Renews the leases that are due and takes over work whose lease has run out. */
  private tick(): void {
    for (const lease of this.leases.values()) {
      // a lost lease is reported by its work, at its next write
      void lease.renew().catch((err) => {
        if (!lease.lost) this.report(err, `renewing the lease on agent ${lease.key}`);
      });
    }
    if (this.scanning || this.stopped) return;
    this.scanning = true;
    void this.scan()
      .catch((err) => this.report(err, 'looking for work to take over'))
      .finally(() => {
        this.scanning = false;
      });
  }

  private async scan(): Promise<void> {
    const now = Date.now();
    for (const p of await this.opts.store.pending()) {
      if (this.stopped) return;
      if (!this.running.has(p.key) && leaseExpiry(p, this.leaseMs) <= now) this.process(p.key, () => this.takeOver(p));
    }
  }

  /** Work a previous run of this process left, in a store no other process uses. */
  private async resume(key: string): Promise<Job | undefined> {
    const cur = await this.opts.store.state(key);
    if (!cur || cur.state.phase === 'done') return undefined;
    return { lease: WorkLease.resumed(this.opts.store, key, cur, this.instance, this.leaseMs), state: cur.state };
  }

  /** Claims work whose lease ran out; undefined when another instance claimed it first. */
  private async takeOver(p: PendingWork): Promise<Job | undefined> {
    const claimed = await WorkLease.claim(this.opts.store, p, this.instance, this.leaseMs);
    if (!claimed) return undefined;
    const { lease, from } = claimed;
    const whose = from === this.instance ? 'an earlier attempt of this instance' : from ? `instance ${from}` : 'the instance that accepted it';
    this.opts.onInfo?.(`agent ${p.key}: work (${lease.current.phase}) taken over from ${whose}`);
    return { lease, state: lease.current };
  }

  private async onArrive(msg: Msg): Promise<void> {
    try {
      const env = decodeMessage(EnvelopeSchema, msg.data, 'agent', this.opts.maxBytes ?? MAX_MESSAGE_BYTES);
      const agent = await this.check(env);
      // acknowledged only to the host that sent it (or its issuer): nothing stored otherwise
      if (!this.refusals.allow('arrive', msg.reply, [senderOf(env), agent.header.issuer])) return;
      const key = workKey(env.id, env.hop);
      const acceptedAt = Date.now();
      // the bytes as received are what is stored: they parse back to exactly `env`
      const outcome = await this.opts.store.accept(key, env, msg.data);
      msg.respond(outcome === 'duplicate' ? ACK_DUPLICATE : ACK_NEW);
      if (outcome === 'new') this.process(key, this.fresh(key, agent, acceptedAt));
    } catch (err) {
      if (!isParleyError(err)) this.report(err, 'arrival');
      // not authenticated: an error goes only to some party's inbox
      if (this.refusals.allow('arrive', msg.reply)) msg.respond(errorReply(err));
    }
  }

  private async check(env: Envelope): Promise<ArrivedAgent> {
    const behaviour = this.kinds.get(env.kind);
    if (!behaviour) throw parleyError('ERR_AGENT_KIND', `host ${this.id} does not host ${env.kind} agents`);
    if (addressee(env) !== this.id) throw parleyError('ERR_AGENT_NOT_ADDRESSED', `agent is addressed to ${addressee(env)}, not ${this.id}`);
    // the whole visit log when the agent comes home; on the way, its links and last record
    const home = env.hop >= env.header.body.itinerary.length;
    const v = verifyAgent(env, this.opts.trust, behaviour.issuerRoles, Date.now(), home ? 'all' : 'last');
    const agent: ArrivedAgent = { envelope: env, header: v.header, issuer: v.issuer, visits: v.visits };
    await behaviour.check?.(agent);
    return agent;
  }

  /**
   * The work on an arrival this instance has just stored as new: it has no state yet (state
   * records are only written after their arrival record, and only one accept of a key ever
   * sees it as new), and it is this instance's from the time it began to store it.
   */
  private fresh(key: string, checked: ArrivedAgent, acceptedAt: number): Job {
    return { lease: WorkLease.fresh(this.opts.store, key, this.instance, this.leaseMs, acceptedAt), state: { phase: 'accepted' }, checked };
  }

  /** Runs one accepted arrival to completion; at most one run per key at a time in this process. */
  private process(key: string, job: Job | (() => Promise<Job | undefined>)): void {
    if (!this.running.has(key)) this.running.set(key, this.run(key, job));
  }

  private async run(key: string, start: Job | (() => Promise<Job | undefined>)): Promise<void> {
    let lease: WorkLease | undefined;
    let slot = false;
    try {
      // the work starts on the next turn of the event loop, once the acknowledgement (which
      // nats.js writes out in a microtask) has left: its synchronous start (the handler's
      // first steps, the first store request) would otherwise delay the ack
      await nextTurn();
      // work accepted here is ours while it waits for a slot: its lease is renewed
      if (typeof start !== 'function') this.leases.set(key, (lease = start.lease));
      await this.slots.take();
      slot = true;
      // work still waiting when the host stops stays pending in the store for the next run
      if (this.stopped) return;
      const job = typeof start === 'function' ? await start() : start;
      if (!job) return;
      lease = job.lease;
      this.leases.set(key, lease);
      await this.work(key, job);
    } catch (err) {
      this.report(err, `agent ${key}`);
    } finally {
      if (slot) this.slots.give();
      this.running.delete(key);
      if (lease && this.leases.get(key) === lease) this.leases.delete(key);
    }
  }

  private async work(key: string, job: Job): Promise<void> {
    const { lease, checked } = job;
    let state = job.state;
    if (state.phase === 'done') return;
    if (state.phase === 'accepted') {
      const agent = checked ?? (await this.recheck(key, lease));
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
      await lease.write(state);
    }
    if (state.phase === 'handled' && state.outgoing) {
      try {
        await this.forward(state.outgoing, state.outgoing.hop);
      } catch (err) {
        // retried later (by whichever instance) while the agent lives; once it has expired
        // nobody will take it any more, and its issuer counts it lost
        if (Date.parse(state.outgoing.header.body.expires) <= Date.now()) await lease.write({ phase: 'done', note: 'expired before it could be sent on' });
        throw err;
      }
      await lease.write({ ...state, phase: 'done', outgoing: null });
    }
  }

  /**
   * Work resumed after a restart or taken over is checked again from the stored arrival
   * (certificates may have expired since).
   */
  private async recheck(key: string, lease: WorkLease): Promise<ArrivedAgent | undefined> {
    const env = await this.opts.store.envelope(key);
    if (!env) return undefined;
    try {
      return await this.check(env);
    } catch (err) {
      this.report(err, `stored agent ${key} no longer valid`);
      await lease.write({ phase: 'done', note: `dropped: ${(err as ParleyError).code ?? 'error'}` });
      return undefined;
    }
  }

  /**
   * Hands `env` to the next host after itinerary index `fromHop` that acknowledges within its
   * hop's timeout; each one that does not is recorded as skipped (signed by this host). The
   * trip home is retried with backoff until the agent expires.
   */
  private async forward(env: Envelope, fromHop: number): Promise<void> {
    const header = env.header.body;
    let out = env;
    const before = env.visits.length - (fromHop >= 0 ? 1 : 0);
    for (let j = fromHop + 1; j < header.itinerary.length; j++) {
      const hop = header.itinerary[j]!;
      try {
        await this.sendWithin({ ...out, hop: j }, hop.host, hop.timeoutMs);
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
    const acceptedAt = Date.now();
    if ((await this.opts.store.accept(key, env)) === 'new') this.process(key, this.fresh(key, agent, acceptedAt));
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
    await migrate(this.opts.nc, host, encodeJson(env), timeoutMs);
  }

  /**
   * `send` within `timeoutMs`, the time a host has to take the agent, in more than one try:
   * - while nobody serves `host` (ERR_UNAVAILABLE: a host restarting, or its connection
   *   moving to another node of a cluster), again after a short wait;
   * - a try waits for its acknowledgement at most half the timeout, so an agent sent the
   *   moment a cluster node died (the request lost with the node, while the host is back on
   *   another node within a few hundred ms) is sent once more (ERR_TIMEOUT).
   * Sending again is safe: an arrival is acknowledged once per (agent, hop) however often it
   * comes, and a host that was only slow answers the second try as a duplicate.
   */
  private async sendWithin(env: Envelope, host: string, timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    const data = encodeJson(env);
    for (let wait = RESEND_FIRST_MS; ; wait = Math.min(2 * wait, RESEND_MAX_MS)) {
      try {
        await migrate(this.opts.nc, host, data, Math.max(1, Math.min(until - Date.now(), timeoutMs / 2)));
        return;
      } catch (err) {
        const code = (err as ParleyError).code;
        if (this.stopped || (code !== 'ERR_UNAVAILABLE' && code !== 'ERR_TIMEOUT') || Date.now() + wait >= until) throw err;
        if (code === 'ERR_UNAVAILABLE') await new Promise((r) => setTimeout(r, wait));
      }
    }
  }
}

/** The host that handed this agent on: the signer of its last visit record, else its issuer. */
function senderOf(env: Envelope): string {
  const last = env.visits[env.visits.length - 1];
  return last ? last.record.body.host : env.header.body.issuer;
}

/**
 * One migration as a sending host makes it: the agent's bytes to `host`'s arrival subject,
 * and its acknowledgement read. ERR_UNAVAILABLE when no instance of `host` listens,
 * ERR_TIMEOUT when none acknowledged in time, the host's own error when it refused.
 */
export async function migrate(nc: NatsConnection, host: string, agent: Uint8Array, timeoutMs: number): Promise<z.infer<typeof AckSchema>> {
  return decodeAck(await exchange(nc, subjects.hostArrive(host), agent, timeoutMs));
}
