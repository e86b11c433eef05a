/**
 * The issuer's record of every agent it sent out (JetStream KV, so a restarted issuer
 * still knows): which hosts reported a visit or a skip, and the time by which the agent
 * must be home. An agent still out after that is marked lost, and the hosts it never
 * reached are reported so they can be visited again by a new agent.
 *
 * Several processes of one issuer may track together: progress reports go to one of them
 * (a queue group), every update is compare-and-set, and each process sweeps, but marking
 * an agent lost is compare-and-set too, so each lost agent is reported by one process.
 */
import type { KV, NatsConnection, Subscription } from 'nats';
import { z } from 'zod';
import { openSignedObject } from '../../crypto/signed.js';
import { queueGroup, subjects } from '../../protocol/subjects.js';
import { decodeMessage } from '../../protocol/wire.js';
import { agentId, VisitEntrySchema, VISIT_TYPE, type Envelope, type Visit } from './envelope.js';
import type { Trust } from './trust.js';
import { KvUpdater, watchEntries } from '../storage/kv.js';
import { KvClient } from '../storage/kv-client.js';
import { parseStrictJson } from '../../crypto/strict-json.js';

export interface TrackedAgent {
  id: string;
  kind: string;
  sn: string | null;
  itinerary: string[];
  returnBy: string;
  status: 'out' | 'home' | 'lost';
  /** hosts that signed a visit */
  visited: string[];
  /** hosts reported skipped */
  skipped: string[];
}

export interface LostAgent {
  agent: TrackedAgent;
  /** itinerary hosts with neither a visit nor a skip on record */
  unreached: string[];
}

const ProgressSchema = z.strictObject({ agent: agentId, entries: z.array(VisitEntrySchema).max(64) });


const dec = new TextDecoder();

export class AgentTracker {
  private sub?: Subscription;
  private timer?: NodeJS.Timeout;
  private stopWatch?: () => void;
  /**
   * Live copy of the agents not home yet (out, or lost), kept by a watch, so a sweep never
   * lists the store; agents home are dropped from it, so it does not grow with every agent
   * ever sent.
   */
  private readonly view = new Map<string, TrackedAgent>();
  /** failures of background work (bad progress reports, store errors); never secrets */
  onError?: (err: unknown) => void;
  /** progress reports from several hosts update an agent's record together (see KvUpdater) */
  private readonly updater: KvUpdater;

  private constructor(
    private readonly nc: NatsConnection,
    /** watched */
    private readonly kv: KV,
    /** read and written */
    private readonly client: KvClient,
    private readonly issuerId: string,
    private readonly trust: Trust,
  ) {
    this.updater = new KvUpdater(client);
  }

  /**
   * `nc` holds the bucket; progress reports are listened for on `opts.listen` (default `nc`):
   * an Agent Home keeps JetStream and the subjects others send to on separate connections.
   */
  static async open(nc: NatsConnection, issuerId: string, trust: Trust, opts: { replicas?: number; listen?: NatsConnection } = {}): Promise<AgentTracker> {
    const bucket = `parley_agents_${issuerId.replace(/-/g, '_')}`;
    const kv = await nc.jetstream().views.kv(bucket, { history: 1, replicas: opts.replicas ?? 1 });
    return new AgentTracker(opts.listen ?? nc, kv, new KvClient(nc, bucket), issuerId, trust);
  }

