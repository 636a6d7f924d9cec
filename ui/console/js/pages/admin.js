// Administration (admin role; the server checks it on every call): users, peers,
// access groups and rules, API tokens. Contract: docs/rest-api.md (/api/...).
import { h, replace, field, message, select, confirmButton } from '../dom.js';
import * as api from '../api.js';
import * as fmt from '../format.js';

export const ADMIN_PAGES = ['users', 'peers', 'groups', 'tokens'];
const TITLES = { users: 'Users', peers: 'DICOM peers', groups: 'Access groups', tokens: 'API tokens' };
const ROLES = ['radiologist', 'technologist', 'auditor', 'admin'];
const SERVICES = ['echo', 'store', 'find', 'move', 'get'];

const list = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);
const enc = encodeURIComponent;

export function adminPage(ctx, page) {
  document.title = TITLES[page] + ' - Tresor';
  const tabs = h('nav', { class: 'tabs', 'aria-label': 'Administration' }, ADMIN_PAGES.map((p) =>
    h('a', { href: '#/admin/' + p, 'aria-current': p === page ? 'page' : null }, TITLES[p])));
  const status = h('div', { class: 'status', 'aria-live': 'polite' });
  const body = h('div', { class: 'admin-body' });
  replace(ctx.app, h('h1', null, TITLES[page]), tabs, status, body);
  const view = { status, body, reload: () => PAGES[page](view), say: (kind, text) => replace(status, message(kind, text)) };
  PAGES[page](view);
}

// Runs an API call; errors go to the status line (a 401 is handled by api.js).
async function attempt(view, fn, done) {
  try {
    const r = await fn();
    if (done) view.say('ok', done);
    return r || true;
  } catch (e) {
    if (e.status !== 401) view.say('error', e.message);
    return null;
  }
}

function dataTable(cls, headers, rows) {
  return h('div', { class: 'table-wrap' }, h('table', { class: 'data ' + cls },
    h('thead', null, h('tr', null, headers.map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', null, rows)));
}

function addForm(title, fields, submitText, onSubmit) {
  const form = h('form', { class: 'add-form', 'aria-label': title }, h('h2', null, title),
    h('div', { class: 'fields' }, fields), h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, submitText)));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (await onSubmit()) form.reset();
  });
  return form;
}

// ---- users
async function users(view) {
  const r = await attempt(view, () => api.get('/api/users'));
  if (!r) return;
  const rows = (r.data || []).map((u) => {
    const groups = h('input', { value: (u.groups || []).join(', '), 'aria-label': 'Groups of ' + u.name, class: 'inline' });
    const pw = h('input', { type: 'password', autocomplete: 'new-password', 'aria-label': 'New password for ' + u.name, placeholder: 'New password', class: 'inline' });
    return h('tr', { dataset: { name: u.name } },
      h('td', null, u.name), h('td', null, u.role),
      h('td', null, h('span', { class: u.disabled ? 'badge off' : 'badge on' }, u.disabled ? 'disabled' : 'active')),
      h('td', null, h('div', { class: 'inline-edit' }, groups,
        h('button', { type: 'button', class: 'small', on: { click: async () => {
          if (await attempt(view, () => api.patch('/api/users/' + enc(u.name), { groups: list(groups.value) }), 'Groups of ' + u.name + ' saved.')) view.reload();
        } } }, 'Save'))),
      h('td', null, h('div', { class: 'inline-edit' }, pw,
        h('button', { type: 'button', class: 'small', on: { click: async () => {
          if (!pw.value) { view.say('error', 'Enter the new password first.'); pw.focus(); return; }
          if (await attempt(view, () => api.patch('/api/users/' + enc(u.name), { password: pw.value }), 'Password of ' + u.name + ' reset.')) pw.value = '';
        } } }, 'Reset'))),
      h('td', null, h('button', { type: 'button', class: 'small ' + (u.disabled ? '' : 'danger'), on: { click: async () => {
        if (await attempt(view, () => api.patch('/api/users/' + enc(u.name), { disabled: !u.disabled }),
          u.name + (u.disabled ? ' enabled.' : ' disabled.'))) view.reload();
      } } }, u.disabled ? 'Enable' : 'Disable')));
  });
  const f = {
    name: h('input', { required: true, autocomplete: 'off' }),
    role: select({}, ROLES.map((x) => [x, x]), 'radiologist'),
    password: h('input', { type: 'password', required: true, autocomplete: 'new-password' }),
    groups: h('input', { value: 'all' }),
  };
  replace(view.body,
    dataTable('users', ['Name', 'Role', 'State', 'Access groups', 'Password', ''], rows),
    addForm('Add a user', [field('User name', f.name), field('Role', f.role),
      field('Password', f.password, 'At least the server\'s minimum length.'),
      field('Access groups', f.groups, 'Comma-separated, e.g. all')], 'Add user', async () => {
      const ok = await attempt(view, () => api.post('/api/users', { name: f.name.value.trim(), role: f.role.value,
        password: f.password.value, groups: list(f.groups.value) }), 'User ' + f.name.value.trim() + ' added.');
      if (ok) { await users(view); }
      return ok;
    }));
}

