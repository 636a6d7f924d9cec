// Sign-in page: POST /auth/session with {username, password}.
import { h, replace, field, message } from '../dom.js';
import * as api from '../api.js';

// The `next` target after sign-in, only when it is a same-origin relative path: it must
// start with exactly one '/' (not '//' or '/\', which browsers read as another host),
// hold no control characters or backslashes, and resolve to this origin. Else null.
export function safeNext(next) {
  if (typeof next !== 'string' || next.length === 0 || next.length > 2048) return null;
  if (next[0] !== '/' || next[1] === '/' || next.includes('\\')) return null;
  if (/[\u0000-\u001f\u007f]/.test(next)) return null;
  let url;
  try { url = new URL(next, location.origin); } catch (e) { return null; }
  if (url.origin !== location.origin) return null;
  return url.pathname + url.search + url.hash;
}

// "Try again in 5 minutes." from a Retry-After value in seconds.
export function lockoutText(retryAfter) {
  const s = parseInt(retryAfter, 10);
  if (!(s > 0)) return 'Too many failed sign-ins. Try again later.';
  if (s >= 120) {
    const m = Math.ceil(s / 60);
    return 'Too many failed sign-ins. Try again in ' + m + ' minutes.';
  }
  return 'Too many failed sign-ins. Try again in ' + s + (s === 1 ? ' second.' : ' seconds.');
}

export function signInPage(app, { notice, kind, onSignedIn }) {
  const user = h('input', { name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const pass = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const status = h('div', { class: 'status', 'aria-live': 'polite' });
  if (notice) status.appendChild(message(kind || 'info', notice));
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', { class: 'signin', novalidate: true, 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in to Tresor'),
    status,
    field('User name', user),
    field('Password', pass),
    button);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!user.value || !pass.value) {
      replace(status, message('error', 'Enter your user name and password.'));
      (user.value ? pass : user).focus();
      return;
    }
    button.disabled = true;
    replace(status, message('info', 'Signing in…'));
    try {
      const r = await api.post('/auth/session', { username: user.value, password: pass.value }, { expire: false });
      api.setSession(r.data);
      pass.value = '';
      onSignedIn();
    } catch (e) {
      pass.value = '';
      let text = e.message;
      if (e.status === 401) text = 'Wrong user name or password.';
      else if (e.status === 429) text = lockoutText(e.headers && e.headers.get('Retry-After'));
      replace(status, message('error', text));
      pass.focus();
    } finally {
      button.disabled = false;
    }
  });
  document.title = 'Sign in - Tresor';
  replace(app, h('section', { class: 'signin-wrap' }, form));
  user.focus();
}
