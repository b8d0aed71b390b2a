// bonsai web view. Reads the daemon's read-only JSON endpoints and builds
// every element with createElement and textContent: nothing from the data
// is ever parsed as HTML. The ancestry is drawn as SVG, one row per depth.
'use strict';

const SVG = 'http://www.w3.org/2000/svg';

// The verdicts, best first, as lineage names them; each has a colour class.
const VERDICTS = ['verified', 'source', 'depth-limit', 'incomplete', 'untrusted', 'unknown-executor',
  'bad-signature', 'invalid', 'revoked', 'cycle', 'no-record', 'unreachable', 'limit-reached'];
// Verdicts of a node that let its descendants pass (a plain check).
const PASSING = new Set(['verified', 'source', 'depth-limit']);

// Layout of a node box, in SVG units.
const BOX_W = 190, BOX_H = 46, GAP_X = 24, GAP_Y = 64, PAD = 16;

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  return e;
}

function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); }

// short keeps a CID's tail, which tells CIDs apart (as the CLI does).
function short(s) { return s && s.length > 16 ? s.slice(0, 4) + '…' + s.slice(-10) : (s || ''); }

function base(path) { return path ? path.split('/').pop() : ''; }

async function getJSON(url) {
  const resp = await fetch(url, { method: 'GET', headers: { Accept: 'application/json' }, credentials: 'same-origin' });
  let body = null;
  try { body = await resp.json(); } catch (e) { body = null; }
  if (!resp.ok) {
    throw new Error((body && body.error) ? body.error : 'HTTP ' + resp.status);
  }
  return body;
}

function showError(msg) {
  const e = document.getElementById('error');
  e.textContent = msg;
  e.hidden = !msg;
}

async function lookup(q) {
  showError('');
  const result = document.getElementById('result');
  result.setAttribute('aria-busy', 'true');
  result.dataset.state = 'loading';
  try {
    const doc = await getJSON('/ui/v1/ancestry?q=' + encodeURIComponent(q));
    render(doc);
    result.hidden = false;
    result.dataset.state = 'done';
  } catch (err) {
    result.hidden = true;
    result.dataset.state = 'error';
    showError('Lookup failed: ' + err.message);
  } finally {
    result.removeAttribute('aria-busy');
  }
}

function render(doc) {
  const result = document.getElementById('result');
  result.dataset.target = doc.target;
  result.dataset.verified = String(doc.verified);

  const changed = document.getElementById('changed');
  changed.hidden = !doc.changed && !doc.unhashed;
  if (doc.changed) {
    changed.textContent = 'Changed since recorded: ' + doc.path + ' now holds ' + doc.target +
      ', not the content recorded, ' + doc.recorded + '. Below is the ancestry of what it holds now.';
  } else if (doc.unhashed) {
    changed.textContent = 'Not compared with the file as it is now (' + doc.unhashed +
      '): below is the ancestry of the content recorded at this path.';
  }

  const summary = document.getElementById('summary');
  clear(summary);
  const records = doc.records === 1 ? '1 record' : doc.records + ' records';
  let state = doc.verified ? 'VERIFIED' : (doc.complete ? 'NOT VERIFIED' : 'INCOMPLETE (no verdict: the check ran out of time)');
  summary.appendChild(el('strong', state, doc.verified ? 'v-verified verdict-text' : 'v-bad-signature verdict-text'));
  summary.appendChild(document.createTextNode(' ' + doc.target + (doc.path ? ' (' + doc.path + ')' : '') + ': ' +
    records + '; ' + VERDICTS.filter((v) => doc.counts[v]).map((v) => doc.counts[v] + ' ' + v).join(', ') + '.'));

  const cut = document.getElementById('cut');
  cut.hidden = !doc.cut;
  cut.textContent = doc.cut ? 'Only the first ' + doc.nodes.length + ' nodes are drawn (breadth first); ' +
    doc.cut + ' deeper nodes are left out. Their verdicts are in the counts above.' : '';

  drawGraph(doc);
  drawLegend(doc);
  listFailing(doc);
  listExecutors(doc);
  document.getElementById('detail').hidden = true;
}

