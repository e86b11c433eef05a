// The arbiter's pages (parley home console): sessions, one session, audit, directory.
// Routing by location hash; every view re-fetches only what it shows when the live feed
// says one of its records changed.
import uPlot from './uplot.js';
import { api, badge, debounce, el, live, nav, pages, section, table, time } from './dom.js';
import { concessionChart, TERMS } from './chart.js';

// what the live feed filters on, set by the view on screen; the chart term and the status
// filter are kept across renders
let where = { view: 'sessions', sn: undefined };
const prefs = { term: 'price', filter: '' };

async function renderSessions(_rest, display) {
  where = { view: 'sessions' };
  const d = await api('sessions');
  const statuses = [...new Set(d.sessions.map((s) => s.status))].sort();
  const filter = el('select', { id: 'status-filter', onchange: (e) => { prefs.filter = e.target.value; render(); } }, el('option', { value: '' }, 'all'), statuses.map((s) => el('option', { value: s, selected: s === prefs.filter }, s)));
  const rows = d.sessions
    .filter((s) => !prefs.filter || s.status === prefs.filter)
    .map((s) =>
      el('tr', { 'data-sn': s.sn },
        el('td', {}, el('a', { href: `#/session/${encodeURIComponent(s.sn)}` }, s.sn.slice(0, 12) + '…')),
        el('td', {}, badge(s.status)),
        el('td', {}, s.category), el('td', {}, `${s.quantity} × ${s.item}`),
        el('td', { class: 'num' }, s.invited), el('td', { class: 'num' }, s.visited), el('td', { class: 'num' }, s.skipped),
        el('td', { class: 'num' }, s.bidding), el('td', { class: 'num' }, s.agreements),
        el('td', {}, time(s.started)), el('td', {}, time(s.lastActivity))));
  display(section(`Sessions (${d.sessions.length})`, el('label', {}, 'status ', filter),
    table(['session', 'status', 'category', 'item', 'invited', 'visited', 'skipped', 'bidding', 'agreements', 'started', 'last activity'], rows)));
}

function offersOf(d) {
  const agreed = new Map(d.agreements.map((a) => [a.merchant, a.index]));
  return d.negotiations.filter((n) => n.rounds.length).map((n) => ({ merchant: n.merchant, rounds: n.rounds, agreedIndex: agreed.get(n.merchant) }));
}

