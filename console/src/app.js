// Slotwise console: plain ES modules, hash routes, everything aggregated server-side.
import { api, get, post, subscribe, setCredentials, clearCredentials, loggedIn, userName, ApiError } from './api.js';

const main = document.getElementById('main');
let stopStream = null;
const charts = [];

const h = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat()) e.append(k instanceof Node ? k : document.createTextNode(String(k ?? '')));
  return e;
};
const fmtMs = (ms) => (ms && Number(ms) ? new Date(Number(ms)).toISOString().replace('T', ' ').slice(0, 16) + 'Z' : '');
const pct = (x) => (x === undefined ? '' : (100 * Number(x)).toFixed(0) + '%');
const errBox = (e) => h('p', { class: 'err', role: 'alert' }, e instanceof ApiError ? `${e.status}: ${e.message}` : String(e));

function table(cols, rows) {
  return h('table', {}, h('tr', {}, cols.map(([name]) => h('th', {}, name))),
    rows.map((r) => h('tr', {}, cols.map(([, f]) => { const v = f(r); return h('td', {}, v instanceof Node ? v : String(v ?? '')); }))));
}

// Heatmap of a node x slot matrix: {nodes:[id], slots:[n], values:[[...per slot] per node]}, optional overlay.
function heatmap(el, title, grid, overlay) {
  const data = [];
  let max = 1;
  (grid.nodes || []).forEach((_, ni) => (grid.slots || []).forEach((_, si) => {
    const v = Number(grid.values?.[ni]?.[si] || 0) + Number(overlay?.[ni]?.[si] || 0);
    max = Math.max(max, v);
    data.push([si, ni, v]);
  }));
  const chart = echarts.init(el, null, { renderer: 'canvas' });
  chart.setOption({
    title: { text: title, textStyle: { fontSize: 13 } },
    tooltip: { formatter: (p) => `node ${grid.nodes[p.value[1]]}, slot ${grid.slots[p.value[0]]}: ${p.value[2]}` },
    grid: { left: 90, right: 20, top: 30, bottom: 60 },
    xAxis: { type: 'category', data: grid.slots.map(String), name: 'slot' },
    yAxis: { type: 'category', data: grid.nodes },
    visualMap: { min: 0, max, calculable: true, orient: 'horizontal', left: 'center', bottom: 0 },
    series: [{ type: 'heatmap', data, progressive: 5000 }],
  });
  charts.push(chart);
  return chart;
}

function reset() {
  if (stopStream) { stopStream(); stopStream = null; }
  while (charts.length) charts.pop().dispose();
  main.replaceChildren();
}

// ---- login ----
function loginPage() {
  const user = h('input', { name: 'user', autocomplete: 'username', required: true });
  const pass = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const msg = h('div');
  const form = h('form', { class: 'login', onsubmit: async (ev) => {
    ev.preventDefault();
    setCredentials(user.value, pass.value);
    try {
      await get('/v1/clusters');
      location.hash = '#/fleet';
      route();
    } catch (e) {
      clearCredentials();
      msg.replaceChildren(errBox(e.status === 401 ? 'Wrong user name or password' : e));
    }
  } }, h('h2', {}, 'Log in'), h('label', {}, 'User ', user), h('label', {}, 'Password ', pass), h('button', { type: 'submit' }, 'Log in'), msg);
  main.append(form);
}

// ---- clusters and nodes, live ----
async function fleetPage() {
  const box = h('div');
  main.append(h('h2', {}, 'Clusters and nodes'), box, addForms());
  const render = async () => {
    try {
      const [c, n] = await Promise.all([get('/v1/clusters'), get('/v1/nodes')]);
      box.replaceChildren(
        h('h3', {}, 'Clusters'),
        table([['id', (r) => r.id], ['region', (r) => r.region], ['location', (r) => r.location ? `${r.location.lat ?? 0}, ${r.location.lon ?? 0}` : '']], c.clusters || []),
        h('h3', {}, 'Nodes'),
        table([
          ['id', (r) => r.id], ['cluster', (r) => r.clusterId],
          ['state', (r) => h('span', { class: 'state-' + (r.state || 'ACTIVE') }, r.state || 'ACTIVE')],
          ['why', (r) => r.stateReason || r.healthDetail || r.reason || (r.healthy === false ? 'status_url not answering' : '')],
          ['per slot', (r) => r.perSlot], ['effective capacity', (r) => r.effectivePerSlot ?? r.perSlot],
          ['load', (r) => r.load !== undefined ? pct(r.load) : (r.bookedNow !== undefined ? `${r.bookedNow}/${r.perSlot}` : '')],
          ['base url', (r) => r.baseUrl],
        ], n.nodes || []));
    } catch (e) { box.replaceChildren(errBox(e)); }
  };
  await render();
  stopStream = subscribe('/v1/events?topics=nodes', () => render());
}

