// click.mjs: opens a one-click action link in headless Chromium at phone
// width, takes a screenshot, presses the page's one button, takes a second
// screenshot and checks the page that follows.  Fails on any console error
// or page error, and on a request to anything but the link's own origin.
//
//   node click.mjs URL ARTIFACT_DIR EXPECTED_TEXT
//
// Needs playwright-core (NODE_PATH or a node_modules next to it) and
// Debian's chromium at /usr/bin/chromium (or $CHROMIUM).
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const [url, artifacts, expected] = process.argv.slice(2);
if (!url || !artifacts || !expected) {
  console.error('usage: node click.mjs URL ARTIFACT_DIR EXPECTED_TEXT');
  process.exit(2);
}

const problems = [];
const profile = mkdtempSync(join(tmpdir(), 'promised-chromium-'));
const origin = new URL(url).origin;
let context;

try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
           '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
  });
  const page = context.pages()[0] || await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (req) => {
    const u = req.url();
    if (!u.startsWith('data:') && new URL(u).origin !== origin)
      problems.push(`outside request: ${u}`);
  });

  const first = await page.goto(url, { waitUntil: 'load' });
  if (first.status() !== 200) problems.push(`GET status ${first.status()}`);
  const h = first.headers();
  if (h['cache-control'] !== 'no-store')
    problems.push(`Cache-Control: ${h['cache-control']}`);
  if (h['referrer-policy'] !== 'no-referrer')
    problems.push(`Referrer-Policy: ${h['referrer-policy']}`);
  const buttons = await page.locator('button').count();
  if (buttons !== 1) problems.push(`${buttons} buttons, expected 1`);
  // Readable at phone width: nothing wider than the screen.
  const wide = await page.evaluate(
    () => document.documentElement.scrollWidth);
  if (wide > 390) problems.push(`page is ${wide}px wide at 390px`);
  await page.screenshot({ path: join(artifacts, 'action-confirm.png'),
                          fullPage: true });

  const [second] = await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    page.locator('button').click(),
  ]);
  if (second.status() !== 200) problems.push(`POST status ${second.status()}`);
  if (second.request().method() !== 'POST')
    problems.push(`button sent ${second.request().method()}`);
  await page.screenshot({ path: join(artifacts, 'action-done.png'),
                          fullPage: true });
  const text = await page.locator('body').innerText();
  if (!text.includes(expected))
    problems.push(`done page lacks "${expected}":\n${text}`);
} catch (e) {
  problems.push(`error: ${e.stack || e}`);
} finally {
  if (context) await context.close();
  rmSync(profile, { recursive: true, force: true });
}

if (problems.length > 0) {
  for (const p of problems) console.error(`FAIL: ${p}`);
  process.exit(1);
}
console.log('ok: confirmation page, button, done page');