  /** Listens for progress reports; `onLost` is called for each agent found overdue by the periodic sweep. */
  async start(onLost: (lost: LostAgent) => void | Promise<void>, sweepEveryMs = 500): Promise<void> {
    this.stopWatch = await watchEntries(this.kv, (e) => {
      let a: TrackedAgent | undefined;
      try {
        a = e.operation === 'PUT' ? (parseStrictJson(dec.decode(e.value)) as TrackedAgent) : undefined;
      } catch {
        // not a record of ours: nothing to track
      }
      if (a && a.status !== 'home') this.view.set(e.key, a);
      else this.view.delete(e.key);
    });
    this.sub = this.nc.subscribe(subjects.hostProgress(this.issuerId), {
      queue: queueGroup(`tracker-${this.issuerId}`),
      callback: (err, msg) => {
        if (!err) void this.onProgress(msg.data).catch((e) => this.onError?.(e));
      },
    });
    let sweeping = false; // one sweep at a time, however slow the store is
    this.timer = setInterval(() => {
      if (sweeping) return;
      sweeping = true;
      void this.sweep()
        .then(async (lost) => {
          for (const l of lost) await onLost(l);
        })
        .catch((e) => this.onError?.(e))
        .finally(() => {
          sweeping = false;
        });
    }, sweepEveryMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.stopWatch?.();
    await this.sub?.drain().catch(() => undefined);
  }

  /**
   * Records an agent before it is dispatched, unless it is recorded already (an agent sent
   * again after a crash keeps the progress reported so far). False when it was.
   */
  async track(env: Envelope, returnByMs: number): Promise<boolean> {
    const h = env.header.body;
    const rec: TrackedAgent = {
      id: env.id,
      kind: env.kind,
      sn: h.sn,
      itinerary: h.itinerary.map((x) => x.host),
      returnBy: new Date(Math.min(Date.now() + returnByMs, Date.parse(h.expires))).toISOString(),
      status: 'out',
      visited: [],
      skipped: [],
    };
    return this.client.createJson(env.id, rec);
  }

  /** The agent as this process last saw it, until it is home (no read: the watched copy). */
  known(id: string): TrackedAgent | undefined {
    return this.view.get(id);
  }

  async get(id: string): Promise<TrackedAgent | undefined> {
    return (await this.client.getJson<TrackedAgent>(id))?.value;
  }

  private update(id: string, fn: (a: TrackedAgent) => TrackedAgent | undefined): Promise<TrackedAgent | undefined> {
    return this.updater.update(id, fn);
  }

  /** Marks an agent home, with the hosts its verified visit log names. */
  async markHome(id: string, visits: Visit[]): Promise<void> {
    await this.update(id, (a) => ({ ...a, status: 'home', ...merge(a, visits) }));
  }

  private async onProgress(data: Uint8Array): Promise<void> {
    const p = decodeMessage(ProgressSchema, data, 'progress');
    const visits: Visit[] = [];
    for (const entry of p.entries) {
      const signer = this.trust.verify(entry.cert, ['merchant', 'agent-home']);
      const v = openSignedObject<Visit>(entry.record, VISIT_TYPE, signer.publicKey);
      if (v.host !== signer.id || v.agent !== p.agent) return;
      visits.push(v);
    }
    await this.update(p.agent, (a) => (a.status === 'out' ? { ...a, ...merge(a, visits) } : undefined));
  }

  /** Marks every overdue agent lost and returns them with the hosts they never reached. */
  async sweep(now = Date.now()): Promise<LostAgent[]> {
    const lost: LostAgent[] = [];
    for (const [id, a] of this.view) {
      if (a.status !== 'out' || Date.parse(a.returnBy) > now) continue;
      const marked = await this.update(id, (x) => (x.status === 'out' ? { ...x, status: 'lost' } : undefined));
      if (!marked) continue;
      const done = new Set([...marked.visited, ...marked.skipped]);
      lost.push({ agent: marked, unreached: marked.itinerary.filter((h) => !done.has(h)) });
    }
    return lost;
  }
}

function merge(a: TrackedAgent, visits: Visit[]): Pick<TrackedAgent, 'visited' | 'skipped'> {
  const visited = new Set(a.visited);
  const skipped = new Set(a.skipped);
  for (const v of visits) {
    if (v.event === 'visited') visited.add(v.host);
    else skipped.add(v.target);
  }
  return { visited: [...visited], skipped: [...skipped] };
}
