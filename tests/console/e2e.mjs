// The console against a real scheduler (driven by tests/integration/test_console.py):
// log in, register a cluster and a node, create a campaign, compare the windows,
// schedule one, pause and resume, watch it reach DONE, check the audit page.
//   node tests/console/e2e.mjs CONFIG.json   (url, user, password, campaign, version,
//   terminals, cluster{id,lat,lon}, node{id,url,perSlot}, artifacts, timeoutMs)
import { readFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const { launch } = await import(join(here, '..', '..', 'console', 'bench', 'chromium.mjs'));
const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
mkdirSync(cfg.artifacts, { recursive: true });
rmSync(join(cfg.artifacts, 'e2e-failure.png'), { force: true });
let passed = 0, failed = 0;
const check = (name, ok, detail = '') => { if (ok) passed++; else { failed++; console.log(`FAIL ${name} ${detail}`); } };
const ctx = await launch();
const page = await ctx.newPage();
page.setDefaultTimeout(30000);
// A request the browser could not complete says why (net::ERR_...), beside the FAIL it causes.
page.on('requestfailed', (r) => { if (!r.url().includes('/v1/events')) console.log(`NOTE request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`); });
const shot = (name) => page.screenshot({ path: join(cfg.artifacts, name + '.png'), fullPage: true });
const text = (sel) => page.textContent(sel);
try {
  await page.goto(cfg.url + '/');
  await page.fill('input[name=user]', cfg.user);
  await page.fill('input[name=password]', cfg.password + 'x');
  await page.click('form.login button');
  await page.waitForSelector('[role=alert]');
  check('a wrong password is refused', (await text('[role=alert]')).includes('Wrong user name or password'));
  await shot('e2e-login-refused');
  await page.fill('input[name=password]', cfg.password);
  await page.click('form.login button');
  await page.waitForSelector('#add-cluster');
  await page.fill('input[name=cluster-id]', cfg.cluster.id);
  await page.fill('input[name=cluster-region]', 'web');
  await page.fill('input[name=cluster-lat]', String(cfg.cluster.lat));
  await page.fill('input[name=cluster-lon]', String(cfg.cluster.lon));
  await page.click('#add-cluster button');
  await page.waitForSelector(`td:text-is("${cfg.cluster.id}")`);
  await page.fill('input[name=node-id]', cfg.node.id);
  await page.fill('input[name=node-cluster]', cfg.cluster.id);
  await page.fill('input[name=node-url]', cfg.node.url);
  await page.fill('input[name=node-per-slot]', String(cfg.node.perSlot));
  await page.click('#add-node button');
  await page.waitForSelector(`td:text-is("${cfg.node.id}")`);
  check('the registered node is listed ACTIVE', (await text('main')).includes(cfg.node.id));
  await shot('e2e-fleet');

  await page.click('a[href="#/wizard"]');
  await page.waitForSelector(`#wizard select[name=version] option[value="${cfg.version}"]`, { state: 'attached' });
  await page.fill('input[name=campaign-id]', cfg.campaign);
  await page.selectOption('select[name=version]', cfg.version);
  await page.selectOption('select[name=pick]', 'ids');
  await page.fill('textarea[name=terminal-ids]', cfg.terminals.join(','));
  await page.click('#wizard button[type=submit]');
  await page.waitForSelector('.window');
  const lower = await text('#lower-bound');
  check('the lower bound names the terminals', lower.includes(`${cfg.terminals.length} terminals`), lower);
  const labels = await page.$$eval('.window', (ws) => ws.map((w) => w.dataset.label));
  check('windows side by side', labels.length >= 1, JSON.stringify(labels));
  // The capacity calendar from GET /v1/capacity, and what the compared window would add.
  await page.waitForSelector('#capacity-calendar[data-rendered] canvas');
  const last = labels[labels.length - 1];
  await page.click(`.window[data-label="${last}"] button:not(.schedule)`);
  await page.waitForSelector(`#capacity-calendar[data-window="${last}"]`);
  const added = Number(await page.getAttribute('#capacity-calendar', 'data-overlay-total'));
  const note = await text('#window-load');
  check('the capacity calendar overlays what the window would book', added > 0 && added <= cfg.terminals.length &&
    note.includes(`would book ${cfg.terminals.length} terminals`), `${added} ${note}`);
  await shot('e2e-windows');
  await page.locator('#capacity-calendar').screenshot({ path: join(cfg.artifacts, 'e2e-capacity-heatmap.png') });
  await page.click(`.window[data-label="${labels[0]}"] button.schedule`);
  await page.waitForSelector('#campaign-state:text("SCHEDULED")');
  await page.click('#pause');
  await page.waitForSelector('#campaign-state:text("PAUSED")');
  check('pause', true);
  await shot('e2e-paused');
  await page.click('#resume');
  await page.waitForSelector('#campaign-state:text("SCHEDULED")');
  check('resume', true);
  await page.waitForSelector('#campaign-state:text("DONE")', { timeout: cfg.timeoutMs });
  await page.waitForFunction((n) => document.querySelector('#counts')?.textContent.includes(`SUCCEEDED ${n}`), cfg.terminals.length, { timeout: 10000 });
  check('live progress reached DONE with every terminal SUCCEEDED', true);
  await page.waitForSelector('#terminals table tr:nth-child(2)');
  check('the terminal table lists them', (await text('#terminals')).includes(cfg.terminals[0]));
  check('the terminal table has its total', (await text('#terminals')).includes(`(${cfg.terminals.length} terminals)`), await text('#terminals .pager'));
  // The downloads heatmap from GET /v1/campaigns/{id}/downloads: every terminal started once.
  await page.waitForFunction((n) => document.querySelector('#downloads-heatmap')?.dataset.started === String(n), cfg.terminals.length, { timeout: 15000 });
  check('the downloads heatmap counts every download', Number(await page.getAttribute('#downloads-heatmap', 'data-total')) === cfg.terminals.length);
  check('no failures listed', (await text('#failures')).includes('0 failed'));
  await shot('e2e-campaign-done');
  await page.locator('#downloads-heatmap').screenshot({ path: join(cfg.artifacts, 'e2e-downloads-heatmap.png') });

  await page.click('a[href="#/audit"]');
  try {
    await page.waitForSelector('#audit table tr:nth-child(2)', { timeout: 15000 });
  } catch {
    // Seen twice on a loaded machine, cause not found yet (a request of the
    // page left waiting?): a reload drops the page's connections and keeps
    // the login (sessionStorage). Said in the output, so it stays visible.
    console.log('NOTE the audit page did not render in 15 s; reloading it once');
    await page.reload();
    await page.waitForSelector('#audit table tr:nth-child(2)');
  }
  const audit = await text('#audit');
  for (const cmd of ['add_cluster', 'add_node', 'create_campaign', 'schedule_campaign', 'pause_campaign', 'resume_campaign']) {
    check(`the audit page lists ${cmd}`, audit.includes(cmd));
  }
  await shot('e2e-audit');
} catch (e) {
  failed++;
  console.log('FAIL ' + e.message.split('\n')[0]);
  await shot('e2e-failure').catch(() => {});
} finally {
  await ctx.close();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
