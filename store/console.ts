/**
 * `parley store console`: a merchant's own pages on the shared console server
 * (agents/console/server.ts), read from its data directory (store/console-data.ts). Only
 * this merchant's records are there to show: no other merchant's bids, no buyer rules (the
 * store never receives them) and no buyer identity before the buyer signed (a contract
 * offer carries the buyer's partial signature; nothing before it names the buyer).
 *
 * Live: the offers journal and the contracts folder are watched (inotify through
 * `fs.watch`); a folder the daemon has not created yet is looked for again every 2 s.
 */
import { existsSync, watch, type FSWatcher } from 'node:fs';
import type { ConsoleChange, ConsoleRole } from '../agents/console/server.js';
import type { StoreConfig } from './config.js';
import { acceptedIndex, outcomeOf, verdicts, type StoreRecords } from './console-data.js';

function listings(config: StoreConfig) {
  return config.catalogue.map((e) => ({
    item: e.item,
    category: e.category,
    currency: e.currency,
    stock: e.stock,
    attributes: e.attributes,
    ...(e.bids !== undefined
      ? { plan: `${e.bids.length} listed bids`, listPrice: e.bids[0]!.price, floorPrice: e.bids[e.bids.length - 1]!.price }
      : { plan: `${e.strategy.kind}, ${e.strategy.bids} bids`, listPrice: e.listPrice, floorPrice: e.floorPrice }),
  }));
}

function sessionRows(data: StoreRecords) {
  const contracts = data.contracts();
  const rows = data.offerSessions().map((sn) => {
    const o = data.offer(sn)!;
    const own = contracts.filter((c) => c.sn === sn);
    const accepted = acceptedIndex(o.bids, own);
    return {
      sn,
      decision: 'offered' as const,
      item: o.request.item,
      category: o.request.category,
      quantity: o.request.quantity,
      currency: o.request.currency,
      at: o.createdAt,
      deadline: o.deadline,
      k: o.bids.length,
      delivery: data.dispatch(sn)?.state ?? 'sending',
      outcome: outcomeOf(o, data.dispatch(sn), own),
      ...(accepted !== undefined ? { acceptedIndex: accepted, price: o.bids[accepted - 1]!.price } : {}),
    };
  });
  const declined = data.declined().map((d) => ({
    sn: d.sn,
    decision: 'declined' as const,
    item: d.request.item,
    category: d.request.category,
    quantity: d.request.quantity,
    currency: d.request.currency,
    at: d.at,
    deadline: d.deadline,
    k: 0,
    reason: d.reason,
    outcome: 'declined' as const,
  }));
  return [...rows, ...declined].sort((a, b) => b.at.localeCompare(a.at) || a.sn.localeCompare(b.sn));
}

function overview(config: StoreConfig, data: StoreRecords) {
  data.refresh();
  const sessions = sessionRows(data);
  const offered = sessions.filter((s) => s.decision === 'offered');
  const delivered = offered.filter((s) => 'delivery' in s && s.delivery === 'delivered').length;
  const won = offered.filter((s) => s.outcome === 'won').length;
  const decided = offered.filter((s) => s.outcome !== 'open' && s.outcome !== 'signing').length;
  // the concession chart of the latest offers: bid index against the offered terms
  const recent = offered.slice(0, 8).map((s) => {
    const o = data.offer(s.sn)!;
    return { label: `${s.sn.slice(0, 8)} ${o.item}`, rounds: o.bids.map((bid, i) => ({ index: i + 1, bid })), agreedIndex: 'acceptedIndex' in s ? s.acceptedIndex : undefined };
  });
  return {
    store: { id: config.id, name: config.name, home: config.home, categories: config.categories },
    listings: listings(config),
    stats: { invited: sessions.length, declined: sessions.length - offered.length, offered: offered.length, delivered, won, decided, winRate: decided ? won / decided : null },
    sessions,
    chart: recent,
  };
}

function session(data: StoreRecords, sn: string) {
  data.refresh();
  const o = data.offer(sn);
  if (!o) {
    const d = data.declined().find((x) => x.sn === sn);
    return d ? { sn, decision: 'declined', request: d.request, at: d.at, deadline: d.deadline, reason: d.reason, bids: [], contracts: [] } : undefined;
  }
  const own = data.contracts().filter((c) => c.sn === sn);
  const accepted = acceptedIndex(o.bids, own);
  const told = verdicts(o.bids.length, accepted);
  const dispatch = data.dispatch(sn);
  return {
    sn,
    decision: 'offered',
    request: o.request,
    home: o.home,
    at: o.createdAt,
    deadline: o.deadline,
    expiry: o.expiry,
    delivery: dispatch ? { state: dispatch.state, at: dispatch.at, ...(dispatch.detail ? { detail: dispatch.detail } : {}) } : { state: 'sending' },
    outcome: outcomeOf(o, dispatch, own),
    acceptedIndex: accepted ?? null,
    bids: o.bids.map((bid, i) => ({ index: i + 1, bid, verdict: told[i]! })),
    contracts: own.map(({ sn: _sn, ...c }) => c),
  };
}

/** Calls `send` when a watched folder changes; folders that do not exist yet are looked for again. */
function watchFolders(folders: Record<string, string>, send: (c: ConsoleChange) => void): () => void {
  const watchers = new Map<string, FSWatcher>();
  const attach = () => {
    for (const [topic, dir] of Object.entries(folders)) {
      if (watchers.has(topic) || !existsSync(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, (_event, name) => send({ topic, key: String(name ?? '') }));
        w.on('error', () => {
          w.close();
          watchers.delete(topic);
        });
        watchers.set(topic, w);
        send({ topic, key: '' });
      } catch {
        /* the folder went away between the check and the watch: looked for again */
      }
    }
  };
  attach();
  const timer = setInterval(attach, 2000);
  timer.unref();
  return () => {
    clearInterval(timer);
    for (const w of watchers.values()) w.close();
    watchers.clear();
  };
}

export function merchantConsole(config: StoreConfig, data: StoreRecords): ConsoleRole {
  return {
    title: `Parley store console — ${config.id}`,
    page: 'merchant.js',
    api: {
      overview: async () => overview(config, data),
      session: async (q) => {
        const sn = q.get('sn') ?? '';
        return /^[A-Za-z0-9_-]{8,128}$/.test(sn) ? session(data, sn) : undefined;
      },
      contracts: async () => {
        data.refresh();
        return { contracts: data.contracts() };
      },
    },
    watch: async (send) => watchFolders({ offers: data.offersDir, contracts: data.contractsDir }, send),
  };
}
