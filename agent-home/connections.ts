/**
 * The Agent Home's two broker connections. The *service* connection serves its subjects,
 * answers requests and sends agents to hosts, with the inbox `_INBOX_<id>` the hosts answer
 * to; the *JetStream* connection holds its state. On a broker from `parley home init` they
 * are two users, and the one that answers requests cannot publish to JetStream at all
 * (broker-config.ts); on an open server one connection does both.
 */
import { existsSync } from 'node:fs';
import type { NatsConnection } from 'nats';
import { connectNats, type NatsOptions } from '../agents/transport/connect.js';
import { reloadEmbeddedServer } from '../agents/transport/embedded.js';
import { isParleyError, parleyError } from '../protocol/errors.js';
import { subjectPatterns } from '../protocol/subjects.js';
import { brokerConnection, brokerPaths, upgradeBroker } from './init.js';
import { localBroker } from './init-command.js';

export interface HomeConnections {
  service: NatsConnection;
  jetstream: NatsConnection;
  /** drains the JetStream connection when it is a separate one (the service one is the caller's) */
  closeJetStream(): Promise<void>;
}

/** `<dir>/<id>.nk` → `<dir>/<id>.service.nk`, the file `parley home init` writes next to it. */
export function serviceSeedBeside(seedFile: string): string {
  return seedFile.replace(/(\.nk)?$/, '.service.nk');
}

async function connectRetrying(opts: NatsOptions, tries: number): Promise<NatsConnection> {
  for (let i = 1; ; i++) {
    try {
      return await connectNats(opts);
    } catch (e) {
      // a server that is re-reading its users after an upgrade refuses for a moment
      if (i >= tries || !isParleyError(e) || e.code !== 'ERR_NATS_CONNECT') throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/**
 * Connects the Agent Home `id`. With `embedded`, the local broker's credentials are used
 * (a broker made before the service user existed gets one, and the running server reloads);
 * otherwise an nkey seed given by flag or environment needs its service seed beside it (or in
 * PARLEY_NATS_SERVICE_NKEY_SEED_FILE).
 */
export async function connectHome(given: NatsOptions, dataDir: string, id: string, embedded: boolean): Promise<HomeConnections> {
  const inboxPrefix = subjectPatterns.inboxPrefix(id);
  let service: NatsOptions;
  let jetstream: NatsOptions | undefined;
  let tries = 1;
  const broker = embedded ? localBroker(dataDir) : undefined;
  if (broker) {
    if (upgradeBroker(broker.dir) && (await reloadEmbeddedServer(dataDir, brokerPaths(broker.dir).config))) tries = 15;
    const own = brokerConnection(broker.dir, id);
    const svc = brokerConnection(broker.dir, id, true);
    // an empty variable (PARLEY_NATS_TLS_CA=) counts as unset
    const tlsCaFile = given.tlsCaFile || own.tlsCaFile;
    service = { ...given, nkeySeedFile: svc.nkeySeedFile, tlsCaFile, inboxPrefix, name: `${given.name ?? 'parley-home'}-service` };
    jetstream = { ...given, nkeySeedFile: given.nkeySeedFile || own.nkeySeedFile, tlsCaFile, inboxPrefix: undefined };
  } else if (given.nkeySeedFile) {
    const seed = process.env.PARLEY_NATS_SERVICE_NKEY_SEED_FILE || serviceSeedBeside(given.nkeySeedFile);
    if (!existsSync(seed)) {
      throw parleyError('ERR_CONFIG', `the Agent Home answers requests as its service user: no seed ${seed} (\`parley home init\` writes it next to ${given.nkeySeedFile}; or set PARLEY_NATS_SERVICE_NKEY_SEED_FILE)`);
    }
    service = { ...given, nkeySeedFile: seed, inboxPrefix, name: `${given.name ?? 'parley-home'}-service` };
    jetstream = { ...given, inboxPrefix: undefined };
  } else {
    service = { ...given, inboxPrefix };
  }
  const nc = await connectRetrying(service, tries);
  if (!jetstream) return { service: nc, jetstream: nc, closeJetStream: async () => undefined };
  let js: NatsConnection;
  try {
    js = await connectRetrying(jetstream, tries);
  } catch (e) {
    await nc.close().catch(() => undefined);
    throw e;
  }
  return { service: nc, jetstream: js, closeJetStream: () => js.drain().catch(() => undefined) };
}