function addForms() {
  const msg = h('div');
  const cid = h('input', { name: 'cluster-id', placeholder: 'cluster id' });
  const region = h('input', { name: 'cluster-region', placeholder: 'region' });
  const lat = h('input', { name: 'cluster-lat', placeholder: 'latitude', size: 8 });
  const lon = h('input', { name: 'cluster-lon', placeholder: 'longitude', size: 8 });
  const nid = h('input', { name: 'node-id', placeholder: 'node id' });
  const ncl = h('input', { name: 'node-cluster', placeholder: 'cluster id' });
  const nurl = h('input', { name: 'node-url', placeholder: 'base url' });
  const nper = h('input', { name: 'node-per-slot', placeholder: 'per slot', size: 5 });
  const nstat = h('input', { name: 'node-status-url', placeholder: 'status url (optional)' });
  const act = (fn) => async (ev) => {
    ev.preventDefault();
    try { await fn(); msg.replaceChildren(h('p', {}, 'Done.')); route(); } catch (e) { msg.replaceChildren(errBox(e)); }
  };
  return h('div', {},
    h('h3', {}, 'Register'),
    h('form', { id: 'add-cluster', onsubmit: act(() => post('/v1/clusters', { id: cid.value, region: region.value, location: { lat: Number(lat.value), lon: Number(lon.value) } })) },
      cid, region, lat, lon, h('button', {}, 'Add cluster')),
    h('form', { id: 'add-node', onsubmit: act(() => post('/v1/nodes', { id: nid.value, clusterId: ncl.value, baseUrl: nurl.value, perSlot: Number(nper.value), statusUrl: nstat.value || undefined })) },
      nid, ncl, nurl, nper, nstat, h('button', {}, 'Add node')),
    msg);
}

// ---- campaigns ----
async function campaignsPage() {
  main.append(h('h2', {}, 'Campaigns'));
  try {
    const r = await get('/v1/campaigns', { page_size: 100 });
    main.append(table([
      ['id', (c) => h('a', { href: '#/campaign/' + encodeURIComponent(c.id) }, c.id)],
      ['version', (c) => c.targetVersion], ['state', (c) => c.state],
      ['window', (c) => c.windowEndSlot ? `${c.windowStartSlot}-${c.windowEndSlot}` : ''], ['created', (c) => fmtMs(c.createdMs)],
    ], r.campaigns || []));
  } catch (e) { main.append(errBox(e)); }
}

