// Storage statistics: GET /api/stats (any signed-in user; counts within the caller's
// access). disk_free_bytes / disk_total_bytes are shown when the server sends them.
import { h, replace, message } from '../dom.js';
import * as api from '../api.js';
import * as fmt from '../format.js';

export async function storagePage(ctx) {
  document.title = 'Storage - Tresor';
  const status = h('div', { class: 'status', 'aria-live': 'polite' }, message('info', 'Loading…'));
  replace(ctx.app, h('h1', null, 'Storage'), status);
  let s;
  try {
    s = (await api.get('/api/stats')).data || {};
  } catch (e) {
    if (e.status !== 401) replace(status, message('error', 'The statistics cannot be read: ' + e.message));
    return;
  }
  const card = (label, value, key) => h('div', { class: 'card', dataset: { stat: key } }, h('span', { class: 'card-value' }, value), h('span', { class: 'card-label' }, label));
  const disk = typeof s.disk_total_bytes === 'number' && typeof s.disk_free_bytes === 'number' && s.disk_total_bytes > 0;
  let diskEl = null;
  if (disk) {
    const used = s.disk_total_bytes - s.disk_free_bytes;
    diskEl = h('div', { class: 'disk' }, h('h2', null, 'Disk'),
      h('label', { for: 'disk-meter' }, fmt.bytes(used) + ' used of ' + fmt.bytes(s.disk_total_bytes) + ' (' + fmt.bytes(s.disk_free_bytes) + ' free)'),
      h('meter', { id: 'disk-meter', min: '0', max: String(s.disk_total_bytes), low: String(s.disk_total_bytes * 0.7),
        high: String(s.disk_total_bytes * 0.9), optimum: '0', value: String(used) }));
  }
  replace(status,
    h('div', { class: 'cards' }, card('Patients', fmt.count(s.patients), 'patients'), card('Studies', fmt.count(s.studies), 'studies'),
      card('Series', fmt.count(s.series), 'series'), card('Instances', fmt.count(s.instances), 'instances'),
      card('Stored', fmt.bytes(s.bytes), 'bytes')),
    diskEl);
}
