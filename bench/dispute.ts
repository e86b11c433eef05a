/**
 * Dispute benchmark: how long a merchant that countersigned waits for the Agent Home to
 * resolve (PROTOCOL.md phase 4; agent-home/disputes.ts): the signed `resolve` request over
 * NATS, the Agent Home's checks of the whole contract, SG1^e1 ≡ m, the completion
 * SG = SG1 · m^d2 with SG^e ≡ m, its durable records (exchange, session, audit, the buyer's
 * mailbox), and the reply, timed end to end at the merchant.
 *
 * Setup (untimed): one in-process world (real nats-server, Agent Home, the three example
 * stores), a few buyer sessions, and for every agreement many distinct contracts (the
 * same agreed terms, each issued at another instant, so each has its own contract id and
 * is a fresh exchange to resolve). Each resolve request is signed just before it is sent.
 * Also timed: a repeated resolve of a resolved contract (a new request: every check runs,
 * the answer comes from the stored exchange), the exact replay of an answered request
 * (the stored reply), and a plain NATS request/reply on the same server for scale.
 */
import type { NatsConnection } from 'nats';
import type { Self } from '../agents/runtime/trust.js';
import { merchantProtected, signMerchant, type JwsSignature } from '../crypto/jws.js';
import { parseCertificate } from '../crypto/x509/index.js';
import { RESOLVE_TYPE, ResolveReplySchema } from '../protocol/exchange.js';
import { signRequest } from '../protocol/signed-request.js';
import { subjects } from '../protocol/subjects.js';
import { decodeReply, encodeJson } from '../protocol/wire.js';
import { buildContract, buyerNotify, buyerResults, type BuiltContract } from '../test/helpers/buyer-notify.js';
import type { ResultsReply } from '../protocol/directory.js';
import { exampleRules, LAPTOPS } from '../test/helpers/world.js';
import type { JsonValue } from '../crypto/canonical.js';
import { measureInterleaved, table, writeResults, type Sample } from './lib.js';
import { openWorld } from './world.js';

const SESSIONS = 6;
/** distinct contracts per agreement; a session's record lists each resolved one */
const CONTRACTS_PER_AGREEMENT = 30;
const ROUNDS = 10;
const WARMUP = 10;

interface Exchange {
  merchant: Self;
  contract: BuiltContract;
  merchantSignature: JwsSignature;
}

function resolveRequest(x: Exchange): Uint8Array {
  const body = { payload: x.contract.payloadB64, protected: x.contract.protected, sg1: x.contract.sg1, merchantSignature: x.merchantSignature };
  return encodeJson(signRequest(RESOLVE_TYPE, body, 'home', x.merchant));
}

async function resolve(nc: NatsConnection, data: Uint8Array): Promise<void> {
  const msg = await nc.request(subjects.home('home', 'resolve'), data, { timeout: 10_000 });
  const reply = decodeReply(ResolveReplySchema, msg.data, RESOLVE_TYPE);
  if (reply.outcome !== 'resolved') throw new Error(`resolve answered ${reply.outcome}`);
}