// drawGraph lays the nodes out in rows by depth, the target on top, and
// draws an edge from each input up to the node made from it.
function drawGraph(doc) {
  const g = document.getElementById('graph');
  clear(g);
  const defs = svg('defs');
  const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
  marker.appendChild(svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow' }));
  defs.appendChild(marker);
  g.appendChild(defs);

  const rows = [];
  for (const n of doc.nodes) (rows[n.depth] = rows[n.depth] || []).push(n);
  let widest = 1;
  for (let d = 0; d < rows.length; d++) widest = Math.max(widest, rows[d] ? rows[d].length : 0);
  const width = PAD * 2 + widest * BOX_W + (widest - 1) * GAP_X;
  const height = PAD * 2 + rows.length * BOX_H + Math.max(0, rows.length - 1) * GAP_Y;
  g.setAttribute('width', width);
  g.setAttribute('height', height);
  g.setAttribute('viewBox', '0 0 ' + width + ' ' + height);

  const pos = new Map();
  rows.forEach((row, depth) => {
    if (!row) return;
    const rowW = row.length * BOX_W + (row.length - 1) * GAP_X;
    const x0 = (width - rowW) / 2;
    row.forEach((n, i) => pos.set(n.output, { x: x0 + i * (BOX_W + GAP_X), y: PAD + depth * (BOX_H + GAP_Y) }));
  });

  const edges = svg('g', { class: 'edges' });
  for (const n of doc.nodes) {
    const to = pos.get(n.output);
    for (const input of n.inputs) {
      const from = pos.get(input);
      if (!from) continue;
      edges.appendChild(svg('line', {
        class: 'edge', x1: from.x + BOX_W / 2, y1: from.y, x2: to.x + BOX_W / 2, y2: to.y + BOX_H,
        'marker-end': 'url(#arrow)', 'data-from': input, 'data-to': n.output,
      }));
    }
  }
  g.appendChild(edges);

  for (const n of doc.nodes) {
    const p = pos.get(n.output);
    const box = svg('g', {
      class: 'node v-' + n.verdict + (n.ok ? '' : ' notok'), transform: 'translate(' + p.x + ',' + p.y + ')',
      tabindex: 0, role: 'button', 'data-output': n.output, 'data-verdict': n.verdict, 'data-ok': String(n.ok),
      'data-records': String(n.records.length),
    });
    const title = svg('title');
    title.textContent = n.output + (n.path ? '\n' + n.path : '') + '\n' + n.verdict + (n.reason ? ': ' + n.reason : '');
    box.appendChild(title);
    box.appendChild(svg('rect', { width: BOX_W, height: BOX_H, rx: 6 }));
    const t1 = svg('text', { x: 8, y: 16 });
    t1.textContent = short(n.output) + (n.path ? '  ' + base(n.path) : '');
    const t2 = svg('text', { x: 8, y: 34, class: 'verdict' });
    const who = n.records.length ? '  ' + short(n.records[0].executor) : '';
    t2.textContent = n.verdict + (n.ok ? '' : ' ✗') + who;
    box.appendChild(t1);
    box.appendChild(t2);
    const pick = () => showNode(n, box);
    box.addEventListener('click', pick);
    box.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); pick(); } });
    g.appendChild(box);
  }
}

function drawLegend(doc) {
  const ul = document.getElementById('legend');
  clear(ul);
  for (const v of VERDICTS) {
    const li = el('li', null, 'v-' + v);
    li.dataset.verdict = v;
    li.appendChild(el('span', null, 'swatch'));
    li.appendChild(document.createTextNode(v + (doc.counts[v] ? ' (' + doc.counts[v] + ')' : '')));
    ul.appendChild(li);
  }
  ul.appendChild(el('li', 'dashed box: the node or something below it fails', 'note'));
}

// listFailing names each node that fails on its own (not merely because
// something below it does).
function listFailing(doc) {
  const ul = document.getElementById('failing');
  clear(ul);
  for (const n of doc.nodes) {
    if (PASSING.has(n.verdict)) continue;
    const li = el('li', null, 'v-' + n.verdict);
    li.dataset.output = n.output;
    li.dataset.verdict = n.verdict;
    li.appendChild(el('span', n.verdict, 'verdict-text'));
    li.appendChild(document.createTextNode(' ' + n.output + (n.path ? ' ' + n.path : '') + (n.reason ? ': ' + n.reason : '')));
    ul.appendChild(li);
  }
  if (!ul.firstChild) ul.appendChild(el('li', 'none', 'note'));
}

function listExecutors(doc) {
  const ul = document.getElementById('executors');
  clear(ul);
  for (const [id, k] of Object.entries(doc.executors || {})) {
    const li = el('li', id + ': ' + (k === 1 ? '1 record' : k + ' records'), 'mono');
    li.dataset.executor = id;
    ul.appendChild(li);
  }
  if (!ul.firstChild) ul.appendChild(el('li', 'none', 'note'));
}

