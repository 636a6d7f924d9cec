// Fetch wrapper for Tresor's same-origin APIs.
//  * credentials: same-origin (the HttpOnly session cookie travels by itself);
//  * X-CSRF-Token on every request other than GET/HEAD (the server requires it with the
//    cookie);
//  * errors become ApiError with a readable message (the server's {"error": ...} text
//    when it sent one);
//  * a 401 on any call other than the sign-in itself means the session ended: the
//    handler set with onSessionExpired() runs (the console returns to the sign-in page).

export class ApiError extends Error {
  constructor(status, message, headers) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

const session = { user: null, role: null, csrf: null };
let expiredHandler = () => {};

export function currentSession() { return { ...session }; }
export function setSession(s) {
  session.user = s ? s.user : null;
  session.role = s ? s.role : null;
  session.csrf = s ? s.csrf_token || null : null;
}
export function onSessionExpired(fn) { expiredHandler = fn; }

const STATUS_TEXT = {
  400: 'The request was refused as invalid.',
  401: 'Not signed in.',
  403: 'You are not allowed to do this.',
  404: 'Not found.',
  409: 'This conflicts with an existing entry.',
  413: 'The request is too large.',
  429: 'Too many requests. Try again later.',
  500: 'The server failed. Try again later.',
  503: 'The server is busy. Try again later.',
};

// Builds "path?k=v&..." from an object; arrays give repeated keys; empty values skipped.
export function withQuery(path, query) {
  if (!query) return path;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue;
    for (const item of Array.isArray(v) ? v : [v]) q.append(k, String(item));
  }
  const s = q.toString();
  return s ? path + '?' + s : path;
}

// request(method, path, {query, body, accept, expire}) -> {status, data, headers}.
// `body` is sent as JSON. `expire: false` keeps a 401 from ending the session (sign-in).
export async function request(method, path, opts = {}) {
  const headers = { Accept: opts.accept || 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store', redirect: 'error' };
  if (method !== 'GET' && method !== 'HEAD' && session.csrf) headers['X-CSRF-Token'] = session.csrf;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(opts.body);
  }
  let res;
  try {
    res = await fetch(withQuery(path, opts.query), init);
  } catch (e) {
    throw new ApiError(0, 'The server cannot be reached. Check the connection and try again.', null);
  }
  const type = res.headers.get('Content-Type') || '';
  let data = null;
  if (res.status !== 204 && /json/i.test(type)) {
    try { data = await res.json(); } catch (e) { data = null; }
  }
  if (!res.ok) {
    const serverText = data && typeof data.error === 'string' ? data.error : '';
    const err = new ApiError(res.status, serverText || STATUS_TEXT[res.status] ||
      'The request failed (HTTP ' + res.status + ').', res.headers);
    if (res.status === 401 && opts.expire !== false && session.user) {
      setSession(null);
      expiredHandler();
    }
    throw err;
  }
  return { status: res.status, data, headers: res.headers };
}

export const get = (path, query, opts) => request('GET', path, { ...opts, query });
export const post = (path, body, opts) => request('POST', path, { ...opts, body });
export const patch = (path, body) => request('PATCH', path, { body });
export const del = (path) => request('DELETE', path);

// QIDO-RS search: returns the DICOM JSON array (empty on 204) and the response headers.
export async function qido(path, query) {
  const r = await request('GET', path, { query, accept: 'application/dicom+json' });
  return { items: Array.isArray(r.data) ? r.data : [], headers: r.headers };
}
