// A stand-in for the scheduler's /v1 API with the response shapes the console
// reads, answering from aggregates only (as the real server must). It exists so
// the console's own rendering can be measured and smoke-checked without a stack;
// it is NOT the scheduler. Usage: startStub({dist, terminals}) -> {url, close()}.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json' };

export function startStub({ dist, terminals = 1000000, nodes = 20, slots = 96, user = 'op', password = 'pw' }) {
  const nodeIds = Array.from({ length: nodes }, (_, i) => `node-${i}`);
  const slotIds = Array.from({ length: slots }, (_, i) => 1000 + i);
  const perNode = Math.ceil(terminals / (nodes * slots));
  const campaign = { id: 'big', targetVersion: '2.0', state: 'SCHEDULED', windowStartSlot: '1000', windowEndSlot: String(1000 + slots), createdMs: String(Date.now()) };
  const posts = [];
  const audit = [];
  const expected = 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
  const json = (res, code, body) => { res.writeHead(code, { 'Content-Type': 'application/json' }); res.end(JSON.stringify(body)); };
  const server = createServer(async (req, res) => {
    const u = new URL(req.url, 'http://x');
    const p = u.pathname;
    if (p !== '/v1' && !p.startsWith('/v1/')) {
      const file = normalize(join(dist, p === '/' ? 'index.html' : p));
      if (!file.startsWith(dist)) return json(res, 404, {});
      try { const b = await readFile(file); res.writeHead(200, { 'Content-Type': TYPES[extname(file)] || 'application/octet-stream' }); return res.end(b); } catch { return json(res, 404, { error: { code: 'NOT_FOUND', message: p } }); }
    }
    if (req.headers.authorization !== expected) return json(res, 401, { error: { code: 'UNAUTHENTICATED', message: 'login required' } });
    if (req.method === 'POST') {
      let body = '';
      for await (const chunk of req) body += chunk;
      let parsed = {};
      try { parsed = body ? JSON.parse(body) : {}; } catch { return json(res, 400, { error: { code: 'INVALID_ARGUMENT', message: 'bad JSON' } }); }
      posts.push({ path: p, body: parsed });
      audit.unshift({ timeMs: String(Date.now()), who: user, role: 'operator', channel: 'http', command: 'POST ' + p });
      const m = p.match(/^\/v1\/campaigns\/([^/]+)\/(schedule|pause|resume|cancel)$/);
      if (m) campaign.state = { schedule: 'SCHEDULED', pause: 'PAUSED', resume: 'SCHEDULED', cancel: 'CANCELLED' }[m[2]];
      return json(res, 200, {});
    }
    if (p === '/v1/events') { res.writeHead(200, { 'Content-Type': 'text/event-stream' }); res.write(': open\n\n'); return; }
    if (p === '/v1/clusters') return json(res, 200, { clusters: [{ id: 'eu-1', region: 'eu' }] });
    if (p === '/v1') return json(res, 200, { routes: [], user, role: 'operator' });
    if (p === '/v1/nodes') return json(res, 200, { nodes: nodeIds.map((id, i) => ({ id, clusterId: 'eu-1', perSlot: 1000, state: i === 0 ? 'DOWN' : 'ACTIVE',
      health: i === 1 ? 'UNREACHABLE' : 'HEALTHY', healthDetail: i === 1 ? 'status_url http://10.0.0.2/nginx_status did not answer' : '', effectivePerSlot: i < 2 ? 0 : 1000, activeConnections: 3 })) });
    if (p === '/v1/campaigns') return json(res, 200, { campaigns: [campaign] });
    if (p === '/v1/campaigns/big/summary') return json(res, 200, {
      campaign, terminals: terminals, succeeded: Math.floor(terminals * 0.6), failed: 1234,
      outcomes: { SUCCEEDED: Math.floor(terminals * 0.6), FAILED: 1234 }, assigned: terminals - Math.floor(terminals * 0.6) - 1234,
    });
    if (p === '/v1/campaigns/big/downloads') return json(res, 200, { campaignId: 'big', fromSlot: '1000', toSlot: String(1000 + slots), started: perNode * nodes * slots, failed: 1234,
      nodes: nodeIds.map((nodeId) => ({ nodeId, started: slotIds.map(() => perNode), failed: slotIds.map(() => 0) })) });
    if (p === '/v1/campaigns/big/terminals') {
      const size = Number(u.searchParams.get('page_size') || 50);
      const start = Number(u.searchParams.get('page_token') || 0);
      const failed = u.searchParams.get('outcomes') === 'FAILED';
      const list = Array.from({ length: size }, (_, i) => ({ terminalId: `t${start + i}`, nodeId: nodeIds[(start + i) % nodes], slot: String(1000 + ((start + i) % slots)), state: failed ? 'FAILED' : 'SUCCEEDED', detail: failed ? 'sha256 mismatch' : '' }));
      return json(res, 200, { terminals: list, nextPageToken: String(start + size), total: failed ? 1234 : terminals });
    }
    if (p === '/v1/versions') return json(res, 200, { artifacts: [{ version: '2.0', path: '/fw/2.0.bin' }] });
    if (p === '/v1/audit') return json(res, 200, { entries: audit });
    if (/^\/v1\/campaigns\/[^/]+\/windows$/.test(p)) return json(res, 200, {
      terminals: 3, capacityPerSlot: 2, lowerBoundSlots: 2, slotMs: '900000',
      windows: [
        { label: 'earliest', startSlot: '1000', endSlot: '1002', slotsUsed: 2, peakUtilisation: 0.75, startMs: '1796000000000', endMs: '1796001800000', expectedCompletionMs: '1796001800000' },
        { label: 'lowest-peak', startSlot: '1004', endSlot: '1007', slotsUsed: 3, peakUtilisation: 0.5, startMs: '1796003600000', endMs: '1796006300000', expectedCompletionMs: '1796006300000' },
      ] });
    // CapacityCalendar (GET /v1/capacity and .../window-load), for the slots asked.
    const calendar = (booked) => {
      const from = Number(u.searchParams.get('from_slot') || 1000), to = Number(u.searchParams.get('to_slot') || from + 96);
      return { fromSlot: String(from), toSlot: String(to), slotMs: '900000', placed: 3,
        nodes: nodeIds.slice(0, 3).map((nodeId, n) => ({ nodeId, clusterId: 'eu-1', perSlot: 2, capacityPerSlot: 2,
          booked: Array.from({ length: to - from }, (_, i) => booked(n, from + i)) })) };
    };
    if (p === '/v1/capacity') return json(res, 200, calendar((n, s) => (s < 1002 ? 1 : 0) + (n % 2)));
    if (p === '/v1/campaigns/big/window-load') {
      const a = Number(u.searchParams.get('start_slot')), b = Number(u.searchParams.get('end_slot'));
      return json(res, 200, calendar((n, s) => (s >= a && s < b && n === 0 ? 1 : 0)));
    }
    return json(res, 404, { error: { code: 'NOT_FOUND', message: p } });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${server.address().port}`, posts, close: () => server.close() })));
}
