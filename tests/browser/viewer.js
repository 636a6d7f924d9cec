// OHIF in Debian's Chromium (headless, software rendering) against the real Tresor:
// sign in through POST /auth/session in the page's context, open the study list and a
// 200-slice CT study under /viewer/, wait until every frame has been fetched, then check
// the network log (every response 2xx or 304), the console (no CSP violation) and the
// pixels of the cornerstone viewport in a screenshot; sign out and check /viewer/ and
// DICOMweb are closed again.
//
// Environment: BASE (https://127.0.0.1:port), USERNAME, PASSWORD, STUDY (its UID),
// FRAMES (frames expected), ARTIFACTS (folder for screenshots), NODE_PATH with
// playwright-core and pngjs. Prints "N passed, N failed" and the load time.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');
const { PNG } = require('pngjs');

const BASE = process.env.BASE;
const STUDY = process.env.STUDY;
const FRAMES = Number(process.env.FRAMES || 200);
const ARTIFACTS = process.env.ARTIFACTS || '';
const OVERALL_MS = 150000;

let passed = 0;
let failed = 0;
function check(what, ok, detail) {
  if (ok) { passed++; console.log('  ok   ' + what); } else { failed++; console.log('  FAIL ' + what + (detail ? ': ' + detail : '')); }
}

function stats(png, rect) {
  let n = 0; let bright = 0; const seen = new Set();
  for (let y = rect.y; y < Math.min(png.height, rect.y + rect.height); y++) {
    for (let x = rect.x; x < Math.min(png.width, rect.x + rect.width); x++) {
      const i = (y * png.width + x) * 4;
      const l = Math.round(0.2126 * png.data[i] + 0.7152 * png.data[i + 1] + 0.0722 * png.data[i + 2]);
      n++; if (l > 8) bright++; seen.add(l);
    }
  }
  return { n, nonBlack: n ? bright / n : 0, distinct: seen.size };
}

function save(name, buf) {
  if (!ARTIFACTS) return;
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  fs.writeFileSync(path.join(ARTIFACTS, name), buf);
}

// Resolves when `predicate()` holds, checked at every response; rejects after `ms`.
function waitFor(page, predicate, ms, what) {
  return new Promise((resolve, reject) => {
    if (predicate()) return resolve();
    const timer = setTimeout(() => { page.off('response', on); reject(new Error('timed out waiting for ' + what)); }, ms);
    const on = () => { if (predicate()) { clearTimeout(timer); page.off('response', on); resolve(); } };
    page.on('response', on);
  });
}

