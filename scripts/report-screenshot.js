#!/usr/bin/env node
// Renders a workspace's optimize-report.html in headless Chromium (Debian's, /usr/bin/chromium, or
// NAV_CHROMIUM) and saves a screenshot of its top part: docs/report.png comes from `npm run sample`.
//   node scripts/report-screenshot.js [workspace] [out.png]
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

async function main() {
  const workspace = path.resolve(process.argv[2] ?? '.nav-cache');
  const out = path.resolve(process.argv[3] ?? 'docs/report.png');
  const file = path.join(workspace, 'optimize-report.html');
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run npm run sample (or model-navigator report --html) first`);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'nav-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.NAV_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1240, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const page = await context.newPage();
    const errors = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`file://${file}`, { waitUntil: 'load' });
    if (errors.length) throw new Error(`the report logged errors:\n${errors.join('\n')}`);
    const height = await page.evaluate(() => document.body.scrollHeight);
    await page.screenshot({ path: out, fullPage: true, clip: { x: 0, y: 0, width: 1240, height: Math.min(height, 2300) } });
    console.log(out);
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error.message);
  process.exitCode = 1;
});
