/**
 * The merchant's store daemon: hosts visiting Invite Agents and sends its Sales Agents to
 * the Agent Home (store/offers.ts), countersigns and completes contracts with buyers
 * (store/contracts.ts), and resolves through the Agent Home when a buyer does not complete
 * (store/resolver.ts). Everything it must not lose is in its data directory
 * (store/files.ts), so a restarted daemon carries on: unacknowledged Sales Agents are sent
 * again, countersigned contracts are resolved on time.
 *
 *   const store = await StoreDaemon.open({ nc, config, self, trust, ca, dataDir });
 *   await store.start();   // listening; registration with the Agent Home goes on in the background
 *   await store.registered; // true once the Agent Home has it in its directory
 *   await store.stop();
 */
import { mkdirSync } from 'node:fs';
import type { NatsConnection } from 'nats';
import { AgentHost } from '../agents/runtime/host.js';
import { FileHostStore } from '../agents/runtime/host-store.js';
import { INVITE_KIND } from '../agents/invite.js';
import type { Self, Trust } from '../agents/runtime/trust.js';
import type { ParsedCertificate } from '../crypto/x509/index.js';
import { parleyError } from '../protocol/errors.js';
import { MAX_CLOCK_SKEW_MS } from '../protocol/signed-request.js';
import type { StoreConfig } from './config.js';
import { StoreFiles } from './files.js';
import { OfferBook } from './offer-book.js';
import { ReplayGuard } from './replay-guard.js';
import { KeyedLock, type StoreContext } from './context.js';
import { ReplyRefusals } from '../agents/transport/reply-guard.js';
import { inviteBehaviour, SalesDispatcher } from './offers.js';
import { ContractDesk } from './contracts.js';
import { Resolver } from './resolver.js';
import { registerWithHome } from './registration.js';
import { listContracts, type ContractSummary } from './listing.js';

export interface StoreDaemonOptions {
  nc: NatsConnection;
  config: StoreConfig;
  /** the merchant identity (role merchant, id = config.id) */
  self: Self;
  trust: Trust;
  /** the CA certificate, for the offline checks of contracts */
  ca: ParsedCertificate;
  dataDir: string;
  log?: (line: string) => void;
}

/** Request ids are remembered for twice the accepted clock skew, then forgotten. */
const SEEN_TTL_MS = 2 * MAX_CLOCK_SKEW_MS;

export class StoreDaemon {
  private readonly host: AgentHost;
  private readonly hostStore: FileHostStore;
  private readonly dispatcher: SalesDispatcher;
  private readonly resolver: Resolver;
  private readonly desk: ContractDesk;
  /** requests and agents dropped because their reply subject was not the sender's inbox */
  readonly refusals: ReplyRefusals;
  private pruneTimer?: NodeJS.Timeout;
  private registration: Promise<boolean> = Promise.resolve(false);
  private started = false;

  private constructor(
    readonly ctx: StoreContext,
    /** its signal is `ctx.stopping` */
    private readonly abort: AbortController,
  ) {
    const lock = new KeyedLock();
    this.refusals = new ReplyRefusals(ctx.log);
    this.hostStore = new FileHostStore(ctx.files.agentsDir);
    this.host = new AgentHost({
      nc: ctx.nc,
      self: ctx.self,
      trust: ctx.trust,
      store: this.hostStore,
      refusals: this.refusals,
      onError: (e, where) => ctx.log(`${where}: ${(e as Error).message}`),
    });
    this.dispatcher = new SalesDispatcher(ctx);
    this.resolver = new Resolver(ctx, lock);
    this.desk = new ContractDesk(ctx, this.resolver, lock, this.refusals);
    this.host.register(INVITE_KIND, inviteBehaviour(ctx, this.dispatcher));
  }

  static async open(opts: StoreDaemonOptions): Promise<StoreDaemon> {
    const { config, self } = opts;
    if (self.role !== 'merchant') throw parleyError('ERR_CERT_ROLE', `a store needs a merchant certificate, not ${self.role}`);
    if (self.id !== config.id) throw parleyError('ERR_CONFIG', `the config is for store ${config.id}, the certificate for ${self.id}`);
    opts.trust.verify(self.certPem, ['merchant']);
    const files = new StoreFiles(opts.dataDir);
    for (const d of [files.dir, files.agentsDir, files.offersDir, files.contractsDir, files.seenDir]) mkdirSync(d, { recursive: true, mode: 0o700 });
    const offers = await OfferBook.open(files.offersDir);
    const seen = await ReplayGuard.open(files.seenDir, SEEN_TTL_MS);
    const abort = new AbortController();
    const ctx: StoreContext = { nc: opts.nc, config, self, trust: opts.trust, ca: opts.ca, files, offers, seen, stopping: abort.signal, log: opts.log ?? (() => undefined) };
    return new StoreDaemon(ctx, abort);
  }

  get id(): string {
    return this.ctx.self.id;
  }

  get dataDir(): string {
    return this.ctx.files.dir;
  }

  /** Resolves true once the Agent Home has registered this store (false if stopped first). */
  get registered(): Promise<boolean> {
    return this.registration;
  }

  /** Counters for tests and logs. */
  get stats() {
    return {
      salesAgentsDelivered: this.dispatcher.delivered,
      invitesHandled: this.host.runs.get(INVITE_KIND) ?? 0,
      offersCountersigned: this.desk.handled.offer,
      contractsCompleted: this.desk.handled.complete,
      resolveRequests: this.resolver.attempts,
    };
  }

  /** Listens for contract requests and Invite Agents, resumes unfinished work, registers. */
  async start(): Promise<void> {
    if (this.started) throw new TypeError('store daemon already started');
    this.started = true;
    const { ctx } = this;
    this.desk.start();
    await ctx.nc.flush();
    await this.host.start();
    this.dispatcher.resumeAll();
    this.resolver.resumeAll();
    this.pruneTimer = setInterval(() => ctx.seen.prune(), 60_000);
    this.pruneTimer.unref();
    this.registration = registerWithHome(ctx).catch((err) => {
      ctx.log(`registration failed: ${(err as Error).message}`);
      return false;
    });
  }

  /** Stops listening, ends retry loops and waits for work in progress. The connection stays open. */
  async stop(): Promise<void> {
    this.abort.abort();
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    this.resolver.stop();
    await this.desk.stop();
    await this.host.stop();
    await Promise.allSettled([this.registration, this.dispatcher.idle(), this.resolver.idle()]);
    await this.hostStore.close();
    await this.ctx.offers.close();
    await this.ctx.seen.close();
  }

  /** Waits until no Invite Agent, Sales Agent delivery or resolve is in progress (tests). */
  async idle(): Promise<void> {
    await this.host.idle();
    await this.dispatcher.idle();
    await this.resolver.idle();
  }

  contracts(): ContractSummary[] {
    return listContracts(this.ctx.files.dir);
  }
}
