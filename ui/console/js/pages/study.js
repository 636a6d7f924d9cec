// Study detail: the study's attributes (QIDO study search by UID), its series
// (GET /dicom-web/studies/{uid}/series) with thumbnails, and the viewer link.
import { h, replace, message } from '../dom.js';
import * as api from '../api.js';
import * as fmt from '../format.js';
import { viewerHref } from './studies.js';

const STUDY_FIELDS = ['PatientName', 'PatientID', 'PatientBirthDate', 'PatientSex', 'StudyDate',
  'StudyTime', 'AccessionNumber', 'ModalitiesInStudy', 'StudyDescription', 'StudyID',
  'ReferringPhysicianName', 'NumberOfStudyRelatedSeries', 'NumberOfStudyRelatedInstances'];
const SERIES_FIELDS = ['SeriesNumber', 'Modality', 'SeriesDescription', 'SeriesDate',
  'BodyPartExamined', 'NumberOfSeriesRelatedInstances', 'SeriesInstanceUID'];

export async function studyPage(ctx, uid) {
  document.title = 'Study - Tresor';
  const status = h('div', { class: 'status', 'aria-live': 'polite' }, message('info', 'Loading…'));
  replace(ctx.app, h('p', { class: 'crumbs' }, h('a', { href: '#/studies' }, '← Studies')), status);
  let study;
  let series;
  try {
    const [s, se] = await Promise.all([
      api.qido('/dicom-web/studies', { StudyInstanceUID: uid, includefield: STUDY_FIELDS.join(',') }),
      api.qido('/dicom-web/studies/' + encodeURIComponent(uid) + '/series', { includefield: SERIES_FIELDS.join(',') }),
    ]);
    study = s.items[0];
    series = se.items;
  } catch (e) {
    if (e.status === 404) replace(status, message('error', 'This study does not exist or is outside your access.'));
    else if (e.status !== 401) replace(status, message('error', 'The study cannot be shown: ' + e.message));
    return;
  }
  if (!study) { replace(status, message('error', 'This study does not exist or is outside your access.')); return; }
  replace(status);
  const name = fmt.personName(study, 'PatientName');
  const rows = [
    ['Patient name', name.main], ['Other name forms', name.other],
    ['Patient ID', fmt.first(study, 'PatientID')],
    ['Birth date', fmt.date(fmt.first(study, 'PatientBirthDate'))],
    ['Sex', fmt.first(study, 'PatientSex')],
    ['Study date', fmt.date(fmt.first(study, 'StudyDate')) + ' ' + fmt.time(fmt.first(study, 'StudyTime'))],
    ['Accession number', fmt.first(study, 'AccessionNumber')],
    ['Study ID', fmt.first(study, 'StudyID')],
    ['Description', fmt.first(study, 'StudyDescription')],
    ['Modalities', fmt.all(study, 'ModalitiesInStudy')],
    ['Referring physician', fmt.personName(study, 'ReferringPhysicianName').main],
    ['Series / instances', fmt.first(study, 'NumberOfStudyRelatedSeries') + ' / ' + fmt.first(study, 'NumberOfStudyRelatedInstances')],
    ['Study Instance UID', uid],
  ].filter(([, v]) => v && v.trim() && v.trim() !== '/');
  document.title = (name.main || 'Study') + ' - Tresor';
  series.sort((a, b) => (parseInt(fmt.first(a, 'SeriesNumber'), 10) || 0) - (parseInt(fmt.first(b, 'SeriesNumber'), 10) || 0));
  replace(status,
    h('div', { class: 'study-head' },
      h('h1', { class: 'study-title' }, name.main || '(no name)'),
      h('a', { class: 'button primary open-viewer', href: viewerHref(uid) }, 'Open in viewer')),
    h('dl', { class: 'attrs' }, rows.map(([k, v]) => [h('dt', null, k), h('dd', null, v)])),
    h('h2', null, 'Series (' + series.length + ')'),
    series.length ? h('ul', { class: 'series' }, series.map((se) => seriesCard(uid, se)))
      : message('info', 'No series.'));
}

function seriesCard(study, se) {
  const seUid = fmt.first(se, 'SeriesInstanceUID');
  const num = fmt.first(se, 'SeriesNumber');
  const desc = fmt.first(se, 'SeriesDescription');
  const src = '/dicom-web/studies/' + encodeURIComponent(study) + '/series/' + encodeURIComponent(seUid) + '/thumbnail';
  const img = h('img', { class: 'thumb', src, alt: 'Series ' + num + ' thumbnail', width: '128', height: '128', loading: 'lazy', decoding: 'async' });
  img.addEventListener('error', () => img.classList.add('broken'));
  return h('li', { class: 'series-card', dataset: { uid: seUid } }, img,
    h('div', { class: 'series-info' },
      h('strong', null, 'Series ' + num + (fmt.first(se, 'Modality') ? ' · ' + fmt.first(se, 'Modality') : '')),
      desc ? h('span', null, desc) : null,
      h('span', { class: 'muted' }, fmt.first(se, 'NumberOfSeriesRelatedInstances') + (fmt.first(se, 'NumberOfSeriesRelatedInstances') === '1' ? ' instance' : ' instances'))));
}
