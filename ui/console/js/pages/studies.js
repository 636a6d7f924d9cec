// Study list: QIDO-RS search (GET /dicom-web/studies) with paging and sorting. The
// search form's state lives in the hash (#/studies?name=...&page=2&sort=-StudyDate), so
// the back button and reloads keep it.
import { h, replace, field, message, select } from '../dom.js';
import * as api from '../api.js';
import * as fmt from '../format.js';

export const PAGE_SIZES = ['10', '25', '50', '100'];
const DEFAULT_SIZE = '25';
export const MODALITIES = ['CT', 'MR', 'CR', 'DX', 'MG', 'US', 'XA', 'NM', 'PT', 'RF', 'OT', 'SR'];

const INCLUDE = ['PatientName', 'PatientID', 'PatientBirthDate', 'StudyDate', 'StudyTime',
  'AccessionNumber', 'ModalitiesInStudy', 'StudyDescription', 'NumberOfStudyRelatedSeries',
  'NumberOfStudyRelatedInstances', 'StudyInstanceUID'];

// Columns: [title, sort key (Tresor's orderby extension) or null, cell builder].
const COLUMNS = [
  ['Patient name', 'PatientName', (s) => nameCell(s)],
  ['Patient ID', 'PatientID', (s) => fmt.first(s, 'PatientID')],
  ['Birth date', null, (s) => fmt.date(fmt.first(s, 'PatientBirthDate'))],
  ['Study date', 'StudyDate', (s) => fmt.date(fmt.first(s, 'StudyDate'))],
  ['Time', null, (s) => fmt.time(fmt.first(s, 'StudyTime'))],
  ['Accession', 'AccessionNumber', (s) => fmt.first(s, 'AccessionNumber')],
  ['Modalities', null, (s) => fmt.all(s, 'ModalitiesInStudy')],
  ['Description', null, (s) => fmt.first(s, 'StudyDescription')],
  ['Series', null, (s) => fmt.first(s, 'NumberOfStudyRelatedSeries')],
  ['Instances', null, (s) => fmt.first(s, 'NumberOfStudyRelatedInstances')],
];

function nameCell(s) {
  const uid = fmt.first(s, 'StudyInstanceUID');
  const n = fmt.personName(s, 'PatientName');
  return [h('a', { href: '#/study/' + encodeURIComponent(uid), class: 'study-link', title: n.other || null },
    n.main || '(no name)'), n.other ? h('span', { class: 'pn-other' }, n.other) : null];
}

// The PatientName matching value for what the user typed: as typed when it holds a
// wildcard (* or ?), else a prefix match (value + '*').
export function nameQuery(text) {
  const t = text.trim();
  if (!t) return '';
  return /[*?]/.test(t) ? t : t + '*';
}

// The StudyDate range value from two YYYY-MM-DD inputs ('' when both are empty).
export function dateRange(from, to) {
  const f = fmt.toDicomDate(from);
  const t = fmt.toDicomDate(to);
  if (!f && !t) return '';
  if (f && t && f === t) return f;
  return f + '-' + t;
}

export function studiesPage(ctx) {
  const p = ctx.params;
  const state = {
    name: p.get('name') || '', pid: p.get('pid') || '', from: p.get('from') || '',
    to: p.get('to') || '', mod: p.get('mod') || '', acc: p.get('acc') || '',
    page: Math.max(1, parseInt(p.get('page') || '1', 10) || 1),
    size: PAGE_SIZES.includes(p.get('size')) ? p.get('size') : DEFAULT_SIZE,
    sort: p.get('sort') || '',
  };
  document.title = 'Studies - Tresor';

  const inputs = {
    name: h('input', { name: 'name', value: state.name, autocomplete: 'off' }),
    pid: h('input', { name: 'pid', value: state.pid, autocomplete: 'off' }),
    from: h('input', { name: 'from', type: 'date', value: state.from }),
    to: h('input', { name: 'to', type: 'date', value: state.to }),
    mod: select({ name: 'mod' }, [['', 'Any'], ...MODALITIES.map((m) => [m, m])], state.mod),
    acc: h('input', { name: 'acc', value: state.acc, autocomplete: 'off' }),
    size: select({ name: 'size' }, PAGE_SIZES.map((s) => [s, s + ' per page']), state.size),
  };
  const form = h('form', { class: 'search', role: 'search', 'aria-label': 'Study search' },
    field('Patient name', inputs.name, 'Starts with what you type (Family^Given); use * as a wildcard anywhere, e.g. *son.'),
    field('Patient ID', inputs.pid, 'Exact ID; * as a wildcard.'),
    field('Study date from', inputs.from),
    field('Study date to', inputs.to),
    field('Modality', inputs.mod),
    field('Accession number', inputs.acc),
    field('Page size', inputs.size),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary' }, 'Search'),
      h('button', { type: 'button', on: { click: () => ctx.go('/studies', { size: state.size }) } }, 'Clear')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const next = {};
    for (const k of ['name', 'pid', 'from', 'to', 'mod', 'acc', 'size']) next[k] = inputs[k].value.trim();
    if (next.from && next.to && next.from > next.to) {
      replace(status, message('error', 'The "from" date is after the "to" date.'));
      return;
    }
    if (state.sort) next.sort = state.sort;
    ctx.go('/studies', next);
  });

  const status = h('div', { class: 'status', 'aria-live': 'polite' });
  const results = h('div', { class: 'results' });
  replace(ctx.app, h('h1', null, 'Studies'), form, status, results);
  load(ctx, state, status, results);
}

