/**
 * One real nats-server (JetStream on, temp store, free ports) per suite:
 *   const srv = natsSuite(suite);   // starts in suite.before, stops in suite.after
 *   const nc = await srv.connect();
 * No mock of NATS anywhere: if nats-server is missing the suite fails with the install hint.
 */
import type { NatsConnection } from 'nats';
import { startNatsServer, type NatsServer, type NatsServerOptions } from '../../agents/transport/nats-server.js';
import { connectNats, type NatsOptions } from '../../agents/transport/connect.js';
import { subjectPatterns } from '../../protocol/subjects.js';

export interface NatsSuite {
  readonly server: NatsServer;
  readonly url: string;
  /** `auth`: credentials for a secured server (nkey seed, TLS CA, inbox prefix) */
  connect(name?: string, auth?: Pick<NatsOptions, 'nkeySeedFile' | 'tlsCaFile' | 'inboxPrefix'>): Promise<NatsConnection>;
  /** a connection that replies on party `id`'s inbox, the only one responders answer on */
  connectAs(id: string, name?: string): Promise<NatsConnection>;
  /** one shared `connectAs(id)` connection per party id (tests that act as several parties) */
  party(id: string): Promise<NatsConnection>;
}

/**
 * The two hooks of a uvu suite that these helpers use; a uvu `Test` is one, and a benchmark
 * that runs a world outside uvu passes its own (bench/world.ts).
 */
export interface SuiteHooks {
  before(fn: () => Promise<void> | void): void;
  after(fn: () => Promise<void> | void): void;
}

export function natsSuite(suite: SuiteHooks, opts: NatsServerOptions = {}): NatsSuite {
  let server: NatsServer | undefined;
  const conns: NatsConnection[] = [];
  const parties = new Map<string, Promise<NatsConnection>>();
  suite.before(async () => {
    server = await startNatsServer(opts);
  });
  suite.after(async () => {
    await Promise.allSettled(conns.map((c) => c.close()));
    await server?.stop();
  });
  return {
    get server() {
      if (!server) throw new Error('nats-server not started yet');
      return server;
    },
    get url() {
      return this.server.url;
    },
    async connect(name = 'test', auth = {}) {
      const nc = await connectNats({ ...auth, servers: this.url, name, failFast: true });
      conns.push(nc);
      return nc;
    },
    connectAs(id, name = id) {
      return this.connect(name, { inboxPrefix: subjectPatterns.inboxPrefix(id) });
    },
    party(id) {
      let nc = parties.get(id);
      if (!nc) parties.set(id, (nc = this.connectAs(id)));
      return nc;
    },
  };
}
