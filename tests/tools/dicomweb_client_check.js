#!/usr/bin/env node
// Drives a DICOMweb server with the npm package `dicomweb-client` (a third-party client,
// as OHIF uses it) and checks every answer against a corpus manifest written by
// tests/tools/make_studies.py. Run by tests/integration/dicomweb_client.sh, which
// prepares the corpus and the expected bytes; NODE_PATH must hold dicomweb-client and
// xhr2 (scripts/install-node-deps) and NODE_EXTRA_CA_CERTS the server's CA.
//
// Usage: node dicomweb_client_check.js CONFIG.json
// CONFIG: { "url": "https://127.0.0.1:PORT/dicom-web", "token": READER_BEARER,
//           "storeToken": TECHNOLOGIST_BEARER, "corpus": DIR (manifest.tsv),
//           "stored": DIR (<sop>.dcm as `tresor cat` writes them),
//           "frames": [ { "sop", "study", "series", "ts", "count", "dir" } ],
//             (dir/<n>.stored: frame n as stored, dir/<n>.raw: frame n decoded)
//           "alsoStored": [DIR...] (manifests of the other objects stored before the run),
//           "stow": DIR (manifest.tsv of files to STOW) }
// Prints one line per check, "ok   WHAT" or "FAIL WHAT: WHY", and exits 0 (the calling
// suite counts the lines).
'use strict';

const fs = require('fs');
const path = require('path');
global.XMLHttpRequest = require('xhr2');
const { api } = require('dicomweb-client');

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const auth = (t) => ({ Authorization: `Bearer ${t}` });
const client = new api.DICOMwebClient({ url: config.url, headers: auth(config.token), verbose: false });
const storer = new api.DICOMwebClient({ url: config.url, headers: auth(config.storeToken), verbose: false });

// ---- manifest -------------------------------------------------------------------------
function readManifest(dir) {
  const lines = fs.readFileSync(path.join(dir, 'manifest.tsv'), 'utf8').split('\n').filter(Boolean);
  const cols = lines[0].split('\t');
  return lines.slice(1).map((l) => {
    const v = l.split('\t');
    const row = {};
    cols.forEach((c, i) => { row[c] = v[i] ?? ''; });
    row.file = path.join(dir, row.path);
    return row;
  });
}
// Everything the archive holds before STOW: the corpus, then the multi-frame objects.
const rows = [config.corpus, ...(config.alsoStored || [])].flatMap(readManifest);
const uniq = (xs) => [...new Set(xs)].sort();
const studiesOf = (rs) => uniq(rs.map((r) => r.study_uid));
const seriesOf = (rs) => uniq(rs.map((r) => r.series_uid));
const sopsOf = (rs) => uniq(rs.map((r) => r.sop_uid));
const byStudy = (s) => rows.filter((r) => r.study_uid === s);

// ---- DICOM JSON -----------------------------------------------------------------------
const TAG = {
  StudyInstanceUID: '0020000D', SeriesInstanceUID: '0020000E', SOPInstanceUID: '00080018',
  SOPClassUID: '00080016', PatientName: '00100010', PatientID: '00100020', StudyDate: '00080020',
  Modality: '00080060', ModalitiesInStudy: '00080061', PixelData: '7FE00010',
  NumberOfStudyRelatedInstances: '00201208', ReferencedSOPSequence: '00081199',
  FailedSOPSequence: '00081198', ReferencedSOPInstanceUID: '00081155',
};
const first = (obj, keyword) => {
  const e = obj && obj[TAG[keyword]];
  return e && Array.isArray(e.Value) ? e.Value[0] : undefined;
};
const uidsIn = (objs, keyword) => uniq(objs.map((o) => first(o, keyword)));
// A PN value as the manifest writes it: component groups joined by '=', trailing '=' cut.
const pnString = (pn) => {
  if (!pn) return '';
  return [pn.Alphabetic || '', pn.Ideographic || '', pn.Phonetic || ''].join('=').replace(/=+$/, '');
};

