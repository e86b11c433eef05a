// The concession chart: each merchant's offered term (price by default) over rounds, the
// agreement points marked. Pure drawing code with no imports, so the buyer's offline report can
// inline it as it is: uPlot is passed in. `extra` adds the buyer-only utility series (report).

export const TERMS = [
  ['price', 'unit price'],
  ['deliveryDays', 'delivery (days)'],
  ['warrantyMonths', 'warranty (months)'],
];

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];

/**
 * offers: [{merchant or label, rounds: [{index, bid}], agreedIndex?}], term: a key of bid.
 * extra: {utility: [{merchant, rounds: [{index, utility}]}], reservation: number} or undefined.
 */
export function concessionChart(uPlot, container, offers, term, extra) {
  container.replaceChildren();
  const max = Math.max(1, ...offers.map((o) => o.rounds.length ? o.rounds[o.rounds.length - 1].index : 0));
  const xs = Array.from({ length: max }, (_, i) => i + 1);
  const data = [xs];
  const series = [{ label: 'round' }];
  offers.forEach((o, i) => {
    const ys = xs.map(() => null);
    for (const r of o.rounds) ys[r.index - 1] = Number(r.bid[term]);
    data.push(ys);
    series.push({ label: o.label ?? o.merchant, stroke: COLOURS[i % COLOURS.length], width: 2, points: { show: true, size: 6 }, spanGaps: true, scale: 'term' });
  });
  const agreed = xs.map(() => null);
  let anyAgreed = false;
  for (const o of offers) {
    if (o.agreedIndex) {
      const r = o.rounds.find((x) => x.index === o.agreedIndex);
      if (r) {
        agreed[r.index - 1] = Number(r.bid[term]);
        anyAgreed = true;
      }
    }
  }
  if (anyAgreed) {
    data.push(agreed);
    series.push({ label: 'agreement', stroke: '#000', width: 0, paths: () => null, points: { show: true, size: 12, stroke: '#000', fill: '#ffd700' }, scale: 'term' });
  }
  // rounds are whole numbers: no tick between two bids
  const axes = [{ label: 'round', incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] }, { label: (TERMS.find((t) => t[0] === term) || [term, term])[1], scale: 'term' }];
  const scales = { x: { time: false }, term: {} };
  if (extra) {
    scales.u = { range: [0, 1] };
    axes.push({ label: 'buyer utility', scale: 'u', side: 1, grid: { show: false } });
    extra.utility.forEach((o, i) => {
      const ys = xs.map(() => null);
      for (const r of o.rounds) ys[r.index - 1] = r.utility;
      data.push(ys);
      series.push({ label: `${o.merchant} utility`, stroke: COLOURS[i % COLOURS.length], dash: [4, 4], width: 1, spanGaps: true, scale: 'u' });
    });
    data.push(xs.map(() => extra.reservation));
    series.push({ label: 'reservation', stroke: '#555', dash: [10, 5], width: 1, scale: 'u' });
  }
  const width = Math.max(320, Math.min(900, container.clientWidth || 720));
  return new uPlot({ width, height: 320, series, axes, scales }, data, container);
}
