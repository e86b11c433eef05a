// The buyer's offline report (parley buyer report): a classic script inlined in the HTML file,
// after uPlot and chart.js. It reads the data from the non-executed JSON script tag and builds
// the page with textContent only.
(function () {
  'use strict';
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') node.className = String(v);
      else if (k === 'onchange') node.addEventListener('change', v);
      else node.setAttribute(k, String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }
  const table = (h, rows) => el('table', {}, el('thead', {}, el('tr', {}, h.map((x) => el('th', {}, x)))), el('tbody', {}, rows));
  const section = (t, ...c) => el('section', {}, el('h2', {}, t), ...c);
  const badge = (t, k) => el('span', { class: `badge ${k || String(t).toLowerCase()}` }, t);
  const data = JSON.parse(document.getElementById('report-data').textContent);
  const main = document.getElementById('main');
  const r = data.session.request;
  const info = el('div', { class: 'kv' },
    el('b', {}, 'session'), el('span', { id: 'sn' }, data.session.sn),
    el('b', {}, 'request'), el('span', {}, `${r.quantity} × ${r.item} (${r.category}, ${r.currency})`),
    el('b', {}, 'opened'), el('span', {}, data.session.created),
    el('b', {}, 'deadline'), el('span', {}, data.session.deadline),
    el('b', {}, 'reservation utility'), el('span', {}, data.reservation === null ? 'not given (--rules)' : data.reservation.toFixed(3)),
    el('b', {}, 'generated'), el('span', {}, data.generated));
  const agreements = table(['rank', 'merchant', 'bid', 'price', 'delivery', 'warranty', 'your utility'], data.agreements.map((a, i) =>
    el('tr', { class: 'agreement' }, el('td', {}, i + 1), el('td', {}, a.merchant), el('td', {}, `${a.index}/${a.k}`), el('td', {}, `${a.bid.price} ${a.bid.currency}`), el('td', {}, `${a.bid.deliveryDays} d`), el('td', {}, `${a.bid.warrantyMonths} mo`), el('td', {}, a.utility.toFixed(3)))));
  const chartBox = el('div', { class: 'chart', id: 'chart' });
  let term = 'price';
  const extra = data.reservation === null ? undefined : { utility: data.offers.map((o) => ({ merchant: o.merchant, rounds: o.rounds.map((x) => ({ index: x.index, utility: x.utility })) })), reservation: data.reservation };
  const menu = el('select', { id: 'term', onchange: (e) => { term = e.target.value; concessionChart(uPlot, chartBox, data.offers, term, extra); } }, TERMS.map(([k, l]) => el('option', { value: k }, l)));
  const contracts = data.contracts.map((c) =>
    el('div', { class: 'contract' },
      el('h3', {}, `${c.merchant}: `, badge(c.state), ' ', c.valid === null ? badge('no contract file', 'expired') : c.valid ? badge('valid', 'ok') : badge('NOT valid', 'broken')),
      el('p', {}, `contract ${c.contractId}${c.file ? ` — ${c.file}` : ''}`),
      c.checks.length ? table(['check', 'result', 'detail'], c.checks.map((k) => el('tr', { class: 'check' }, el('td', {}, k.name), el('td', {}, k.ok ? badge('ok') : badge('FAIL', 'broken')), el('td', {}, k.detail)))) : null));
  main.replaceChildren(
    section('Session', info),
    section('Agreements, ranked by your utility', agreements),
    section('Concession chart: the bids you can see (each agreement\u2019s revealed prefix)', el('label', {}, 'term ', menu), chartBox),
    section('Contracts', contracts.length ? contracts : el('p', {}, 'no contract signed in this session')),
  );
  concessionChart(uPlot, chartBox, data.offers, term, extra);
})();
