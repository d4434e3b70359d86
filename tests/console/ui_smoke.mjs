// console.ui_smoke: the web console in a real headless Chromium against the
// stand-in API of console/bench/stub_api.mjs (NOT the scheduler: this checks the
// console's pages, forms and requests; the full-stack test with real agents needs
// h-api's server). Saves screenshots to --artifacts DIR. Prints `N passed, M failed`.
//   node tests/console/ui_smoke.mjs --artifacts build/test-artifacts/console
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const consoleDir = join(here, '..', '..', 'console');
const { launch } = await import(join(consoleDir, 'bench', 'chromium.mjs'));
const { startStub } = await import(join(consoleDir, 'bench', 'stub_api.mjs'));
const i = process.argv.indexOf('--artifacts');
const artifacts = resolve(i > 0 ? process.argv[i + 1] : 'build/test-artifacts/console');
mkdirSync(artifacts, { recursive: true });

let passed = 0, failed = 0;
const check = (name, ok, detail = '') => { if (ok) passed++; else { failed++; console.log(`FAIL ${name} ${detail}`); } };

const stub = await startStub({ dist: join(consoleDir, 'dist'), terminals: 1000000 });
const ctx = await launch();
const page = await ctx.newPage();
page.setDefaultTimeout(15000);
const shot = (name) => page.screenshot({ path: join(artifacts, name + '.png'), fullPage: true });
try {
  await page.goto(stub.url + '/');
  await page.fill('input[name=user]', 'op');
  await page.fill('input[name=password]', 'wrong');
  await page.click('form.login button');
  await page.waitForSelector('[role=alert]');
  check('a refused login says so', (await page.textContent('[role=alert]')).includes('Wrong user name or password'));
  check('a refused login stays on the login form', await page.isVisible('form.login'));
  await page.fill('input[name=password]', 'pw');
  await page.click('form.login button');
  await page.waitForSelector('text=Nodes');
  await page.waitForSelector('.state-DOWN');
  check('a down node is visible with why', (await page.textContent('main')).includes('DOWN (set by an admin)'));
  check('an unreachable node is visible with why', (await page.textContent('main')).includes('status_url http://10.0.0.2/nginx_status did not answer'));

  await page.fill('input[name=cluster-id]', 'eu-2');
  await page.fill('input[name=cluster-region]', 'eu');
  await page.fill('input[name=cluster-lat]', '48.1');
  await page.fill('input[name=cluster-lon]', '11.5');
  await page.click('#add-cluster button');
  await page.fill('input[name=node-id]', 'n-new');
  await page.fill('input[name=node-cluster]', 'eu-2');
  await page.fill('input[name=node-url]', 'http://127.0.0.1:1');
  await page.fill('input[name=node-per-slot]', '4');
  await page.click('#add-node button');
  await page.waitForFunction(() => true);
  await page.waitForTimeout(300);
  const cl = stub.posts.find((p) => p.path === '/v1/clusters');
  check('register cluster posts proto3 JSON', cl && cl.body.id === 'eu-2' && cl.body.location.lat === 48.1, JSON.stringify(cl));
  const nd = stub.posts.find((p) => p.path === '/v1/nodes');
  check('register node posts proto3 JSON', nd && nd.body.clusterId === 'eu-2' && nd.body.perSlot === 4, JSON.stringify(nd));
  await shot('fleet');

  await page.click('a[href="#/wizard"]');
  await page.waitForSelector('#wizard select[name=version] option', { state: 'attached' });
  await page.fill('input[name=campaign-id]', 'big');
  await page.selectOption('select[name=pick]', 'filter');
  await page.fill('input[name=terminal-filter]', 'cluster=eu-1 version=1.0');
  await page.click('#wizard button[type=submit]');
  await page.waitForSelector('.window[data-label=lowest-peak]');
  const cc = stub.posts.find((p) => p.path === '/v1/campaigns');
  check('the wizard creates the campaign from a filter', cc && cc.body.targetVersion === '2.0' && cc.body.filter.clusters[0] === 'eu-1', JSON.stringify(cc));
  check('the lower bound is shown', (await page.textContent('#lower-bound')).includes('at least 2 slots'));
  await page.waitForSelector('#capacity-calendar canvas');
  await page.click('.window[data-label=lowest-peak] button:not(.schedule)');
  check('comparing a window marks it', await page.isVisible('.window.chosen[data-label=lowest-peak]'));
  await page.waitForSelector('#capacity-calendar[data-window=lowest-peak]');
  check('the window\'s load is overlaid', (await page.getAttribute('#capacity-calendar', 'data-overlay-total')) === '3',
    await page.getAttribute('#capacity-calendar', 'data-overlay-total'));
  await shot('wizard-windows');
  await page.click('.window[data-label=lowest-peak] button.schedule');
  await page.waitForSelector('#counts span');
  const sc = stub.posts.find((p) => p.path === '/v1/campaigns/big/schedule');
  check('schedule posts the chosen window', sc && sc.body.startSlot === '1004' && sc.body.endSlot === '1007', JSON.stringify(sc));
  await page.waitForSelector('#downloads-heatmap canvas');
  await page.waitForSelector('#terminals table tr:nth-child(2)');
  check('counts are shown for 1,000,000 terminals', (await page.textContent('#counts')).includes('total 1000000'));
  check('failures show their detail', (await page.textContent('#failures')).includes('sha256 mismatch'));
  await page.click('#next-page');
  await page.waitForSelector('text=t50');
  check('the terminal table pages', (await page.textContent('#terminals')).includes('page 2 of 20000'));
  await shot('campaign');
  await page.click('#pause');
  await page.waitForSelector('#campaign-state:text("PAUSED")');
  check('pause', stub.posts.some((p) => p.path === '/v1/campaigns/big/pause'));
  await page.click('#resume');
  await page.waitForSelector('#campaign-state:text("SCHEDULED")');
  check('resume', stub.posts.some((p) => p.path === '/v1/campaigns/big/resume'));

  await page.click('a[href="#/audit"]');
  await page.waitForSelector('#audit table tr:nth-child(2)');
  check('the audit page lists the pause', (await page.textContent('#audit')).includes('POST /v1/campaigns/big/pause'));
  await shot('audit');
} catch (e) {
  failed++;
  console.log('FAIL ' + e.message.split('\n')[0]);
  await shot('failure').catch(() => {});
} finally {
  await ctx.close();
  stub.close();
}
console.log(`screenshots in ${artifacts}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