async function load(ctx, state, status, results) {
  const size = parseInt(state.size, 10);
  const query = {
    PatientName: nameQuery(state.name),
    PatientID: state.pid,
    StudyDate: dateRange(state.from, state.to),
    ModalitiesInStudy: state.mod,
    AccessionNumber: state.acc,
    includefield: INCLUDE.join(','),
    limit: size + 1, // one more than shown tells whether a next page exists
    offset: (state.page - 1) * size,
  };
  if (state.sort) query.orderby = state.sort;
  replace(status, message('info', 'Searching…'));
  let items;
  try {
    ({ items } = await api.qido('/dicom-web/studies', query));
  } catch (e) {
    if (e.status === 400 && state.sort) {
      // An archive without the orderby extension: search again in its own order.
      try {
        delete query.orderby;
        ({ items } = await api.qido('/dicom-web/studies', query));
        state.sortRefused = true;
      } catch (e2) {
        replace(status, message('error', 'The search failed: ' + e2.message)); return;
      }
    } else {
      if (e.status !== 401) replace(status, message('error', 'The search failed: ' + e.message));
      return;
    }
  }
  const more = items.length > size;
  const shown = items.slice(0, size);
  const from = (state.page - 1) * size;
  replace(status,
    state.sortRefused ? message('warn', 'This server cannot sort the list; it is shown in its stored order.') : null,
    message('info', shown.length === 0
      ? (state.page > 1 ? 'No more studies.' : 'No studies match.')
      : 'Studies ' + (from + 1) + '–' + (from + shown.length) + (more ? ' (more on the next pages)' : '') + '.'));
  if (shown.length === 0 && state.page === 1) { replace(results); return; }
  replace(results, table(ctx, state, shown), pager(ctx, state, more));
}

function sortHeader(ctx, state, title, key) {
  if (!key) return h('th', { scope: 'col' }, title);
  const asc = state.sort === key;
  const desc = state.sort === '-' + key;
  const next = asc ? '-' + key : key;
  const params = stateParams(state);
  params.sort = next;
  params.page = '';
  return h('th', { scope: 'col', 'aria-sort': asc ? 'ascending' : desc ? 'descending' : 'none' },
    h('button', { type: 'button', class: 'sort', dataset: { sort: key },
      title: 'Sort by ' + title.toLowerCase() + (asc ? ', descending' : ', ascending'),
      on: { click: () => ctx.go('/studies', params) } },
    title, h('span', { class: 'arrow', 'aria-hidden': 'true' }, asc ? ' ▲' : desc ? ' ▼' : '')));
}

function table(ctx, state, rows) {
  return h('div', { class: 'table-wrap' }, h('table', { class: 'data studies' },
    h('thead', null, h('tr', null, COLUMNS.map(([t, k]) => sortHeader(ctx, state, t, k)),
      h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Viewer')))),
    h('tbody', null, rows.map((s) => {
      const uid = fmt.first(s, 'StudyInstanceUID');
      return h('tr', { dataset: { uid } }, COLUMNS.map(([, , cell]) => h('td', null, cell(s))),
        h('td', null, h('a', { class: 'viewer-link', href: viewerHref(uid) }, 'View')));
    }))));
}

// The OHIF viewer's URL for a study.
export function viewerHref(uid) {
  return '/viewer/viewer?StudyInstanceUIDs=' + encodeURIComponent(uid);
}

function stateParams(state) {
  const { name, pid, from, to, mod, acc, size, sort } = state;
  return { name, pid, from, to, mod, acc, size: size === DEFAULT_SIZE ? '' : size, sort, page: String(state.page) };
}

function pager(ctx, state, more) {
  const to = (page) => { const p = stateParams(state); p.page = page > 1 ? String(page) : ''; return () => ctx.go('/studies', p); };
  return h('nav', { class: 'pager', 'aria-label': 'Pages' },
    h('button', { type: 'button', class: 'prev', disabled: state.page <= 1, on: { click: to(state.page - 1) } }, '← Previous'),
    h('span', { class: 'page-no' }, 'Page ' + state.page),
    h('button', { type: 'button', class: 'next', disabled: !more, on: { click: to(state.page + 1) } }, 'Next →'));
}