// ---- Part 10 --------------------------------------------------------------------------
// The bytes after the File Meta Information group (the data set as transferred).
function dataSetOf(buf) {
  const b = Buffer.from(buf);
  if (b.length < 132 || b.toString('latin1', 128, 132) !== 'DICM') throw new Error('not a Part 10 file');
  let off = 132;
  while (off + 8 <= b.length && b.readUInt16LE(off) === 0x0002) {
    const vr = b.toString('latin1', off + 4, off + 6);
    if (['OB', 'OW', 'OF', 'SQ', 'UT', 'UN'].includes(vr)) off += 12 + b.readUInt32LE(off + 8);
    else off += 8 + b.readUInt16LE(off + 6);
  }
  return b.subarray(off);
}

// ---- results --------------------------------------------------------------------------
let failures = 0;
const ok = (what) => console.log(`ok   ${what}`);
const bad = (what, why) => { failures++; console.log(`FAIL ${what}: ${why}`); };
const describeError = (e) => {
  if (e && e.status !== undefined) {
    let body = '';
    const r = e.response;
    if (r instanceof ArrayBuffer || ArrayBuffer.isView(r)) body = Buffer.from(r).toString('utf8');
    else body = typeof r === 'string' ? r : JSON.stringify(r);
    body = (body || '').slice(0, 200);
    return `HTTP ${e.status} ${body}`;
  }
  return String(e && e.stack ? e.stack.split('\n').slice(0, 2).join(' ') : e);
};
async function check(what, fn) {
  try {
    const why = await fn();
    if (why === true || why === undefined) ok(what); else bad(what, why);
  } catch (e) {
    bad(what, describeError(e));
  }
}
const sameSet = (want, got) => {
  const w = uniq(want), g = uniq(got);
  if (JSON.stringify(w) === JSON.stringify(g)) return true;
  const missing = w.filter((x) => !g.includes(x)), extra = g.filter((x) => !w.includes(x));
  return `expected ${w.length}, got ${g.length} (missing ${missing.slice(0, 3).join(',')}; extra ${extra.slice(0, 3).join(',')})`;
};
const bytesEqual = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
const bytesDiff = (want, got) => {
  const w = Buffer.from(want), g = Buffer.from(got);
  if (w.length !== g.length) return `expected ${w.length} bytes, got ${g.length}`;
  for (let i = 0; i < w.length; i++) if (w[i] !== g[i]) return `first difference at byte ${i}`;
  return true;
};

