// The merchant's pages (parley store console): overview (listings, win rate, recent offers
// charted, sessions), one session (its bids and what the store was told of them, its
// contracts), contracts. Only this store's own records reach this page.
import uPlot from './uplot.js';
import { api, badge, debounce, el, live, nav, pages, section, table, time } from './dom.js';
import { concessionChart, TERMS } from './chart.js';

// the chart term, kept across renders
const prefs = { term: 'price' };

const money = (n, cur) => (n === undefined || n === null ? '—' : `${n} ${cur ?? ''}`.trim());
const pct = (x) => (x === null || x === undefined ? '—' : `${Math.round(x * 100)} %`);

function termMenu(onPick) {
  return el('select', { id: 'term', onchange: (e) => { prefs.term = e.target.value; onPick(); } }, TERMS.map(([k, label]) => el('option', { value: k, selected: k === prefs.term }, label)));
}

async function renderOverview(_rest, display) {
  const d = await api('overview');
  const s = d.stats;
  const info = el('div', { class: 'kv' },
    el('b', {}, 'store'), el('span', { id: 'store-id' }, `${d.store.id} (${d.store.name})`),
    el('b', {}, 'Agent Home'), el('span', {}, d.store.home),
    el('b', {}, 'categories'), el('span', {}, d.store.categories.join(', ')),
    el('b', {}, 'invitations'), el('span', {}, `${s.invited} (${s.offered} offered, ${s.declined} declined)`),
    el('b', {}, 'Sales Agents delivered'), el('span', {}, s.delivered),
    el('b', {}, 'win rate'), el('span', { id: 'win-rate' }, `${pct(s.winRate)} (${s.won} won of ${s.decided} decided)`));
  const listings = table(['item', 'category', 'stock', 'list price', 'floor', 'concession plan', 'attributes'], d.listings.map((l) =>
    el('tr', { class: 'listing' }, el('td', {}, l.item), el('td', {}, l.category), el('td', { class: 'num' }, l.stock), el('td', { class: 'num' }, money(l.listPrice, l.currency)), el('td', { class: 'num' }, money(l.floorPrice, l.currency)), el('td', {}, l.plan), el('td', {}, Object.entries(l.attributes).map(([k, v]) => `${k}=${v}`).join(', ')))));
  const chartBox = el('div', { class: 'chart', id: 'chart' });
  const draw = () => concessionChart(uPlot, chartBox, d.chart, prefs.term);
  const sessions = table(['session', 'request', 'decision', 'bids', 'delivery', 'outcome', 'agreed', 'at', 'deadline'], d.sessions.map((x) =>
    el('tr', { 'data-sn': x.sn, class: 'session' },
      el('td', {}, el('a', { href: `#/session/${encodeURIComponent(x.sn)}` }, x.sn.slice(0, 12) + '…')),
      el('td', {}, `${x.quantity} × ${x.item} (${x.category}, ${x.currency})`),
      el('td', {}, badge(x.decision), x.reason ? el('span', { class: 'muted' }, ` ${x.reason}`) : null),
      el('td', { class: 'num' }, x.k || '—'), el('td', {}, x.delivery ? badge(x.delivery) : '—'), el('td', { class: 'outcome' }, badge(x.outcome)),
      el('td', { class: 'num' }, x.acceptedIndex ? `bid ${x.acceptedIndex}: ${money(x.price, x.currency)}` : '—'),
      el('td', {}, time(x.at)), el('td', {}, time(x.deadline)))));
  const shown = display(
    section('Store', info),
    section('Listings', listings),
    section('Own concessions (latest offers)', el('label', {}, 'term ', termMenu(draw)), chartBox),
    section(`Sessions invited to (${d.sessions.length})`, sessions));
  if (shown) draw();
}

