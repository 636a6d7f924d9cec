// Browser half of bench/viewer: opens one study in OHIF in headless Chromium, several
// times, each in a new browser with a new temporary profile (cold cache), and prints one
// JSON object with the timings of every run. Run by bench/viewer; not meant to be run by
// hand (its only argument is a JSON file written by bench/viewer).
//
// Job file fields:
//   system       label ("tresor" or "orthanc")
//   origin       scheme://host:port of the server (OHIF and DICOMweb on it)
//   url          the viewer URL to open (origin + /viewer/viewer?StudyInstanceUIDs=...)
//   frames       number of distinct frame URLs the study has (every slice)
//   runs         number of runs
//   signin       {username, password} to POST to origin/auth/session first, or null
//   staticDir    when set, /viewer/* is answered by the browser from this folder (SPA
//                fallback to index.html) instead of the server: the --static browser mode
//   appConfig    with staticDir: the text answered for /viewer/app-config.js
//   viewport     {width, height}
//   timeoutMs    per run
//   screenshot   path of a PNG of the last run's page, or null
//   rawOut       path for every Resource Timing entry of the run (JSON), or null
//   serverPid    the server's process id (its CPU time during the run is reported), or null
//
// What is measured (all times in ms from the navigation start of the viewer URL, i.e.
// performance.timeOrigin of the page, from the page's Resource Timing entries):
//   firstFrame   responseEnd of the first frame response to complete
//   firstPixels  first time an animation frame found a viewport canvas with a non-black
//                pixel (canvas sampled into 32x32 after each frame, see INIT below)
//   firstImage   max(firstFrame, firstPixels): the first image is on screen
//   allFrames    responseEnd of the last of the study's distinct frame URLs
// plus a breakdown (document, scripts, first DICOMweb request, metadata, frame request
// latencies, in-flight concurrency, connections) to see where the time goes.
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const job = process.argv[2] === '--summarize' ? null : JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));

// Runs in the page before its scripts: a big Resource Timing buffer (the default 250
// entries is less than OHIF's scripts plus 200 frames), and a poll of the viewport
// canvases once per animation frame until one shows a non-black pixel.
const INIT = () => {
  if (window.top !== window) return;
  performance.setResourceTimingBufferSize(100000);
  window.__bench = { firstPixels: null, polls: 0 };
  const probe = document.createElement('canvas');
  probe.width = 32;
  probe.height = 32;
  const ctx = probe.getContext('2d', { willReadFrequently: true });
  const tick = () => {
    window.__bench.polls++;
    const canvases = document.querySelectorAll('.cornerstone-canvas, .viewport-element canvas');
    for (const c of canvases) {
      if (!c.width || !c.height) continue;
      try {
        ctx.clearRect(0, 0, 32, 32);
        ctx.drawImage(c, 0, 0, 32, 32);
        const d = ctx.getImageData(0, 0, 32, 32).data;
        for (let i = 0; i < d.length; i += 4) {
          if (d[i] > 8 || d[i + 1] > 8 || d[i + 2] > 8) {
            window.__bench.firstPixels = performance.now();
            return;
          }
        }
      } catch (e) {
        window.__bench.error = String(e);
      }
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
};

const MIME = {
  '.html': 'text/html', '.js': 'application/javascript', '.mjs': 'application/javascript',
  '.css': 'text/css', '.json': 'application/json', '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.woff2': 'font/woff2',
  '.woff': 'font/woff', '.ttf': 'font/ttf', '.txt': 'text/plain', '.map': 'application/json',
};

// --static browser: answers /viewer/* from job.staticDir (and app-config.js from the job).
async function routeStatic(context) {
  const root = path.resolve(job.staticDir);
  await context.route(job.origin + '/viewer/**', async (route) => {
    const u = new URL(route.request().url());
    let rel = decodeURIComponent(u.pathname.slice('/viewer/'.length));
    if (rel === 'app-config.js') {
      return route.fulfill({ status: 200, contentType: MIME['.js'], body: job.appConfig });
    }
    let file = path.resolve(root, rel);
    if (!file.startsWith(root + path.sep) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      if (path.extname(rel)) return route.fulfill({ status: 404, body: 'not found' });
      file = path.join(root, 'index.html');
    }
    return route.fulfill({
      status: 200,
      contentType: MIME[path.extname(file)] || 'application/octet-stream',
      headers: {
        'Cross-Origin-Opener-Policy': 'same-origin',
        'Cross-Origin-Embedder-Policy': 'require-corp',
        'Cross-Origin-Resource-Policy': 'same-origin',
      },
      body: fs.readFileSync(file),
    });
  });
}

// CPU time (ms, user + system, including reaped children) of a process and of all its
// live descendants, from /proc.
function cpuTreeMs(rootPid) {
  if (!rootPid) return null;
  const tick = 1000 / 100; // USER_HZ
  const procs = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      // f[0] is field 3 (state): ppid is field 4, utime..cstime fields 14..17.
      procs.set(Number(d), { ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * tick });
    } catch (e) { /* gone */ }
  }
  let sum = 0;
  const want = new Set([rootPid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, p] of procs) if (!want.has(pid) && want.has(p.ppid)) { want.add(pid); grew = true; }
  }
  for (const pid of want) if (procs.has(pid)) sum += procs.get(pid).cpu;
  return sum;
}