async function main() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'tresor-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
    ignoreHTTPSErrors: true,  // the server's certificate comes from the test's own CA
    viewport: { width: 1280, height: 800 },
  });
  const responses = [];
  const consoleErrors = [];
  const csp = [];
  const page = context.pages()[0] || await context.newPage();
  page.on('response', (r) => responses.push({ url: r.url(), status: r.status() }));
  page.on('requestfailed', (r) => responses.push({ url: r.url(), status: 'failed: ' + (r.failure() || {}).errorText }));
  page.on('console', (m) => {
    if (m.type() !== 'error' && m.type() !== 'warning') return;
    if (/Content.Security.Policy/i.test(m.text())) csp.push(m.text());
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push('pageerror: ' + e));
  // A request the page itself cancelled (net::ERR_ABORTED: OHIF drops queued frame
  // requests it no longer needs) is no server failure when the same URL got a 200.
  const okStatus = (r) => typeof r.status === 'number' && ((r.status >= 200 && r.status < 300) || r.status === 304);
  const bad = (list) => list.filter((r) => !okStatus(r) &&
    !(/ERR_ABORTED/.test(String(r.status)) && list.some((o) => o.url === r.url && okStatus(o))));
  const show = (list) => list.slice(0, 15).map((r) => r.status + ' ' + r.url).join('; ');
  try {
    // Signed out: the navigation goes to the sign-in page.
    const out = await page.request.get(BASE + '/viewer/', { headers: { Accept: 'text/html' }, maxRedirects: 0 });
    check('signed out: /viewer/ redirects (303) to sign-in', out.status() === 303 && out.headers().location === '/?next=/viewer/',
      out.status() + ' ' + out.headers().location);

    // Sign in: the session cookie lands in the browser context.
    const signIn = await page.request.post(BASE + '/auth/session', {
      data: { username: process.env.USERNAME, password: process.env.PASSWORD } });
    check('sign-in through POST /auth/session', signIn.status() === 200, String(signIn.status()));
    const csrf = (await signIn.json()).csrf_token;

    // The study list.
    await page.goto(BASE + '/viewer/', { waitUntil: 'load' });
    await page.getByText(STUDY.slice(-6), { exact: false }).first().waitFor({ timeout: 1 }).catch(() => {});
    await waitFor(page, () => responses.some((r) => /\/dicom-web\/studies\?/.test(r.url)), 60000, 'the study list query');
    await page.waitForSelector('[data-cy="study-list-results"] tr, [data-cy^="studyRow"], table tbody tr',
      { timeout: 60000 }).catch(() => {});
    const listed = await page.evaluate(() => document.body.innerText);
    check('the study list shows the study (patient TRESOR test name or description)',
      /CT|Study|Patient/i.test(listed) && !/No studies available/i.test(listed), listed.slice(0, 200));
    save('ohif-study-list.png', await page.screenshot({ type: 'png' }));
    const listBad = bad(responses);
    check('study list: every response 2xx', listBad.length === 0, show(listBad));
    responses.length = 0;

    // The CT study: wait until every frame came back.
    const started = Date.now();
    const frames = () => responses.filter((r) => /\/frames\/\d+/.test(r.url));
    const frames200 = () => frames().filter((r) => r.status === 200);
    await page.goto(BASE + '/viewer/viewer?StudyInstanceUIDs=' + STUDY, { waitUntil: 'load' });
    let waited = null;
    try {
    await waitFor(page, () => new Set(frames200().map((r) => r.url)).size >= FRAMES, OVERALL_MS - (Date.now() - started), FRAMES + ' frames');
    } catch (e) { waited = e.message; }
    const seconds = (Date.now() - started) / 1000;
    const distinct = new Set(frames200().map((r) => r.url)).size;
    check('all ' + FRAMES + ' frames fetched with 200', waited === null && distinct >= FRAMES, waited + ' (' + distinct + ' distinct frame URLs with 200)');
    console.log('  load time of the ' + FRAMES + '-slice series: ' + seconds.toFixed(1) + ' s (' + distinct + ' frames; ' +
      frames().filter((r) => /ERR_ABORTED/.test(String(r.status))).length + ' requests cancelled by the page and repeated)');
    check('no frame answered other than 200', bad(frames()).length === 0, show(bad(frames())));

    // The viewport: a canvas inside OHIF's cornerstone viewport element.
    const viewport = page.locator('.cornerstone-viewport-element canvas, [data-viewport-uid] canvas').first();
    await viewport.waitFor({ state: 'visible', timeout: 30000 });
    // Rendering follows the frame that is shown; let the page settle on its own events.
    await page.waitForLoadState('networkidle', { timeout: 30000 }).catch(() => {});
    const box = await viewport.boundingBox();
    const shot = await page.screenshot({ type: 'png' });
    save('ohif-ct.png', shot);
    const png = PNG.sync.read(shot);
    const rect = { x: Math.round(box.x), y: Math.round(box.y), width: Math.round(box.width), height: Math.round(box.height) };
    const s = stats(png, rect);
    check('the viewport is large (' + rect.width + 'x' + rect.height + ')', rect.width >= 300 && rect.height >= 300);
    check('the viewport shows the image: ' + (100 * s.nonBlack).toFixed(1) + '% non-black pixels', s.nonBlack > 0.2);
    check('... with many grey levels (' + s.distinct + ')', s.distinct >= 32);
    const viewBad = bad(responses);
    check('viewer: every response 2xx or 304 (' + responses.length + ' responses)', viewBad.length === 0, show(viewBad));
    check('no CSP violation in the console', csp.length === 0, csp.slice(0, 5).join(' | '));
    if (consoleErrors.length) console.log('  (console errors: ' + consoleErrors.slice(0, 5).join(' | ') + ')');

    // Sign out: the viewer and DICOMweb are closed again (positive control first).
    const before = await page.request.get(BASE + '/dicom-web/studies');
    check('DICOMweb with the session before sign-out: 200', before.status() === 200, String(before.status()));
    const logout = await page.request.post(BASE + '/auth/logout', { headers: { 'X-CSRF-Token': csrf } });
    check('sign-out with X-CSRF-Token', logout.status() === 200, String(logout.status()));
    const after = await page.request.get(BASE + '/viewer/', { headers: { Accept: 'text/html' }, maxRedirects: 0 });
    check('after sign-out /viewer/ redirects to sign-in', after.status() === 303 && /^\/\?next=/.test(after.headers().location || ''), String(after.status()));
    const data = await page.request.get(BASE + '/dicom-web/studies');
    check('after sign-out DICOMweb answers 401', data.status() === 401, String(data.status()));
  } catch (e) {
    // What the page had done when a step gave up: the first thing to look at.
    console.log('    last responses (' + responses.length + ' in all): ' + show(responses.slice(-15)));
    if (consoleErrors.length) console.log('    console errors: ' + consoleErrors.slice(0, 5).join(' | '));
    save('viewer-failure.png', await page.screenshot().catch(() => Buffer.alloc(0)));
    throw e;
  } finally {
    await context.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().then(() => {
  console.log(passed + ' passed, ' + failed + ' failed');
  process.exit(failed ? 1 : 0);
}, (e) => {
  console.log('  FAIL ' + (e && e.stack || e));
  console.log(passed + ' passed, ' + (failed + 1) + ' failed');
  process.exit(1);
});
