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

// Heatmap of a node x slot matrix: {nodes:[id], slots:[label], values:[[per slot] per node],
// capacity?:[per node]}; `overlay` (same shape as values) is added on top and its cells outlined.
// The element gets data-cells / data-total / data-overlay-total, for tests and screen readers.
// echarts (1 MB) is loaded after the page's first requests, so counts and
// tables paint without waiting for it; heatmap() waits for it.
let echartsReady = null;
function loadEcharts() {
  echartsReady ||= new Promise((resolve, reject) => {
    if (window.echarts) return resolve(window.echarts);
    const s = document.createElement('script');
    s.src = 'vendor/echarts.min.js';
    s.onload = () => resolve(window.echarts);
    s.onerror = () => reject(new Error('could not load vendor/echarts.min.js'));
    document.head.append(s);
  });
  return echartsReady;
}

async function heatmap(el, title, grid, overlay, unit = '') {
  await loadEcharts();
  const data = [];
  const added = [];
  let max = 1, total = 0, overlayTotal = 0;
  (grid.nodes || []).forEach((_, ni) => (grid.slots || []).forEach((_, si) => {
    const base = Number(grid.values?.[ni]?.[si] || 0);
    const more = Number(overlay?.[ni]?.[si] || 0);
    const v = base + more;
    max = Math.max(max, v, Number(grid.capacity?.[ni] || 0));
    total += base;
    overlayTotal += more;
    if (v > 0) data.push([si, ni, v, base, more]);
    if (more > 0) added.push([si, ni, v, base, more]);
  }));
  el.dataset.cells = String(data.length);
  el.dataset.total = String(total);
  el.dataset.overlayTotal = String(overlayTotal);
  const chart = echarts.init(el, null, { renderer: 'canvas' });
  const tip = (p) => {
    const [si, ni, v, base, more] = p.value;
    const cap = grid.capacity ? ` of ${grid.capacity[ni]}` : '';
    return `node ${grid.nodes[ni]}, slot ${grid.slots[si]}: ${base}${unit}${cap}` + (more ? ` + ${more} this window = ${v}` : '');
  };
  const series = [{ type: 'heatmap', data, progressive: 5000, name: 'booked' }];
  if (overlay) {
    series.push({ type: 'heatmap', data: added, name: 'this window', itemStyle: { borderColor: '#d81b60', borderWidth: 2, color: 'rgba(0,0,0,0)' } });
  }
  chart.setOption({
    title: { text: title, textStyle: { fontSize: 13 } },
    tooltip: { formatter: tip },
    grid: { left: 90, right: 20, top: 30, bottom: 60 },
    xAxis: { type: 'category', data: grid.slots.map(String), name: 'slot (UTC)' },
    yAxis: { type: 'category', data: grid.nodes },
    visualMap: { min: 0, max, calculable: true, orient: 'horizontal', left: 'center', bottom: 0, seriesIndex: 0 },
    series,
  });
  el.dataset.rendered = 'true';
  charts.push(chart);
  return chart;
}

// A CapacityCalendar (GET /v1/capacity, .../window-load) as heatmap rows.
// Slot labels: the slot's start in UTC (HH:MM, or HH:MM:SS for short slots).
function slotLabels(from, to, fromMs, slotMs) {
  const out = [];
  for (let s = from; s < to; s++) {
    const t = new Date(Number(fromMs || 0) + (s - from) * Number(slotMs || 0)).toISOString();
    out.push(Number(slotMs) < 60000 ? t.slice(11, 19) : t.slice(11, 16));
  }
  return out;
}

function calendarGrid(cal) {
  const from = Number(cal.fromSlot || 0), to = Number(cal.toSlot || 0);
  const slots = slotLabels(from, to, cal.fromMs, cal.slotMs);
  const rows = cal.nodes || [];
  return { nodes: rows.map((r) => r.nodeId), slots, values: rows.map((r) => r.booked || []), capacity: rows.map((r) => r.capacityPerSlot || 0) };
}