async function renderSession(sn, display) {
  const d = await api(`session?sn=${encodeURIComponent(sn)}`);
  if (!d) return display(section('Session', el('p', {}, `no session ${sn} in this store's records`)));
  const r = d.request;
  const info = el('div', { class: 'kv' },
    el('b', {}, 'session'), el('span', { id: 'sn' }, d.sn),
    el('b', {}, 'request'), el('span', {}, `${r.quantity} × ${r.item} (${r.category}, ${r.currency})`),
    el('b', {}, 'decision'), el('span', {}, badge(d.decision), d.reason ? ` ${d.reason}` : ''),
    el('b', {}, 'invited'), el('span', {}, time(d.at)),
    el('b', {}, 'deadline'), el('span', {}, time(d.deadline)),
    d.delivery ? [el('b', {}, 'Sales Agent'), el('span', {}, badge(d.delivery.state), d.delivery.at ? ` ${time(d.delivery.at)}` : '', d.delivery.detail ? ` (${d.delivery.detail})` : '')] : null,
    d.outcome ? [el('b', {}, 'outcome'), el('span', { id: 'outcome' }, badge(d.outcome))] : null);
  const told = d.acceptedIndex ? `The buyer's contract is on bid ${d.acceptedIndex}: bids before it were revealed and rejected, bids after it were never revealed.` : 'The Agent Home tells a merchant nothing of a rejection; without a contract, what happened to these bids is not known here.';
  const bids = table(['bid', 'price', 'delivery', 'warranty', 'verdict'], d.bids.map((b) =>
    el('tr', { class: 'bid' }, el('td', { class: 'num' }, b.index), el('td', { class: 'num' }, money(b.bid.price, b.bid.currency)), el('td', { class: 'num' }, `${b.bid.deliveryDays} d`), el('td', { class: 'num' }, `${b.bid.warrantyMonths} mo`), el('td', { class: 'verdict' }, badge(b.verdict)))));
  const chartBox = el('div', { class: 'chart', id: 'chart' });
  const offers = d.bids.length ? [{ label: 'own bids', rounds: d.bids.map((b) => ({ index: b.index, bid: b.bid })), agreedIndex: d.acceptedIndex ?? undefined }] : [];
  const draw = () => concessionChart(uPlot, chartBox, offers, prefs.term);
  const shown = display(
    section('Session', info),
    d.bids.length ? section('Own bids (committed in order, hash-chained)', el('p', { class: 'muted' }, told), bids) : null,
    d.bids.length ? section('Own concession chart', el('label', {}, 'term ', termMenu(draw)), chartBox) : null,
    section('Contracts of this session', contractTable(d.contracts)));
  if (shown && offers.length) draw();
}

function contractTable(list) {
  if (!list.length) return el('p', { class: 'muted' }, 'no contract offered');
  const steps = ['partially signed', 'countersigned', 'complete / resolved / aborted / expired'];
  return table(['contract', 'buyer', 'terms', 'exchange', 'countersigned', 'deadline'], list.map((c) =>
    el('tr', { class: 'contract', 'data-contract': c.contractId },
      el('td', {}, c.contractId.slice(0, 12) + '…'), el('td', {}, c.buyer),
      el('td', {}, `${c.terms.quantity} × ${c.terms.item} at ${money(c.terms.price, c.terms.currency)}, ${c.terms.deliveryDays} d, ${c.terms.warrantyMonths} mo`),
      el('td', {}, el('div', { class: 'states' }, steps.map((st, i) => el('span', { class: `step${i === 0 || i === 1 || c.state !== 'countersigned' ? ' done' : ''}` }, i === 2 && c.state !== 'countersigned' ? `${c.state} ${time(c.updated)}` : st))), c.lastError ? el('span', { class: 'muted' }, `last resolve attempt: ${c.lastError.code}`) : null),
      el('td', {}, time(c.countersignedAt)), el('td', {}, time(c.exchangeDeadline)))));
}

async function renderContracts(_rest, display) {
  const d = await api('contracts');
  display(section(`Contracts (${d.contracts.length})`, contractTable(d.contracts)));
}

nav([['#/', 'Overview'], ['#/contracts', 'Contracts']]);
const render = pages([['/session/', renderSession], ['/contracts', renderContracts]], renderOverview);
live(debounce(() => render()));
