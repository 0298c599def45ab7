/**
 * The dashboard in a real browser (Debian's Chromium driven by playwright-core) against a running
 * product: half an hour of generated history are imported into a fresh data directory (`flowmark
 * generate` + `flowmark import`, ending now), then the live shop runs on top of it with the HTTP
 * server on a free port. The page must load with no console error, every panel must show data, a
 * value must change without a reload, the phone layout must fit the screen, and the screenshots
 * in docs/ are written from what the browser shows.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { parseEvent } from '../../src/attribution/events/index.ts';
import { loadProducts, loadUsers } from '../../src/cli/dimension-loading.ts';
import { requireService } from '../support/services.ts';

/** The little of the DOM that the functions run in the page use (they run in Chromium, not here). */
interface PageElement {
  textContent: string | null;
  getAttribute(name: string): string | null;
  querySelector(selector: string): PageElement | null;
  getBoundingClientRect(): { left: number };
}
declare const document: {
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement> & Iterable<PageElement>;
  documentElement: { scrollWidth: number };
};
declare const window: { innerWidth: number };

const BIN = new URL('../../bin/flowmark.js', import.meta.url).pathname;
// The screenshots of the docs and the README are refreshed only when asked
// (FLOWMARK_UPDATE_SCREENSHOTS=1): a test run must not change tracked files.
const UPDATE_DOCS = process.env.FLOWMARK_UPDATE_SCREENSHOTS === '1';
function screenshotPath(work: string, name: string): string {
  return UPDATE_DOCS ? new URL(`../../docs/${name}`, import.meta.url).pathname : join(work, name);
}

/** Events per second, of the history and of the live shop. */
const RATE = 80;

function serveCommand(dataDir: string, extra: string[] = []): string[] {
  const flags = ['--port', '0', '--rate', String(RATE), '--data-dir', dataDir, ...extra];
  // The product itself: it prints `  dashboard: http://127.0.0.1:<port>/` once it listens.
  return [BIN, 'demo', ...flags];
}

/** Starts the product; resolves with its dashboard URL once the line naming it is printed. */
function startProduct(
  dataDir: string,
  extra: string[] = [],
): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, serveCommand(dataDir, extra), { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const guard = setTimeout(() => reject(new Error(`no dashboard URL within 120 s:\n${output}`)), 120_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const m = /dashboard: (http:\/\/127\.0\.0\.1:([1-9]\d*)\/)(?!.*not served)/.exec(output);
      if (m !== null) {
        clearTimeout(guard);
        resolve({ child, url: m[1] as string, output: () => output });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`exited with ${code} before serving:\n${output}`)));
  });
}

/** Ctrl-C, as a user stops it; SIGKILL if it has not exited in 30 s. */
function stopProduct(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', () => {
      clearTimeout(guard);
      resolve();
    });
    child.kill('SIGINT');
  });
}

/** Half an hour of shop traffic ending now, imported into the data directory's log and tables. */
function importHistory(dataDir: string, work: string): void {
  const minutes = 30;
  const start = new Date(Date.now() - minutes * 60_000).toISOString();
  const data = join(work, 'history');
  const run = (...args: string[]) => execFileSync(process.execPath, [BIN, ...args], { stdio: 'pipe' });
  run('generate', '--out', data, '--events', String(RATE * 60 * minutes), '--rate', String(RATE), '--start', start);
  run(
    'import',
    '--data-dir',
    dataDir,
    '--users',
    join(data, 'users.csv'),
    '--products',
    join(data, 'products.csv'),
    '--events',
    join(data, 'events.jsonl'),
  );
}

const PANELS = ['totals', 'per-minute', 'health', 'sources', 'categories', 'failed', 'gender', 'alerts', 'latest'];

