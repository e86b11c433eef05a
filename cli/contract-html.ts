/**
 * `parley contract show --html OUT`: one self-contained page of a contract view. Every piece
 * of text from the contract is escaped before it is placed (a merchant writes the template,
 * so it is attacker-controlled); the page has no script, and its Content-Security-Policy
 * forbids loading or running anything.
 */
import type { ContractView } from '../protocol/contract-view.js';

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text → HTML text or attribute value. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/** A tagged template that escapes every interpolated value except `Raw` fragments built with it. */
class Raw {
  constructor(readonly html: string) {}
}
function html(strings: TemplateStringsArray, ...values: unknown[]): Raw {
  let out = strings[0]!;
  values.forEach((v, i) => {
    const part = Array.isArray(v) ? v.map((x) => (x instanceof Raw ? x.html : escapeHtml(x))).join('') : v instanceof Raw ? v.html : escapeHtml(v);
    out += part + strings[i + 1]!;
  });
  return new Raw(out);
}

const money = (n: number, c: string) => `${n.toLocaleString('en', { minimumFractionDigits: 2, maximumFractionDigits: 2 })} ${c}`;

export function contractHtml(v: ContractView): string {
  const rows = (pairs: Array<[string, unknown]>) => pairs.map(([k, x]) => html`<tr><th>${k}</th><td>${x}</td></tr>`);
  const status = v.valid === null ? 'not verified (no CA given)' : v.valid ? 'valid' : 'NOT valid';
  const page = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>${v.title} — contract ${v.contractId}</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #111; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .25rem .6rem; border-bottom: 1px solid #ddd; }
th { width: 14rem; font-weight: 600; }
.ok { color: #0a6a2a; } .fail { color: #b00020; font-weight: 600; }
code { font-size: 13px; word-break: break-all; }
</style>
</head>
<body>
<h1>${v.title}</h1>
<p>Contract <code>${v.contractId}</code> of session <code>${v.sn}</code>: <strong class="${v.valid === false ? 'fail' : 'ok'}">${status}</strong></p>
<h2>Terms</h2>
<table>${rows([
    ['Item', `${v.item} (${v.category})`],
    ['Attributes', Object.entries(v.attributes).map(([k, x]) => `${k}: ${String(x)}`).join(', ') || 'none'],
    ['Quantity', v.quantity],
    ['Unit price', money(v.unitPrice, v.currency)],
    ['Total', money(v.total, v.currency)],
    ['Delivery', `${v.deliveryDays} days`],
    ['Warranty', `${v.warrantyMonths} months`],
    ['Seller', v.seller.address ? `${v.seller.name}, ${v.seller.address}` : v.seller.name],
    ...(v.jurisdiction ? ([['Jurisdiction', v.jurisdiction]] as Array<[string, unknown]>) : []),
  ])}</table>
<h2>Clauses</h2>
<ol>${v.clauses.map((c) => html`<li>${c}</li>`)}</ol>
<h2>Deadlines</h2>
<table>${rows([
    ['Issued', v.issuedAt],
    ['Request deadline', v.requestDeadline],
    ['Buyer completes by', v.completeBy],
    ['Exchange deadline', v.exchangeDeadline],
  ])}</table>
<h2>Parties</h2>
<table><tr><th>Role</th><th>Id</th><th>Certificate subject</th><th>Valid</th></tr>${v.parties.map(
    (p) => html`<tr><td>${p.role}</td><td>${p.id}</td><td>${p.subject}<br><small>issuer ${p.issuer}; SHA-256 <code>${p.fingerprint}</code></small></td><td>${p.notBefore} – ${p.notAfter}</td></tr>`,
  )}</table>
<h2>How it was signed</h2>
<p>${v.signing.detail}</p>
<table>${v.signatures.map((s) => html`<tr><th>${s.by}</th><td>${s.alg}, ${s.key}</td></tr>`)}</table>
${v.signing.record ? html`<details><summary>Resolution record</summary><pre>${JSON.stringify(v.signing.record, null, 2)}</pre></details>` : ''}
<h2>Verification</h2>
${v.checks.length ? html`<table>${v.checks.map((c) => html`<tr><th class="${c.ok ? 'ok' : 'fail'}">${c.ok ? 'ok' : 'FAILED'} ${c.name}</th><td>${c.detail}${c.code && !c.ok ? ` [${c.code}]` : ''}</td></tr>`)}</table>` : html`<p>Not verified: run with <code>--ca ca.pem</code>.</p>`}
</body>
</html>
`;
  return page.html;
}