// The DICOMweb requests of a run again, without a browser (after it has closed): the calls
// made before the first frame one after another on one connection, then every distinct
// frame with 6 keep-alive connections (Chromium's HTTP/1.1 limit per origin), each with
// the Accept and Accept-Encoding OHIF's requests carried and the session cookie. Bodies
// are read to the end, not decoded: what the server alone needs for what OHIF asked.
async function replayDicomWeb(sent, cookies) {
  const http = require('http');
  const https = require('https');
  const seen = new Set();
  const order = [];
  for (const r of sent) {
    if (r.method !== 'GET' || seen.has(r.url)) continue;
    seen.add(r.url);
    order.push(r);
  }
  const firstFrame = order.findIndex((r) => isFrame(r.url));
  if (firstFrame < 0) return null;
  const before = order.slice(0, firstFrame).filter((r) => !isFrame(r.url));
  const frames = order.filter((r) => isFrame(r.url));
  const mod = job.origin.startsWith('https:') ? https : http;
  const get = (agent, r) => new Promise((resolve, reject) => {
    const headers = { 'Accept-Encoding': 'gzip, deflate, br, zstd' };
    for (const [k, v] of Object.entries(r.headers)) if (/^accept(-encoding)?$/i.test(k)) headers[k.toLowerCase() === 'accept' ? 'Accept' : 'Accept-Encoding'] = v;
    if (cookies) headers.Cookie = cookies;
    const req = mod.get(r.url, { agent, headers, rejectUnauthorized: false }, (res) => {
      let n = 0;
      res.on('data', (c) => { n += c.length; });
      res.on('end', () => (res.statusCode === 200 ? resolve(n) : reject(new Error(`replay ${r.url}: HTTP ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  const t0 = performance.now();
  const one = new mod.Agent({ keepAlive: true, maxSockets: 1 });
  for (const r of before) await get(one, r);
  const t1 = performance.now();
  one.destroy();
  const six = new mod.Agent({ keepAlive: true, maxSockets: 6 });
  let next = 0;
  let bytes = 0;
  const worker = async () => { while (next < frames.length) bytes += await get(six, frames[next++]); };
  await Promise.all(Array.from({ length: 6 }, worker));
  const t2 = performance.now();
  six.destroy();
  return { calls: before.length, callsMs: t1 - t0, frames: frames.length, framesMs: t2 - t1, frameBytes: bytes };
}

const isFrame = (name) => /\/frames\/\d+(\?|$)/.test(name);
const isDicomWeb = (name) => name.includes('/dicom-web/');
const median = (a) => {
  if (!a.length) return null;
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const pct = (a, p) => {
  if (!a.length) return null;
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
};

async function oneRun(index) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
  });
  try {
    const context = await browser.newContext({
      ignoreHTTPSErrors: true,
      viewport: job.viewport,
      serviceWorkers: 'block',
    });
    if (job.signin) {
      const r = await context.request.post(job.origin + '/auth/session', { data: job.signin });
      if (r.status() !== 200) throw new Error(`sign-in: HTTP ${r.status()} ${await r.text()}`);
    }
    if (job.staticDir) await routeStatic(context);
    await context.addInitScript(INIT);
    const page = await context.newPage();
    const consoleErrors = [];
    page.on('console', (m) => { if (m.type() === 'error' && consoleErrors.length < 20) consoleErrors.push(m.text().slice(0, 300)); });
    page.on('pageerror', (e) => { if (consoleErrors.length < 20) consoleErrors.push('pageerror: ' + String(e).slice(0, 300)); });
    // Connection ids of every response (Resource Timing does not expose them).
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    const connOf = new Map();
    cdp.on('Network.responseReceived', (e) => connOf.set(e.response.url, e.response.connectionId));
    // The headers OHIF sent with each DICOMweb request, for the replay.
    const sent = [];
    cdp.on('Network.requestWillBeSent', (e) => {
      if (e.request.url.includes('/dicom-web/')) sent.push({ url: e.request.url, method: e.request.method, headers: e.request.headers });
    });

    // Chromium's processes are descendants of this one (which adds its own, small, share).
    const browserPid = process.pid;
    const cpu0 = { server: cpuTreeMs(job.serverPid), browser: cpuTreeMs(browserPid) };
    await page.goto(job.url, { waitUntil: 'commit', timeout: job.timeoutMs });
    const deadline = Date.now() + job.timeoutMs;
    let state;
    for (;;) {
      state = await page.evaluate(() => {
        const seen = new Set();
        for (const e of performance.getEntriesByType('resource')) {
          if (/\/frames\/\d+(\?|$)/.test(e.name) && e.responseEnd > 0) seen.add(e.name);
        }
        return { frames: seen.size, firstPixels: window.__bench ? window.__bench.firstPixels : null };
      });
      if (state.frames >= job.frames && state.firstPixels !== null) break;
      if (Date.now() > deadline) break;
      await page.waitForTimeout(100);
    }
    // One more second for stragglers (duplicate frame requests, thumbnails).
    await page.waitForTimeout(state.frames >= job.frames ? 300 : 0);
    const data = await page.evaluate(() => {
      const pick = (e) => ({
        name: e.name, type: e.initiatorType, start: e.startTime, requestStart: e.requestStart,
        responseStart: e.responseStart, responseEnd: e.responseEnd, connectStart: e.connectStart,
        connectEnd: e.connectEnd, secureConnectionStart: e.secureConnectionStart,
        transferSize: e.transferSize, bodySize: e.encodedBodySize, protocol: e.nextHopProtocol,
      });
      const nav = performance.getEntriesByType('navigation')[0];
      return {
        nav: nav ? pick(nav) : null,
        resources: performance.getEntriesByType('resource').map(pick),
        bench: window.__bench || null,
        isolated: window.crossOriginIsolated,
      };
    });
    const cpu1 = { server: cpuTreeMs(job.serverPid), browser: cpuTreeMs(browserPid) };
    const cpu = {
      server: cpu0.server === null ? null : cpu1.server - cpu0.server,
      browser: cpu0.browser === null ? null : cpu1.browser - cpu0.browser,
    };
    if (job.screenshot && index === job.runs - 1) await page.screenshot({ path: job.screenshot });
    await cdp.detach().catch(() => {});
    const cookies = (await context.cookies(job.origin)).map((c) => `${c.name}=${c.value}`).join('; ');
    await context.close();
    await browser.close();
    const replay = await replayDicomWeb(sent, cookies);
    if (job.rawOut) {
      const conn = data.resources.map((e) => Object.assign({ connection: connOf.get(e.name) }, e));
      fs.writeFileSync(job.rawOut, JSON.stringify({ nav: data.nav, resources: conn, bench: data.bench }));
    }
    return Object.assign(analyse(index, data, consoleErrors, connOf), { cpu, replay });
  } finally {
    await browser.close();
  }
}

function analyse(index, data, consoleErrors, connOf) {
  const res = data.resources;
  // First completion of each distinct frame URL (a frame fetched twice counts once).
  const frameEnd = new Map();
  const frameEntries = [];
  for (const e of res) {
    if (!isFrame(e.name) || !(e.responseEnd > 0)) continue;
    frameEntries.push(e);
    if (!frameEnd.has(e.name) || e.responseEnd < frameEnd.get(e.name)) frameEnd.set(e.name, e.responseEnd);
  }
  const ends = [...frameEnd.values()];
  const firstFrame = ends.length ? Math.min(...ends) : null;
  const firstPixels = data.bench ? data.bench.firstPixels : null;
  const complete = frameEnd.size >= job.frames;
  const dw = res.filter((e) => isDicomWeb(e.name) && !isFrame(e.name));
  const viewerStatic = res.filter((e) => !isDicomWeb(e.name));
  const lastStatic = viewerStatic.filter((e) => /\.(js|css|wasm)(\?|$)/.test(e.name))
    .reduce((m, e) => Math.max(m, e.responseEnd), 0);
  const metadata = dw.filter((e) => /\/metadata(\?|$)/.test(e.name));
  // Server wait of each frame request (request sent -> first byte) and its download.
  const wait = frameEntries.filter((e) => e.requestStart > 0).map((e) => e.responseStart - e.requestStart);
  const queued = frameEntries.filter((e) => e.requestStart > 0).map((e) => e.requestStart - e.start);
  const download = frameEntries.map((e) => e.responseEnd - e.responseStart);
  const total = frameEntries.map((e) => e.responseEnd - e.start);
  // Largest number of frame requests in flight (sent, not finished) at once.
  const ev = [];
  for (const e of frameEntries) { ev.push([e.requestStart || e.start, 1]); ev.push([e.responseEnd, -1]); }
  ev.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let inflight = 0; let maxInflight = 0;
  for (const [, d] of ev) { inflight += d; maxInflight = Math.max(maxInflight, inflight); }
  // How busy the connections were while frames loaded: the summed time frame requests
  // were on the wire (sent -> last byte) over the span from the first sent to the last
  // received (6 would mean every one of Chromium's 6 connections was always busy); the
  // idle time of a connection between one frame and its next; and the number of bursts
  // in which frame requests were created (starts less than 5 ms apart belong together).
  let occupancy = null; let idleGap = null; let bursts = null;
  const sentFrames = frameEntries.filter((e) => e.requestStart > 0).sort((a, b) => a.requestStart - b.requestStart);
  if (sentFrames.length > 1) {
    const span = Math.max(...sentFrames.map((e) => e.responseEnd)) - sentFrames[0].requestStart;
    occupancy = sentFrames.reduce((sum, e) => sum + e.responseEnd - e.requestStart, 0) / span;
    const byConn = new Map();
    for (const e of sentFrames) {
      const c = connOf.get(e.name);
      if (c === undefined) continue;
      if (!byConn.has(c)) byConn.set(c, []);
      byConn.get(c).push(e);
    }
    const gaps = [];
    for (const list of byConn.values()) for (let i = 1; i < list.length; i++) gaps.push(list[i].requestStart - list[i - 1].responseEnd);
    idleGap = median(gaps);
    bursts = 0;
    let last = -Infinity;
    for (const e of [...frameEntries].sort((a, b) => a.start - b.start)) { if (e.start - last > 5) bursts++; last = e.start; }
  }
  const conns = new Set();
  const frameConns = new Set();
  for (const e of res) {
    const c = connOf.get(e.name);
    if (c === undefined) continue;
    conns.add(c);
    if (isFrame(e.name)) frameConns.add(c);
  }
  const handshakes = res.filter((e) => e.connectEnd > e.connectStart);
  const tls = res.filter((e) => e.secureConnectionStart > 0 && e.connectEnd > e.connectStart).map((e) => e.connectEnd - e.secureConnectionStart);
  const firstFrameStart = frameEntries.length ? Math.min(...frameEntries.map((e) => e.start)) : null;
  const firstDw = dw.length ? Math.min(...dw.map((e) => e.start)) : null;
  const frameBytes = frameEntries.reduce((s, e) => s + (e.bodySize || 0), 0);
  return {
    run: index + 1,
    complete,
    frames: frameEnd.size,
    frameRequests: frameEntries.length,
    firstFrame,
    firstPixels,
    firstImage: firstFrame !== null && firstPixels !== null ? Math.max(firstFrame, firstPixels) : null,
    allFrames: complete ? Math.max(...ends) : null,
    breakdown: {
      document: data.nav ? data.nav.responseEnd : null,
      staticDone: lastStatic,
      staticRequests: viewerStatic.length,
      staticBytes: viewerStatic.reduce((s, e) => s + (e.bodySize || 0), 0),
      firstDicomWeb: firstDw,
      metadataEnd: metadata.length ? Math.max(...metadata.map((e) => e.responseEnd)) : null,
      metadataMs: metadata.length ? Math.max(...metadata.map((e) => e.responseEnd - e.start)) : null,
      dicomWebRequests: dw.map((e) => ({ url: e.name.replace(/^[a-z]+:\/\/[^/]+/, ''), start: e.start, ms: e.responseEnd - e.start, wait: e.requestStart > 0 ? e.responseStart - e.requestStart : null })),
      firstFrameStart,
      // DICOMweb calls that completed before the first frame request: what the server
      // contributes to the first image before any pixels are asked for.
      preFrameCalls: firstFrameStart === null ? null : dw.filter((e) => e.responseEnd <= firstFrameStart).length,
      preFrameCallMs: firstFrameStart === null ? null : dw.filter((e) => e.responseEnd <= firstFrameStart)
        .reduce((sum, e) => sum + (e.responseEnd - e.start), 0),
      firstFrameMs: (() => {
        const f = frameEntries.filter((e) => e.responseEnd === firstFrame)[0];
        return f ? f.responseEnd - f.start : null;
      })(),
      frameWaitMedian: median(wait),
      frameWaitP90: pct(wait, 0.9),
      frameQueuedMedian: median(queued),
      frameDownloadMedian: median(download),
      frameTotalMedian: median(total),
      frameBytes,
      maxInflight,
      occupancy,
      idleGap,
      bursts,
      connections: conns.size,
      frameConnections: frameConns.size,
      handshakes: handshakes.length,
      tlsHandshakeMedian: median(tls),
      protocol: [...new Set(res.map((e) => e.protocol).filter(Boolean))].join(','),
      crossOriginIsolated: data.isolated,
      polls: data.bench ? data.bench.polls : null,
      pollError: data.bench ? data.bench.error || null : null,
    },
    consoleErrors,
  };
}

// --summarize RUNS.jsonl META.json: the markdown tables of bench/viewer.
function summarize(runsFile, metaFile) {
  const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8'));
  const by = {};
  for (const line of fs.readFileSync(runsFile, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const o = JSON.parse(line);
    (by[o.system] = by[o.system] || []).push(...o.runs);
  }
  const systems = ['tresor', 'orthanc'].filter((s) => by[s]);
  const label = { tresor: 'Tresor', orthanc: 'Orthanc' };
  const vals = (s, f) => by[s].map(f).filter((v) => v !== null && v !== undefined && !Number.isNaN(v));
  const med = (s, f) => median(vals(s, f));
  const ms = (v) => (v === null || v === undefined ? '-' : v >= 100 ? v.toFixed(0) : v.toFixed(1));
  const range = (s, f) => {
    const v = vals(s, f);
    if (v.length < 2) return '';
    return ` (${ms(Math.min(...v))}-${ms(Math.max(...v))})`;
  };
  const out = [];
  out.push(`### bench/viewer: OHIF opens a ${meta.slices}-slice 512x512 CT study (${meta.date})`);
  out.push('');
  out.push(`Machine: ${meta.machine}. ${meta.chromium}, headless, --disable-gpu, viewport 1280x1024, new profile per run; ` +
    `OHIF ${meta.ohif}; Orthanc ${meta.orthanc}. ${meta.runs} run(s) per server, alternating (A B, B A, ...); medians (min-max). ` +
    'Tresor over HTTPS (TLS, self-signed certificate), Orthanc over plain HTTP on loopback: TLS costs Tresor, not Orthanc. ' +
    `${meta.static}.`);
  out.push('');
  const complete = (s) => `${by[s].filter((r) => r.complete).length}/${by[s].length}`;
  out.push('| measure (ms from navigation start) | ' + systems.map((s) => label[s]).join(' | ') +
    (systems.length === 2 ? ' | Orthanc/Tresor |' : ' |'));
  out.push('|---|' + systems.map(() => '---:|').join('') + (systems.length === 2 ? '---:|' : ''));
  const row = (name, f) => {
    let line = `| ${name} | ` + systems.map((s) => ms(med(s, f)) + range(s, f)).join(' | ');
    if (systems.length === 2) {
      const t = med('tresor', f); const o = med('orthanc', f);
      line += ` | ${t && o ? (o / t).toFixed(2) + 'x' : '-'}`;
    }
    out.push(line + ' |');
  };
  row('time to first image', (r) => r.firstImage);
  row(`time until all ${meta.slices} slices are loaded`, (r) => r.allFrames);
  row('first image, counted from OHIF\'s first DICOMweb request', (r) => (r.firstImage !== null && r.breakdown.firstDicomWeb !== null ? r.firstImage - r.breakdown.firstDicomWeb : null));
  out.push('');
  out.push(`(Orthanc/Tresor = Orthanc's time / Tresor's: >1 means Tresor is faster; runs with every slice loaded: ` +
    systems.map((s) => `${label[s]} ${complete(s)}`).join(', ') + ')');
  out.push('');
  const rp = (k) => (r) => (r.replay ? r.replay[k] : null);
  out.push('The same DICOMweb requests replayed without a browser (node, after the browser closed; ' +
    'the calls before the first frame in sequence, then every frame over 6 keep-alive connections):');
  out.push('');
  out.push('| replay (ms) | ' + systems.map((s) => label[s]).join(' | ') + (systems.length === 2 ? ' | Orthanc/Tresor |' : ' |'));
  out.push('|---|' + systems.map(() => '---:|').join('') + (systems.length === 2 ? '---:|' : ''));
  row('calls before the first frame (QIDO, series, metadata)', rp('callsMs'));
  row(`all ${meta.slices} frames, 6 connections`, rp('framesMs'));
  out.push('');
  out.push('Where the time goes (medians over the runs; ms from navigation start unless stated):');
  out.push('');
  out.push('| | ' + systems.map((s) => label[s]).join(' | ') + ' |');
  out.push('|---|' + systems.map(() => '---:|').join(''));
  const brow = (name, f, fmt = ms) => out.push(`| ${name} | ` + systems.map((s) => fmt(med(s, f))).join(' | ') + ' |');
  const b = (k) => (r) => r.breakdown[k];
  brow('OHIF\'s files loaded (last script/style/wasm)', b('staticDone'));
  brow('first DICOMweb request sent', b('firstDicomWeb'));
  brow('series metadata: duration of the request', b('metadataMs'));
  brow('DICOMweb calls done before the first frame request (count)', b('preFrameCalls'), (v) => (v === null ? '-' : String(v)));
  brow('... their summed duration (request start -> response end)', b('preFrameCallMs'));
  brow('first frame request sent', b('firstFrameStart'));
  brow('first frame: duration of the request', b('firstFrameMs'));
  brow('first frame response complete', (r) => r.firstFrame);
  brow('first non-black viewport pixels', (r) => r.firstPixels);
  brow('span first DICOMweb request -> first image', (r) => (r.firstImage !== null && r.breakdown.firstDicomWeb !== null ? r.firstImage - r.breakdown.firstDicomWeb : null));
  brow('span first frame response -> first pixels (decode, render)', (r) => (r.firstPixels !== null && r.firstFrame !== null ? r.firstPixels - r.firstFrame : null));
  brow('frame: server wait (sent -> first byte), median', b('frameWaitMedian'));
  brow('frame: server wait, p90', b('frameWaitP90'));
  brow('frame: queued in the browser before sending, median', b('frameQueuedMedian'));
  brow('frame: download (first -> last byte), median', b('frameDownloadMedian'));
  brow('frames per second, first to last frame', (r) => (r.allFrames && r.firstFrame && r.frames > 1 ? (r.frames - 1) * 1000 / (r.allFrames - r.firstFrame) : null), (v) => (v === null ? '-' : v.toFixed(1)));
  brow('frame: whole request (created -> last byte), median', b('frameTotalMedian'));
  brow('frames in flight at once, max', b('maxInflight'), (v) => (v === null ? '-' : String(v)));
  brow('connections busy with frames, of 6 (while frames loaded)', b('occupancy'), (v) => (v === null ? '-' : v.toFixed(2)));
  brow('idle time of a connection between two frames, median', b('idleGap'));
  brow('bursts in which OHIF created the frame requests', b('bursts'), (v) => (v === null ? '-' : String(v)));
  brow('connections used', b('connections'), (v) => (v === null ? '-' : String(v)));
  brow('connections that carried frames', b('frameConnections'), (v) => (v === null ? '-' : String(v)));
  brow('TCP connects', b('handshakes'), (v) => (v === null ? '-' : String(v)));
  brow('TLS handshake, median', b('tlsHandshakeMedian'));
  brow('frame bytes received (MB, after content coding)', b('frameBytes'), (v) => (v === null ? '-' : (v / 1e6).toFixed(1)));
  brow('server CPU during the run (ms, user+system)', (r) => (r.cpu ? r.cpu.server : null));
  brow('browser CPU during the run (ms, Chromium processes and driver)', (r) => (r.cpu ? r.cpu.browser : null));
  brow('OHIF\'s files: requests', b('staticRequests'), (v) => (v === null ? '-' : String(v)));
  out.push('');
  return out.join('\n') + '\n';
}

if (process.argv[2] === '--summarize') {
  process.stdout.write(summarize(process.argv[3], process.argv[4]));
  process.exit(0);
}

(async () => {
  const runs = [];
  for (let i = 0; i < job.runs; i++) {
    const r = await oneRun(i);
    runs.push(r);
    process.stderr.write(`  ${job.system} run ${i + 1}/${job.runs}: first image ${r.firstImage === null ? '-' : r.firstImage.toFixed(0)} ms, ` +
      `all ${r.frames}/${job.frames} frames ${r.allFrames === null ? '-' : r.allFrames.toFixed(0)} ms\n`);
  }
  process.stdout.write(JSON.stringify({ system: job.system, runs }) + '\n');
})().catch((e) => {
  process.stderr.write(`viewer-browser: ${e.stack || e}\n`);
  process.exit(1);
});