// ---- wizard S2-S5 ----
async function wizardPage() {
  const msg = h('div');
  const id = h('input', { name: 'campaign-id', placeholder: 'campaign id', required: true });
  const version = h('select', { name: 'version' });
  try {
    const v = await get('/v1/versions');
    for (const a of v.artifacts || v.versions || []) version.append(h('option', { value: a.version }, a.version + (a.component ? ` (${a.component})` : '')));
  } catch (e) { msg.append(errBox(e)); }
  const mode = h('select', { name: 'pick' }, h('option', { value: 'ids' }, 'terminal ids'), h('option', { value: 'file' }, 'file (one id a line)'), h('option', { value: 'filter' }, 'filter'));
  const ids = h('textarea', { name: 'terminal-ids', rows: 3, cols: 50, placeholder: 't1, t2, ...' });
  const file = h('input', { type: 'file', name: 'terminal-file' });
  const filter = h('input', { name: 'terminal-filter', size: 50, placeholder: 'e.g. cluster=eu-1 version=1.0' });
  const out = h('div');
  const form = h('form', { id: 'wizard', onsubmit: async (ev) => {
    ev.preventDefault();
    const body = { id: id.value, targetVersion: version.value };
    try {
      if (mode.value === 'ids') body.terminalIds = ids.value.split(/[\s,]+/).filter(Boolean);
      else if (mode.value === 'file') body.terminalIds = (await file.files[0].text()).split(/\s+/).filter(Boolean);
      else body.filter = parseFilter(filter.value);
      await post('/v1/campaigns', body);
      await showWindows(id.value, out);
    } catch (e) { msg.replaceChildren(errBox(e)); }
  } }, h('h2', {}, 'New campaign'), h('p', {}, 'S2: pick the terminals and the version.'),
    h('label', {}, 'Id ', id), h('label', {}, 'Version ', version), h('label', {}, 'Terminals by ', mode),
    ids, h('div', {}, file), h('div', {}, filter), h('button', { type: 'submit' }, 'Create and show windows'), msg);
  main.append(form, out);
}

function parseFilter(text) {
  const f = {};
  for (const part of text.split(/\s+/).filter(Boolean)) {
    const [k, v] = part.split('=');
    const key = k.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
    (f[key + 's'] ||= []).push(v);
  }
  return f;
}

async function showWindows(campaignId, out) {
  out.replaceChildren(h('p', {}, 'Asking for windows...'));
  const w = await get(`/v1/campaigns/${encodeURIComponent(campaignId)}/windows`);
  const lower = h('p', { id: 'lower-bound' }, `S3: ${w.terminals} terminals, ${w.capacityPerSlot} downloads per slot over all active nodes: at least ${w.lowerBoundSlots} slots (slot ${Number(w.slotMs || 0) >= 60000 ? Number(w.slotMs) / 60000 + ' min' : Number(w.slotMs || 0) / 1000 + ' s'}).`);
  const cards = h('div', { class: 'windows' });
  const calEl = h('div', { class: 'heatmap', id: 'capacity-calendar' });
  const msg = h('div');
  const wins = w.windows || [];
  let chosen = null;
  const from = Math.min(...wins.map((x) => Number(x.startSlot)));
  const to = Math.max(...wins.map((x) => Number(x.endSlot)));
  let cal = null;
  try { cal = await get('/v1/capacity', { from_slot: from, to_slot: to, campaign_id: campaignId }); } catch (e) {
    calEl.replaceChildren(h('p', { class: 'err' }, e.status === 404 ? 'No capacity calendar on this server (GET /v1/capacity).' : errBox(e).textContent));
    calEl.style.height = 'auto';
  }
  const draw = (win) => {
    if (!cal) return;
    while (charts.length) charts.pop().dispose();
    const grid = { nodes: cal.nodes || [], slots: cal.slots || [], values: (cal.rows || []).map((r) => r.booked) };
    const overlay = win && cal.proposals ? (cal.proposals.find((p) => p.label === win.label)?.rows || []).map((r) => r.booked) : null;
    heatmap(calEl, win ? `Booked by all campaigns + window "${win.label}"` : 'Booked by all campaigns', grid, overlay);
  };
  wins.forEach((win) => {
    const card = h('div', { class: 'window', 'data-label': win.label },
      h('strong', {}, win.label), h('div', {}, `slots ${win.startSlot}-${win.endSlot} (${win.slotsUsed} used)`),
      h('div', {}, `${fmtMs(win.startMs)} to ${fmtMs(win.endMs)}`), h('div', {}, `done by ${fmtMs(win.expectedCompletionMs)}`),
      h('div', {}, `peak utilisation ${pct(win.peakUtilisation)}`),
      h('button', { type: 'button', onclick: () => { chosen = win; cards.querySelectorAll('.window').forEach((c) => c.classList.toggle('chosen', c === card)); draw(win); } }, 'Compare'),
      h('button', { type: 'button', class: 'schedule', onclick: async () => {
        try {
          await post(`/v1/campaigns/${encodeURIComponent(campaignId)}/schedule`, { startSlot: win.startSlot, endSlot: win.endSlot, maxUtilisation: win.maxUtilisation, coreEndSlot: win.coreEndSlot });
          location.hash = '#/campaign/' + encodeURIComponent(campaignId);
        } catch (e) {
          // A window that began meanwhile is refused: offer the current ones.
          if (e.status === 400 && /ask for windows again/.test(e.message)) {
            await showWindows(campaignId, out);
            out.append(h('p', { class: 'err', role: 'alert' }, 'That window has begun; here are the current ones.'));
          } else msg.replaceChildren(errBox(e));
        }
      } }, 'Schedule this window (S5)'));
    cards.append(card);
  });
  out.replaceChildren(h('h3', {}, 'S3-S4: candidate windows'), lower, cards, calEl, msg);
  draw(chosen);
}

