// The first screen: create an account, or link this browser to an existing one with a code
// from a signed-in device. Both make a new device key in this browser.

import { h } from '../util.js';
import { t, errorText } from '../i18n.js';
import { langSwitch } from './common.js';

const HANDLE = /^@?[A-Za-z][A-Za-z0-9_]{2,31}$/;

export function renderAuth(root, client, onSignedIn, notice) {
  let mode = 'signup';
  const error = h('p', { class: 'form-error', role: 'alert', id: 'auth-error' });

  const handle = h('input', {
    id: 'signup-handle', name: 'handle', required: true, autocomplete: 'username', dir: 'ltr',
    spellcheck: 'false', autocapitalize: 'none', 'aria-describedby': 'handle-hint', maxlength: 33,
  });
  const name = h('input', { id: 'signup-name', name: 'name', autocomplete: 'name', dir: 'auto', maxlength: 64 });
  const invite = h('input', { id: 'signup-invite', name: 'invite', dir: 'ltr', autocomplete: 'off' });
  const code = h('input', {
    id: 'link-code', name: 'code', required: true, dir: 'ltr', autocomplete: 'one-time-code', spellcheck: 'false',
  });

  const busy = (form, on) => {
    for (const el of form.querySelectorAll('input,button')) el.disabled = on;
    form.querySelector('button[type=submit]').textContent = on ? t('working') : form.dataset.label;
  };

  const submit = (form, run) => async (e) => {
    e.preventDefault();
    error.textContent = '';
    busy(form, true);
    try {
      await run();
      onSignedIn();
    } catch (err) {
      busy(form, false);
      error.textContent = errorText(err);
    }
  };

  const signup = h('form', { id: 'signup-form', class: 'auth-form', 'data-label': t('signUp') },
    h('label', { for: 'signup-handle' }, t('handle')),
    h('div', { class: 'handle-input' }, h('span', { 'aria-hidden': 'true' }, '@'), handle),
    h('small', { id: 'handle-hint', class: 'hint' }, t('handleHint')),
    h('label', { for: 'signup-name' }, t('displayName')),
    name,
    h('details', { class: 'invite' }, h('summary', null, t('inviteCode')), invite),
    h('button', { type: 'submit', class: 'primary', id: 'signup-submit' }, t('signUp')),
  );
  signup.addEventListener('submit', submit(signup, async () => {
    const value = handle.value.trim();
    if (!HANDLE.test(value)) throw { code: 'invalid', message: t('handleHint') };
    await client.register({
      handle: value.replace(/^@/, '').toLowerCase(),
      display_name: name.value.trim(),
      invite_code: invite.value.trim(),
    });
  }));

  const linkForm = h('form', { id: 'link-form', class: 'auth-form', 'data-label': t('link') },
    h('p', { class: 'hint' }, t('linkHelp')),
    h('label', { for: 'link-code' }, t('linkCode')),
    code,
    h('button', { type: 'submit', class: 'primary', id: 'link-submit' }, t('link')),
  );
  linkForm.addEventListener('submit', submit(linkForm, () => client.link(code.value)));

  const tab = (id, label, target) =>
    h('button', {
      type: 'button', role: 'tab', id, class: 'tab', 'aria-controls': target,
      onclick: () => select(id === 'tab-signup' ? 'signup' : 'link'),
      onkeydown: (e) => {
        if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
          select(mode === 'signup' ? 'link' : 'signup');
          root.querySelector('[aria-selected=true]').focus();
        }
      },
    }, label);
  const tabs = h('div', { role: 'tablist', class: 'tabs' },
    tab('tab-signup', t('tabSignUp'), 'signup-form'),
    tab('tab-link', t('tabLink'), 'link-form'));

  function select(m) {
    mode = m;
    const su = m === 'signup';
    tabs.children[0].setAttribute('aria-selected', String(su));
    tabs.children[1].setAttribute('aria-selected', String(!su));
    tabs.children[0].tabIndex = su ? 0 : -1;
    tabs.children[1].tabIndex = su ? -1 : 0;
    signup.hidden = !su;
    linkForm.hidden = su;
    error.textContent = '';
  }
  select('signup');

  root.replaceChildren(
    h('main', { class: 'auth', id: 'auth' },
      h('div', { class: 'auth-card' },
        h('div', { class: 'auth-top' }, langSwitch(() => renderAuth(root, client, onSignedIn, notice))),
        h('div', { class: 'logo', 'aria-hidden': 'true' }, 'چ'),
        h('h1', null, t('appName')),
        h('p', { class: 'tagline' }, t('tagline')),
        notice ? h('p', { class: 'notice', role: 'status' }, notice) : null,
        tabs, signup, linkForm, error,
      ),
    ),
  );
  handle.focus();
}
