// The first screen: create an account, link this browser to an existing one with a code from
// a signed-in device, or get an account back with its recovery key. Each makes a new device key
// in this browser.

import { h } from '../util.js';
import { t, errorText } from '../i18n.js';
import { RecoveryKey, RecoveryCodeError } from '../recovery.js';
import { langSwitch } from './common.js';

const MODES = ['signup', 'link', 'recover'];

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

  const recoverHandle = h('input', {
    id: 'recover-handle', name: 'handle', required: true, autocomplete: 'username', dir: 'ltr',
    spellcheck: 'false', autocapitalize: 'none', maxlength: 33,
  });
  const recoverCode = h('textarea', {
    id: 'recover-code', name: 'code', required: true, dir: 'ltr', rows: 3, spellcheck: 'false',
    autocapitalize: 'characters', autocomplete: 'off', 'aria-describedby': 'recover-hint',
  });
  const revokeOthers = h('input', { type: 'checkbox', id: 'recover-revoke', name: 'revoke' });

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
    // The app offers a recovery key first thing.
    sessionStorage.setItem('chapar.offerRecovery', '1');
  }));

  const linkForm = h('form', { id: 'link-form', class: 'auth-form', 'data-label': t('link') },
    h('p', { class: 'hint' }, t('linkHelp')),
    h('label', { for: 'link-code' }, t('linkCode')),
    code,
    h('button', { type: 'submit', class: 'primary', id: 'link-submit' }, t('link')),
  );
  linkForm.addEventListener('submit', submit(linkForm, () => client.link(code.value)));

  const recoverForm = h('form', { id: 'recover-form', class: 'auth-form', 'data-label': t('recover') },
    h('p', { class: 'hint', id: 'recover-hint' }, t('recoverHelp')),
    h('label', { for: 'recover-handle' }, t('handle')),
    h('div', { class: 'handle-input' }, h('span', { 'aria-hidden': 'true' }, '@'), recoverHandle),
    h('label', { for: 'recover-code' }, t('recoveryCode')),
    recoverCode,
    h('label', { class: 'check' }, revokeOthers, ' ', t('recoverRevokeOthers')),
    h('button', { type: 'submit', class: 'primary', id: 'recover-submit' }, t('recover')),
  );
  recoverForm.addEventListener('submit', submit(recoverForm, async () => {
    const value = recoverHandle.value.trim();
    if (!HANDLE.test(value)) throw { code: 'invalid', message: t('handleHint') };
    let key;
    try {
      key = await RecoveryKey.fromCode(recoverCode.value);
    } catch (e) {
      if (e instanceof RecoveryCodeError) throw { code: 'invalid', message: t('recoveryCode.' + e.kind) };
      throw e;
    }
    await client.recover({ handle: value.replace(/^@/, '').toLowerCase(), key, revokeOthers: revokeOthers.checked });
  }));

  const forms = { signup, link: linkForm, recover: recoverForm };
  const tab = (m, label) =>
    h('button', {
      type: 'button', role: 'tab', id: 'tab-' + m, class: 'tab', 'aria-controls': forms[m].id,
      onclick: () => select(m),
      onkeydown: (e) => {
        const step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
        if (!step) return;
        select(MODES[(MODES.indexOf(mode) + step + MODES.length) % MODES.length]);
        root.querySelector('[aria-selected=true]').focus();
      },
    }, label);
  const tabs = h('div', { role: 'tablist', class: 'tabs' },
    tab('signup', t('tabSignUp')), tab('link', t('tabLink')), tab('recover', t('tabRecover')));

  function select(m) {
    mode = m;
    MODES.forEach((each, i) => {
      tabs.children[i].setAttribute('aria-selected', String(each === m));
      tabs.children[i].tabIndex = each === m ? 0 : -1;
      forms[each].hidden = each !== m;
    });
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
        tabs, signup, linkForm, recoverForm, error,
      ),
    ),
  );
  handle.focus();
}
