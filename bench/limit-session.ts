/**
 * One complete session, counted (bench/limit.ts): an in-process world with `merchants`
 * stores whose concession lists hold `bids` bids each, and a buyer that does what the
 * `load` benchmark does — request (with a session key generated beforehand), results, then
 * signs one contract with the best merchant. A first session runs uncounted, so that
 * streams, consumers and certificate caches are as in steady state; a second gives the CPU
 * time the implementation really spends on a session; the third is counted
 * from the buyer's first message until the server has been quiet for a while after the
 * contract is complete (the stores' and the Agent Home's work after their replies included).
 *
 * The buyer waits for the session by watching the wire go quiet rather than by polling
 * `results`, so exactly one results request is counted, as a buyer told of completion
 * would send.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { World } from '../test/helpers/world.js';
import { scopeVerifiedSignatures } from '../crypto/ed25519.js';
import { BENCH_RULES, WIDGETS, storeConfig } from './deploy.js';
import { newSessionKey } from '../buyer-cli/client.js';
import type { ResultsReply } from '../protocol/directory.js';
import { countCrypto, Wiretap, type CryptoOp, type OpCount, type WireCounts } from './limit-count.js';
import { openWorld } from './world.js';
import { cpuMs } from './cpu.js';

export interface SessionShape {
  merchants: number;
  bids: number;
}

export interface SessionCounts {
  shape: SessionShape;
  crypto: Map<CryptoOp, OpCount>;
  wire: WireCounts;
  /** crypto calls (hashes apart) of the counted session, by the party that made them */
  cryptoByParty: Map<string, number>;
  /** the crypto counts of each party apart ('agent-home', 'buyer', 'm01', …) */
  cryptoPerParty: Map<string, Map<CryptoOp, OpCount>>;
  /** bids revealed and judged by the Negotiation Agents */
  reveals: number;
  agreements: number;
  /** wall-clock ms of the counted session (in-process, everything on this machine), quiet waits left out */
  wallMs: number;
  /**
   * CPU ms the implementation actually spent on a session like it (one run just before the
   * counted one, without counters): this process (buyer, Agent Home, stores) + nats-server
   */
  actualCpuMs: number;
}

/** how long the wire must be silent before the session's work counts as done */
const QUIET_MS = 400;

/**
 * Which party the current work belongs to. The world runs every party in this process;
 * each one's connection is opened, and the buyer's calls made, inside `party.run(name)`, so
 * everything that follows from them (the messages its connection receives, its timers, its
 * promise chains) carries its name: the crypto count takes an operation as distinct per
 * party, and the verified-signature cache does not answer one party for another.
 */
const party = new AsyncLocalStorage<string>();
const partyName = () => party.getStore() ?? '(none)';

async function startStores(world: World, shape: SessionShape): Promise<void> {
  for (let i = 1; i <= shape.merchants; i++) {
    const id = `m${String(i).padStart(2, '0')}`;
    // the stores `load` runs (bench/deploy.ts), so that the limit is for the same session
    await party.run(id, () => world.startStore('store-a.json', storeConfig(id, shape.bids, { ca: 'ca.pem', cert: `${id}.pem`, key: `${id}.key` })));
  }
  for (let t = 0; t < 200 && (await world.home.state.merchants()).length < shape.merchants; t++) await new Promise((r) => setTimeout(r, 50));
}

/** Runs sessions in a fresh world and returns the counts of the last one. */
export async function countSession(shape: SessionShape): Promise<SessionCounts> {
  scopeVerifiedSignatures(partyName);
  const { world, close } = await party.run('agent-home', () => openWorld({ stores: [] }));
  try {
    await startStores(world, shape);
    const tap = new Wiretap(await world.nats.connect('wiretap'), new Set([...world.stores.keys(), 'limit-buyer']));
    const unattribute = tap.attribute(partyName);
    await tap.start();
    const { client } = await party.run('buyer', () => world.buyer('limit-buyer'));
    const keys = [await newSessionKey(2048), await newSessionKey(2048), await newSessionKey(2048)];

    const pid = world.nats.server.pid;
    const session = (): Promise<{ results: ResultsReply; ms: number; cpu: number }> => party.run('buyer', buyerSession);
    const buyerSession = async (): Promise<{ results: ResultsReply; ms: number; cpu: number }> => {
      const c0 = cpuMs(pid);
      const t0 = performance.now();
      const s = await client.request({ request: WIDGETS, rules: BENCH_RULES, deadline: new Date(Date.now() + 60_000), sessionKey: keys.shift()! });
      // a machine loaded enough to hold every party still for QUIET_MS costs another results call
      let results: ResultsReply;
      let calls = 0;
      do {
        await tap.quiet(QUIET_MS);
        results = await client.results(s.sn);
        calls++;
      } while (results.status === 'open' && calls < 20);
      if (results.status !== 'complete') throw new Error(`session ${s.sn} is ${results.status}`);
      if (!results.agreements.length) throw new Error(`session ${s.sn}: no agreement`);
      await client.sign(s.sn, results.agreements[0]!.merchant);
      await tap.quiet(QUIET_MS);
      return { results, ms: performance.now() - t0 - (calls + 1) * QUIET_MS, cpu: cpuMs(pid) - c0 };
    };

    await session(); // warm-up
    const plain = await session();
    await tap.quiet(QUIET_MS);
    tap.reset();
    const counter = countCrypto(partyName);
    let counted: { results: ResultsReply; ms: number; cpu: number };
    try {
      counted = await session();
    } catch (e) {
      counter.stop();
      throw e;
    }
    const crypto = counter.stop();
    tap.stop();
    unattribute();
    // every call must have been told whose it is, or the per-party count means nothing
    const unknown = counter.byParty.get('(none)') ?? 0;
    if (unknown) throw new Error(`${unknown} crypto calls of the counted session belong to no party: ${JSON.stringify([...counter.byParty])}`);
    return {
      shape,
      crypto,
      cryptoByParty: counter.byParty,
      cryptoPerParty: counter.perParty,
      wire: tap.counts(),
      reveals: counted.results.progress.offersEvaluated,
      agreements: counted.results.agreements.length,
      wallMs: counted.ms,
      actualCpuMs: plain.cpu,
    };
  } finally {
    scopeVerifiedSignatures(() => '');
    await close();
  }
}