// ---- the checks -----------------------------------------------------------------------
async function qido() {
  const allStudies = studiesOf(rows);
  await check(`QIDO /studies (all ${allStudies.length} studies)`, async () =>
    sameSet(allStudies, uidsIn(await client.searchForStudies({ queryParams: { limit: 1000 } }), 'StudyInstanceUID')));

  const p = rows[rows.length - 1].patient_id;
  await check(`QIDO /studies?PatientID=${p} (single value)`, async () =>
    sameSet(studiesOf(rows.filter((r) => r.patient_id === p)),
      uidsIn(await client.searchForStudies({ queryParams: { PatientID: p } }), 'StudyInstanceUID')));

  // Wildcards on names in Latin (Latin-1), Greek and Cyrillic; names must come back intact.
  const byCharset = (cs) => rows.find((r) => r.charset === cs);
  for (const cs of ['ISO_IR 100', 'ISO_IR 126', 'ISO_IR 144', 'ISO_IR 192']) {
    const r = byCharset(cs);
    if (!r) { bad(`QIDO PatientName wildcard (${cs})`, 'no such patient in the corpus'); continue; }
    const prefix = [...r.patient_name].slice(0, 3).join('');
    const want = rows.filter((x) => x.patient_name.startsWith(prefix));
    let got = [];
    await check(`QIDO /studies?PatientName=${prefix}* (${cs}, wildcard)`, async () => {
      got = await client.searchForStudies({ queryParams: { PatientName: `${prefix}*` } });
      return sameSet(studiesOf(want), uidsIn(got, 'StudyInstanceUID'));
    });
    await check(`... names come back intact (${cs}: ${r.patient_name})`, async () => {
      if (got.length === 0) return 'no results';
      for (const o of got) {
        const s = first(o, 'StudyInstanceUID');
        const m = rows.find((x) => x.study_uid === s);
        const name = pnString(first(o, 'PatientName'));
        if (!m || name !== m.patient_name) return `study ${s}: got '${name}', expected '${m && m.patient_name}'`;
      }
      return true;
    });
  }
  // Every name in the corpus, Ideographic and Phonetic groups included, from one query.
  await check('QIDO returns every patient name of the corpus intact (UTF-8 JSON, PN groups)', async () => {
    const got = await client.searchForStudies({ queryParams: { limit: 1000, includefield: 'PatientName' } });
    for (const o of got) {
      const m = rows.find((x) => x.study_uid === first(o, 'StudyInstanceUID'));
      const name = pnString(first(o, 'PatientName'));
      if (!m || name !== m.patient_name) return `got '${name}', expected '${m && m.patient_name}'`;
    }
    return got.length === allStudies.length ? true : `${got.length} studies`;
  });

  const dates = uniq(rows.map((r) => r.study_date));
  const lo = dates[Math.floor(dates.length / 4)], hi = dates[Math.floor((3 * dates.length) / 4)];
  await check(`QIDO /studies?StudyDate=${lo}-${hi} (date range)`, async () =>
    sameSet(studiesOf(rows.filter((r) => r.study_date >= lo && r.study_date <= hi)),
      uidsIn(await client.searchForStudies({ queryParams: { StudyDate: `${lo}-${hi}` } }), 'StudyInstanceUID')));
  await check(`QIDO /studies?StudyDate=-${lo} (open range)`, async () =>
    sameSet(studiesOf(rows.filter((r) => r.study_date <= lo)),
      uidsIn(await client.searchForStudies({ queryParams: { StudyDate: `-${lo}` } }), 'StudyInstanceUID')));

  const some = allStudies.slice(0, 3);
  await check('QIDO /studies?StudyInstanceUID=a,b,c (UID list, comma)', async () =>
    sameSet(some, uidsIn(await client.searchForStudies({ queryParams: { StudyInstanceUID: some.join(',') } }), 'StudyInstanceUID')));
  await check('QIDO /studies?StudyInstanceUID=a\\b (UID list, backslash)', async () =>
    sameSet(some.slice(0, 2), uidsIn(await client.searchForStudies({ queryParams: { StudyInstanceUID: some.slice(0, 2).join('\\') } }), 'StudyInstanceUID')));

  for (const mod of ['CT', 'MR']) {
    await check(`QIDO /studies?ModalitiesInStudy=${mod}`, async () => {
      const got = await client.searchForStudies({ queryParams: { ModalitiesInStudy: mod } });
      const r = sameSet(studiesOf(rows.filter((x) => x.modality === mod)), uidsIn(got, 'StudyInstanceUID'));
      if (r !== true) return r;
      const e = got[0] && got[0][TAG.ModalitiesInStudy];
      return e && e.Value && e.Value.includes(mod) ? true : `ModalitiesInStudy not returned: ${JSON.stringify(e)}`;
    });
  }
  await check('QIDO /studies?ModalitiesInStudy=CT,MR (multiple values)', async () =>
    sameSet(studiesOf(rows.filter((x) => x.modality === 'CT' || x.modality === 'MR')),
      uidsIn(await client.searchForStudies({ queryParams: { ModalitiesInStudy: 'CT,MR' } }), 'StudyInstanceUID')));

  await check('QIDO /studies?limit=3&offset=2 returns 3 studies', async () => {
    const got = await client.searchForStudies({ queryParams: { limit: 3, offset: 2 } });
    return got.length === 3 ? true : `${got.length} results`;
  });
  await check('QIDO /studies pages of limit=3 cover every study once', async () => {
    const seen = [];
    for (let off = 0; off < allStudies.length + 6; off += 3) {
      const page = await client.searchForStudies({ queryParams: { limit: 3, offset: off } });
      seen.push(...page.map((o) => first(o, 'StudyInstanceUID')));
      if (page.length < 3) break;
    }
    if (seen.length !== new Set(seen).size) return `duplicates across pages (${seen.length} results)`;
    return sameSet(allStudies, seen);
  });
  await check('QIDO /studies NumberOfStudyRelatedInstances equals the manifest', async () => {
    const s = allStudies[0];
    const got = await client.searchForStudies({ queryParams: { StudyInstanceUID: s, includefield: 'NumberOfStudyRelatedInstances' } });
    const n = Number(first(got[0], 'NumberOfStudyRelatedInstances'));
    return n === byStudy(s).length ? true : `got ${n}, expected ${byStudy(s).length}`;
  });

  // Series level.
  const s0 = allStudies[1];
  await check('QIDO /studies/{study}/series', async () =>
    sameSet(seriesOf(byStudy(s0)), uidsIn(await client.searchForSeries({ studyInstanceUID: s0 }), 'SeriesInstanceUID')));
  await check('QIDO /series?Modality=MR', async () =>
    sameSet(seriesOf(rows.filter((r) => r.modality === 'MR')),
      uidsIn(await client.searchForSeries({ queryParams: { Modality: 'MR', limit: 1000 } }), 'SeriesInstanceUID')));
  await check(`QIDO /series?PatientID=${p}`, async () =>
    sameSet(seriesOf(rows.filter((r) => r.patient_id === p)),
      uidsIn(await client.searchForSeries({ queryParams: { PatientID: p } }), 'SeriesInstanceUID')));
  const twoSeries = seriesOf(rows).slice(0, 2);
  await check('QIDO /series?SeriesInstanceUID=a,b (UID list)', async () =>
    sameSet(twoSeries, uidsIn(await client.searchForSeries({ queryParams: { SeriesInstanceUID: twoSeries.join(',') } }), 'SeriesInstanceUID')));

  // Instance level.
  const r0 = byStudy(s0)[0];
  await check('QIDO /studies/{study}/series/{series}/instances', async () =>
    sameSet(sopsOf(rows.filter((r) => r.series_uid === r0.series_uid)),
      uidsIn(await client.searchForInstances({ studyInstanceUID: s0, seriesInstanceUID: r0.series_uid }), 'SOPInstanceUID')));
  await check('QIDO /studies/{study}/instances', async () =>
    sameSet(sopsOf(byStudy(s0)), uidsIn(await client.searchForInstances({ studyInstanceUID: s0 }), 'SOPInstanceUID')));
  await check('QIDO /instances?SOPInstanceUID=x returns it with its SOP Class UID', async () => {
    const got = await client.searchForInstances({ queryParams: { SOPInstanceUID: r0.sop_uid } });
    if (got.length !== 1) return `${got.length} results`;
    return first(got[0], 'SOPClassUID') === r0.sop_class ? true : `SOPClassUID ${first(got[0], 'SOPClassUID')}`;
  });
  await check(`QIDO /instances?PatientID=${p}&limit=2&offset=1`, async () => {
    const want = sopsOf(rows.filter((r) => r.patient_id === p));
    const got = uidsIn(await client.searchForInstances({ queryParams: { PatientID: p, limit: 2, offset: 1 } }), 'SOPInstanceUID');
    return got.length === Math.min(2, want.length - 1) && got.every((x) => want.includes(x)) ? true : `got ${got}`;
  });
  await check('QIDO for an unknown study answers an empty list', async () => {
    const got = await client.searchForStudies({ queryParams: { StudyInstanceUID: '1.2.3.4.5.6.7.8.9' } });
    return Array.isArray(got) && got.length === 0 ? true : `got ${JSON.stringify(got).slice(0, 100)}`;
  });
}

