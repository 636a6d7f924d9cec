// Shared helpers for the browser suites: Debian's Chromium driven by npm playwright-core
// (headless, fresh profile in a temporary directory), event collection, screenshots and
// PNG pixel statistics. NODE_PATH must hold playwright-core and pngjs
// (scripts/install-node-deps).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');
const { PNG } = require('pngjs');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

// Launches Chromium with a fresh user-data-dir (removed by close()). Returns
// {context, page, events, close}. events collects, for every page of the context:
//   consoleErrors: console messages of type error (CSP violations among them),
//   csp: the messages that are Content Security Policy refusals,
//   pageErrors: uncaught exceptions, dialogs: alert/confirm/prompt (each dismissed),
//   responses: [{url, status}] of every response.
// options: {ignoreHTTPSErrors (default true: the suites' servers use a generated CA),
//   viewport, extraArgs}.
async function launch(options = {}) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'tresor-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS.concat(options.extraArgs || []),
    ignoreHTTPSErrors: options.ignoreHTTPSErrors !== false,
    viewport: options.viewport || { width: 1280, height: 800 },
    acceptDownloads: false,
  });
  const events = { consoleErrors: [], csp: [], pageErrors: [], dialogs: [], responses: [] };
  const watch = (page) => {
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      events.consoleErrors.push(m.text());
      if (/Content Security Policy/i.test(m.text())) events.csp.push(m.text());
    });
    page.on('pageerror', (e) => events.pageErrors.push(String(e)));
    page.on('dialog', (d) => { events.dialogs.push(d.type() + ': ' + d.message()); d.dismiss().catch(() => {}); });
    page.on('response', (r) => events.responses.push({ url: r.url(), status: r.status() }));
  };
  context.pages().forEach(watch);
  context.on('page', watch);
  const page = context.pages()[0] || await context.newPage();
  const close = async () => {
    await context.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { context, page, events, close };
}

// Saves a PNG screenshot as <dir>/<name>.png (dir: $BROWSER_ARTIFACTS, else none is
// written) and returns the PNG bytes either way.
async function screenshot(page, name, opts = {}) {
  const buf = await page.screenshot({ fullPage: !!opts.fullPage, type: 'png' });
  const dir = opts.dir || process.env.BROWSER_ARTIFACTS;
  if (dir) {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, name + '.png'), buf);
  }
  return buf;
}

// Pixel statistics of a PNG (bytes or file path) over luminance 0-255, optionally within
// a rectangle {x, y, width, height}: {width, height, mean, stddev, min, max, distinct}
// (distinct: number of different luminance values).
function pngStats(input, rect) {
  const png = PNG.sync.read(Buffer.isBuffer(input) ? input : fs.readFileSync(input));
  const r = rect || { x: 0, y: 0, width: png.width, height: png.height };
  let n = 0; let sum = 0; let sq = 0; let min = 255; let max = 0;
  const seen = new Set();
  for (let y = r.y; y < Math.min(png.height, r.y + r.height); y++) {
    for (let x = r.x; x < Math.min(png.width, r.x + r.width); x++) {
      const i = (y * png.width + x) * 4;
      const l = Math.round(0.2126 * png.data[i] + 0.7152 * png.data[i + 1] + 0.0722 * png.data[i + 2]);
      n++; sum += l; sq += l * l; seen.add(l);
      if (l < min) min = l;
      if (l > max) max = l;
    }
  }
  const mean = n ? sum / n : 0;
  return { width: png.width, height: png.height, mean, stddev: n ? Math.sqrt(Math.max(0, sq / n - mean * mean)) : 0,
    min, max, distinct: seen.size };
}

// Check reporting read by the shell wrappers: one "PASS what" / "FAIL what: detail" /
// "SKIP what" line per check on stdout.
function reporter() {
  let failed = 0;
  return {
    pass: (what) => console.log('PASS ' + what),
    fail: (what, detail) => { failed++; console.log('FAIL ' + what + (detail ? ': ' + detail : '')); },
    skip: (what) => console.log('SKIP ' + what),
    check(what, ok, detail) { if (ok) this.pass(what); else this.fail(what, detail); return ok; },
    eq(what, want, got) {
      const a = JSON.stringify(want); const b = JSON.stringify(got);
      return this.check(what, a === b, 'expected ' + a + ', got ' + b);
    },
    get failed() { return failed; },
  };
}

module.exports = { launch, screenshot, pngStats, reporter, CHROMIUM, ARGS };