function addField(dl, name, value) {
  if (value === undefined || value === null || value === '') return;
  const dt = el('dt', name);
  const dd = el('dd', Array.isArray(value) ? (value.length ? value.join('\n') : 'none') : value);
  dd.dataset.field = name;
  dl.appendChild(dt);
  dl.appendChild(dd);
}

function showNode(n, box) {
  for (const s of document.querySelectorAll('#graph .node.selected')) s.classList.remove('selected');
  box.classList.add('selected');
  const detail = document.getElementById('detail');
  detail.hidden = false;
  detail.dataset.output = n.output;
  document.getElementById('detail-output').textContent = n.output;
  const dl = document.getElementById('detail-node');
  clear(dl);
  addField(dl, 'path', n.path);
  addField(dl, 'depth', String(n.depth));
  addField(dl, 'verdict', n.verdict);
  addField(dl, 'reason', n.reason);
  addField(dl, 'ok', n.ok ? 'yes: it and its whole ancestry pass' : 'no');
  const recs = document.getElementById('detail-records');
  clear(recs);
  if (!n.records.length) recs.appendChild(el('p', 'No record claims this content: a source.', 'note'));
  for (const r of n.records) {
    const div = el('div', null, 'record v-' + r.verdict);
    div.dataset.record = r.record;
    div.appendChild(el('h3', 'Record ' + r.record));
    const rdl = el('dl');
    addField(rdl, 'record', r.record);
    addField(rdl, 'verdict', r.verdict);
    addField(rdl, 'reason', r.reason);
    addField(rdl, 'executor', r.executor);
    addField(rdl, 'uid', r.executor ? String(r.uid) : '');
    addField(rdl, 'program', r.program);
    addField(rdl, 'time', r.time);
    addField(rdl, 'incomplete', r.incomplete ? 'yes: the capture missed something' : '');
    addField(rdl, 'inputs', r.inputs);
    if (r.more_inputs) addField(rdl, 'more inputs', r.more_inputs + ' not shown');
    addField(rdl, 'from', r.from);
    div.appendChild(rdl);
    recs.appendChild(div);
  }
  if (n.more_records) recs.appendChild(el('p', n.more_records + ' more records not shown (bonsai verify --json lists them all).', 'note'));
}

function cell(tr, text) { tr.appendChild(el('td', text)); }

async function loadOutbox() {
  const sum = document.getElementById('outbox-summary');
  const body = document.querySelector('#outbox tbody');
  try {
    const o = await getJSON('/ui/v1/outbox');
    sum.textContent = o.pending + ' pending, ' + o.published + ' published' +
      (o.entries.length < o.pending ? '; the first ' + o.entries.length + ' listed' : '');
    sum.dataset.pending = String(o.pending);
    clear(body);
    for (const e of o.entries) {
      const tr = el('tr');
      tr.dataset.record = e.record;
      cell(tr, e.record); cell(tr, String(e.attempts)); cell(tr, e.next_try || 'now'); cell(tr, e.last_error || '');
      body.appendChild(tr);
    }
  } catch (err) {
    sum.textContent = 'Outbox: ' + err.message;
  }
}

async function loadPins() {
  const sum = document.getElementById('pins-summary');
  const body = document.querySelector('#pins tbody');
  try {
    const p = await getJSON('/ui/v1/pins');
    sum.textContent = p.total === 1 ? '1 pin' : p.total + ' pins';
    sum.dataset.total = String(p.total);
    clear(body);
    for (const pin of p.pins) {
      const tr = el('tr');
      tr.dataset.output = pin.output;
      cell(tr, pin.output); cell(tr, String(pin.records)); cell(tr, String(pin.bytes)); cell(tr, pin.pinned_at);
      body.appendChild(tr);
    }
  } catch (err) {
    sum.textContent = 'Pins: ' + err.message;
  }
}

document.addEventListener('DOMContentLoaded', () => {
  document.getElementById('lookup').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = document.getElementById('q').value.trim();
    if (!q) return;
    // The address names the lookup, so it can be bookmarked or shared.
    history.replaceState(null, '', '?q=' + encodeURIComponent(q));
    lookup(q);
  });
  const linked = new URLSearchParams(location.search).get('q');
  if (linked) {
    document.getElementById('q').value = linked;
    lookup(linked);
  }
  Promise.all([loadOutbox(), loadPins()]).then(() => { document.body.dataset.panels = 'loaded'; });
});
