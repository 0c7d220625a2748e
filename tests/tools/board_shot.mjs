// board_shot.mjs: opens the live board in headless Chromium at phone
// (390x844) and wall-screen (1920x1080) size (light, and dark), takes a full-page screenshot
// of each (and of a promise's timeline at phone size), and checks the
// layout: four columns side by side on the wall screen, stacked on the
// phone; the page must hold no script and one meta refresh.  Fails on
// any console error or page error, on a failed request or one answered
// 4xx/5xx, on a request to anything but the board's own origin, and when
// the token stays in the address after the first answer.
//
//   node board_shot.mjs URL ARTIFACT_DIR [NAME]
//
// URL carries ?token=...; NAME (default "board") prefixes the files.
// Exit 0: fine; 1: a problem (printed); 2: usage.
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const [url, artifacts, name = 'board'] = process.argv.slice(2);
if (!url || !artifacts) {
  console.error('usage: node board_shot.mjs URL ARTIFACT_DIR [NAME]');
  process.exit(2);
}

const origin = new URL(url).origin;
const problems = [];
const sizes = [
  { tag: 'phone', viewport: { width: 390, height: 844 }, isMobile: true,
    hasTouch: true, deviceScaleFactor: 2 },
  { tag: 'desktop', viewport: { width: 1920, height: 1080 }, isMobile: false,
    hasTouch: false, deviceScaleFactor: 1 },
  { tag: 'desktop-dark', viewport: { width: 1920, height: 1080 },
    isMobile: false, hasTouch: false, deviceScaleFactor: 1,
    colorScheme: 'dark' },
];

function watch(page, tag) {
  page.on('console', (msg) => {
    if (msg.type() === 'error')
      problems.push(`${tag}: console error: ${msg.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`${tag}: page error: ${e.message}`));
  page.on('request', (req) => {
    const u = req.url();
    if (!u.startsWith(origin + '/') && !u.startsWith('data:'))
      problems.push(`${tag}: request outside the server: ${u}`);
  });
  page.on('requestfailed', (req) =>
    problems.push(`${tag}: request failed: ${req.url()}`));
  // The ?token= link answers 303 on purpose; any 4xx/5xx is a fault.
  page.on('response', (resp) => {
    if (resp.status() >= 400)
      problems.push(`${tag}: ${resp.status()} for ${resp.url()}`);
  });
}

// The board refreshes itself with a meta refresh and runs no script.
async function selfRefreshing(page, tag) {
  const r = await page.evaluate(() => ({
    scripts: document.scripts.length,
    refresh: [...document.querySelectorAll('meta[http-equiv="refresh" i]')]
      .map((m) => m.content),
  }));
  if (r.scripts !== 0)
    problems.push(`${tag}: ${r.scripts} script element(s)`);
  if (r.refresh.length !== 1 || !/^\d+$/.test(r.refresh[0]))
    problems.push(`${tag}: meta refresh ${JSON.stringify(r.refresh)}`);
}

// Top and left of each column, in page order.
async function columns(page) {
  return page.$$eval('section.col', (els) => els.map((e) => {
    const r = e.getBoundingClientRect();
    return { top: Math.round(r.top), left: Math.round(r.left),
             width: Math.round(r.width) };
  }));
}

async function shoot(size) {
  const profile = mkdtempSync(join(tmpdir(), 'promised-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
             '--no-first-run', '--disable-background-networking',
             '--disable-component-update', '--disable-sync'],
      viewport: size.viewport,
      deviceScaleFactor: size.deviceScaleFactor,
      isMobile: size.isMobile,
      hasTouch: size.hasTouch,
      colorScheme: size.colorScheme || 'light',
    });
    const page = context.pages()[0] || await context.newPage();
    watch(page, size.tag);
    const resp = await page.goto(url, { waitUntil: 'load' });
    if (!resp || resp.status() !== 200)
      problems.push(`${size.tag}: status ${resp ? resp.status() : 'none'}`);
    if (page.url().includes('token='))
      problems.push(`${size.tag}: the token is still in the address: ${page.url()}`);
    if (name === 'board')
      await selfRefreshing(page, size.tag);
    const cols = await columns(page);
    if (cols.length === 4) {
      const sameRow = cols.every((c) => c.top === cols[0].top);
      const stacked = cols.every((c, i) => i === 0 || c.top > cols[i - 1].top);
      if (size.tag.startsWith('desktop') && !sameRow)
        problems.push(`desktop: columns not side by side: ${JSON.stringify(cols)}`);
      if (size.tag === 'phone' && !stacked)
        problems.push(`phone: columns not stacked: ${JSON.stringify(cols)}`);
      const wide = await page.evaluate(() =>
        document.documentElement.scrollWidth > window.innerWidth + 1);
      if (wide)
        problems.push(`${size.tag}: the page scrolls sideways`);
    } else if (name === 'board') {
      problems.push(`${size.tag}: ${cols.length} columns, not 4`);
    }
    await page.screenshot({ path: join(artifacts, `${name}-${size.tag}.png`),
                            fullPage: true });
    const link = await page.$('section.col a[href^="/promise/"]');
    if (size.tag === 'phone' && link) {
      await Promise.all([page.waitForLoadState('load'), link.click()]);
      await page.waitForSelector('table');
      if (!/\/promise\/\d+$/.test(page.url()))
        problems.push(`phone: the timeline link led to ${page.url()}`);
      await page.screenshot({ path: join(artifacts, `${name}-timeline-phone.png`),
                              fullPage: true });
    }
    // The refresh must come back with the cookie alone.
    const again = await page.goto(origin + '/', { waitUntil: 'load' });
    if (name === 'board' && (!again || again.status() !== 200))
      problems.push(`${size.tag}: without the token the cookie did not do: ${again ? again.status() : 'none'}`);
  } catch (e) {
    problems.push(`${size.tag}: ${e.message}`);
  } finally {
    if (context) await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

for (const s of sizes)
  await shoot(s);
if (problems.length) {
  for (const p of problems) console.error(p);
  process.exit(1);
}
console.log(`ok: ${name}-phone.png ${name}-desktop.png`);
