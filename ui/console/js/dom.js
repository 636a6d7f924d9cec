// The only way the console builds DOM: document.createElement, setAttribute and text
// nodes. No markup string is ever parsed, so every value (DICOM attributes, user names,
// server messages) shows as literal text.

// h(tag, attrs, ...children) -> Element.
//   attrs: plain attribute names and string values (set with setAttribute); `class`;
//   `dataset` (object); `on` (object of event name -> handler, added with
//   addEventListener); boolean `true` sets an empty attribute, false/null/undefined skip.
//   Attributes named on* or style, and javascript: URLs, are refused.
//   children: Nodes, strings/numbers (text nodes), arrays (flattened), null/false (skipped).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [name, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (name === 'on') {
        for (const [ev, fn] of Object.entries(value)) el.addEventListener(ev, fn);
      } else if (name === 'dataset') {
        for (const [k, v] of Object.entries(value)) el.dataset[k] = String(v);
      } else if (name === 'value' && 'value' in el) {
        el.value = String(value);
      } else if (name === 'checked' || name === 'selected') {
        el[name] = Boolean(value);
      } else {
        const lower = name.toLowerCase();
        if (lower.startsWith('on') || lower === 'style') {
          throw new Error('dom: attribute ' + name + ' is not allowed');
        }
        const text = value === true ? '' : String(value);
        if ((lower === 'href' || lower === 'src') && /^\s*javascript:/i.test(text)) {
          throw new Error('dom: javascript: URLs are not allowed');
        }
        el.setAttribute(name, text);
      }
    }
  }
  append(el, children);
  return el;
}

// Appends children (same forms as h()) to a parent node.
export function append(parent, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

// Removes every child of a node.
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// Replaces the content of a node with the given children.
export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

// A labelled form field: <div class=field><label for=id>text</label> control hint</div>.
let fieldCounter = 0;
export function field(labelText, control, hint) {
  if (!control.id) control.id = 'f' + (++fieldCounter);
  let hintEl = null;
  if (hint) {
    hintEl = h('small', { class: 'hint', id: control.id + '-hint' }, hint);
    control.setAttribute('aria-describedby', hintEl.id);
  }
  return h('div', { class: 'field' }, h('label', { for: control.id }, labelText), control, hintEl);
}

// A status message area (role=status, or role=alert for errors).
export function message(kind, text) {
  return h('p', { class: 'msg msg-' + kind, role: kind === 'error' ? 'alert' : 'status' }, text);
}

// A <select> from [value, label] pairs.
export function select(attrs, options, selected) {
  return h('select', attrs, options.map(([v, label]) =>
    h('option', { value: v, selected: v === selected }, label)));
}

// A button that needs a second click to confirm (no browser dialogs): the first click
// changes its label to `confirmText`; the second runs `action`. It resets after 5 s.
export function confirmButton(text, confirmText, action, cls = 'danger') {
  const b = h('button', { type: 'button', class: 'small ' + cls }, text);
  let armed = false;
  let timer = 0;
  b.addEventListener('click', () => {
    if (!armed) {
      armed = true;
      b.textContent = confirmText;
      timer = setTimeout(() => { armed = false; b.textContent = text; }, 5000);
      return;
    }
    clearTimeout(timer);
    armed = false;
    b.textContent = text;
    action(b);
  });
  return b;
}