// ---- campaign page ----
const PAGE = 50;
async function campaignPage(id) {
  const enc = encodeURIComponent(id);
  const head = h('div');
  const counts = h('div', { class: 'counts', id: 'counts' });
  const bar = h('div', { class: 'progress' }, h('div', { style: 'width:0%' }));
  const controls = h('div', { id: 'controls' });
  const heatEl = h('div', { class: 'heatmap', id: 'downloads-heatmap' });
  const failures = h('div', { id: 'failures' });
  const terms = h('div', { id: 'terminals' });
  const msg = h('div');
  main.append(head, counts, bar, controls, msg, heatEl, h('h3', {}, 'Failures'), failures, h('h3', {}, 'Terminals'), terms);
  const act = (verb) => h('button', { type: 'button', id: verb, onclick: async () => {
    try { await post(`/v1/campaigns/${enc}/${verb}`); msg.replaceChildren(); await refresh(); } catch (e) { msg.replaceChildren(errBox(e)); }
  } }, verb);
  controls.append(act('pause'), act('resume'), act('cancel'));

  let tokens = [''];
  let outcomeFilter = '';
  const loadTerminals = async () => {
    const r = await get(`/v1/campaigns/${enc}/terminals`, { page_size: PAGE, page_token: tokens[tokens.length - 1], outcomes: outcomeFilter });
    const sel = h('select', { onchange: (e) => { outcomeFilter = e.target.value; tokens = ['']; loadTerminals(); } },
      ['', 'OUTCOME_PENDING', 'SUCCEEDED', 'FAILED', 'ALREADY_CURRENT', 'EXPIRED', 'SUPERSEDED', 'CANCELLED', 'REMOVED', 'TIMED_OUT']
        .map((s) => h('option', { value: s, selected: s === outcomeFilter }, s || 'all')));
    terms.replaceChildren(h('label', {}, 'Outcome ', sel), table([
      ['terminal', (t) => t.terminalId], ['node', (t) => t.nodeId], ['slot', (t) => t.slot], ['start', (t) => fmtMs(t.startAtMs)],
      ['state', (t) => t.state], ['outcome', (t) => t.outcome], ['detail', (t) => t.detail], ['attempts', (t) => t.attempts],
    ], r.terminals || []), h('div', { class: 'pager' },
      h('button', { type: 'button', disabled: tokens.length <= 1, onclick: () => { tokens.pop(); loadTerminals(); } }, 'Previous'),
      h('button', { type: 'button', id: 'next-page', disabled: !r.nextPageToken, onclick: () => { tokens.push(r.nextPageToken); loadTerminals(); } }, 'Next'),
      ` page ${tokens.length}${r.totalSize ? ' of ' + Math.ceil(Number(r.totalSize) / PAGE) : ''}`));
  };

  let heat = null;
  const refresh = async () => {
    try {
      const s = await get(`/v1/campaigns/${enc}/summary`);
      const c = s.campaign || {};
      head.replaceChildren(h('h2', {}, `Campaign ${id} `, h('span', { id: 'campaign-state' }, c.state || '')),
        h('p', {}, `target ${c.targetVersion || ''}, window slots ${c.windowStartSlot ?? ''}-${c.windowEndSlot ?? ''}`, c.pausedReason ? ` - paused: ${c.pausedReason}` : ''));
      // CampaignSummary: outcomes is a map of outcome name to count (absent = 0).
      const byOutcome = s.outcomes || {};
      const total = Number(s.terminals ?? 0);
      counts.replaceChildren(h('span', {}, `total ${total}`),
        h('span', { 'data-count': 'assigned' }, `booked ${s.assigned || 0}`), h('span', { 'data-count': 'pending' }, `waiting ${s.pending || 0}`),
        ...Object.entries(byOutcome).map(([k, v]) => h('span', { 'data-count': k }, `${k} ${v}`)));
      const FINAL = ['SUCCEEDED', 'FAILED', 'ALREADY_CURRENT', 'EXPIRED', 'SUPERSEDED', 'CANCELLED', 'REMOVED'];
      const done = FINAL.reduce((a, k) => a + Number(byOutcome[k] || 0), 0);
      bar.firstChild.style.width = total ? `${(100 * done) / total}%` : '0%';
      const started = s.startedByNodeSlot || (await get(`/v1/campaigns/${enc}/downloads`).catch(() => null));
      if (started) {
        const grid = { nodes: started.nodes || [], slots: started.slots || [], values: (started.rows || []).map((r) => r.started) };
        if (heat) { charts.splice(charts.indexOf(heat), 1); heat.dispose(); }
        heat = heatmap(heatEl, 'Downloads started per node and slot', grid);
      }
      const f = await get(`/v1/campaigns/${enc}/terminals`, { page_size: 20, outcomes: 'FAILED' });
      failures.replaceChildren(table([['terminal', (t) => t.terminalId], ['node', (t) => t.nodeId], ['detail', (t) => t.detail], ['attempts', (t) => t.attempts]], f.terminals || []));
    } catch (e) { msg.replaceChildren(errBox(e)); }
  };
  await refresh();
  await loadTerminals().catch((e) => terms.replaceChildren(errBox(e)));
  let pending = false;
  stopStream = subscribe(`/v1/events?campaign_id=${enc}`, () => {
    if (pending) return;           // coalesce bursts: at most one summary fetch per second
    pending = true;
    setTimeout(async () => { pending = false; await refresh(); }, 1000);
  });
}