// dicomweb-client 0.11.3's retrieveInstance/Series/Study reject every explicit media type
// (their _getCommonMediaType answers 'application/', compared with 'application/dicom'),
// so with transfer-syntax=* they are called the way they would call themselves: through
// the client's own multipart GET, which builds the Accept header and splits the parts.
const wadoUrl = (ids) => [config.url, 'studies', ids.studyInstanceUID, ids.seriesInstanceUID && 'series',
  ids.seriesInstanceUID, ids.sopInstanceUID && 'instances', ids.sopInstanceUID].filter(Boolean).join('/');
const retrieveAny = (c, ids) => c._httpGetMultipartApplicationDicom(wadoUrl(ids),
  [{ mediaType: 'application/dicom', transferSyntaxUID: '*' }], false, {});

async function wado() {
  const pick = ['ISO_IR 100', 'ISO_IR 126', 'ISO_IR 144', 'ISO_IR 192'].map((cs) => rows.find((x) => x.charset === cs)).filter(Boolean);
  for (const r of pick) {
    await check(`WADO-RS instance ${r.modality} (${r.charset || 'ascii'}) with transfer-syntax=* is byte-identical to the stored file`, async () => {
      const parts = await retrieveAny(client, { studyInstanceUID: r.study_uid, seriesInstanceUID: r.series_uid, sopInstanceUID: r.sop_uid });
      if (parts.length !== 1) return `${parts.length} parts`;
      const got = parts[0];
      const stored = fs.readFileSync(path.join(config.stored, `${r.sop_uid}.dcm`));
      const d = bytesDiff(stored, got);
      if (d !== true) return `against tresor cat: ${d}`;
      return bytesDiff(dataSetOf(fs.readFileSync(r.file)), dataSetOf(got));
    });
  }
  const r = rows[0];
  await check('WADO-RS instance with the client default Accept (application/dicom) answers Part 10', async () => {
    const got = await client.retrieveInstance({ studyInstanceUID: r.study_uid, seriesInstanceUID: r.series_uid, sopInstanceUID: r.sop_uid });
    return bytesDiff(dataSetOf(fs.readFileSync(r.file)), dataSetOf(got));
  });
  await check('WADO-RS series (*): every instance, each identical to what was stored', async () => {
    const want = rows.filter((x) => x.series_uid === r.series_uid);
    const got = await retrieveAny(client, { studyInstanceUID: r.study_uid, seriesInstanceUID: r.series_uid });
    if (got.length !== want.length) return `${got.length} parts, expected ${want.length}`;
    const stored = want.map((x) => fs.readFileSync(path.join(config.stored, `${x.sop_uid}.dcm`)));
    return got.every((g) => stored.some((s) => bytesEqual(s, g))) ? true : 'a part differs from every stored file';
  });
  await check('WADO-RS study (*): every instance of the study', async () => {
    const got = await retrieveAny(client, { studyInstanceUID: r.study_uid });
    return got.length === byStudy(r.study_uid).length ? true : `${got.length} parts, expected ${byStudy(r.study_uid).length}`;
  });
  await check('WADO-RS of an unknown instance fails with 404', async () => {
    try {
      await retrieveAny(client, { studyInstanceUID: r.study_uid, seriesInstanceUID: r.series_uid, sopInstanceUID: '1.2.3.4.5.6.7.8.9' });
      return 'succeeded';
    } catch (e) { return e.status === 404 ? true : describeError(e); }
  });
}

