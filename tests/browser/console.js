// Tresor's console in a real Chromium: sign-in (wrong password, right password, session
// expiry, ?next= with an open-redirect attempt), the study list (searches by patient ID,
// name, date range and modality compared with the corpus manifest; paging; sorting by
// date), the study detail (series thumbnails loaded, viewer link), a PatientName made of
// markup shown as text, the administration pages, the audit page, and sign-out (the
// session is gone for the APIs and the viewer). One "PASS/FAIL/SKIP what" line per check.
//
// Usage: node console.js CONFIG.json, CONFIG = {base, admin: {user, password},
//   reader: {user, password}, manifest, xss: {uid, name}, peer, studies} (console.sh
//   writes it). Screenshots go to $BROWSER_ARTIFACTS.
'use strict';
const fs = require('fs');
const { launch, screenshot, pngStats, reporter } = require('./lib.js');

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const BASE = cfg.base;
const r = reporter();

// Studies of the manifest: uid -> {pid, name, date, modality, acc}.
function readManifest(file) {
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  const cols = lines[0].split('\t');
  const at = (name) => cols.indexOf(name);
  const studies = new Map();
  for (const line of lines.slice(1)) {
    const f = line.split('\t');
    const uid = f[at('study_uid')];
    if (!studies.has(uid)) {
      studies.set(uid, { uid, pid: f[at('patient_id')], name: f[at('patient_name')], date: f[at('study_date')],
        modality: f[at('modality')], acc: f[at('accession')] });
    }
  }
  return studies;
}
const STUDIES = readManifest(cfg.manifest);
const sorted = (a) => [...a].sort();
const iso = (da) => da.slice(0, 4) + '-' + da.slice(4, 6) + '-' + da.slice(6, 8);

async function main() {
  const { context, page, events, close } = await launch();
  page.setDefaultTimeout(15000);
  try {
    await run(context, page, events);
  } catch (e) {
    r.fail('the browser run completed', String(e && e.stack || e).split('\n').slice(0, 4).join(' | '));
  } finally {
    r.eq('no dialog (alert/confirm/prompt) ever opened', [], events.dialogs);
    r.eq('no uncaught page errors', [], events.pageErrors);
    r.eq('no Content Security Policy violations', [], events.csp);
    const unexpected = events.consoleErrors.filter((t) => !/status of 40[134]|Failed to load resource/.test(t));
    r.eq('no console errors other than refused requests', [], unexpected);
    await close();
  }
  process.exit(r.failed ? 1 : 0);
}

// Rows shown in the study list: their data-uid values.
const rowUids = (page) => page.$$eval('table.studies tbody tr', (trs) => trs.map((t) => t.dataset.uid));

// Waits until the study list finished a search (status line not "Searching…").
async function searched(page) {
  await page.waitForFunction(() => {
    const s = document.querySelector('.status');
    return s && s.textContent && !/Searching/.test(s.textContent);
  });
}

async function signIn(page, user, password) {
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', password);
  await page.click('form.signin button[type=submit]');
}

async function search(page, fields) {
  await page.goto(BASE + '/#/studies?size=100');
  await page.waitForSelector('form.search');
  for (const [name, value] of Object.entries(fields)) {
    if (name === 'mod') await page.selectOption('select[name=mod]', value);
    else await page.fill('input[name=' + name + ']', value);
  }
  await page.click('form.search button[type=submit]');
  await page.waitForFunction((want) => location.hash.includes(want), Object.keys(fields)[0] + '=');
  await searched(page);
  return rowUids(page);
}

