// Pieces every screen uses: the language switch, avatars, modal dialogs, confirmations, popup
// menus, toasts.

import { h, hue, icon, initials } from '../util.js';
import { LANGS, lang, setLang, t } from '../i18n.js';
import { prefs } from '../storage.js';

/** A <select> of interface languages; `onChange` re-renders the caller. */
export function langSwitch(onChange) {
  const select = h('select', {
    id: 'lang-select', 'aria-label': t('language'),
    onchange: () => {
      prefs.setLang(select.value);
      setLang(select.value);
      onChange();
    },
  }, LANGS.map((l) => h('option', { value: l.code, lang: l.code, selected: l.code === lang() }, l.name)));
  return h('label', { class: 'lang' }, h('span', { class: 'sr-only' }, t('language')), select);
}

export function avatar(name, id, kind) {
  return h('div', { class: `avatar c${hue(id) % 8}`, 'aria-hidden': 'true' },
    kind === 'group' ? icon('group') : initials(name));
}

/**
 * A modal dialog (native <dialog>: focus stays inside, Escape closes). `build(close)` returns
 * the body; resolves with what `close(value)` was given.
 */
export function openDialog(title, build, { id, wide } = {}) {
  return new Promise((resolve) => {
    const dlg = h('dialog', { class: 'dialog' + (wide ? ' wide' : ''), id, 'aria-labelledby': 'dlg-title' });
    let result;
    const close = (value) => {
      result = value;
      dlg.close();
    };
    dlg.append(
      h('header', null,
        h('h2', { id: 'dlg-title' }, title),
        h('button', { type: 'button', class: 'icon-btn', 'aria-label': t('close'), onclick: () => close() }, icon('close'))),
      build(close),
    );
    dlg.addEventListener('close', () => {
      dlg.remove();
      resolve(result);
    });
    document.body.append(dlg);
    dlg.showModal();
    const first = dlg.querySelector('[autofocus], input, textarea, select, .primary');
    if (first) first.focus();
  });
}

/** Yes/no as a dialog; resolves true when confirmed. */
export function confirmDialog(text, yes) {
  return openDialog(t('appName'), (close) =>
    h('div', { class: 'dlg-body' },
      h('p', null, text),
      h('div', { class: 'dlg-actions' },
        h('button', { type: 'button', onclick: () => close(false) }, t('cancel')),
        h('button', { type: 'button', class: 'primary danger', id: 'confirm-yes', autofocus: true, onclick: () => close(true) }, yes || t('ok')))),
    { id: 'confirm' }).then(Boolean);
}

/**
 * A popup menu (role="menu") next to `anchor`: arrow keys, Home and End move between its items,
 * Escape and Tab close it (focus goes back with `onClose(true)`), a press outside closes it.
 * `end`: line its inline-end edge up with the anchor's (else its start edge). Returns
 * {el, close(refocus)}.
 */
export function popupMenu(anchor, items, { id, label, end = false, onClose } = {}) {
  const menu = h('div', { class: 'menu', role: 'menu', id, 'aria-label': label }, items);
  let open = true;
  const away = (e) => {
    if (!menu.contains(e.target)) close(false);
  };
  const close = (refocus = false) => {
    if (!open) return;
    open = false;
    menu.remove();
    document.removeEventListener('pointerdown', away);
    if (onClose) onClose(refocus);
  };
  menu.addEventListener('keydown', (e) => {
    const all = [...menu.querySelectorAll('[role=menuitem]')];
    const i = all.indexOf(document.activeElement);
    const rtl = document.documentElement.dir === 'rtl';
    const fwd = ['ArrowDown', rtl ? 'ArrowLeft' : 'ArrowRight'];
    const back = ['ArrowUp', rtl ? 'ArrowRight' : 'ArrowLeft'];
    if (fwd.includes(e.key)) all[(i + 1) % all.length].focus();
    else if (back.includes(e.key)) all[(i - 1 + all.length) % all.length].focus();
    else if (e.key === 'Home') all[0].focus();
    else if (e.key === 'End') all[all.length - 1].focus();
    else if (e.key === 'Escape' || e.key === 'Tab') close(true);
    else return;
    e.preventDefault();
  });
  document.body.append(menu);
  const r = anchor.getBoundingClientRect();
  const mr = menu.getBoundingClientRect();
  const top = r.bottom + mr.height + 8 < innerHeight ? r.bottom + 4 : Math.max(8, r.top - mr.height - 4);
  const rtl = document.documentElement.dir === 'rtl';
  let left = end !== rtl ? r.right - mr.width : r.left;
  left = Math.min(Math.max(8, left), innerWidth - mr.width - 8);
  menu.style.top = top + 'px';
  menu.style.left = left + 'px';
  setTimeout(() => open && document.addEventListener('pointerdown', away), 0);
  menu.querySelector('[role=menuitem]').focus();
  return { el: menu, close };
}

/** A menu item that closes its menu (through `close`) before it acts. */
export function menuItem(label, fn, close, extra = {}) {
  return h('button', {
    type: 'button', role: 'menuitem', tabindex: -1, ...extra,
    onclick: () => {
      close();
      fn();
    },
  }, label);
}

let toastBox;
/** A short notice at the bottom of the screen. */
export function toast(text) {
  if (!toastBox || !toastBox.isConnected) {
    toastBox = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.append(toastBox);
  }
  const el = h('div', { class: 'toast' }, text);
  toastBox.append(el);
  setTimeout(() => el.remove(), 5000);
}
