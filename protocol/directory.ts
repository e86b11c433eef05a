/**
 * Merchant directory and results.
 *   register  merchant → AH {categories, name}  (when a store starts) → {registered}
 *   results   buyer → AH    {sn, wait?}          → the session's progress and agreements
 */
import { z } from 'zod';
import { BidSchema, ContractTemplateSchema, PurchaseRequestSchema } from './commerce.js';
import { isoTime, partyId, pem } from './wire.js';
import { sessionNumber } from './voucher.js';
import { BidProofSchema } from './sales.js';

export const REGISTER_TYPE = 'register';
export const RESULTS_TYPE = 'results';

const category = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/);

export const RegisterSchema = z.strictObject({ categories: z.array(category).min(1).max(64), name: z.string().min(1).max(200) });
export const RegisterReplySchema = z.strictObject({ registered: z.literal(true), merchant: partyId });

/** The longest a results request may be held open (below every client's request timeout). */
export const MAX_RESULTS_WAIT_MS = 25_000;

export const ResultsSchema = z.strictObject({
  sn: sessionNumber,
  /**
   * Long poll: while the session is open, the Agent Home may hold its answer up to `ms`,
   * until the session record is newer than revision `after` (any progress) or, without
   * `after`, until the session is no longer open. Without `wait` it answers at once.
   */
  wait: z.strictObject({ ms: z.number().int().min(1).max(MAX_RESULTS_WAIT_MS), after: z.number().int().min(0).optional() }).optional(),
});
export type ResultsRequest = z.infer<typeof ResultsSchema>;

export const AgreementSchema = z.strictObject({
  sn: sessionNumber,
  merchant: partyId,
  merchantCert: pem,
  template: ContractTemplateSchema,
  bid: BidSchema,
  index: z.number().int().min(1),
  k: z.number().int().min(1),
  /** the buyer's utility of the bid, by its own rules */
  utility: z.number().min(0).max(1),
  proof: BidProofSchema,
  at: isoTime,
});
export type Agreement = z.infer<typeof AgreementSchema>;

export const ProgressSchema = z.strictObject({
  /** merchant hosts on the Invite Agent's itinerary (every round of invitations) */
  invited: z.number().int().min(0),
  visited: z.number().int().min(0),
  skipped: z.number().int().min(0),
  salesAgents: z.number().int().min(0),
  offersEvaluated: z.number().int().min(0),
  agreements: z.number().int().min(0),
});
export type Progress = z.infer<typeof ProgressSchema>;

export const ResultsReplySchema = z.strictObject({
  sn: sessionNumber,
  request: PurchaseRequestSchema,
  deadline: isoTime,
  /** open: still negotiating; complete: every invited merchant has answered; closed: deadline passed */
  status: z.enum(['open', 'complete', 'closed']),
  /** the session record's revision this answer reflects (the `after` of the next long poll) */
  revision: z.number().int().min(0),
  progress: ProgressSchema,
  /** ranked by the buyer's utility, best first */
  agreements: z.array(AgreementSchema).max(1000),
});
export type ResultsReply = z.infer<typeof ResultsReplySchema>;