async function frames() {
  for (const f of config.frames) {
    const ids = { studyInstanceUID: f.study, seriesInstanceUID: f.series, sopInstanceUID: f.sop };
    const list = f.count >= 3 ? [1, 3] : [1];
    const want = (n, kind) => fs.readFileSync(path.join(f.dir, `${n}.${kind}`));
    await check(`frames ${list.join(',')} of ${f.label} with transfer-syntax=* equal the stored fragments`, async () => {
      const got = await client.retrieveInstanceFrames({ ...ids, frameNumbers: list.join(','),
        mediaTypes: [{ mediaType: 'application/octet-stream', transferSyntaxUID: '*' }] });
      if (got.length !== list.length) return `${got.length} parts`;
      for (let i = 0; i < list.length; i++) {
        const d = bytesDiff(want(list[i], 'stored'), got[i]);
        if (d !== true) return `frame ${list[i]}: ${d}`;
      }
      return true;
    });
    await check(`frame ${list[list.length - 1]} of ${f.label} as explicit little endian equals the decoded pixels`, async () => {
      const n = list[list.length - 1];
      const got = await client.retrieveInstanceFrames({ ...ids, frameNumbers: String(n),
        mediaTypes: [{ mediaType: 'application/octet-stream', transferSyntaxUID: '1.2.840.10008.1.2.1' }] });
      if (got.length !== 1) return `${got.length} parts`;
      return bytesDiff(want(n, 'raw'), got[0]);
    });
  }
  const f = config.frames[0];
  await check(`frames with the client default Accept (application/octet-stream) of ${f.label}`, async () => {
    const got = await client.retrieveInstanceFrames({ studyInstanceUID: f.study, seriesInstanceUID: f.series, sopInstanceUID: f.sop, frameNumbers: '2' });
    return got.length === 1 ? bytesDiff(fs.readFileSync(path.join(f.dir, '2.raw')), got[0]) : `${got.length} parts`;
  });
}

