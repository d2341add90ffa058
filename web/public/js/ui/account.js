// The account that cannot be lost: the recovery key (made, shown once, saved as a file,
// registered), the warning before signing out of the last device, and editing one's profile.

import { h } from '../util.js';
import { t, errorText } from '../i18n.js';
import { RecoveryKey } from '../recovery.js';
import { openDialog, toast } from './common.js';

/** Resolves once the client is signed in and connected (requests need the live connection). */
function online(client) {
  if (client.state === 'online' || client.state === 'syncing') return Promise.resolve();
  return new Promise((resolve) => {
    const on = () => {
      if (client.state === 'online' || client.state === 'syncing') {
        client.removeEventListener('state', on);
        resolve();
      }
    };
    client.addEventListener('state', on);
  });
}

/**
 * Makes a recovery key and shows its code once, to write down or save as a file. Only when the
 * person says it is saved is its public half registered (replacing an older key); "Not now"
 * leaves the account as it was. Resolves true when a key was registered.
 */
export async function recoveryKeyDialog(app, { first = false } = {}) {
  const key = await RecoveryKey.generate();
  const code = await key.toCode();
  const handle = app.model.me ? app.model.me.handle : '';
  const file = `chapar recovery key for @${handle}\n\n${code}\n\n${t('recoveryFileNote')}\n`;
  return openDialog(t('recoveryTitle'), (close) => {
    const error = h('p', { class: 'form-error', role: 'alert' });
    const save = h('button', {
      type: 'button', class: 'primary', id: 'recovery-saved',
      onclick: async () => {
        error.textContent = '';
        save.disabled = true;
        try {
          await online(app.client);
          await app.client.setRecoveryKey(key);
          toast(t('recoverySavedToast'));
          close(true);
        } catch (e) {
          save.disabled = false;
          error.textContent = errorText(e);
        }
      },
    }, t('recoverySaved'));
    return h('div', { class: 'dlg-body recovery' },
      h('p', null, first ? t('recoveryIntroFirst') : t('recoveryIntro')),
      h('code', { class: 'recovery-code', id: 'recovery-code', dir: 'ltr' }, code),
      h('p', { class: 'muted' }, t('recoveryWarning')),
      h('a', {
        class: 'link-btn', id: 'recovery-download', download: `chapar-recovery-${handle}.txt`,
        href: 'data:text/plain;charset=utf-8,' + encodeURIComponent(file),
      }, t('recoveryDownload')),
      error,
      h('div', { class: 'dlg-actions' },
        h('button', { type: 'button', id: 'recovery-later', onclick: () => close(false) }, t('notNow')),
        save));
  }, { id: 'recovery' }).then(Boolean);
}

/**
 * Signs out after the right warning: on the account's last device, that the recovery key is
 * needed to come back, or (with no key registered) that the account would be lost, offering to
 * make a key first.
 */
export async function signOut(app) {
  let me = null;
  try {
    me = await app.client.call('me');
    me = me.me;
  } catch {
    // Offline: the plain confirmation below.
  }
  const last = me && me.devices <= 1;
  const choice = await openDialog(t('signOut'), (close) => h('div', { class: 'dlg-body' },
    h('p', { id: 'sign-out-text' }, !last ? t('confirmSignOut')
      : me.recovery_key_set ? t('signOutLastWithKey') : t('signOutLastNoKey', { handle: '@' + me.user.handle })),
    h('div', { class: 'dlg-actions' },
      h('button', { type: 'button', onclick: () => close('cancel') }, t('cancel')),
      last && !me.recovery_key_set
        ? h('button', { type: 'button', class: 'primary', id: 'sign-out-make-key', autofocus: true, onclick: () => close('key') }, t('makeRecoveryKey'))
        : null,
      h('button', {
        type: 'button', class: 'danger', id: 'confirm-yes', autofocus: !(last && !me.recovery_key_set),
        onclick: () => close('out'),
      }, last && !me.recovery_key_set ? t('signOutAnyway') : t('signOut')))),
  { id: 'sign-out' });
  if (choice === 'key') {
    if (await recoveryKeyDialog(app)) return signOut(app);
    return;
  }
  if (choice === 'out') await app.client.logout();
}

/** Display name and bio, saved with `set_profile`; the new name shows at once. */
export function profileEditor(app, me) {
  const error = h('p', { class: 'form-error', role: 'alert' });
  const name = h('input', { id: 'profile-name', dir: 'auto', maxlength: 64, value: me.user.display_name, required: true });
  const bio = h('input', { id: 'profile-bio', dir: 'auto', maxlength: 140, value: me.bio || '', placeholder: t('bioHint') });
  const form = h('form', { class: 'profile-form', id: 'profile-form' },
    h('label', { for: 'profile-name' }, t('displayName')), name,
    h('label', { for: 'profile-bio' }, t('bio')), bio,
    error,
    h('button', { type: 'submit', id: 'profile-save' }, t('save')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    try {
      const r = await app.client.call('set_profile', { display_name: name.value.trim(), bio: bio.value.trim() });
      app.setMe(r.me.user);
      toast(t('profileSaved'));
    } catch (err) {
      error.textContent = errorText(err);
    }
  });
  return form;
}
