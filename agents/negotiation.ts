/**
 * The Negotiation Agent (NA), issued by the Agent Home and living there: holds the buyer's
 * private rules and, for each Sales Agent of its session, runs the offer/counter-offer
 * rounds (PROTOCOL.md phase 2): the SA reveals (B[i], K[i+1]); the NA checks the link to
 * K[i] (so every revealed bid is one the merchant committed to, in order) and evaluates
 * B[i] against the rules; it accepts, or rejects and asks for the next bid. It ends with an
 * accepted bid, an exhausted list, or the deadline. Nothing about the rules leaves this
 * module: the outcome records verdicts for the Agent Home's own log only.
 */
import { RevealVerifier, keyFromB64u, keyToB64u } from '../crypto/hashchain.js';
import { isParleyError } from '../crypto/errors.js';
import type { Bid, PurchaseRequest } from '../protocol/commerce.js';
import type { CompiledRules, VerdictReason } from '../protocol/rules.js';
import type { SalesOfferBody } from '../protocol/sales.js';
import type { SalesReveals } from './sales.js';

export interface Round {
  index: number;
  bid: Bid;
  /** K[i+1], base64url */
  next: string;
  accept: boolean;
  utility: number;
  reason: VerdictReason;
}

export interface NegotiationOutcome {
  status: 'agreed' | 'exhausted' | 'expired' | 'broken-commitment';
  rounds: Round[];
  /** the accepted round (the last one) when status is agreed */
  agreed?: Round;
  /** why the merchant's reveal did not match its commitment, when broken */
  error?: string;
}

export interface NegotiationInput {
  request: PurchaseRequest;
  rules: CompiledRules;
  offer: SalesOfferBody;
  reveals: SalesReveals;
  deadline: Date;
  now?: () => number;
}

export function negotiate(input: NegotiationInput): NegotiationOutcome {
  const now = input.now ?? Date.now;
  const verifier = new RevealVerifier(keyFromB64u(input.offer.k1, 'K[1]'), input.offer.msg.k);
  const rounds: Round[] = [];
  const deadline = input.deadline.getTime();
  for (;;) {
    if (now() >= deadline) return { status: 'expired', rounds };
    const r = input.reveals.next();
    if (!r) return { status: 'exhausted', rounds };
    try {
      verifier.next(r.bid, r.next);
    } catch (e) {
      return { status: 'broken-commitment', rounds, error: isParleyError(e) ? e.message : 'reveal does not match the commitment' };
    }
    const v = input.rules.evaluate(input.request, r.bid);
    const round: Round = { index: r.index, bid: r.bid, next: keyToB64u(r.next), accept: v.accept, utility: v.utility, reason: v.reason };
    rounds.push(round);
    if (v.accept) return { status: 'agreed', rounds, agreed: round };
  }
}
