// The dashboard in a real headless browser (Debian's chromium driven by playwright-core, no browser
// download): the API on 127.0.0.1 over a virtual fleet of 6 SIMs, one campaign run to the end
// through the local SMSC and one paused, then resumed while the page follows it. The page is signed
// in with a token and its main views checked: the fleet table and its tag filter, a SIM's history
// (its ledger), the campaigns' counts (live, over server-sent events read with fetch), the chart.
// No console error, uncaught exception or Content-Security-Policy violation may occur.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { OtaServer, OtaStore, type ServedApi, SmppLink, serveOtaApi } from '@iotsafe/ota';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { peerAvailable } from '../../../test/helpers/peers.js';
import { type Fleet, fleetIccid, startFleet } from './fleet-rig.js';
import { CREDENTIALS, STORAGE_KEY } from './rig.js';

const CHROMIUM = '/usr/bin/chromium';
const browserAvailable = peerAvailable(CHROMIUM, ['--version']);
const TOKEN = 'dashboard-admin-token-0123456789';

let fleet: Fleet;
let store: OtaStore;
let link: SmppLink;
let server: OtaServer;
let api: ServedApi;
let profile: string | undefined;
let context: BrowserContext | undefined;
/** Console errors, uncaught exceptions and CSP violations the page reported. */
const problems: string[] = [];

