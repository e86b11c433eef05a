/**
 * Session benchmark: end-to-end latency of complete sessions with 10 merchants × 20 bids on
 * a deployment of real processes (bench/deploy.ts), one session at a time.
 *   negotiation: from the buyer's request to its results (every invited host has answered;
 *                the deadline does not gate the result)
 *   signing:     the buyer's partial signature, the merchant's countersignature and the
 *                buyer's completion for the best agreement (the Agent Home takes no part)
 * Session keys are generated before the clock starts; merchants answer at once.
 */
import { newSessionKey, type BuyerClient } from '../buyer-cli/client.js';
import type { SessionKey } from '../buyer-cli/session-key.js';
import { deploy, BENCH_RULES, WIDGETS } from './deploy.js';
import { summary, printTargets, table, writeResults, type Summary } from './lib.js';

export const MERCHANTS = 10;
export const BIDS = 20;

export interface SessionTimes {
  negotiationMs: number;
  signingMs: number;
  agreements: number;
  offersEvaluated: number;
}

/** One complete session: request → results → the best agreement signed. */
export async function oneSession(buyer: BuyerClient, sessionKey: SessionKey, merchants = MERCHANTS): Promise<SessionTimes> {
  const t0 = performance.now();
  const session = await buyer.request({ request: WIDGETS, rules: BENCH_RULES, deadline: new Date(Date.now() + 120_000), sessionKey });
  const results = await buyer.waitForResults(session.sn);
  const t1 = performance.now();
  if (results.status !== 'complete' || results.progress.salesAgents !== merchants) {
    throw new Error(`session ${session.sn} ended ${results.status} with ${results.progress.salesAgents} of ${merchants} sales agents`);
  }
  const best = results.agreements[0];
  if (!best) throw new Error(`session ${session.sn}: no agreement`);
  const signed = await buyer.sign(session.sn, best.merchant);
  if (signed.state !== 'complete') throw new Error(`session ${session.sn}: contract ${signed.state}`);
  return { negotiationMs: t1 - t0, signingMs: performance.now() - t1, agreements: results.agreements.length, offersEvaluated: results.progress.offersEvaluated };
}

export async function run(args: string[] = []): Promise<void> {
  const runs = Number(args.find((a) => a.startsWith('--runs='))?.slice(7) ?? 40);
  const warmup = 3;
  const d = await deploy({ merchants: MERCHANTS, bids: BIDS, homes: 1 });
  try {
    const keys = await Promise.all(Array.from({ length: runs + warmup }, () => newSessionKey()));
    const buyer = await d.buyer('alice', await d.connect('buyer-alice'));
    const times: SessionTimes[] = [];
    for (let i = 0; i < runs + warmup; i++) {
      const t = await oneSession(buyer, keys[i]!);
      if (i >= warmup) times.push(t);
    }
    const negotiation = summary(times.map((t) => t.negotiationMs));
    const signing = summary(times.map((t) => t.signingMs));
    const total = summary(times.map((t) => t.negotiationMs + t.signingMs));
    const fmt = (s: Summary) => [s.p50Ms.toFixed(1), s.p95Ms.toFixed(1), s.p99Ms.toFixed(1)];
    console.log(`session: ${MERCHANTS} merchants × ${BIDS} bids, ${runs} sessions one after another (${times[0]!.agreements} agreements, ${times[0]!.offersEvaluated} bids revealed per session)`);
    console.log(
      table([
        ['phase', 'p50 ms', 'p95 ms', 'p99 ms'],
        ['request → results', ...fmt(negotiation)],
        ['signing (partial, countersign, complete)', ...fmt(signing)],
        ['whole session', ...fmt(total)],
      ]),
    );
    const file = writeResults('session', { merchants: MERCHANTS, bids: BIDS, runs, agreements: times[0]!.agreements, offersEvaluated: times[0]!.offersEvaluated, negotiation, signing, total }, []);
    console.log(`results: ${file}`);
    printTargets([]);
  } finally {
    await d.stop();
  }
}