async function run(context, page, events) {
  // ---- sign-in
  const first = await page.goto(BASE + '/');
  r.eq('GET / answers 200 with the console', 200, first.status());
  const csp = (await first.allHeaders())['content-security-policy'] || '';
  r.check('the console page carries a CSP without unsafe-inline/eval', /script-src 'self'/.test(csp) && !/unsafe/.test(csp), csp);
  await page.waitForSelector('form.signin');
  await screenshot(page, 'signin');
  await signIn(page, cfg.admin.user, cfg.admin.password + 'x');
  await page.waitForSelector('form.signin .msg-error');
  r.eq('a wrong password shows "Wrong user name or password."', 'Wrong user name or password.',
    await page.textContent('form.signin .msg-error'));
  r.check('after a wrong password the sign-in form stays', await page.isVisible('form.signin'));
  await signIn(page, cfg.admin.user, cfg.admin.password);
  await page.waitForSelector('table.studies tbody tr');
  r.check('the right password opens the study list', true);
  r.eq('the header shows the signed-in user and role', [cfg.admin.user, 'admin'],
    [await page.textContent('#who .user'), await page.textContent('#who .role')]);
  r.check('the session cookie is HttpOnly', (await context.cookies()).some((c) => c.name === 'tresor_session' && c.httpOnly));

  // ---- the whole list, paging
  await page.goto(BASE + '/#/studies?size=10');
  await searched(page);
  const pages = [];
  for (let i = 0; i < 10; i++) {
    await page.waitForSelector('table.studies tbody tr');
    pages.push(await rowUids(page));
    if (await page.isDisabled('nav.pager button.next')) break;
    const before = await page.textContent('.page-no');
    await page.click('nav.pager button.next');
    await page.waitForFunction((b) => document.querySelector('.page-no') && document.querySelector('.page-no').textContent !== b, before);
    await searched(page);
  }
  const all = pages.flat();
  const expectedPages = Math.ceil(STUDIES.size / 10);
  r.eq('paging at 10 per page gives ' + expectedPages + ' pages', expectedPages, pages.length);
  r.check('every page but the last holds 10 rows', pages.slice(0, -1).every((p) => p.length === 10), JSON.stringify(pages.map((p) => p.length)));
  r.eq('the pages together list every study once', sorted(STUDIES.keys()), sorted(all));
  await page.click('nav.pager button.prev');
  await page.waitForFunction((n) => { const e = document.querySelector('.page-no'); return e && e.textContent === 'Page ' + n; }, pages.length - 1);
  await searched(page);
  r.eq('"Previous" goes back one page', pages[pages.length - 2], await rowUids(page));

  // ---- searches against the manifest
  const list = [...STUDIES.values()];
  const byPid = list.find((s) => s.pid !== cfg.xss.pid);
  r.eq('search by patient ID ' + byPid.pid, sorted(list.filter((s) => s.pid === byPid.pid).map((s) => s.uid)),
    sorted(await search(page, { pid: byPid.pid })));
  // A family name that no other patient's name starts with (case-insensitively).
  const family = (s) => s.name.split('^')[0];
  const named = list.find((s) => s.pid !== cfg.xss.pid && family(s).length > 3 &&
    list.every((o) => o.pid === s.pid || !o.name.toLowerCase().startsWith(family(s).toLowerCase())));
  if (named) {
    const prefix = family(named);
    r.eq('search by patient name "' + prefix + '" (prefix match)', sorted(list.filter((s) => s.name.startsWith(prefix)).map((s) => s.uid)),
      sorted(await search(page, { name: prefix })));
    // As typed when it holds a wildcard: "<first two letters>*<last two letters>^*".
    const wild = prefix.slice(0, 2) + '*' + prefix.slice(-2) + '^*';
    const re = new RegExp('^' + wild.split('*').map((x) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$', 's');
    r.eq('search by patient name "' + wild + '" (wildcard as typed)', sorted(list.filter((s) => re.test(s.name)).map((s) => s.uid)),
      sorted(await search(page, { name: wild })));
  } else {
    r.fail('the corpus has a patient with a unique family name');
  }
  const dates = sorted(new Set(list.map((s) => s.date)));
  const from = dates[Math.floor(dates.length / 4)];
  const to = dates[Math.floor((3 * dates.length) / 4)];
  const inRange = list.filter((s) => s.date >= from && s.date <= to).map((s) => s.uid);
  r.check('the date range selects some but not all studies', inRange.length > 0 && inRange.length < list.length, String(inRange.length));
  r.eq('search by study date ' + iso(from) + ' to ' + iso(to), sorted(inRange),
    sorted(await search(page, { from: iso(from), to: iso(to) })));
  r.eq('search by study date from ' + iso(to) + ' (open end)', sorted(list.filter((s) => s.date >= to).map((s) => s.uid)),
    sorted(await search(page, { from: iso(to) })));
  r.eq('search by modality MR', sorted(list.filter((s) => s.modality === 'MR').map((s) => s.uid)),
    sorted(await search(page, { mod: 'MR' })));
  const acc = list.find((s) => s.pid !== cfg.xss.pid && s.acc).acc;
  r.eq('search by accession number ' + acc, sorted(list.filter((s) => s.acc === acc).map((s) => s.uid)),
    sorted(await search(page, { acc })));
  r.eq('a search nothing matches says so', 'No studies match.',
    (await search(page, { pid: 'NO-SUCH-ID' })).length === 0 ? await page.textContent('.status .msg-info') : 'rows shown');

  // ---- sorting by study date (click the header twice)
  await page.goto(BASE + '/#/studies?size=100');
  await page.waitForSelector('table.studies tbody tr');
  const shownDates = () => page.$$eval('table.studies tbody tr', (trs) => trs.map((t) => t.children[3].textContent));
  await page.click('button.sort[data-sort=StudyDate]');
  await page.waitForFunction(() => location.hash.includes('sort=StudyDate'));
  await searched(page);
  const asc = await shownDates();
  r.check('sorted by study date ascending', asc.length === STUDIES.size && asc.every((d, i) => i === 0 || asc[i - 1] <= d), asc.join(' '));
  r.eq('the first date is the oldest of the corpus', iso(dates[0]), asc[0]);
  r.eq('the header says ascending', 'ascending', await page.getAttribute('th:has(button[data-sort=StudyDate])', 'aria-sort'));
  await page.click('button.sort[data-sort=StudyDate]');
  await page.waitForFunction(() => location.hash.includes('sort=-StudyDate'));
  await searched(page);
  const desc = await shownDates();
  r.check('a second click sorts descending', desc.length === STUDIES.size && desc.every((d, i) => i === 0 || desc[i - 1] >= d), desc.join(' '));
  r.eq('the first date is then the newest', iso(dates[dates.length - 1]), desc[0]);
  await page.goto(BASE + '/#/studies?size=25');
  await page.waitForSelector('table.studies tbody tr');
  await screenshot(page, 'studies');

  // ---- the markup name in the list
  await search(page, { pid: cfg.xss.pid });
  const xssRow = 'table.studies tbody tr[data-uid="' + cfg.xss.uid + '"]';
  // '=' separates PN component groups: Alphabetic "<img src", then "x onerror", "alert(1)>".
  const groups = cfg.xss.name.split('=');
  r.eq('the markup PatientName shows literally in the list (PN groups split at =)', [groups[0], groups.slice(1).join(' = ')],
    [await page.textContent(xssRow + ' a.study-link'), await page.textContent(xssRow + ' .pn-other')]);
  r.eq('no <img> element was made from it in the list', 0, await page.$$eval('table.studies img, img[src="x"]', (e) => e.length));

  // ---- study detail
  await page.click(xssRow + ' a.study-link');
  await page.waitForSelector('ul.series li img.thumb');
  r.eq('the detail page shows the markup name literally', [groups[0], groups.slice(1).join(' = ')],
    [await page.textContent('h1.study-title'), await page.textContent('dl.attrs dt:text-is("Other name forms") + dd')]);
  r.eq('no <img> element was made from it in the detail', 0, await page.$$eval('img:not(.thumb)', (e) => e.length));
  await page.waitForFunction(() => [...document.querySelectorAll('img.thumb')].every((i) => i.complete));
  const thumbs = await page.$$eval('img.thumb', (imgs) => imgs.map((i) => i.naturalWidth));
  const xssSeries = cfg.xss.series;
  r.check('the detail lists the study\'s ' + xssSeries + ' series with loaded thumbnails', thumbs.length === xssSeries && thumbs.every((w) => w > 0), JSON.stringify(thumbs));
  r.eq('"Open in viewer" points at the OHIF study URL', '/viewer/viewer?StudyInstanceUIDs=' + encodeURIComponent(cfg.xss.uid),
    await page.getAttribute('a.open-viewer', 'href'));
  // A multi-series study of the corpus, for the screenshot and the thumbnail pixels.
  const other = list.find((s) => s.pid === byPid.pid);
  await page.goto(BASE + '/#/study/' + encodeURIComponent(other.uid));
  await page.waitForSelector('ul.series li img.thumb');
  await page.waitForFunction(() => [...document.querySelectorAll('img.thumb')].every((i) => i.complete && i.naturalWidth > 0));
  r.eq('a corpus study\'s detail shows its ' + cfg.series + ' series', cfg.series, (await page.$$('ul.series li')).length);
  const shot = await screenshot(page, 'study');
  const box = await (await page.$('img.thumb')).boundingBox();
  const st = pngStats(shot, { x: Math.round(box.x), y: Math.round(box.y), width: Math.round(box.width), height: Math.round(box.height) });
  r.check('the thumbnail shows an image (pixel spread)', st.stddev > 8 && st.distinct > 16, JSON.stringify(st));
  r.eq('the detail shows the patient ID', other.pid, await page.textContent('dl.attrs dt:text-is("Patient ID") + dd'));

  // ---- administration
  await page.goto(BASE + '/#/admin/users');
  await page.waitForSelector('table.users tbody tr');
  const users = await page.$$eval('table.users tbody tr', (trs) => trs.map((t) => t.dataset.name));
  r.eq('the users page lists every user', sorted(cfg.users), sorted(users));
  await screenshot(page, 'admin-users');
  const addUser = page.locator('form.add-form');
  await addUser.getByLabel('User name', { exact: true }).fill('newuser');
  await addUser.getByLabel('Role', { exact: true }).selectOption('technologist');
  await addUser.getByLabel('Password', { exact: true }).fill('a long enough passphrase 42');
  await addUser.getByLabel('Access groups', { exact: true }).fill('all');
  await addUser.locator('button[type=submit]').click();
  await page.waitForSelector('table.users tr[data-name="newuser"]');
  r.eq('a user added on the page is listed with its role', 'technologist', await page.textContent('table.users tr[data-name="newuser"] td:nth-child(2)'));
  await page.click('table.users tr[data-name="newuser"] button:text-is("Disable")');
  await page.waitForSelector('table.users tr[data-name="newuser"] button:text-is("Enable")');
  const disabled = await page.evaluate(async () => (await (await fetch('/api/users')).json()).find((u) => u.name === 'newuser').disabled);
  r.eq('"Disable" disables the user on the server', true, disabled);
  await page.goto(BASE + '/#/admin/peers');
  await page.waitForSelector('table.peers tbody tr');
  r.eq('the peers page lists the registered peer', [cfg.peer], await page.$$eval('table.peers tbody tr', (t) => t.map((x) => x.dataset.name)));
  const addPeer = page.locator('form.add-form');
  await addPeer.getByLabel('Name', { exact: true }).fill('pacs2');
  await addPeer.getByLabel('AE title', { exact: true }).fill('PACS2');
  await addPeer.getByLabel('Port', { exact: true }).fill('11113');
  await addPeer.locator('button[type=submit]').click();
  await page.waitForSelector('table.peers tr[data-name="pacs2"]');
  r.check('a peer added on the page is listed (TLS not required, echo and store)',
    /not required/.test(await page.textContent('table.peers tr[data-name="pacs2"]')) &&
    (await page.textContent('table.peers tr[data-name="pacs2"] td:nth-child(4)')) === 'echo, store');
  await page.click('table.peers tr[data-name="pacs2"] button');
  await page.click('table.peers tr[data-name="pacs2"] button');
  await page.waitForSelector('table.peers tr[data-name="pacs2"]', { state: 'detached' });
  const peerNames = await page.evaluate(async () => (await (await fetch('/api/peers')).json()).map((p) => p.name));
  r.eq('a removed peer is gone on the server', [cfg.peer], peerNames);
  await page.goto(BASE + '/#/admin/groups');
  await page.waitForSelector('form.add-form');
  await page.fill('form.add-form input >> nth=0', 'console-test');
  await page.selectOption('form.add-form select', 'peer');
  await page.fill('form.add-form input >> nth=1', cfg.peer);
  await page.click('form.add-form button[type=submit]');
  const ruleRow = 'table.rules tr[data-rule="console-test|peer|' + cfg.peer + '"]';
  await page.waitForSelector(ruleRow);
  r.check('a rule added on the groups page is listed', true);
  r.check('adding it reports the studies it assigned', /Rule added; 0 archived studies/.test(await page.textContent('.status')), await page.textContent('.status'));
  await page.click(ruleRow + ' button');
  await page.click(ruleRow + ' button');
  await page.waitForSelector(ruleRow, { state: 'detached' });
  const rules = await page.evaluate(async () => (await (await fetch('/api/rules')).json()).filter((x) => x.group === 'console-test').length);
  r.eq('a removed rule is gone on the server', 0, rules);
  await page.goto(BASE + '/#/admin/tokens');
  await page.waitForSelector('form.add-form');
  await page.fill('form.add-form input >> nth=0', 'console-test');
  await page.fill('form.add-form input >> nth=1', cfg.reader.user);
  await page.click('form.add-form button[type=submit]');
  await page.waitForSelector('input.token-value');
  const token = await page.inputValue('input.token-value');
  r.check('a created token is shown once', token.length > 20, token.length + ' characters');
  const viaToken = await page.evaluate(async (t) => (await fetch('/api/stats', { headers: { Authorization: 'Bearer ' + t }, credentials: 'omit' })).status, token);
  r.eq('the shown token authenticates', 200, viaToken);
  r.check('the token is listed without its value', await page.isVisible('table.tokens tr[data-name="console-test"]') &&
    !(await page.textContent('table.tokens')).includes(token));
  await page.click('table.tokens tr[data-name="console-test"] button');
  await page.click('table.tokens tr[data-name="console-test"] button');
  await page.waitForSelector('table.tokens tr[data-name="console-test"]', { state: 'detached' });
  const revoked = await page.evaluate(async (t) => (await fetch('/api/stats', { headers: { Authorization: 'Bearer ' + t }, credentials: 'omit' })).status, token);
  r.eq('a revoked token no longer authenticates', 401, revoked);
  await page.goto(BASE + '/#/storage');
  await page.waitForSelector('.card[data-stat=studies]');
  r.eq('the storage page counts the studies', String(STUDIES.size), await page.textContent('.card[data-stat=studies] .card-value'));

  // ---- audit page: records, or the "not available" state on a server without it
  await page.goto(BASE + '/#/audit');
  await page.waitForFunction(() => document.querySelector('table.audit') || /not available|No records/.test(document.querySelector('.status').textContent));
  const auditState = await page.textContent('.status');
  if (/not available on this server yet/.test(auditState)) {
    const code = await page.evaluate(async () => (await fetch('/api/audit')).status);
    r.eq('the audit page says the trail is not available exactly when /api/audit is 404', 404, code);
  } else {
    r.check('the audit page lists records of this run', await page.isVisible('table.audit tbody tr'), auditState);
  }

  // ---- session expiry: the cookie disappears, the next call gets 401
  await page.goto(BASE + '/#/studies');
  await page.waitForSelector('table.studies tbody tr');
  const savedCookies = await context.cookies();
  await context.clearCookies();
  await page.click('form.search button[type=submit]');
  await page.click('nav.pager button.next').catch(() => {});
  await page.waitForSelector('form.signin');
  r.eq('an expired session returns to the sign-in with a message', 'Your session has expired. Please sign in again.',
    await page.textContent('form.signin .msg'));
  await context.addCookies(savedCookies);

  // ---- ?next=: back to a same-origin path after sign-in; never to another host
  await context.clearCookies();
  await page.goto(BASE + '/?next=' + encodeURIComponent('//example.invalid/x'));
  await page.waitForSelector('form.signin');
  await signIn(page, cfg.reader.user, cfg.reader.password);
  await page.waitForSelector('table.studies');
  r.eq('?next=//host is refused (no open redirect): the console stays', new URL(BASE).origin + '/', page.url().split('#')[0]);
  await context.clearCookies();
  const target = '/viewer/viewer?StudyInstanceUIDs=' + encodeURIComponent(cfg.xss.uid);
  await page.goto(BASE + '/?next=' + encodeURIComponent(target));
  await page.waitForSelector('form.signin');
  await signIn(page, cfg.reader.user, cfg.reader.password);
  await page.waitForURL((u) => u.pathname.startsWith('/viewer/'));
  r.eq('?next=/viewer/... returns there after sign-in', target, new URL(page.url()).pathname + new URL(page.url()).search);

  // ---- sign-out
  await page.goto(BASE + '/#/studies');
  await page.waitForSelector('table.studies tbody tr');
  const before = await page.evaluate(async () => (await fetch('/dicom-web/studies?limit=1')).status);
  r.eq('signed in, the page can search', 200, before);
  await page.click('#who button.signout');
  await page.waitForSelector('form.signin');
  r.check('sign-out shows the sign-in page', !(await page.isVisible('#who .user')));
  const after = await page.evaluate(async () => (await fetch('/dicom-web/studies?limit=1')).status);
  r.eq('after sign-out the page\'s search gets 401', 401, after);
  r.check('the session cookie is gone', !(await context.cookies()).some((c) => c.name === 'tresor_session'));
  // ---- back-off: repeated wrong passwords for one user end in the 429 message
  await page.goto(BASE + '/');
  await page.waitForSelector('form.signin');
  let text = '';
  for (let i = 0; i < 8 && !/Too many/.test(text); i++) {
    await signIn(page, 'auditor', 'wrong password ' + i);
    await page.waitForSelector('form.signin .msg-error');
    await page.waitForFunction(() => !document.querySelector('form.signin button').disabled);
    text = await page.textContent('form.signin .msg-error');
  }
  r.check('repeated wrong passwords show "Too many failed sign-ins. Try again in N seconds/minutes."',
    /^Too many failed sign-ins\. Try again in \d+ (seconds?|minutes)\.$/.test(text), text);

  // ---- signed out, the viewer sends the browser to the sign-in page with next=
  const nav = await page.goto(BASE + '/viewer/');
  const found = await page.waitForSelector('form.signin', { timeout: 5000 }).then(() => true, () => false);
  const u = new URL(page.url());
  r.check('after sign-out /viewer/ leads to the sign-in with next=/viewer/',
    u.pathname === '/' && u.searchParams.get('next') === '/viewer/' && found,
    'HTTP ' + (nav && nav.status()) + ' at ' + page.url());
}

main();
