/**
 * The Sales Agent (SA), issued by a merchant: carries the merchant's ordered, committed bid
 * list and contract template to the Agent Home and reveals bids one at a time there.
 * Payload: the signed offer (MSG, SG_MSG, K[1]), the bids B[1..k] and K[k+1]. On the Agent
 * Home the SA reveals (B[i], K[i+1]) in order; the keys are recomputed from K[k+1], so the
 * agent carries no more than the commitment requires.
 */
import { z } from 'zod';
import { BidSchema, type Bid, type ContractTemplate } from '../protocol/commerce.js';
import { parleyError } from '../protocol/errors.js';
import { checkSchema } from '../protocol/wire.js';
import { hash32 } from '../protocol/session.js';
import { MAX_BIDS_PER_OFFER, SignedSalesOfferSchema, openSalesOffer, signSalesOffer, type SalesOfferBody } from '../protocol/sales.js';
import { bidLink, commitBids, keyFromB64u, keyToB64u, type BidCommitment } from '../crypto/hashchain.js';
import { createAgent, type Envelope } from './runtime/envelope.js';
import type { ArrivedAgent } from './runtime/host.js';
import type { Self } from './runtime/trust.js';

export const SALES_KIND = 'sales';

export const SalesPayloadSchema = z.strictObject({
  offer: SignedSalesOfferSchema,
  bids: z.array(BidSchema).min(1).max(MAX_BIDS_PER_OFFER),
  /** K[k+1] */
  tail: hash32,
});
export type SalesPayload = z.infer<typeof SalesPayloadSchema>;

export interface NewSalesAgent {
  sn: string;
  /** the Agent Home the agent goes to */
  home: string;
  template: ContractTemplate;
  /** best for the merchant first */
  bids: Bid[];
  expiry: Date;
  hopTimeoutMs?: number;
}

export function createSalesAgent(merchant: Self, spec: NewSalesAgent): { envelope: Envelope; commitment: BidCommitment } {
  const commitment = commitBids(spec.bids);
  const offer = signSalesOffer(
    { sn: spec.sn, msg: { sn: spec.sn, merchant: merchant.id, template: spec.template, k: spec.bids.length, expiry: spec.expiry.toISOString() }, k1: keyToB64u(commitment.root) },
    merchant.secretKey,
  );
  const payload: SalesPayload = { offer, bids: spec.bids, tail: keyToB64u(commitment.keys[commitment.k]!) };
  const envelope = createAgent(merchant, {
    kind: SALES_KIND,
    sn: spec.sn,
    itinerary: [{ host: spec.home, timeoutMs: spec.hopTimeoutMs ?? 5000 }],
    payload,
    ttlMs: Math.max(1000, spec.expiry.getTime() - Date.now()),
  });
  return { envelope, commitment };
}

/** A Sales Agent's offer as checked on arrival: signed by its issuer (the merchant), for k bids. */
export interface CheckedSalesOffer {
  merchant: string;
  merchantCert: string;
  offer: SalesOfferBody;
  signedOffer: SalesPayload['offer'];
  bids: Bid[];
  /** K[k+1] */
  tail: Uint8Array;
}

/** A Sales Agent as the Agent Home sees it on arrival: its verified offer and its reveals. */
export interface ArrivedSalesAgent extends Omit<CheckedSalesOffer, 'bids' | 'tail'> {
  reveals: SalesReveals;
}

/**
 * Offers already checked, by the arrival they came with: the host hands the same
 * ArrivedAgent (whose envelope it has verified and never changes) to the kind's `check` and
 * then to its `visit`, so the schema and the offer signature are checked once per arrival.
 */
const checked = new WeakMap<ArrivedAgent, CheckedSalesOffer>();

/**
 * Checks the SA's payload schema and its offer against its issuer (the merchant), and that
 * it carries k bids; remembered for this arrival. The expiry is checked on every call.
 */
export function checkSalesAgent(agent: ArrivedAgent, now = Date.now()): CheckedSalesOffer {
  let c = checked.get(agent);
  if (!c) {
    const p = checkSchema(SalesPayloadSchema, agent.envelope.payload, 'sales payload');
    const offer = openSalesOffer(p.offer, agent.issuer.id, agent.issuer.publicKey);
    if (agent.header.sn !== offer.sn) throw parleyError('ERR_SALES_OFFER_INVALID', 'agent and offer name different sessions');
    if (p.bids.length !== offer.msg.k) throw parleyError('ERR_SALES_OFFER_INVALID', `offer commits to ${offer.msg.k} bids, agent carries ${p.bids.length}`);
    c = { merchant: agent.issuer.id, merchantCert: agent.envelope.issuerCert, offer, signedOffer: p.offer, bids: p.bids, tail: keyFromB64u(p.tail, 'K[k+1]') };
    checked.set(agent, c);
  }
  if (Date.parse(c.offer.msg.expiry) <= now) throw parleyError('ERR_DEADLINE_PASSED', 'the sales offer has expired');
  return c;
}

/** Checks the SA (see `checkSalesAgent`) and readies its reveals. */
export function openSalesAgent(agent: ArrivedAgent, now = Date.now()): ArrivedSalesAgent {
  const { bids, tail, ...c } = checkSalesAgent(agent, now);
  return { ...c, reveals: new SalesReveals(bids, tail) };
}

/** The SA's side of the offer/counter-offer rounds: reveals (B[i], K[i+1]) in order. */
export class SalesReveals {
  private readonly keys: Uint8Array[];
  private i = 0;

  constructor(
    private readonly bids: Bid[],
    tail: Uint8Array,
  ) {
    // K[k+1] = tail; K[i] = link(B[i], K[i+1])  — keys[j] holds K[j+1]
    this.keys = new Array<Uint8Array>(bids.length + 1);
    this.keys[bids.length] = tail;
    for (let j = bids.length - 1; j >= 0; j--) this.keys[j] = bidLink(bids[j]!, this.keys[j + 1]!);
  }

  get k(): number {
    return this.bids.length;
  }

  /** The next (B[i], K[i+1]), or undefined when the list is exhausted. */
  next(): { index: number; bid: Bid; next: Uint8Array } | undefined {
    if (this.i >= this.bids.length) return undefined;
    const index = this.i + 1;
    const r = { index, bid: this.bids[this.i]!, next: this.keys[index]! };
    this.i++;
    return r;
  }
}