// ---- peers
async function peers(view) {
  const r = await attempt(view, () => api.get('/api/peers'));
  if (!r) return;
  const rows = (r.data || []).map((p) => h('tr', { dataset: { name: p.name } },
    h('td', null, p.name), h('td', null, p.ae_title), h('td', null, p.host + ':' + p.port),
    h('td', null, (p.services || []).join(', ')),
    h('td', null, h('span', { class: p.certificate_sha256 ? 'badge on' : 'badge' }, p.tls || ''),
      p.certificate_sha256 ? h('code', { class: 'fp', title: p.certificate_sha256 }, p.certificate_sha256.slice(0, 16) + '…') : null),
    h('td', null, p.require_identity ? 'required' : 'no'),
    h('td', null, (p.groups || []).join(', ')),
    h('td', null, confirmButton('Remove', 'Confirm removal', async () => {
      if (await attempt(view, () => api.del('/api/peers/' + enc(p.name)), 'Peer ' + p.name + ' removed.')) peers(view);
    }))));
  const f = {
    name: h('input', { required: true, autocomplete: 'off' }),
    ae: h('input', { required: true, maxlength: '16', autocomplete: 'off' }),
    host: h('input', { required: true, value: '127.0.0.1' }),
    port: h('input', { type: 'number', min: '1', max: '65535', value: '104', required: true }),
    fp: h('input', { autocomplete: 'off', spellcheck: 'false' }),
    identity: h('input', { type: 'checkbox' }),
    groups: h('input', { value: 'all' }),
  };
  const services = SERVICES.map((s) => h('input', { type: 'checkbox', value: s, checked: s === 'echo' || s === 'store' }));
  replace(view.body,
    dataTable('peers', ['Name', 'AE title', 'Address', 'Services', 'TLS / certificate', 'User identity', 'Access groups', ''], rows),
    addForm('Add a peer', [field('Name', f.name), field('AE title', f.ae), field('Host', f.host), field('Port', f.port),
      h('fieldset', { class: 'field services' }, h('legend', null, 'Services'),
        services.map((c) => h('label', { class: 'check' }, c, ' ' + c.value))),
      field('Certificate SHA-256', f.fp, 'Hex fingerprint of the peer\'s TLS certificate; empty: TLS not required.'),
      h('div', { class: 'field' }, h('label', { class: 'check' }, f.identity, ' Require user identity')),
      field('Access groups', f.groups, 'Comma-separated')], 'Add peer', async () => {
      const ok = await attempt(view, () => api.post('/api/peers', {
        name: f.name.value.trim(), ae_title: f.ae.value.trim(), host: f.host.value.trim(),
        port: parseInt(f.port.value, 10), services: services.filter((c) => c.checked).map((c) => c.value),
        certificate_sha256: f.fp.value.trim(), require_identity: f.identity.checked, groups: list(f.groups.value),
      }), 'Peer ' + f.name.value.trim() + ' added.');
      if (ok) await peers(view);
      return ok;
    }));
}