// ---- audit ----
async function auditPage() {
  main.append(h('h2', {}, 'Audit trail'));
  const box = h('div', { id: 'audit' });
  main.append(box);
  let tokens = [''];
  const load = async () => {
    try {
      const r = await get('/v1/audit', { page_size: 50, page_token: tokens[tokens.length - 1] });
      box.replaceChildren(table([
        ['when', (e) => fmtMs(e.timeMs)], ['who', (e) => e.who], ['role', (e) => e.role],
        ['via', (e) => e.channel], ['what', (e) => e.command], ['request', (e) => e.request],
        ['outcome', (e) => (e.code && e.code !== 'ERROR_CODE_UNSPECIFIED' ? `${e.code}: ${e.message || ''}` : 'done')],
      ], r.entries || []), h('div', { class: 'pager' },
        h('button', { type: 'button', disabled: tokens.length <= 1, onclick: () => { tokens.pop(); load(); } }, 'Previous'),
        h('button', { type: 'button', disabled: !r.nextPageToken, onclick: () => { tokens.push(r.nextPageToken); load(); } }, 'Next')));
    } catch (e) { box.replaceChildren(errBox(e)); }
  };
  await load();
}

async function route() {
  reset();
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  if (!loggedIn()) { nav.hidden = true; who.textContent = ''; return loginPage(); }
  nav.hidden = false;
  who.replaceChildren(userName() + ' ', h('button', { type: 'button', onclick: () => { clearCredentials(); route(); } }, 'Log out'));
  const [, page, arg] = (location.hash || '#/fleet').split('/');
  nav.querySelectorAll('a').forEach((a) => a.classList.toggle('active', a.getAttribute('href') === '#/' + page));
  if (page === 'campaigns') return campaignsPage();
  if (page === 'wizard') return wizardPage();
  if (page === 'campaign' && arg) return campaignPage(decodeURIComponent(arg));
  if (page === 'audit') return auditPage();
  return fleetPage();
}

window.addEventListener('hashchange', route);
window.addEventListener('resize', () => charts.forEach((c) => c.resize()));
route();