test('the live dashboard in Chromium: no console errors, every panel shows data, values change live, screenshots', {
  timeout: 480_000,
}, async (t) => {
  const executablePath = requireService(t, 'chromium', 'FLOWMARK_TEST_CHROMIUM');
  if (executablePath === undefined) return;
  const work = mkdtempSync(join(tmpdir(), 'flowmark-dashboard-'));
  const dataDir = join(work, 'data');
  t.after(() => rmSync(work, { recursive: true, force: true }));
  importHistory(dataDir, work);

  const product = await startProduct(dataDir);
  t.after(() => stopProduct(product.child));
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.url()}`);
  });
  // Only this server is ever asked (no CDN, no fonts from elsewhere): the page works offline.
  page.on('request', (r) => {
    if (!r.url().startsWith(product.url)) problems.push(`request outside the server: ${r.url()}`);
  });

  await page.goto(product.url);
  await page.waitForSelector('[data-field="connection"][data-state="live"]', { timeout: 20_000 });
  await page.waitForFunction(
    (names) =>
      names.every((n) => document.querySelector(`[data-panel="${n}"]`)?.getAttribute('data-state') === 'ready'),
    PANELS,
    { timeout: 150_000, polling: 500 },
  );

  // The imported half hour is processed (minutes close as the watermark passes them): at least
  // 20 minutes of bars, so that the chart shows a history and the screenshot is worth looking at.
  await page.waitForFunction(
    () => document.querySelectorAll('[data-chart="per-minute"] rect.bar-revenue').length >= 20,
    undefined,
    { timeout: 240_000, polling: 1000 },
  );

  // Every panel shows data, not a placeholder.
  const shown = await page.evaluate(() => {
    const text = (sel: string) => document.querySelector(sel)?.textContent?.trim() ?? '';
    const count = (sel: string) => document.querySelectorAll(sel).length;
    return {
      checkouts: text('[data-field="checkouts"]'),
      revenue: text('[data-field="revenue"]'),
      window: text('[data-field="window-range"]'),
      bars: count('[data-chart="per-minute"] rect.bar-revenue'),
      profitLine: count('[data-chart="per-minute"] path.line-profit'),
      sources: count('[data-list="sources"] .bar-row'),
      categories: count('[data-list="categories"] .bar-row'),
      // Real rows only: the "No failed payment in this hour." placeholder is not data.
      failed: count('[data-list="failed"] .bar-row'),
      gender: count('[data-list="gender"] li'),
      alerts: count('[data-list="alerts"] li'),
      latest: count('[data-list="latest"] tr'),
      openBars: count('[data-chart="per-minute"] rect.bar-open'),
      openLabel: text('[data-chart="per-minute"] .open-label'),
      inProgress: text('[data-field="in-progress"]'),
      eventsIn: text('[data-field="events-in-total"]'),
      health: text('[data-field="health-badge"]'),
      checkpoint: text('[data-field="checkpoint-age"]'),
    };
  });
  assert.match(shown.checkouts, /^[1-9][\d,]*$/, JSON.stringify(shown));
  assert.match(shown.revenue, /^\$[1-9][\d,]*\.\d\d$/, 'currency with two decimals and thousands separators');
  assert.match(shown.window, /^\d\d:\d\d – \d\d:\d\d UTC/);
  assert.ok(shown.bars >= 20, `revenue bars for the imported minutes: ${shown.bars}`);
  assert.equal(shown.profitLine, 1);
  assert.ok(shown.sources >= 3 && shown.categories >= 3 && shown.failed >= 1, JSON.stringify(shown));
  assert.ok(shown.gender >= 2 && shown.alerts >= 1 && shown.latest >= 5, JSON.stringify(shown));
  assert.match(shown.eventsIn, /^[1-9][\d,]*$/);
  assert.match(shown.health, /^(healthy|unhealthy)$/, "the health badge shows the monitor's verdict");
  assert.match(shown.checkpoint, /ago · #\d+/);
  // The live minutes after the hour are drawn too, marked as in progress, not in the totals.
  assert.ok(shown.openBars >= 1, `a bar for the minute in progress: ${JSON.stringify(shown)}`);
  assert.equal(shown.openLabel, 'in progress');
  assert.match(
    shown.inProgress,
    /^In progress \(incomplete, not in the totals\): \d\d:\d\d – \d\d:\d\d UTC, \d+ checkouts?, /,
  );

  // The values the breakdowns show are values of their own dimension, as the shop's data has them:
  // genders of users.csv, categories of products.csv, reasons of the failed payments in the events
  // (a successful payment has no reason: "no reason given" would mean successes counted as failures).
  const listed = await page.evaluate(() => {
    const values = (sel: string) =>
      [...document.querySelectorAll(sel)]
        .filter((e) => e.querySelector('.bar-label.other') === null)
        .map((e) => e.getAttribute('data-value') ?? '');
    return {
      gender: values('[data-list="gender"] li'),
      category: values('[data-list="categories"] .bar-row'),
      failed: values('[data-list="failed"] .bar-row'),
    };
  });
  const history = join(work, 'history');
  const users = await loadUsers(join(history, 'users.csv'));
  const products = await loadProducts(join(history, 'products.csv'));
  const reasons = new Set<string>();
  for (const line of readFileSync(join(history, 'events.jsonl'), 'utf8').split('\n')) {
    const e = line === '' ? undefined : parseEvent(line);
    if (e !== undefined && 'type' in e && e.type === 'checkout' && e.checkout.paymentStatus === 'failed')
      reasons.add(e.checkout.paymentDescription ?? 'unspecified');
  }
  const allowed = {
    gender: new Set([...users.values()].map((u) => u.gender ?? 'unknown').concat('unknown')),
    category: new Set([...products.values()].map((p) => p.category ?? 'unknown').concat('unknown')),
    failed: reasons,
  };
  for (const key of ['gender', 'category', 'failed'] as const) {
    assert.ok(listed[key].length > 0, `${key}: ${JSON.stringify(listed)}`);
    for (const v of listed[key]) assert.ok(allowed[key].has(v), `${key} shows "${v}", not one of ${[...allowed[key]]}`);
  }

  // A value changes while the page stays loaded (the stream, not a reload).
  const navigations: string[] = [];
  page.on('framenavigated', (f) => navigations.push(f.url()));
  const before = shown.eventsIn;
  await page.waitForFunction(
    (v) => document.querySelector('[data-field="events-in-total"]')?.textContent?.trim() !== v,
    before,
    { timeout: 15_000 },
  );
  assert.deepEqual(navigations, [], 'no reload');

  // Let the sparklines gather a few seconds, then the screenshot of the docs and the README.
  await page.waitForTimeout(8000);
  await page.screenshot({ path: screenshotPath(work, 'dashboard.png'), fullPage: true });

  // A phone: one column, nothing wider than the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(500);
  const phone = await page.evaluate(() => ({
    overflow: document.documentElement.scrollWidth - window.innerWidth,
    lefts: [...document.querySelectorAll('[data-panel]')].map((p) => Math.round(p.getBoundingClientRect().left)),
  }));
  assert.ok(phone.overflow <= 0, `the page is ${phone.overflow}px wider than a phone`);
  assert.equal(new Set(phone.lefts).size, 1, `one column on a phone: ${phone.lefts.join(', ')}`);
  await page.screenshot({ path: screenshotPath(work, 'dashboard-phone.png') });

  assert.deepEqual(problems, [], problems.join('\n'));
});

test('a fresh demo shows its first checkouts at once: the minute in progress and the latest rows, before any minute closes (issue 12)', {
  timeout: 300_000,
}, async (t) => {
  const executablePath = requireService(t, 'chromium', 'FLOWMARK_TEST_CHROMIUM');
  if (executablePath === undefined) return;
  const work = mkdtempSync(join(tmpdir(), 'flowmark-dashboard-fresh-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  // A bound of disorder of ten minutes keeps every window open for the whole test, so what is on
  // screen can only come from the minutes in progress and the provisional rows.
  const product = await startProduct(join(work, 'data'), ['--max-out-of-orderness', '10m']);
  t.after(() => stopProduct(product.child));
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  await page.goto(product.url);
  await page.waitForFunction(
    () =>
      document.querySelectorAll('[data-chart="per-minute"] rect.bar-open').length >= 1 &&
      document.querySelectorAll('[data-list="latest"] tr').length >= 1,
    undefined,
    { timeout: 120_000, polling: 250 },
  );
  const shown = await page.evaluate(() => ({
    window: document.querySelector('[data-field="window-range"]')?.textContent ?? '',
    chart: document.querySelector('[data-panel="per-minute"]')?.getAttribute('data-state'),
    closedBars: document.querySelectorAll('[data-chart="per-minute"] rect.bar-revenue').length,
    label: document.querySelector('[data-chart="per-minute"] .open-label')?.textContent ?? '',
    inProgress: document.querySelector('[data-field="in-progress"]')?.textContent ?? '',
    provisional: [...document.querySelectorAll('[data-list="latest"] .tag.provisional')].length,
  }));
  assert.equal(shown.window, 'waiting for the first closed minute', 'no minute has closed');
  assert.equal(shown.chart, 'ready');
  assert.equal(shown.closedBars, 0);
  assert.equal(shown.label, 'in progress');
  assert.match(shown.inProgress, /^In progress \(incomplete, not in the totals\): .* [1-9]\d* checkouts?, /);
  assert.ok(shown.provisional >= 1, 'the newest checkouts are listed, provisional');
  assert.deepEqual(problems, [], problems.join('\n'));
});