async function renderSession(sn, display) {
  where = { view: 'session', sn };
  const d = await api(`session?sn=${encodeURIComponent(sn)}`);
  if (!d) return display(section('Session', el('p', {}, `no session ${sn}`)));
  const s = d.session;
  const info = el('div', { class: 'kv' },
    el('b', {}, 'session'), el('span', { id: 'sn' }, s.sn),
    el('b', {}, 'status'), el('span', {}, badge(s.status)),
    el('b', {}, 'buyer'), el('span', {}, s.buyer),
    el('b', {}, 'request'), el('span', {}, `${s.request.quantity} × ${s.request.item} (${s.request.category}, ${s.request.currency})`),
    el('b', {}, 'opened'), el('span', {}, time(s.created)),
    el('b', {}, 'deadline'), el('span', {}, time(s.deadline)),
    el('b', {}, 'invite agents'), el('span', {}, `${s.inviteAgents}${s.recoveredInvites ? ` (${s.recoveredInvites} sent again after a lost agent)` : ''}; ${s.invitesOut} still out`));

  const visits = table(['hop', 'host', 'event', 'target', 'note', 'at', 'signature'], d.visits.map((v) =>
    el('tr', { class: 'visit' }, el('td', { class: 'num' }, v.hop), el('td', {}, v.host), el('td', {}, badge(v.event)), el('td', {}, v.target), el('td', {}, v.note), el('td', {}, time(v.at)), el('td', {}, v.signatureChecked ? badge('checked', 'ok') : badge('unchecked', 'broken')))));

  const bids = d.negotiations.map((n) =>
    el('div', { class: 'negotiation', 'data-merchant': n.merchant },
      el('h3', {}, n.merchant, ' ', badge(n.status), el('span', { class: 'muted' }, ` ${n.rounds.length} of ${n.k} bids revealed${n.error ? ` (${n.error})` : ''}`)),
      table(['bid', 'price', 'delivery', 'warranty', 'verdict', 'chain'], n.rounds.map((r) =>
        el('tr', { class: 'bid' }, el('td', { class: 'num' }, r.index), el('td', { class: 'num' }, `${r.bid.price} ${r.bid.currency}`), el('td', { class: 'num' }, `${r.bid.deliveryDays} d`), el('td', { class: 'num' }, `${r.bid.warrantyMonths} mo`), el('td', { class: 'verdict' }, badge(r.verdict)), el('td', {}, r.chainOk ? badge('hash ok', 'ok') : badge('broken')))))));

  const chartBox = el('div', { class: 'chart', id: 'chart' });
  const menu = el('select', { id: 'term', onchange: (e) => { prefs.term = e.target.value; concessionChart(uPlot, chartBox, offersOf(d), prefs.term); } }, TERMS.map(([k, label]) => el('option', { value: k, selected: k === prefs.term }, label)));

  const agreements = table(['rank', 'merchant', 'bid', 'price', 'delivery', 'warranty', 'proof', 'at'], d.agreements.map((a) =>
    el('tr', { class: 'agreement' }, el('td', { class: 'num' }, a.rank), el('td', {}, a.merchant), el('td', {}, `${a.index}/${a.k}`), el('td', { class: 'num' }, `${a.bid.price} ${a.bid.currency}`), el('td', { class: 'num' }, `${a.bid.deliveryDays} d`), el('td', { class: 'num' }, `${a.bid.warrantyMonths} mo`), el('td', {}, a.chainOk ? badge('chain ok', 'ok') : badge('broken')), el('td', {}, time(a.at)))));

  const steps = ['agreed', 'partially signed', 'countersigned', 'completed / resolved / aborted'];
  const exchanges = d.agreements.map((a) => {
    const x = d.exchanges.find((e) => e.merchant === a.merchant);
    const done = x ? steps.length : 1;
    return el('div', { class: 'exchange', 'data-merchant': a.merchant },
      el('h3', {}, a.merchant, ' ', x ? badge(x.status) : el('span', { class: 'muted' }, 'no dispute: signing is between buyer and merchant')),
      el('div', { class: 'states' }, steps.map((st, i) => el('span', { class: `step${i < done ? ' done' : ''}` }, i === steps.length - 1 && x ? `${x.status} ${time(x.at)}` : i === 0 ? `agreed ${time(a.at)}` : st))),
      x ? el('div', {}, el('p', {}, `contract ${x.contractId}; ${x.status === 'resolved' ? (x.delivered ? 'SG_S delivered to the buyer\u2019s mailbox' : 'SG_S not yet delivered') : 'abort token issued'}`),
        el('h3', {}, 'evidence (signed audit records)'), x.evidence.map((e) => el('pre', {}, `#${e.seq} ${e.event} ${time(e.at)}\n${JSON.stringify(e.details, null, 1)}`))) : null);
  });

  const shown = display(
    section('Session', info),
    section('Invite Agent route (verified visit log)', visits),
    section('Concession chart', el('label', {}, 'term ', menu), chartBox),
    section('Revealed bids', bids.length ? bids : el('p', { class: 'muted' }, 'no Sales Agent yet')),
    section('Agreements (ranked by the buyer)', agreements),
    section('Exchanges and disputes', exchanges.length ? exchanges : el('p', { class: 'muted' }, 'no agreement yet')),
    section('Audit events of this session', table(['seq', 'event', 'at'], d.events.map((e) => el('tr', {}, el('td', { class: 'num' }, e.seq), el('td', {}, e.event), el('td', {}, time(e.at)))))),
  );
  if (shown) concessionChart(uPlot, chartBox, offersOf(d), prefs.term);
}

async function renderAudit(_rest, display) {
  where = { view: 'audit' };
  const d = await api('audit');
  const v = d.verified;
  const status = !v ? el('p', {}, 'not verified (no Agent Home certificate given)') : v.ok ? el('p', { id: 'audit-status' }, badge('verified', 'ok'), ` up to record ${v.records}`) : el('p', { id: 'audit-status' }, badge('broken'), ` first broken record: ${v.firstBroken.seq} (${v.firstBroken.reason})`);
  display(section('Audit log', status, table(['seq', 'event', 'session', 'at', 'details'], d.records.map((r) =>
    r.unreadable ? el('tr', {}, el('td', {}, r.seq), el('td', { colspan: 4 }, 'unreadable')) : el('tr', {}, el('td', { class: 'num' }, r.seq), el('td', {}, r.event), el('td', {}, r.sn ? r.sn.slice(0, 12) + '…' : ''), el('td', {}, time(r.at)), el('td', {}, el('pre', {}, JSON.stringify(r.details))))))));
}

async function renderDirectory(_rest, display) {
  where = { view: 'directory' };
  const d = await api('directory');
  display(section(`Directory (${d.merchants.length} merchants)`, table(['merchant', 'name', 'categories', 'registered'], d.merchants.map((m) =>
    el('tr', { class: 'merchant' }, el('td', {}, m.id), el('td', {}, m.name), el('td', {}, m.categories.join(', ')), el('td', {}, time(m.registeredAt)))))));
}

nav([['#/sessions', 'Sessions'], ['#/audit', 'Audit'], ['#/directory', 'Directory']]);
const render = pages([['/session/', renderSession], ['/audit', renderAudit], ['/directory', renderDirectory]], renderSessions);
const refresh = debounce(() => render());
live((c) => {
  if (where.view === 'session' && c.topic !== 'parley_exchanges' && !c.key.startsWith(where.sn)) return;
  if (where.view === 'directory' && c.topic !== 'parley_directory') return;
  refresh();
});
