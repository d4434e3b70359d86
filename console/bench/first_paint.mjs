// Benchmark (not a test): time from navigation to the campaign page's first
// paint and to its counts + heatmap being drawn, for a 1,000,000-terminal
// campaign, in headless Chromium. Against a live scheduler:
//   node console/bench/first_paint.mjs --url http://127.0.0.1:PORT --user U --password P --campaign ID
// Without --url it serves console/dist from bench/stub_api.mjs (aggregates only),
// which measures the console's own cost, not the server's.
import { dirname, join } from 'node:path';
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
await page.goto(url + '/');
await page.evaluate(([u, p]) => { sessionStorage.setItem('slotwise.auth', 'Basic ' + btoa(u + ':' + p)); sessionStorage.setItem('slotwise.user', u); }, [user, password]);
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
console.log(`campaign page, ${stub ? 'stub API (' + arg('terminals', 1000000) + ' terminals, aggregates only)' : url}, ${runs} runs`);
console.log(`first contentful paint: median ${med(fp).toFixed(0)} ms, max ${Math.max(...fp).toFixed(0)} ms`);
console.log(`counts + heatmap + terminal page drawn: median ${med(ready)} ms, max ${Math.max(...ready)} ms (target <= 2000 ms)`);
await ctx.close();
if (stub) stub.close();
