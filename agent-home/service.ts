/**
 * The Agent Home daemon: one process that hosts agents (JetStream-backed durable accept),
 * tracks the agents it sends out, and serves buyers, merchants and the arbiter.
 * Everything it must not lose lives in JetStream.
 */
import type { NatsConnection } from 'nats';
import { AgentHost } from '../agents/runtime/host.js';
import { JetStreamHostStore } from '../agents/runtime/host-store.js';
import { AgentTracker, type LostAgent } from '../agents/runtime/tracker.js';
import type { Self, Trust } from '../agents/runtime/trust.js';

export interface AgentHomeOptions {
  nc: NatsConnection;
  self: Self;
  trust: Trust;
  /** JetStream replicas for its buckets (3 on a cluster) */
  replicas?: number;
  log?: (line: string) => void;
}

export class AgentHome {
  readonly host: AgentHost;
  private constructor(
    private readonly opts: AgentHomeOptions,
    host: AgentHost,
    readonly tracker: AgentTracker,
  ) {
    this.host = host;
  }

  static async open(opts: AgentHomeOptions): Promise<AgentHome> {
    if (opts.self.role !== 'agent-home') throw new TypeError(`an Agent Home needs an agent-home certificate, not ${opts.self.role}`);
    const store = await JetStreamHostStore.open(opts.nc, opts.self.id, { replicas: opts.replicas });
    const log = opts.log ?? (() => undefined);
    const host = new AgentHost({ nc: opts.nc, self: opts.self, trust: opts.trust, store, onError: (e, ctx) => log(`${ctx}: ${(e as Error).message}`) });
    const tracker = await AgentTracker.open(opts.nc, opts.self.id, opts.trust, { replicas: opts.replicas });
    return new AgentHome(opts, host, tracker);
  }

  async start(onLost?: (lost: LostAgent) => void | Promise<void>): Promise<void> {
    await this.host.start();
    await this.tracker.start(onLost ?? ((l) => this.opts.log?.(`agent ${l.agent.id} lost; unreached: ${l.unreached.join(', ') || 'none'}`)));
  }

  async stop(): Promise<void> {
    await this.tracker.stop();
    await this.host.stop();
  }
}
