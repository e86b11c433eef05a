/**
 * A nats-server cluster on loopback (for tests and the scale script): n servers with
 * JetStream, each with its own store directory, joined by routes on free ports. JetStream
 * buckets created with `replicas: 3` survive the loss of one node.
 */
import { createServer } from 'node:net';
import { startNatsServer, type NatsServer } from './nats-server.js';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export interface NatsCluster {
  servers: NatsServer[];
  /** every client URL, for connections that must survive the loss of a node */
  urls: string[];
  stop(): Promise<void>;
}

export async function startNatsCluster(size = 3, name = 'parley'): Promise<NatsCluster> {
  const routePorts = await Promise.all(Array.from({ length: size }, freePort));
  const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(',');
  const servers = await Promise.all(
    routePorts.map((port, i) =>
      startNatsServer({
        args: ['--server_name', `${name}-${i + 1}`, '--cluster_name', name, '--cluster', `nats://127.0.0.1:${port}`, '--routes', routes],
        readyTimeoutMs: 20_000,
      }),
    ),
  );
  return {
    servers,
    urls: servers.map((s) => s.url),
    stop: async () => {
      await Promise.allSettled(servers.map((s) => s.stop()));
    },
  };
}
