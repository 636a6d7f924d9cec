// Audit trail (auditor and admin roles): GET /api/audit with filters; a server without
// the audit API (404) shows that the trail is not available yet.
import { h, replace, field, message, select } from '../dom.js';
import * as api from '../api.js';
import * as fmt from '../format.js';

const PAGE = 50;
const FILTERS = [['from', 'From', 'datetime-local'], ['to', 'To', 'datetime-local'], ['user', 'User or AE title', 'text'],
  ['patient_id', 'Patient ID', 'text'], ['study', 'Study Instance UID', 'text'], ['event', 'Event type', 'select']];
// DICOM audit event types (PS3.15 A.5, CID 400) by the names the server accepts.
const EVENTS = ['', 'authentication', 'query', 'accessed', 'transferred', 'import', 'export', 'deleted',
  'application', 'audit', 'alert'];

// A datetime-local value (local time) -> ISO 8601 UTC; '' stays ''.
function toIso(v) {
  if (!v) return '';
  const d = new Date(v);
  return isNaN(d.getTime()) ? '' : d.toISOString().replace(/\.\d+Z$/, 'Z');
}

export function auditPage(ctx) {
  document.title = 'Audit trail - Tresor';
  const p = ctx.params;
  const page = Math.max(1, parseInt(p.get('page') || '1', 10) || 1);
  const inputs = {};
  const fields = FILTERS.map(([k, label, type]) => {
    inputs[k] = type === 'select'
      ? select({ name: k }, EVENTS.map((e) => [e, e || 'Any']), p.get(k) || '')
      : h('input', { name: k, type, value: p.get(k) || '', autocomplete: 'off' });
    return field(label, inputs[k]);
  });
  const form = h('form', { class: 'search', 'aria-label': 'Audit filters' }, fields,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Show'),
      h('button', { type: 'button', on: { click: () => ctx.go('/audit') } }, 'Clear')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = {};
    for (const [k] of FILTERS) q[k] = inputs[k].value.trim();
    ctx.go('/audit', q);
  });
  const status = h('div', { class: 'status', 'aria-live': 'polite' });
  const results = h('div', { class: 'results' });
  replace(ctx.app, h('h1', null, 'Audit trail'), form, status, results);
  load(ctx, p, page, status, results);
}

async function load(ctx, p, page, status, results) {
  const query = {};
  for (const [k] of FILTERS) query[k] = k === 'from' || k === 'to' ? toIso(p.get(k)) : p.get(k) || '';
  query.limit = PAGE;
  query.offset = (page - 1) * PAGE;
  replace(status, message('info', 'Loading…'));
  let data;
  try {
    data = (await api.get('/api/audit', query)).data || {};
  } catch (e) {
    if (e.status === 404) replace(status, message('warn', 'The audit trail is not available on this server yet.'));
    else if (e.status !== 401) replace(status, message('error', 'The audit trail cannot be read: ' + e.message));
    return;
  }
  const records = Array.isArray(data.records) ? data.records : [];
  replace(status, message('info', records.length ? 'Records ' + ((page - 1) * PAGE + 1) + '–' + ((page - 1) * PAGE + records.length) + '.' : 'No records match.'));
  // DICOM event outcome (PS3.15 A.5.1): 0 success, 4 minor, 8 serious, 12 major failure.
  const OUTCOMES = { 0: 'success', 4: 'minor failure', 8: 'serious failure', 12: 'major failure' };
  const outcome = (r) => {
    const code = r.outcome;
    const word = OUTCOMES[code] !== undefined ? OUTCOMES[code] : String(code ?? '');
    return r.outcome_description ? word + ' (' + r.outcome_description + ')' : word;
  };
  const failed = (r) => r.outcome !== undefined && r.outcome !== null && String(r.outcome) !== '0' && r.outcome !== 'success';
  const event = (r) => [r.event_name || r.event_id, r.event_type_name || r.event_type].filter(Boolean).join(': ');
  const ACTIONS = { C: 'create', R: 'read', U: 'update', D: 'delete', E: 'execute' };
  const rows = records.map((r) => h('tr', { class: failed(r) ? 'failed' : null },
    h('td', null, String(r.seq ?? '')), h('td', null, fmt.isoTime(r.time)), h('td', null, event(r)),
    h('td', null, ACTIONS[r.action] || r.action || ''), h('td', null, outcome(r)),
    h('td', null, [r.user, r.ae_title].filter(Boolean).join(' / ')), h('td', null, r.host || ''),
    h('td', null, r.patient_id || ''), h('td', { class: 'uid' }, (r.study_uids || []).join(' ')),
    h('td', null, r.summary || r.query || '')));
  const params = {};
  for (const [k] of FILTERS) params[k] = p.get(k) || '';
  const to = (n) => () => ctx.go('/audit', { ...params, page: n > 1 ? String(n) : '' });
  replace(results, records.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'data audit' },
    h('thead', null, h('tr', null, ['#', 'Time', 'Event', 'Action', 'Outcome', 'User / AE', 'Host', 'Patient ID', 'Studies', 'Details']
      .map((t) => h('th', { scope: 'col' }, t)))), h('tbody', null, rows))) : null,
  h('nav', { class: 'pager', 'aria-label': 'Pages' },
    h('button', { type: 'button', disabled: page <= 1, on: { click: to(page - 1) } }, '← Previous'),
    h('span', { class: 'page-no' }, 'Page ' + page),
    h('button', { type: 'button', disabled: !data.more, on: { click: to(page + 1) } }, 'Next →')));
}
