/**
 * The Agent Home daemon: hosts agents (JetStream-backed durable accept), tracks the Invite
 * Agents it sends out, runs every session's Negotiation Agent, and serves buyers and
 * merchants on `parley.v1.home.<id>.<op>`. Everything it must not lose lives in JetStream
 * (agent-home/state.ts), so a restarted process carries on where the last one stopped, and
 * several processes can share one JetStream (queue groups, compare-and-set updates) and
 * serve one load between them. Work in progress survives its process: the host runtime
 * holds each accepted agent under a lease and another process takes it over once the lease
 * runs out (agents/runtime/lease.ts), and every process finishes the invitation work that
 * a stopped or killed one left undone (agent-home/invitation-watch.ts). Every state change
 * is appended to the signed audit log (agent-home/audit.ts).
 */
import type { NatsConnection, Subscription } from 'nats';
import { AgentHost } from '../agents/runtime/host.js';
import { JetStreamHostStore } from '../agents/runtime/host-store.js';
import { AgentTracker } from '../agents/runtime/tracker.js';
import { retry } from '../agents/transport/retry.js';
import { INVITE_KIND } from '../agents/invite.js';
import type { Self, Trust } from '../agents/runtime/trust.js';
import { toB64u } from '../crypto/bytes.js';
import { signObject } from '../crypto/signed.js';
import type { ParsedCertificate } from '../crypto/x509/index.js';
import { subjects, queueGroup } from '../protocol/subjects.js';
import { okReply } from '../protocol/wire.js';
import { NotifySchema, NOTIFY_TYPE, ENCRYPTION_KEY_TYPE, type EncryptionKeyReply } from '../protocol/session.js';
import { RegisterSchema, REGISTER_TYPE, ResultsSchema, RESULTS_TYPE } from '../protocol/directory.js';
import { AbortSchema, ABORT_TYPE, MailboxSchema, MAILBOX_TYPE, ResolveSchema, RESOLVE_TYPE } from '../protocol/exchange.js';
import { DEFAULT_SETTINGS, type HomeContext, type HomeSettings } from './context.js';
import { HomeState, type SessionRecord } from './state.js';
import { KvWaits } from '../agents/storage/kv-wait.js';
import { watchEntries } from '../agents/storage/kv.js';
import { AuditLog } from './audit.js';
import type { HomeSecrets } from './secrets.js';
import { serve, type ServeContext } from './serve.js';
import { handleNotify } from './notify.js';
import { inviteBehaviour, inviteMerchants, onLostAgent } from './invitations.js';
import { InvitationWatch } from './invitation-watch.js';
import { DEFAULT_LEASE_MS } from '../agents/runtime/lease.js';
import { salesBehaviour, SALES_KIND } from './negotiations.js';
import { handleResults } from './results.js';
import { handleAbort, handleMailbox, handleResolve } from './disputes.js';

export interface AgentHomeOptions {
  nc: NatsConnection;
  self: Self;
  trust: Trust;
  ca: ParsedCertificate;
  secrets: HomeSecrets;
  settings?: Partial<HomeSettings>;
  /** JetStream replicas for its buckets (3 on a cluster) */
  replicas?: number;
  /**
   * how long work in progress (an accepted agent, a session's invitations) belongs to the
   * process doing it before another process sharing the JetStream takes it over (default 15 s)
   */
  leaseMs?: number;
  log?: (line: string) => void;
}

const dec = new TextDecoder();

export class AgentHome {
  /** messages received per operation (the optimism test counts them) */
  readonly received = new Map<string, number>();
  private subs: Subscription[] = [];
  private invitations?: InvitationWatch;
  private stopSessionsWatch?: () => void;
  /** settles once the invitation work a previous process left undone is finished (tests) */
  resumed: Promise<void> = Promise.resolve();

  private constructor(
    readonly ctx: HomeContext,
    private readonly leaseMs: number,
  ) {}

  get state(): HomeState {
    return this.ctx.state;
  }

  static async open(opts: AgentHomeOptions): Promise<AgentHome> {
    if (opts.self.role !== 'agent-home') throw new TypeError(`an Agent Home needs an agent-home certificate, not ${opts.self.role}`);
    const log = opts.log ?? (() => undefined);
    const store = await JetStreamHostStore.open(opts.nc, opts.self.id, { replicas: opts.replicas });
    const leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS;
    const host = new AgentHost({ nc: opts.nc, self: opts.self, trust: opts.trust, store, leaseMs, onError: (e, c) => log(`${c}: ${(e as Error).message}`), onInfo: log });
    const tracker = await AgentTracker.open(opts.nc, opts.self.id, opts.trust, { replicas: opts.replicas });
    tracker.onError = (e) => log(`tracker: ${(e as Error).message}`);
    const state = await HomeState.open(opts.nc, { replicas: opts.replicas });
    const audit = await AuditLog.open(opts.nc, opts.self, { replicas: opts.replicas });
    const ctx: HomeContext = {
      nc: opts.nc,
      self: opts.self,
      trust: opts.trust,
      ca: opts.ca,
      state,
      audit,
      secrets: opts.secrets,
      host,
      tracker,
      sessionWaits: new KvWaits<SessionRecord>(),
      settings: { ...DEFAULT_SETTINGS, ...opts.settings },
      rulesCache: new Map(),
      log,
    };
    host.register(INVITE_KIND, inviteBehaviour(ctx)).register(SALES_KIND, salesBehaviour(ctx));
    return new AgentHome(ctx, leaseMs);
  }

