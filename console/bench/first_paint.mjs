// Benchmark (not a test): time from navigation to the campaign page's first
// paint and to its counts + heatmap being drawn, for a 1,000,000-terminal
// campaign, in headless Chromium. Against a live scheduler:
//   node console/bench/first_paint.mjs --url http://127.0.0.1:PORT --user U --password P --campaign ID
// Without --url it serves console/dist from bench/stub_api.mjs (aggregates only),
// which measures the console's own cost, not the server's.
import { dirname, join } from 'node:path';
import { loadavg, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { launch } from './chromium.mjs';
import { startStub } from './stub_api.mjs';

const arg = (name, def) => { const i = process.argv.indexOf('--' + name); return i > 0 ? process.argv[i + 1] : def; };
const here = dirname(fileURLToPath(import.meta.url));
const runs = Number(arg('runs', 5));
let url = arg('url'), user = arg('user', 'op'), password = arg('password', 'pw'), campaign = arg('campaign', 'big');
let stub = null;
if (!url) { stub = await startStub({ dist: join(here, '..', 'dist'), terminals: Number(arg('terminals', 1000000)) }); url = stub.url; }

const ctx = await launch();
const page = await ctx.newPage();
page.setDefaultTimeout(180000);  // a loaded machine: the figures say how long, not a timeout
page.setDefaultNavigationTimeout(180000);
const load0 = loadavg()[0];
await page.goto(url + '/');
await page.evaluate(([u, p]) => { sessionStorage.setItem('slotwise.auth', 'Basic ' + btoa(u + ':' + p)); sessionStorage.setItem('slotwise.user', u); }, [user, password]);
// --slow-requests MS: print every request of the page that took longer (to find a stall).
const slow = Number(arg('slow-requests', 0));
if (slow) {
  const started = new Map();
  page.on('request', (r) => started.set(r, Date.now()));
  const done = (r, how) => { const t = Date.now() - (started.get(r) ?? Date.now()); if (t >= slow) console.log(`slow request ${r.method()} ${r.url()} ${how} after ${t} ms`); };
  page.on('requestfinished', (r) => { done(r, 'finished'); started.delete(r); });
  page.on('requestfailed', (r) => { done(r, 'failed'); started.delete(r); });
  setInterval(() => { for (const [r, t] of started) if (Date.now() - t > 5000) console.log(`pending ${r.method()} ${r.url()} for ${Date.now() - t} ms`); }, 5000).unref();
}
const fp = [], ready = [];
for (let i = 0; i < runs; i++) {
  await page.goto('about:blank');
  const t0 = Date.now();
  await page.goto(`${url}/#/campaign/${encodeURIComponent(campaign)}`);
  await page.waitForSelector('#counts span');
  await page.waitForSelector('#downloads-heatmap canvas');
  await page.waitForSelector('#terminals table tr:nth-child(2)');
  const wall = Date.now() - t0;
  const paint = await page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1);
  fp.push(paint); ready.push(wall);
}
const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log(`load average ${load0.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end (${cpus().length} cores)`);
console.log(`campaign page, ${stub ? 'stub API (' + arg('terminals', 1000000) + ' terminals, aggregates only)' : url}, ${runs} runs`);
console.log(`first contentful paint: median ${med(fp).toFixed(0)} ms, max ${Math.max(...fp).toFixed(0)} ms`);
console.log(`counts + heatmap + terminal page drawn: median ${med(ready)} ms, max ${Math.max(...ready)} ms (target <= 2000 ms)`);
await ctx.close();
if (stub) stub.close();