// ---- groups and rules
async function groups(view) {
  const [g, r] = await Promise.all([attempt(view, () => api.get('/api/groups')), attempt(view, () => api.get('/api/rules'))]);
  if (!g || !r) return;
  const groupRows = (g.data || []).map((x) => h('tr', { dataset: { name: x.name } }, h('td', null, x.name), h('td', { class: 'num' }, fmt.count(x.studies))));
  const ruleRows = (r.data || []).map((x) => h('tr', { dataset: { rule: x.group + '|' + x.kind + '|' + x.value } }, h('td', null, x.group), h('td', null, x.kind), h('td', null, x.value),
    h('td', null, confirmButton('Remove', 'Confirm removal', async () => {
      if (await attempt(view, () => api.post('/api/rules/remove', { group: x.group, kind: x.kind, value: x.value }), 'Rule removed.')) groups(view);
    }))));
  const f = {
    group: h('input', { required: true, autocomplete: 'off' }),
    kind: select({}, [['peer', 'peer (studies received from this peer)'], ['institution', 'institution (InstitutionName)'], ['issuer', 'issuer (IssuerOfPatientID)']], 'peer'),
    value: h('input', { required: true, autocomplete: 'off' }),
  };
  replace(view.body,
    h('h2', null, 'Groups'), groupRows.length ? dataTable('groups', ['Group', 'Studies'], groupRows)
      : message('info', 'No study is assigned to a named group yet (the group "all" reaches every study).'),
    h('h2', null, 'Rules'), ruleRows.length ? dataTable('rules', ['Group', 'Kind', 'Value', ''], ruleRows) : message('info', 'No rules.'),
    addForm('Add a rule', [field('Group', f.group), field('Kind', f.kind), field('Value', f.value)], 'Add rule', async () => {
      const res = await attempt(view, () => api.post('/api/rules', { group: f.group.value.trim(), kind: f.kind.value, value: f.value.value.trim() }));
      if (res) { await groups(view); view.say('ok', 'Rule added; ' + fmt.count(res.data && res.data.studies_added) + ' archived studies joined the group.'); }
      return res;
    }));
}

// ---- API tokens
async function tokens(view) {
  const r = await attempt(view, () => api.get('/api/tokens'));
  if (!r) return;
  const rows = (r.data || []).map((t) => h('tr', { dataset: { name: t.name } }, h('td', null, t.name), h('td', null, t.user),
    h('td', null, fmt.isoTime(t.expires_at)),
    h('td', null, confirmButton('Revoke', 'Confirm revocation', async () => {
      if (await attempt(view, () => api.del('/api/tokens/' + enc(t.name)), 'Token ' + t.name + ' revoked.')) tokens(view);
    }))));
  const f = {
    name: h('input', { required: true, autocomplete: 'off' }),
    user: h('input', { required: true, autocomplete: 'off' }),
    days: h('input', { type: 'number', min: '1', max: '3650', value: '90' }),
  };
  const shown = h('div', { class: 'token-once' });
  replace(view.body,
    rows.length ? dataTable('tokens', ['Name', 'User', 'Expires', ''], rows) : message('info', 'No API tokens.'),
    shown,
    addForm('Create a token', [field('Token name', f.name), field('For user', f.user), field('Valid for (days)', f.days)], 'Create token', async () => {
      const res = await attempt(view, () => api.post('/api/tokens', { name: f.name.value.trim(), user: f.user.value.trim(), days: parseInt(f.days.value, 10) || 90 }));
      if (!res) return null;
      await tokens(view);
      showToken(view, res.data);
      return res;
    }));
}

// Shows a new token once, with a copy button.
function showToken(view, t) {
  const box = view.body.querySelector('.token-once');
  const out = h('input', { class: 'token-value', readonly: true, value: t.token, 'aria-label': 'The new token', spellcheck: 'false' });
  const copy = h('button', { type: 'button', class: 'small' }, 'Copy');
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(out.value);
      copy.textContent = 'Copied';
    } catch (e) {
      out.select();
      copy.textContent = 'Press Ctrl+C';
    }
  });
  replace(box, h('div', { class: 'callout', role: 'status' },
    h('p', null, h('strong', null, 'Token ' + t.name + ' for ' + t.user), ' (expires ' + fmt.isoTime(t.expires_at) + '). ',
      'Copy it now: it is shown only once.'),
    h('div', { class: 'inline-edit' }, out, copy)));
  out.focus();
  out.select();
}

const PAGES = { users, peers, groups, tokens };