async function call(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(api.url + path, {
    method,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await response.json()) as Record<string, unknown>;
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

const campaign = (name: string, tag: string) => ({
  name,
  select: { tags: [tag] },
  steps: [{ tar: 'B00000', script: '00a40004022fe2' }],
  retry: { noPor: 0 },
  porTimeoutMs: 1500,
  rollout: { waves: { initial: 1, factor: 1 } },
});

async function jobOf(id: string): Promise<{ id: string; state: string }> {
  return (await call('GET', `/campaigns/${id}`)).job as { id: string; state: string };
}

async function untilEnded(id: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (['completed', 'cancelled', 'aborted', 'expired'].includes((await jobOf(id)).state)) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`the campaign did not end: ${JSON.stringify(await jobOf(id))}`);
}

let completedId: string;
let pausedId: string;

before(async () => {
  if (browserAvailable !== true) return;
  fleet = await startFleet(6);
  store = await OtaStore.open(':memory:', STORAGE_KEY);
  await fleet.populate(store, (i) => (i % 2 ? ['odd'] : ['even']));
  link = await SmppLink.connect({ host: '127.0.0.1', port: fleet.network.port, ...CREDENTIALS });
  server = new OtaServer(store, link, { timeoutMs: 2000, worker: { idleMs: 10, sweepMs: 50 } });
  api = await serveOtaApi(server, { host: '127.0.0.1', tokens: [TOKEN], eventsPollMs: 20 });
  completedId = (await call('POST', '/campaigns', campaign('select file even', 'even'))).id as string;
  await call('POST', `/campaigns/${completedId}/start`);
  await untilEnded(completedId);
  pausedId = (await call('POST', '/campaigns', campaign('select file odd', 'odd'))).id as string;
  await call('POST', `/campaigns/${pausedId}/start`);
  await call('POST', `/campaigns/${pausedId}/pause`);

  profile = mkdtempSync(join(tmpdir(), 'iotsafe-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  // a CSP violation is also a console error; the event gives the directive that refused it
  // (run by the browser before the page's own script, so kept as text: this program has no DOM types)
  await context.addInitScript({
    content: `document.addEventListener('securitypolicyviolation', (e) =>
      console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));`,
  });
});

after(async () => {
  if (browserAvailable !== true) return;
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await api?.stop();
  await server?.close();
  await link?.close();
  await store?.close();
  await fleet?.stop();
});

function watch(page: Page): void {
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
}

const rowOf = (page: Page, name: string) => page.locator('#campaigns tbody tr', { hasText: name });
const cellsOf = async (page: Page, name: string) =>
  (await rowOf(page, name).locator('td').allTextContents()).map((t) => t.trim());

test('the dashboard in headless Chromium: fleet table and tag filter, a SIM history, live campaign counts, the chart; no console error or CSP violation', {
  skip: browserAvailable === true ? false : browserAvailable,
}, async () => {
  const page = await context!.newPage();
  watch(page);
  page.setDefaultTimeout(10_000);
  try {
    await page.goto(`${api.url}/dashboard`);
    assert.equal(await page.textContent('#sim-count'), '', 'nothing is shown before a token is given');
    await page.fill('#token', TOKEN);
    await page.click('#login button');
    await page.waitForSelector('#whoami:text-is("signed in")');

    // the fleet table, then filtered by tag
    assert.equal(await page.textContent('#sim-count'), '6 SIMs');
    const iccids = await page.locator('#sims tbody tr td:first-child').allTextContents();
    assert.deepEqual(iccids.sort(), [0, 1, 2, 3, 4, 5].map(fleetIccid));
    await page.fill('#f-tag', 'odd');
    await page.click('#filters button');
    await page.waitForSelector('#sim-count:text-is("3 SIMs")');
    const odd = await page.locator('#sims tbody tr td:first-child').allTextContents();
    assert.deepEqual(odd.sort(), [1, 3, 5].map(fleetIccid));
    const tags = await page.locator('#sims tbody tr td:nth-child(5)').allTextContents();
    assert.deepEqual(tags, ['odd', 'odd', 'odd']);

    // the campaign run to the end shows its counts
    assert.deepEqual(await cellsOf(page, 'select file even'), [
      'select file even',
      'completed',
      '',
      '3',
      '0',
      '3',
    ]);

    // the paused one is followed over server-sent events: resumed by the API, the page sees it end
    assert.equal((await cellsOf(page, 'select file odd'))[1], 'paused');
    await call('POST', `/campaigns/${pausedId}/resume`);
    await rowOf(page, 'select file odd').locator('td:nth-child(2):text-is("completed")').waitFor();
    assert.deepEqual((await cellsOf(page, 'select file odd')).slice(3), ['3', '0', '3']);
    const bar = await rowOf(page, 'select file odd').locator('.bar > span').getAttribute('style');
    assert.match(bar ?? '', /width: 100%/);

    // a SIM's history: its ledger, one attempt answered by a PoR
    await page.click(`#sims button:text-is("${fleetIccid(3)}")`);
    await page.waitForSelector('#history:not([hidden])');
    assert.equal(await page.textContent('#history-sim'), fleetIccid(3));
    const ledger = await page.locator('#ledger tbody tr').all();
    assert.equal(ledger.length, 1);
    const attempt = (await ledger[0]!.locator('td').allTextContents()).map((t) => t.trim());
    assert.equal(attempt[1], (await jobOf(pausedId)).id.slice(0, 8));
    assert.deepEqual(attempt.slice(2, 5), ['0', '1', 'por']);
    assert.equal(attempt[6], '00');

    // the chart: six successful attempts, no failure, in the bars of the SVG
    await page.locator('#chart rect.ok').first().waitFor();
    const bars: { cls: string | null; height: number; title: string }[] = [];
    for (const rect of await page.locator('#chart rect').all())
      bars.push({
        cls: await rect.getAttribute('class'),
        height: Number(await rect.getAttribute('height')),
        title: (await rect.locator('title').textContent()) ?? '',
      });
    const ok = bars.filter((b) => b.cls === 'ok');
    assert.ok(
      ok.some((b) => b.height > 0),
      JSON.stringify(bars),
    );
    assert.equal(
      ok.reduce((n, b) => n + Number(/: (\d+) ok$/.exec(b.title)?.[1] ?? 0), 0),
      6,
      JSON.stringify(bars),
    );
    assert.ok(bars.filter((b) => b.cls === 'failed').every((b) => b.height === 0));
  } catch (error) {
    // what the page itself said is most often the reason (a refused script, a failed request)
    throw new Error(`${(error as Error).message}\nthe page reported: ${JSON.stringify(problems)}`);
  }
  await page.close();
  assert.deepEqual(problems, []);
});
