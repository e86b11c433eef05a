/**
 * The audit log as the arbiter console needs it, read once: each refresh fetches only the
 * records appended since the last one, so a session page costs the same on the thousandth
 * session as on the first (reading the whole log per view made a watched console slow the
 * Agent Home's hops by 1.4x after a hundred sessions: bench/RESULTS-notes.md). The chain is
 * verified again only when records were added.
 */
import { auditReport, verifyAuditLog, type AuditCheck, type AuditEntry, type AuditReport } from './audit.js';
import type { HomeState } from './state.js';

export class AuditTail {
  private readonly entries: AuditEntry[] = [];
  private readonly parsed: AuditReport['records'] = [];
  private check?: { upTo: number; result: AuditCheck };
  private reading?: Promise<void>;

  constructor(
    private readonly state: HomeState,
    private readonly publicKey?: Uint8Array,
  ) {}

  /** Every record so far, parsed (unreadable ones marked). */
  async records(): Promise<AuditReport['records']> {
    await this.refresh();
    return this.parsed;
  }

  /** The whole chain's check, or undefined without the Agent Home's public key. */
  async verified(): Promise<AuditCheck | undefined> {
    await this.refresh();
    if (!this.publicKey) return undefined;
    if (this.check?.upTo !== this.entries.length) this.check = { upTo: this.entries.length, result: verifyAuditLog(this.entries, this.publicKey) };
    return this.check.result;
  }

  /** One read at a time: concurrent page requests share it. */
  private refresh(): Promise<void> {
    this.reading ??= (async () => {
      try {
        const more = await this.state.auditEntries(this.entries.length + 1);
        this.entries.push(...more);
        this.parsed.push(...auditReport(more).records);
      } finally {
        this.reading = undefined;
      }
    })();
    return this.reading;
  }
}