export async function run(): Promise<void> {
  const { world, close } = await openWorld();
  try {
    const buyer = await world.pki.party('bench-buyer', 'buyer');
    const buyerNc = await world.nats.connectAs('bench-buyer');
    const merchantNc = await world.nats.connect('bench-merchant');
    // each merchant's requests from its own inbox (the Agent Home answers nowhere else)
    const asMerchant = new Map<string, NatsConnection>();
    for (const id of world.stores.keys()) asMerchant.set(id, await world.nats.connectAs(id, `bench-${id}`));
    const rules = exampleRules() as JsonValue;

    // sessions, their agreements, and distinct contracts for each agreement (all untimed)
    const exchanges: Exchange[] = [];
    const issuedBase = Date.now();
    for (let s = 0; s < SESSIONS; s++) {
      const session = await buyerNotify(buyerNc, buyer, world.pki.trust, 'home', { request: LAPTOPS, rules, deadlineMs: 5 * 60_000 });
      let results: ResultsReply;
      while ((results = await buyerResults(buyerNc, session)).status === 'open') await new Promise((r) => setTimeout(r, 50));
      for (const agreement of results.agreements) {
        const store = world.stores.get(agreement.merchant)!;
        const prot = merchantProtected([parseCertificate(store.self.certPem).der]);
        for (let c = 0; c < CONTRACTS_PER_AGREEMENT; c++) {
          const contract = buildContract(session, agreement, {
            issuedAt: new Date(issuedBase + exchanges.length), // one ms apart: a distinct payload each
            completeBy: new Date(issuedBase + 10 * 60_000),
            exchangeDeadline: new Date(issuedBase + 60 * 60_000),
          });
          exchanges.push({ merchant: store.self, contract, merchantSignature: signMerchant(prot, contract.payloadB64, store.self.secretKey) });
        }
      }
    }
    const perRound = Math.floor((exchanges.length - WARMUP) / ROUNDS);
    if (perRound < 1) throw new Error(`only ${exchanges.length} exchanges prepared`);
    console.log(`dispute benchmark: ${SESSIONS} sessions, ${exchanges.length} distinct resolvable contracts`);

    merchantNc.subscribe('bench.echo', { callback: (_e, m) => m.respond(m.data) });
    await merchantNc.flush();
    const echo = new Uint8Array(resolveRequest(exchanges[0]!).length);

    let next = 0;
    let pending: Uint8Array = new Uint8Array(0);
    let pendingNc = merchantNc;
    const resolved: Exchange[] = [];
    let again = 0;
    let replay: Uint8Array | undefined;
    let replayNc = merchantNc;
    const samples = await measureInterleaved(
      {
        resolve: {
          between: () => {
            const x = exchanges[next++]!;
            pending = resolveRequest(x);
            pendingNc = asMerchant.get(x.merchant.id)!;
            resolved.push(x);
          },
          fn: () => resolve(pendingNc, pending),
          warmup: WARMUP,
        },
        // a new request for an exchange already resolved: answered from the stored exchange
        repeat: {
          between: () => {
            const x = resolved[again++ % resolved.length]!;
            pending = resolveRequest(x);
            pendingNc = asMerchant.get(x.merchant.id)!;
          },
          fn: () => resolve(pendingNc, pending),
          warmup: WARMUP,
        },
        // the very same request again: answered from the stored reply
        replay: {
          between: async () => {
            if (replay) return;
            replay = resolveRequest(resolved[0]!);
            replayNc = asMerchant.get(resolved[0]!.merchant.id)!;
            await resolve(replayNc, replay); // answered once, so every timed run is a replay
          },
          fn: () => resolve(replayNc, replay!),
          warmup: WARMUP,
        },
        rtt: { fn: () => merchantNc.request('bench.echo', echo, { timeout: 5000 }), warmup: WARMUP },
      },
      { rounds: ROUNDS, perRound },
    );
    await buyerNc.close();
    await merchantNc.close();

    const label: Record<keyof typeof samples, string> = {
      resolve: 'resolve (fresh exchange)',
      repeat: 'resolve again (stored exchange)',
      replay: 'same request replayed (stored reply)',
      rtt: `NATS request/reply (${echo.length} B)`,
    };
    const row = (k: keyof typeof samples, s: Sample) => [label[k], s.medianMs.toFixed(2), s.p95Ms.toFixed(2), s.p99Ms.toFixed(2), s.cpuMedianMs!.toFixed(2), String(s.runs)];
    console.log(table([['measure', 'p50 ms', 'p95 ms', 'p99 ms', 'cpu ms', 'runs'], ...(Object.keys(samples) as Array<keyof typeof samples>).map((k) => row(k, samples[k]))]));
    console.log('(cpu ms: this process — Agent Home, stores and the merchant client — per request; nats-server not counted)');
    // no goal is set for resolve latency yet, so no target line
    const file = writeResults('dispute', { sessions: SESSIONS, exchanges: exchanges.length, requestBytes: echo.length, ...samples }, []);
    console.log(`results: ${file}`);
  } finally {
    await close();
  }
}
