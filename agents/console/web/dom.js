// DOM helpers shared by every console page. Text always goes in with textContent (el's string
// children become text nodes): nothing that came over the wire is ever parsed as HTML.

/** el('td', {class: 'x'}, 'text', childNode, …) */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = String(v);
    else if (k === 'onclick' || k === 'onchange') node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function table(headers, rows) {
  return el('table', {}, el('thead', {}, el('tr', {}, headers.map((h) => el('th', {}, h)))), el('tbody', {}, rows));
}

export function section(title, ...children) {
  return el('section', {}, el('h2', {}, title), ...children);
}

export function time(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function badge(text, kind) {
  return el('span', { class: `badge ${kind ?? String(text).replace(/[^a-z]+/gi, '-').toLowerCase()}` }, text);
}

/** GET /api/<path> as JSON (the cookie carries the token); undefined on 404. */
export async function api(path) {
  const r = await fetch(`/api/${path}`, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  if (r.status === 404) return undefined;
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}

/** Server-Sent Events: calls onChange({topic, key}) for every change the console's watch sees. */
export function live(onChange) {
  const badgeEl = document.getElementById('live');
  const es = new EventSource('/api/events');
  es.addEventListener('open', () => {
    badgeEl.textContent = 'live';
    badgeEl.className = 'live on';
  });
  es.addEventListener('error', () => {
    badgeEl.textContent = 'reconnecting…';
    badgeEl.className = 'live off';
  });
  es.addEventListener('change', (e) => {
    try {
      onChange(JSON.parse(e.data));
    } catch {
      /* a malformed event is ignored */
    }
  });
  return es;
}

/** Replaces the main area's content. */
export function show(...nodes) {
  const main = document.getElementById('main');
  main.replaceChildren(...nodes);
}

export function nav(links) {
  document.getElementById('nav').replaceChildren(...links.map(([href, label]) => el('a', { href }, label)));
}

/** Coalesces bursts of changes into one redraw. */
export function debounce(fn, ms = 150) {
  let t;
  return (...a) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...a), ms);
  };
}

/**
 * Hash routing for a console page. `routes`: [hash, view] pairs tried in order (a hash ending
 * in `/` is a prefix: the view gets the rest, e.g. a session number); `fallback` serves any
 * other hash. A view is `async (rest, display)`; `display(...nodes)` shows them only if no
 * newer render has started meanwhile (a slow fetch, quick navigation) and says whether it
 * did. Renders the current hash now and on every change; returns `render` for live updates.
 */
export function pages(routes, fallback) {
  let gen = 0;
  let current = { view: fallback, rest: '' };
  const render = async () => {
    const my = ++gen;
    const display = (...nodes) => {
      if (my !== gen) return false;
      show(...nodes);
      return true;
    };
    try {
      await current.view(current.rest, display);
    } catch (e) {
      display(section('Error', el('p', {}, String(e && e.message ? e.message : e))));
    }
  };
  const route = () => {
    const h = decodeURIComponent(location.hash.slice(1));
    const hit = routes.find(([p]) => h === p || (p.endsWith('/') && h.startsWith(p)));
    current = hit ? { view: hit[1], rest: h.slice(hit[0].length) } : { view: fallback, rest: '' };
    return render();
  };
  window.addEventListener('hashchange', route);
  route();
  return render;
}