async function metadata() {
  const r = rows[2];
  const series = rows.filter((x) => x.series_uid === r.series_uid);
  let seriesMeta = [];
  await check('metadata of a series: one object per instance', async () => {
    seriesMeta = await client.retrieveSeriesMetadata({ studyInstanceUID: r.study_uid, seriesInstanceUID: r.series_uid });
    return sameSet(sopsOf(series), uidsIn(seriesMeta, 'SOPInstanceUID'));
  });
  await check('... with the patient name intact and PixelData as a BulkDataURI', async () => {
    for (const o of seriesMeta) {
      if (pnString(first(o, 'PatientName')) !== r.patient_name) return `name ${pnString(first(o, 'PatientName'))}`;
      const px = o[TAG.PixelData];
      if (!px || !px.BulkDataURI) return `PixelData ${JSON.stringify(px).slice(0, 80)}`;
      if (px.InlineBinary) return 'PixelData inline';
    }
    return seriesMeta.length > 0 ? true : 'no objects';
  });
  await check('metadata of a study: every instance of the study', async () =>
    sameSet(sopsOf(byStudy(r.study_uid)), uidsIn(await client.retrieveStudyMetadata({ studyInstanceUID: r.study_uid }), 'SOPInstanceUID')));
  let inst = [];
  const instUrl = `${config.url}/studies/${r.study_uid}/series/${r.series_uid}/instances/${r.sop_uid}/metadata`;
  await check('metadata of an instance', async () => {
    inst = await client.retrieveInstanceMetadata({ studyInstanceUID: r.study_uid, seriesInstanceUID: r.series_uid, sopInstanceUID: r.sop_uid });
    return Array.isArray(inst) && inst.length === 1 && first(inst[0], 'SOPInstanceUID') === r.sop_uid ? true : `got ${JSON.stringify(inst).slice(0, 100)}`;
  });
  await check('bulkdata: the PixelData BulkDataURI gives the stored pixel bytes', async () => {
    const uri = inst[0] && inst[0][TAG.PixelData] && inst[0][TAG.PixelData].BulkDataURI;
    if (!uri) return 'no BulkDataURI';
    const url = new URL(uri, instUrl).toString();
    const got = await client.retrieveBulkData({ BulkDataURI: url });
    const part = Array.isArray(got) ? got[0] : got;
    const want = fs.readFileSync(path.join(config.pixels, `${r.sop_uid}.raw`));
    return bytesDiff(want, part);
  });
}

// PNG: signature, IHDR width and height; JPEG: SOI marker and the SOF0 size.
function imageSize(answer) {
  // Single-part answers come back as [ArrayBuffer] (with the headers attached).
  const b = Buffer.from(Array.isArray(answer) ? answer[0] : answer);
  if (b.length > 24 && b.readUInt32BE(0) === 0x89504e47) return { type: 'png', w: b.readUInt32BE(16), h: b.readUInt32BE(20) };
  if (b.length > 4 && b[0] === 0xff && b[1] === 0xd8) {
    for (let i = 2; i + 9 < b.length;) {
      if (b[i] !== 0xff) return { type: 'jpeg' };
      const m = b[i + 1];
      if (m >= 0xc0 && m <= 0xc3) return { type: 'jpeg', h: b.readUInt16BE(i + 5), w: b.readUInt16BE(i + 7) };
      i += 2 + b.readUInt16BE(i + 2);
    }
    return { type: 'jpeg' };
  }
  return { type: 'unknown' };
}