// At most one run of `fn` at a time, and at most one a second: live events
// come with every change, far faster than a page's requests may go out.
function coalesce(fn, ms = 1000) {
  let running = false, again = false;
  const run = async () => {
    if (running) { again = true; return; }
    running = true;
    try { await fn(); } finally {
      await new Promise((r) => setTimeout(r, ms));
      running = false;
      if (again) { again = false; run(); }
    }
  };
  return run;
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
  const why = (r) => {
    const state = r.state || 'ACTIVE';
    const parts = [];
    if (state === 'DOWN') parts.push('DOWN (set by an admin): takes nothing');
    if (state === 'DRAINING') parts.push('DRAINING (set by an admin): keeps its bookings, takes no new ones');
    if (r.health === 'UNREACHABLE') parts.push('out of capacity until its status_url answers');
    if (r.healthDetail) parts.push(r.healthDetail);
    return parts.join('; ');
  };
  const render = async () => {
    try {
      const [c, n, cal] = await Promise.all([get('/v1/clusters'), get('/v1/nodes'),
        get('/v1/capacity', { to_slot: undefined }).catch(() => null)]);
      const now = new Map((cal?.nodes || []).map((r) => [r.nodeId, Number(r.booked?.[0] || 0)]));
      box.replaceChildren(
        h('h3', {}, 'Clusters'),
        table([['id', (r) => r.id], ['region', (r) => r.region], ['location', (r) => r.location ? `${r.location.lat ?? 0}, ${r.location.lon ?? 0}` : '']], c.clusters || []),
        h('h3', {}, 'Nodes'),
        table([
          ['id', (r) => r.id], ['cluster', (r) => r.clusterId],
          ['state', (r) => h('span', { class: 'state-' + (r.state || 'ACTIVE') }, r.state || 'ACTIVE')],
          ['health', (r) => h('span', { class: 'health-' + (r.health || 'UNPOLLED') }, r.health || '')],
          ['why', why],
          ['since', (r) => fmtMs(r.healthSinceMs)],
          ['per slot', (r) => r.perSlot ?? 0], ['can take now', (r) => r.effectivePerSlot ?? 0],
          ['booked this slot', (r) => now.has(r.id) ? `${now.get(r.id)}/${r.perSlot ?? 0}` : ''],
          ['connections', (r) => r.activeConnections ?? (r.statusUrl ? 0 : '')],
          ['base url', (r) => r.baseUrl],
        ], n.nodes || []));
    } catch (e) { box.replaceChildren(errBox(e)); }
  };
  await render();
  stopStream = subscribe('/v1/events?topics=nodes', coalesce(render));
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
  // The calendar covers the windows, at most 2016 slots (the server's limit).
  const to = Math.min(Math.max(...wins.map((x) => Number(x.endSlot))), from + 2016);
  let cal = null;
  try { cal = await get('/v1/capacity', { from_slot: from, to_slot: to }); } catch (e) {
    calEl.replaceChildren(errBox(e));
    calEl.style.height = 'auto';
  }
  const loads = new Map();  // window label -> its CapacityCalendar of what it would add
  const draw = async (win) => {
    if (!cal) return;
    let overlay = null;
    if (win) {
      try {
        if (!loads.has(win.label)) {
          loads.set(win.label, await get(`/v1/campaigns/${encodeURIComponent(campaignId)}/window-load`, {
            start_slot: win.startSlot, end_slot: win.endSlot, max_utilisation: win.maxUtilisation || undefined,
            core_end_slot: win.coreEndSlot && win.coreEndSlot !== '0' ? win.coreEndSlot : undefined, from_slot: from, to_slot: to }));
        }
        const load = loads.get(win.label);
        const byNode = new Map((load.nodes || []).map((r) => [r.nodeId, r.booked || []]));
        overlay = (cal.nodes || []).map((r) => byNode.get(r.nodeId) || []);
        loadNote.textContent = `window "${win.label}" would book ${load.placed || 0} terminals here` +
          (load.unplaced ? `, ${load.unplaced} find no room in it` : '') + (load.placedOutside ? ` (${load.placedOutside} outside the calendar)` : '');
      } catch (e) { loadNote.replaceChildren(errBox(e)); }
    }
    while (charts.length) charts.pop().dispose();
    await heatmap(calEl, win ? `Booked by all campaigns (fill) + window "${win.label}" (outlined), per node and slot` : 'Booked by all campaigns, per node and slot',
      calendarGrid(cal), overlay);
    calEl.dataset.window = win ? win.label : '';
  };
  const loadNote = h('p', { id: 'window-load' });
  wins.forEach((win) => {
    const card = h('div', { class: 'window', 'data-label': win.label },
      h('strong', {}, win.label), h('div', {}, `slots ${win.startSlot}-${win.endSlot} (${win.slotsUsed} used)`),
      h('div', { class: 'vs-lower' }, `${Number(win.endSlot) - Number(win.startSlot)} slots long; lower bound ${w.lowerBoundSlots}`),
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
  out.replaceChildren(h('h3', {}, 'S3-S4: candidate windows'), lower, cards, h('h3', {}, 'Capacity calendar'), loadNote, calEl, msg);
  await draw(chosen);
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
  loadEcharts();  // in parallel with the first requests
  // Pause, resume and cancel need the operator role (GET /v1 says ours).
  const me = await get('/v1').catch(() => ({}));
  const mayChange = me.role === 'operator' || me.role === 'admin';
  if (mayChange) controls.append(act('pause'), act('resume'), act('cancel'));
  else controls.append(h('p', { class: 'note', id: 'read-only' }, `role ${me.role || 'unknown'}: read only (pause, resume and cancel need operator)`));

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
      ` page ${tokens.length} of ${Math.max(1, Math.ceil(Number(r.total || 0) / PAGE))} (${Number(r.total || 0)} terminals)`));
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
      // Downloads started (and failed) per node and slot, and the failures,
      // aggregated by the server; the table before the heatmap (echarts may
      // still be loading).
      const [d, f] = await Promise.all([get(`/v1/campaigns/${enc}/downloads`),
        get(`/v1/campaigns/${enc}/terminals`, { page_size: 20, outcomes: 'FAILED' })]);
      failures.replaceChildren(h('p', {}, `${Number(f.total || 0)} failed` + (Number(f.total || 0) > 20 ? ' (the first 20; filter the table below for all)' : '')),
        table([['terminal', (t) => t.terminalId], ['node', (t) => t.nodeId], ['slot', (t) => t.slot], ['state', (t) => t.state],
          ['detail', (t) => t.detail], ['attempts', (t) => t.attempts], ['when', (t) => fmtMs(t.updatedMs)]], f.terminals || []));
      const slots = slotLabels(Number(d.fromSlot || 0), Number(d.toSlot || 0), d.fromMs, d.slotMs);
      const rows = d.nodes || [];
      if (heat) { charts.splice(charts.indexOf(heat), 1); heat.dispose(); heat = null; }
      heat = await heatmap(heatEl, `Downloads started per node and slot (${d.started || 0} started, ${d.failed || 0} failed)`,
        { nodes: rows.map((r) => r.nodeId), slots, values: rows.map((r) => r.started || []) });
      heatEl.dataset.started = String(d.started || 0);
    } catch (e) { msg.replaceChildren(errBox(e)); }
  };
  await Promise.all([refresh(), loadTerminals().catch((e) => terms.replaceChildren(errBox(e)))]);
  stopStream = subscribe(`/v1/events?campaign_id=${enc}`, coalesce(refresh));
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
