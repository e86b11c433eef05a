/**
 * Where a responder may answer. NATS lets whoever sends a request choose its reply subject,
 * and `msg.respond()` publishes there with the responder's rights, so a request whose reply
 * subject is `$KV.<bucket>.<key>` would have the Agent Home write its answer into its own
 * JetStream. Every responder therefore answers only on the requester's own inbox,
 * `_INBOX_<party>.<token>…` (nats.js `inboxPrefix`, which every Parley party sets), and
 * drops anything else: no answer, no action, one counted and logged refusal.
 */
import { PARTY_ID_RE, subjectPatterns } from '../../protocol/subjects.js';

/** tokens after the inbox prefix: what nats.js and requests.ts put there, never a wildcard */
const TAIL_RE = /^(\.[A-Za-z0-9_-]{1,64}){1,4}$/;
const ANY_PARTY_INBOX_RE = /^_INBOX_([a-z0-9][a-z0-9_-]{0,62})((?:\.[A-Za-z0-9_-]{1,64}){1,4})$/;

/** True when `reply` is a subject under `party`'s own inbox. */
export function isInboxOf(reply: string | undefined, party: string): boolean {
  if (!reply || !PARTY_ID_RE.test(party)) return false;
  const prefix = subjectPatterns.inboxPrefix(party);
  return reply.startsWith(prefix) && TAIL_RE.test(reply.slice(prefix.length));
}

/** The party whose inbox `reply` is under, if it is one (for subjects anybody may ask). */
export function inboxOwner(reply: string | undefined): string | undefined {
  const m = reply ? ANY_PARTY_INBOX_RE.exec(reply) : null;
  return m ? m[1] : undefined;
}

/** A reply subject as it may appear in a log line: quoted, control characters escaped, cut short. */
function shown(reply: string | undefined): string {
  if (reply === undefined || reply === '') return 'none';
  return JSON.stringify(reply.length > 96 ? `${reply.slice(0, 96)}…` : reply);
}

/** The refusals of one responder, counted per subject (tests and operators read them). */
export class ReplyRefusals {
  readonly counts = new Map<string, number>();

  constructor(private readonly log?: (line: string) => void) {}

  get total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }

  /**
   * True when `reply` is the inbox of the requester (or of one of them; with none given, of
   * any party); otherwise counts and logs the refusal and returns false.
   */
  allow(what: string, reply: string | undefined, requester?: string | readonly string[]): boolean {
    const parties = requester === undefined ? [] : typeof requester === 'string' ? [requester] : requester;
    const ok = parties.length === 0 ? inboxOwner(reply) !== undefined : parties.some((p) => isInboxOf(reply, p));
    if (ok) return true;
    this.counts.set(what, (this.counts.get(what) ?? 0) + 1);
    const whose = parties.length === 0 ? 'a party inbox' : `the inbox of ${parties.join(' or ')}`;
    this.log?.(`refused ${what}${parties.length ? ` from ${parties[0]}` : ''}: reply subject ${shown(reply)} is not ${whose} (ERR_REPLY_SUBJECT)`);
    return false;
  }
}
