// The console's entry point: session check, header, and a hash router
// (#/studies, #/study/<uid>, #/admin/<page>, #/audit, #/storage). The sign-in page is
// shown whenever no session exists; `/?next=/viewer/...` returns there after sign-in.
import { h, replace, message } from './dom.js';
import * as api from './api.js';
import { signInPage, safeNext } from './pages/signin.js';
import { studiesPage } from './pages/studies.js';
import { studyPage } from './pages/study.js';
import { adminPage, ADMIN_PAGES } from './pages/admin.js';
import { auditPage } from './pages/audit.js';
import { storagePage } from './pages/storage.js';

const app = document.getElementById('app');
const nav = document.getElementById('nav');
const who = document.getElementById('who');

// Parses location.hash "#/a/b?x=1" -> {parts: ['a','b'], params: URLSearchParams}.
export function route() {
  const raw = location.hash.replace(/^#/, '') || '/studies';
  const [path, query] = raw.split('?');
  return { parts: path.split('/').filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query || '') };
}

// Navigates to a hash route with parameters (empty ones dropped).
export function go(path, params) {
  const q = params ? api.withQuery('', params) : '';
  const target = '#' + path + q;
  if (location.hash === target) render(); else location.hash = target;
}

function isAdmin(s) { return s.role === 'admin'; }
function isAuditor(s) { return s.role === 'admin' || s.role === 'auditor'; }

function renderHeader() {
  const s = api.currentSession();
  if (!s.user) { replace(nav); replace(who); return; }
  const here = route().parts[0] || 'studies';
  const link = (href, text, key) => h('a', { href, 'aria-current': here === key ? 'page' : null }, text);
  replace(nav,
    s.role !== 'auditor' ? link('#/studies', 'Studies', 'studies') : null,
    isAdmin(s) ? link('#/admin/users', 'Administration', 'admin') : null,
    isAuditor(s) ? link('#/audit', 'Audit trail', 'audit') : null,
    link('#/storage', 'Storage', 'storage'));
  replace(who,
    h('span', { class: 'user', title: 'Signed in' }, s.user),
    h('span', { class: 'role' }, s.role),
    h('button', { type: 'button', class: 'signout', on: { click: signOut } }, 'Sign out'));
}

async function signOut() {
  try {
    await api.post('/auth/logout', undefined, { expire: false });
  } catch (e) {
    // Signed out anyway on this side; the server's session ends at expiry at the latest.
  }
  api.setSession(null);
  showSignIn('You are signed out.');
}

function showSignIn(notice, kind = 'info') {
  renderHeader();
  document.title = 'Sign in - Tresor';
  signInPage(app, { notice, kind, onSignedIn: afterSignIn });
}

function afterSignIn() {
  const next = safeNext(new URLSearchParams(location.search).get('next'));
  if (next) { location.assign(next); return; }
  if (location.search) history.replaceState(null, '', '/' + location.hash);
  render();
}

// Renders the page for the current hash.
export function render() {
  const s = api.currentSession();
  if (!s.user) { showSignIn(); return; }
  renderHeader();
  const { parts, params } = route();
  const page = parts[0] || 'studies';
  const ctx = { app, params, parts, go, session: s };
  if (page === 'studies' && s.role !== 'auditor') return studiesPage(ctx);
  if (page === 'study' && parts[1]) return studyPage(ctx, parts[1]);
  if (page === 'admin' && isAdmin(s)) return adminPage(ctx, ADMIN_PAGES.includes(parts[1]) ? parts[1] : 'users');
  if (page === 'audit' && isAuditor(s)) return auditPage(ctx);
  if (page === 'storage') return storagePage(ctx);
  if (s.role === 'auditor' && (page === 'studies' || !parts.length)) { go('/audit'); return; }
  document.title = 'Not found - Tresor';
  replace(app, h('h1', null, 'Page not found'),
    message('error', 'This page does not exist or needs another role.'),
    h('p', null, h('a', { href: '#/studies' }, 'Back to the study list')));
}

api.onSessionExpired(() => showSignIn('Your session has expired. Please sign in again.', 'warn'));

async function start() {
  try {
    const r = await api.get('/auth/session', null, { expire: false });
    api.setSession(r.data);
  } catch (e) {
    api.setSession(null);
    if (e.status !== 401) { showSignIn(e.message, 'error'); return; }
  }
  if (api.currentSession().user) {
    const next = safeNext(new URLSearchParams(location.search).get('next'));
    if (next) { location.assign(next); return; }
  }
  render();
}

window.addEventListener('hashchange', () => render());
start();