async function rendered() {
  const r = rows.find((x) => x.modality === 'CT') || rows[0];
  const ids = { studyInstanceUID: r.study_uid, seriesInstanceUID: r.series_uid, sopInstanceUID: r.sop_uid };
  for (const mediaType of ['image/jpeg', 'image/png']) {
    await check(`rendered ${mediaType} of a CT instance at its size (${config.rows}x${config.cols})`, async () => {
      const got = await client.retrieveInstanceRendered({ ...ids, mediaTypes: [{ mediaType }] });
      const s = imageSize(got);
      if (`image/${s.type}` !== mediaType) return `got ${s.type}`;
      return s.w === config.cols && s.h === config.rows ? true : `size ${s.w}x${s.h}`;
    });
  }
  await check('rendered with window=center,width and viewport=16,16', async () => {
    const got = await client.retrieveInstanceRendered({ ...ids, mediaTypes: [{ mediaType: 'image/png' }], queryParams: { window: '1000,2000,linear', viewport: '16,16' } });
    const s = imageSize(got);
    return s.type === 'png' && s.w <= 16 && s.h <= 16 ? true : `got ${JSON.stringify(s)}`;
  });
  await check('thumbnail of the instance is an image', async () => {
    const got = await client.retrieveInstanceThumbnail({ ...ids, mediaTypes: [{ mediaType: 'image/jpeg' }] });
    const s = imageSize(got);
    return s.type === 'jpeg' ? true : `got ${s.type}`;
  });
  await check('WADO-URI (requestType=WADO, contentType=application/dicom, transferSyntax=*) returns the stored instance', async () => {
    const wadoUri = new api.DICOMwebClient({ url: `${config.url}/wado`, headers: auth(config.token), verbose: false });
    const url = wadoUri.buildInstanceWadoURIUrl({ ...ids, contentType: 'application/dicom', transferSyntax: '*' });
    const got = await wadoUri._httpGet(url, { Accept: 'application/dicom' }, { responseType: 'arraybuffer' });
    const body = Array.isArray(got) ? got[0] : got;
    return bytesDiff(fs.readFileSync(path.join(config.stored, `${r.sop_uid}.dcm`)), body);
  });
  await check('WADO-URI contentType=image/jpeg returns a JPEG', async () => {
    const wadoUri = new api.DICOMwebClient({ url: `${config.url}/wado`, headers: auth(config.token), verbose: false });
    const url = wadoUri.buildInstanceWadoURIUrl({ ...ids, contentType: 'image/jpeg' }).replace(/&transferSyntax=\*/, '');
    const got = await wadoUri._httpGet(url, { Accept: 'image/jpeg' }, { responseType: 'arraybuffer' });
    return imageSize(Array.isArray(got) ? got[0] : got).type === 'jpeg' ? true : 'not a JPEG';
  });
}

async function stow() {
  const srows = readManifest(config.stow);
  const datasets = srows.map((r) => { const b = fs.readFileSync(r.file); return b.buffer.slice(b.byteOffset, b.byteOffset + b.length); });
  let response;
  await check(`STOW-RS of ${datasets.length} instances in one request (storeInstances)`, async () => {
    response = await storer.storeInstances({ datasets });
    return true;
  });
  await check('... the response lists every instance in ReferencedSOPSequence and none failed', async () => {
    const body = typeof response === 'string' ? JSON.parse(response) : Array.isArray(response) ? JSON.parse(Buffer.from(response[0]).toString('utf8')) : response;
    const ref = body[TAG.ReferencedSOPSequence];
    const got = ref && ref.Value ? ref.Value.map((i) => first(i, 'ReferencedSOPInstanceUID')) : [];
    if (body[TAG.FailedSOPSequence] && (body[TAG.FailedSOPSequence].Value || []).length) return 'FailedSOPSequence not empty';
    return sameSet(sopsOf(srows), got);
  });
  await check('... then QIDO finds all of them', async () => {
    const got = await client.searchForInstances({ studyInstanceUID: srows[0].study_uid, queryParams: { limit: 1000 } });
    return sameSet(sopsOf(srows), uidsIn(got, 'SOPInstanceUID'));
  });
  await check('STOW-RS with a read-only (radiologist) token is refused with 403', async () => {
    try {
      await client.storeInstances({ datasets: datasets.slice(0, 1) });
      return 'succeeded';
    } catch (e) { return e.status === 403 ? true : describeError(e); }
  });
}

(async () => {
  const parts = { qido, wado, frames, metadata, rendered, stow };
  const only = process.env.ONLY ? process.env.ONLY.split(',') : Object.keys(parts);
  for (const k of only) await parts[k]();
  console.log(`dicomweb-client checks: ${failures} failed`);
})().catch((e) => { console.log(`FAIL unexpected error: ${describeError(e)}`); });
