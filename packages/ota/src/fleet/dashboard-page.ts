// The dashboard's one page (HTML, CSS and script inline, no build step): it asks for an API token
// (kept in the tab's sessionStorage only) and calls the API with it as a bearer token. Fleet table
// with tag and batch filters, campaigns with live progress (the job's server-sent events read with
// fetch, since EventSource cannot send a bearer token), a SIM's history (its ledger), and successes
// and failures over time as an inline SVG bar chart. Text from the API goes in as textContent only.
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>IoT SAFE fleet</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:1rem 2rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0}td,th{border-bottom:1px solid #ddd;padding:.2rem .6rem;text-align:left}
section{margin-bottom:1.5rem}.bar{background:#eee;width:240px;height:12px;display:inline-block}
.bar>span{background:#2a7;height:12px;display:block}.err{color:#b00}button.link{border:0;background:none;color:#06c;cursor:pointer;padding:0}
</style></head><body>
<h1>IoT SAFE fleet</h1>
<form id="login"><label>API token <input id="token" type="password" autocomplete="off" size="50"></label>
<button>Use</button> <span id="whoami"></span></form>
<p id="error" class="err" role="alert"></p>
<section><h2>Fleet</h2>
<form id="filters"><label>tag <input id="f-tag" size="12"></label> <label>batch <input id="f-batch" size="12"></label>
<button>Filter</button> <span id="sim-count"></span></form>
<table id="sims"><thead><tr><th>ICCID</th><th>MSISDN</th><th>IMSI</th><th>batch</th><th>tags</th><th>PSK identity</th></tr></thead><tbody></tbody></table>
<button id="more" hidden>more</button></section>
<section><h2>Campaigns</h2><table id="campaigns"><thead><tr><th>name</th><th>state</th><th>progress</th><th>done</th><th>failed</th><th>SIMs</th></tr></thead><tbody></tbody></table></section>
<section id="history" hidden><h2>History of <span id="history-sim"></span></h2>
<table id="ledger"><thead><tr><th>when</th><th>job</th><th>step</th><th>attempt</th><th>state</th><th>counter</th><th>PoR status</th><th>error</th></tr></thead><tbody></tbody></table></section>
<section><h2>Successes and failures over time</h2><svg id="chart" width="640" height="160" role="img" aria-label="attempts per minute"></svg></section>
<script>
'use strict';
const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem('iotsafe-token') || '';
let after;
const streams = new Map();
function cell(row, text) { const td = document.createElement('td'); td.textContent = text ?? ''; row.append(td); return td; }
function showError(e) { $('error').textContent = e ? String(e.message || e) : ''; }
async function api(path) {
  const r = await fetch(path, { headers: { authorization: 'Bearer ' + token } });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((body.error && body.error.message) || r.status + ' ' + r.statusText);
  return body;
}
async function loadSims(more) {
  const q = new URLSearchParams();
  if ($('f-tag').value) q.set('tag', $('f-tag').value);
  if ($('f-batch').value) q.set('batch', $('f-batch').value);
  if (more && after) q.set('after', after);
  q.set('limit', '50');
  const page = await api('/sims?' + q);
  const body = $('sims').tBodies[0];
  if (!more) body.replaceChildren();
  for (const s of page.sims) {
    const row = body.insertRow();
    const id = cell(row, '');
    const b = document.createElement('button'); b.className = 'link'; b.textContent = s.iccid;
    b.onclick = () => loadHistory(s.iccid).catch(showError); id.append(b);
    cell(row, s.msisdn); cell(row, s.imsi); cell(row, s.batch); cell(row, (s.tags || []).join(' ')); cell(row, s.pskIdentity);
  }
  after = page.next; $('more').hidden = !page.next;
  $('sim-count').textContent = page.total + ' SIMs';
}
async function loadHistory(sim) {
  const page = await api('/sims/' + encodeURIComponent(sim) + '/ledger?limit=50');
  $('history').hidden = false; $('history-sim').textContent = page.sim;
  const body = $('ledger').tBodies[0]; body.replaceChildren();
  for (const a of page.attempts) {
    const row = body.insertRow();
    cell(row, a.createdAt); cell(row, a.job.slice(0, 8)); cell(row, a.step); cell(row, a.attempt); cell(row, a.state);
    cell(row, a.counter); cell(row, a.porStatus === undefined ? '' : a.porStatus.toString(16).padStart(2, '0')); cell(row, a.error);
  }
}
function progressOf(job) {
  const s = (job && job.progress.states) || {};
  const ended = (s.done || 0) + (s.failed || 0) + (s.cancelled || 0) + (s.expired || 0);
  return { done: s.done || 0, failed: s.failed || 0, total: job ? job.total : 0, ended };
}
function paint(row, campaign, job) {
  const p = progressOf(job);
  row.cells[1].textContent = job ? job.state : campaign.state;
  row.cells[2].firstChild.firstChild.style.width = (p.total ? (100 * p.ended) / p.total : 0) + '%';
  row.cells[3].textContent = p.done; row.cells[4].textContent = p.failed; row.cells[5].textContent = p.total;
}
async function follow(row, campaign) {
  if (streams.has(campaign.job.id)) return;
  const abort = new AbortController(); streams.set(campaign.job.id, abort);
  const r = await fetch('/jobs/' + campaign.job.id + '/events', { headers: { authorization: 'Bearer ' + token }, signal: abort.signal });
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\\n\\n')) >= 0) {
      const event = buffer.slice(0, end); buffer = buffer.slice(end + 2);
      const data = event.split('\\n').find((l) => l.startsWith('data: '));
      if (data && event.startsWith('event: progress')) paint(row, campaign, JSON.parse(data.slice(6)));
    }
  }
  streams.delete(campaign.job.id);
  loadChart().catch(showError);
}
async function loadCampaigns() {
  const { campaigns } = await api('/campaigns');
  const body = $('campaigns').tBodies[0]; body.replaceChildren();
  for (const c of campaigns) {
    const row = body.insertRow(); row.dataset.id = c.id;
    cell(row, c.name); cell(row, '');
    const bar = document.createElement('span'); bar.className = 'bar'; bar.append(document.createElement('span'));
    cell(row, '').append(bar); cell(row, ''); cell(row, ''); cell(row, '');
    paint(row, c, c.job);
    if (c.job && (c.job.state === 'running' || c.job.state === 'paused')) follow(row, c).catch(showError);
  }
}
async function loadChart() {
  const { buckets } = await api('/stats/outcomes?bucket=60');
  const svg = $('chart'); svg.replaceChildren();
  const ns = 'http://www.w3.org/2000/svg';
  const max = Math.max(1, ...buckets.map((b) => b.ok + b.failed));
  const w = Math.max(4, Math.floor(600 / Math.max(1, buckets.length)));
  buckets.forEach((b, i) => {
    let y = 150;
    for (const [n, color, cls] of [[b.ok, '#2a7', 'ok'], [b.failed, '#c33', 'failed']]) {
      const h = (140 * n) / max; y -= h;
      const r = document.createElementNS(ns, 'rect');
      r.setAttribute('x', String(20 + i * w)); r.setAttribute('y', String(y)); r.setAttribute('width', String(w - 1));
      r.setAttribute('height', String(h)); r.setAttribute('fill', color); r.setAttribute('class', cls);
      const t = document.createElementNS(ns, 'title'); t.textContent = b.at + ': ' + n + ' ' + cls; r.append(t);
      svg.append(r);
    }
  });
}
async function start() {
  showError('');
  if (!token) { $('whoami').textContent = 'no token'; return; }
  try {
    await Promise.all([loadSims(false), loadCampaigns(), loadChart()]);
    $('whoami').textContent = 'signed in';
  } catch (e) { showError(e); }
}
$('login').onsubmit = (e) => { e.preventDefault(); token = $('token').value.trim(); sessionStorage.setItem('iotsafe-token', token); start(); };
$('filters').onsubmit = (e) => { e.preventDefault(); loadSims(false).catch(showError); };
$('more').onclick = () => loadSims(true).catch(showError);
start();
</script></body></html>
`;
