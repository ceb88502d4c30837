import * as fs from 'fs';
import * as path from 'path';
import { chromium, BrowserContext } from 'playwright-core';
import { readReport } from '../../src/report/merge';
import { renderHtmlReport } from '../../src/report/html';
import { formatCandidates } from '../../src/report/table';
import { smallOptimize } from '../helpers/small-optimize';
import { tempDir } from '../helpers/models';

/** Debian's chromium (apt-get install chromium); NAV_CHROMIUM points elsewhere. */
const CHROMIUM = process.env.NAV_CHROMIUM ?? '/usr/bin/chromium';

describe('optimize-report.html in headless Chromium', () => {
  let browser: BrowserContext;
  let workspace: string;

  beforeAll(async () => {
    ({ workspace } = await smallOptimize());
    // A fresh profile folder per run; nothing of the machine's own Chromium set-up is used.
    browser = await chromium.launchPersistentContext(tempDir('nav-chromium-'), {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 900 },
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('renders without console errors, page errors or network requests, with every plot', async () => {
    const file = path.join(workspace, 'optimize-report.html');
    expect(fs.existsSync(file)).toBe(true);
    const page = await browser.newPage();
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('request', (r) => {
      if (!r.url().startsWith('file:')) requests.push(r.url());
    });
    await page.goto(`file://${file}`, { waitUntil: 'load' });

    expect(problems).toEqual([]);
    expect(requests).toEqual([]);
    // Per module: latency and throughput against batch size, and the speed-against-error scatter.
    for (const module of ['encoder', 'head']) {
      const titles = await page.locator(`#module-${module} svg`).evaluateAll((svgs) => svgs.map((s) => s.getAttribute('aria-label')));
      expect(titles).toEqual([`${module}: p50 latency against batch size`, `${module}: throughput against batch size`, expect.stringContaining(`${module}: speed against error`)]);
      // One line per timed candidate, and the selected one marked in the scatter.
      expect(await page.locator(`#module-${module} svg polyline`).count()).toBeGreaterThanOrEqual(2);
      expect(await page.locator(`#module-${module} circle.selected`).count()).toBe(1);
      expect(await page.locator(`#module-${module} ol.chain li`).count()).toBeGreaterThanOrEqual(1);
    }
    expect(await page.locator('#pipeline svg').count()).toBe(1);
    expect(await page.locator('#end-to-end').innerText()).toMatch(/\S/);
    expect(await page.locator('#environment').count()).toBe(1);
    // Each SVG really drew something: a laid-out box, not an empty element.
    const sizes = await page.locator('svg').evaluateAll((svgs) => svgs.map((s) => s.getBoundingClientRect().width * s.getBoundingClientRect().height));
    for (const size of sizes) expect(size).toBeGreaterThan(1000);

    if (process.env.NAV_REPORT_SCREENSHOT) await page.screenshot({ path: process.env.NAV_REPORT_SCREENSHOT, fullPage: true });
    await page.close();
  });

  it('keeps the last pipeline measurement, marked as from the cache, when a start loads everything from the cache', async () => {
    const { rerun } = await smallOptimize(path.join(tempDir('nav-rerun-'), 'cache'));
    const again = await rerun();
    expect(Object.values(again.modules).every((m) => m.cached)).toBe(true);
    const report = readReport(path.join(again.workspace, 'optimize-report.json'))!;
    expect(report.pipeline?.beforeMs).toBeGreaterThan(0);
    expect(report.pipeline?.cachedFrom).toMatch(/^\d{4}-/);
    expect(fs.readFileSync(path.join(again.workspace, 'optimize-report.txt'), 'utf8')).toMatch(/pipeline \(from the cache: measured by the optimize of/);
    expect(fs.readFileSync(path.join(again.workspace, 'optimize-report.html'), 'utf8')).toContain('From the cache');
  });

  it('renders the decision chain where a status records one, else the selection reason', () => {
    const report = readReport(path.join(workspace, 'optimize-report.json'))!;
    const encoder = report.modules.encoder;
    const decisions = [
      { step: 'module selection', key: 'onnx-int8/OnnxCPU/default', reason: 'lowest latency at the observed batch sizes' },
      { step: 'end-to-end check', key: encoder.baseline, reason: 'final outputs drifted; back to full precision' },
    ];
    // A status of an older writer carries no chain: the head module here.
    const { decisions: _chain, ...headWithout } = report.modules.head;
    const withChain = { ...report, modules: { ...report.modules, encoder: { ...encoder, decisions }, head: headWithout as typeof report.modules.head } };
    const html = renderHtmlReport(withChain);
    const chain = /<section class="module" id="module-encoder">[\s\S]*?<ol class="chain">([\s\S]*?)<\/ol>/.exec(html)![1];
    expect(chain.match(/<li>/g)).toHaveLength(2);
    expect(chain.indexOf('module selection')).toBeLessThan(chain.indexOf('end-to-end check'));
    expect(formatCandidates(withChain.modules)).toMatch(/decision chain:\n  1\. module selection: .*\n  2\. end-to-end check: /);
    // Without a chain, the selection's reason stands alone.
    const head = /<section class="module" id="module-head">[\s\S]*?<ol class="chain">([\s\S]*?)<\/ol>/.exec(html)![1];
    expect(head).toContain(report.modules.head.selected.reason);
  });
});
