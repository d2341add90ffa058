// Pieces every screen uses: the language switch, avatars, modal dialogs, confirmations, toasts.

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