  async start(): Promise<void> {
    const ctx = this.ctx;
    // one watch of the sessions bucket: invitation work to keep alive, held results to wake
    const invitations = new InvitationWatch(ctx, this.leaseMs);
    this.invitations = invitations;
    this.stopSessionsWatch = await watchEntries(
      ctx.state.sessions,
      (e) => {
        const rec = e.operation === 'PUT' ? { value: JSON.parse(dec.decode(e.value)) as SessionRecord, revision: e.revision } : undefined;
        invitations.onSession(e.key, rec?.value);
        if (rec) ctx.sessionWaits.offer(e.key, rec);
      },
      { onError: (err) => ctx.log(`watching sessions: ${(err as Error).message}`) },
    );
    const sc: ServeContext = { nc: ctx.nc, homeId: ctx.self.id, trust: ctx.trust, state: ctx.state, received: this.received, onError: (e, op) => ctx.log(`${op}: ${(e as Error).message}`) };
    this.subs = [
      serve(sc, {
        op: 'notify',
        type: NOTIFY_TYPE,
        schema: NotifySchema,
        roles: ['buyer'],
        handle: (r) => handleNotify(ctx, r),
        // the Invite Agent leaves once the buyer has its answer
        afterReply: (r) => {
          const sn = (r as { sn: string }).sn;
          // JetStream may be electing a leader (a cluster node died): the claim is
          // compare-and-set, so trying the whole invitation again is safe
          void retry(() => inviteMerchants(ctx, sn)).catch((err) => ctx.log(`session ${sn}: invitation failed: ${(err as Error).message}`));
        },
      }),
      serve(sc, { op: 'results', type: RESULTS_TYPE, schema: ResultsSchema, roles: ['buyer'], idempotentRead: true, handle: (r) => handleResults(ctx, r) }),
      serve(sc, { op: 'resolve', type: RESOLVE_TYPE, schema: ResolveSchema, roles: ['merchant'], handle: (r) => handleResolve(ctx, r) }),
      serve(sc, { op: 'abort', type: ABORT_TYPE, schema: AbortSchema, roles: ['buyer'], handle: (r) => handleAbort(ctx, r) }),
      serve(sc, { op: 'mailbox', type: MAILBOX_TYPE, schema: MailboxSchema, roles: ['buyer'], idempotentRead: true, handle: (r) => handleMailbox(ctx, r) }),
      serve(sc, {
        op: 'register',
        type: REGISTER_TYPE,
        schema: RegisterSchema,
        roles: ['merchant'],
        handle: async (r) => {
          await ctx.state.register({ id: r.signer.id, name: r.body.name, categories: r.body.categories, cert: r.cert, registeredAt: new Date().toISOString() });
          await ctx.audit.append('merchant-registered', r.body.id, { merchant: r.signer.id, name: r.body.name, categories: r.body.categories });
          ctx.log(`merchant ${r.signer.id} registered for ${r.body.categories.join(', ')}`);
          return { registered: true as const, merchant: r.signer.id };
        },
      }),
      this.serveKey(),
    ];
    await ctx.nc.flush();
    await ctx.host.start();
    await ctx.tracker.start((lost) => onLostAgent(ctx, lost));
    this.resumed = invitations.start().then(
      (n) => {
        if (n) ctx.log(`resumed ${n} piece(s) of invitation work left undone`);
      },
      (err) => ctx.log(`resuming invitations failed: ${(err as Error).message}`),
    );
  }

  /** The encryption key buyers seal to, signed with the identity key (no authentication needed to read it). */
  private serveKey(): Subscription {
    const { self, secrets } = this.ctx;
    const notAfter = new Date(Date.now() + 365 * 24 * 3600_000).toISOString();
    const reply: EncryptionKeyReply = {
      cert: self.certPem,
      key: signObject(ENCRYPTION_KEY_TYPE, { home: self.id, x25519: toB64u(secrets.encryption.publicKey), notAfter }, self.secretKey) as EncryptionKeyReply['key'],
    };
    const bytes = okReply(reply);
    return this.ctx.nc.subscribe(subjects.home(self.id, 'key'), { queue: queueGroup(`home-${self.id}`), callback: (_e, m) => m.respond(bytes) });
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.subs.map((s) => s.drain()));
    await this.resumed;
    await this.invitations?.stop();
    this.stopSessionsWatch?.();
    await this.ctx.tracker.stop();
    this.ctx.sessionWaits.stop();
    await this.ctx.host.stop();
    this.ctx.state.close();
  }
}
