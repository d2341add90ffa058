// Dialogs: start a direct chat, create a group, a conversation's info (members, add, remove,
// rename, leave), the menu (profile, language, privacy and safety, link a device, devices, sign
// out), privacy and safety (who may message me, add me to groups, see my last seen; the people I
// block; my contacts), and reporting a message or a person.

import { h, newClientId } from '../util.js';
import { t, tn, num, errorText, ago, dateOf } from '../i18n.js';
import { avatar, confirmDialog, langSwitch, openDialog, toast } from './common.js';
import { profileEditor, recoveryKeyDialog, signOut } from './account.js';
import { prefs } from '../storage.js';

const handlesOf = (text) => text.split(/[\s,،]+/).map((x) => x.replace(/^@/, '').trim().toLowerCase()).filter(Boolean);

/** A form inside a dialog: runs `action` on submit, shows its error, keeps the dialog open on failure. */
function formBody(fields, submitLabel, action, close, id) {
  const error = h('p', { class: 'form-error', role: 'alert' });
  const button = h('button', { type: 'submit', class: 'primary', id: id + '-submit' }, submitLabel);
  const form = h('form', { class: 'dlg-body', id },
    fields, error, h('div', { class: 'dlg-actions' }, button));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    button.disabled = true;
    try {
      close(await action());
    } catch (err) {
      error.textContent = err && err.userText ? err.userText : errorText(err);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

export function newChatDialog(app) {
  const input = h('input', {
    id: 'new-chat-handle', required: true, dir: 'auto', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'none',
    placeholder: t('newChatPlaceholder'), 'aria-controls': 'people-results',
  });
  // People found as you type (by the start of a handle or name), each a button that starts the chat.
  const results = h('ul', { class: 'people-results', id: 'people-results', 'aria-label': t('peopleFound') });
  let timer = 0;
  let asked = '';
  const search = async () => {
    const q = input.value.trim();
    if (q.replace(/^@/, '').length < 2) {
      results.replaceChildren();
      return;
    }
    asked = q;
    let found = [];
    try {
      found = (await app.client.call('find_people', { query: q })).users;
    } catch {
      // Offline or over the lookup budget: the handle typed in full still works.
    }
    if (asked !== q) return;
    results.replaceChildren(...found.map((u) => h('li', null,
      h('button', {
        type: 'button', class: 'person', 'data-handle': u.handle,
        onclick: () => {
          input.value = '@' + u.handle;
          input.form.requestSubmit();
        },
        onkeydown: (e) => {
          const step = { ArrowDown: 'nextElementSibling', ArrowUp: 'previousElementSibling' }[e.key];
          if (!step) return;
          e.preventDefault();
          const next = e.currentTarget.parentElement[step];
          if (next) next.querySelector('button').focus();
          else if (e.key === 'ArrowUp') input.focus();
        },
      }, avatar(u.display_name, u.id), h('span', { class: 'member-name' }, h('b', { dir: 'auto' }, u.display_name), h('span', { class: 'muted', dir: 'ltr' }, '@' + u.handle))))));
  };
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(search, 250);
  });
  input.addEventListener('keydown', (e) => {
    const first = results.querySelector('button');
    if (e.key === 'ArrowDown' && first) {
      e.preventDefault();
      first.focus();
    }
  });
  return openDialog(t('newChatTitle'), (close) => formBody(
    [h('label', { for: 'new-chat-handle' }, t('newChatLabel')), input, results],
    t('start_'),
    async () => {
      const handle = handlesOf(input.value)[0] || '';
      let user;
      try {
        user = (await app.client.call('user', { handle })).user;
      } catch (e) {
        if (e.code === 'not_found' || e.code === 'invalid') e.userText = t('noSuchUser', { handle });
        throw e;
      }
      return app.model.draft(user);
    },
    close, 'new-chat-form'), { id: 'new-chat' })
    .then((key) => key && app.open(key));
}

export function newGroupDialog(app) {
  const title = h('input', { id: 'new-group-title', required: true, dir: 'auto', maxlength: 128 });
  const members = h('input', { id: 'new-group-members', dir: 'ltr', autocomplete: 'off', spellcheck: 'false', placeholder: '@sara @bob' });
  const client_id = newClientId();
  return openDialog(t('newGroup'), (close) => formBody(
    [h('label', { for: 'new-group-title' }, t('groupName')), title,
      h('label', { for: 'new-group-members' }, t('groupMembers')), members],
    t('create'),
    async () => {
      const r = await app.client.call('create_group', { title: title.value.trim(), members: handlesOf(members.value), client_id });
      return app.model.upsertConversation(r.conversation);
    },
    close, 'new-group-form'), { id: 'new-group' })
    .then((key) => {
      if (!key) return;
      app.renderList();
      app.open(key);
    });
}

export function infoDialog(app, key) {
  const m = app.model;
  let c = m.get(key);
  if (!c) return;
  if (c.kind === 'direct') {
    return openDialog(t('directInfo'), () => h('div', { class: 'dlg-body' },
      h('div', { class: 'profile' }, avatar(c.title, c.peer && c.peer.id, 'direct'),
        h('div', null, h('b', { dir: 'auto' }, c.title), h('div', { dir: 'ltr', class: 'muted' }, c.peer ? '@' + c.peer.handle : '')))),
    { id: 'info' });
  }
  const mine = c.role;
  const canManage = !c.left && (mine === 'owner' || mine === 'admin');
  let cleanup = () => {};
  return openDialog(t('groupInfo'), (close) => {
    const error = h('p', { class: 'form-error', role: 'alert' });
    const run = async (fn) => {
      error.textContent = '';
      try {
        await fn();
        return true;
      } catch (e) {
        error.textContent = errorText(e);
        return false;
      }
    };
    const list = h('ul', { class: 'members', id: 'member-list' });
    const drawMembers = () => {
      const members = (c.members || []).slice().sort((a, b) => roleRank(a.role) - roleRank(b.role) || a.user.handle.localeCompare(b.user.handle));
      list.replaceChildren(...members.map((x) => {
        const isMe = m.me && x.user.id === m.me.id;
        const removable = canManage && !isMe && (mine === 'owner' || x.role === 'member');
        return h('li', { 'data-handle': x.user.handle },
          avatar(x.user.display_name, x.user.id),
          h('div', { class: 'member-name' }, h('b', { dir: 'auto' }, x.user.display_name), h('span', { class: 'muted', dir: 'ltr' }, '@' + x.user.handle)),
          h('span', { class: 'role' }, t('role.' + x.role)),
          removable ? h('button', {
            type: 'button', class: 'link-btn danger', 'aria-label': `${t('remove')} @${x.user.handle}`,
            onclick: async () => {
              if (!(await confirmDialog(t('confirmRemove', { handle: x.user.handle }), t('remove')))) return;
              if (await run(() => app.client.call('remove_member', { conversation: c.id, handle: x.user.handle }))) await reload();
            },
          }, t('remove')) : null);
      }));
    };
    // The title and member count follow what happens while the dialog is open, here or by others.
    const head = h('div', { class: 'profile', id: 'info-head' });
    const about = h('p', { class: 'group-about', id: 'info-description', dir: 'auto' });
    const drawHead = () => {
      c = m.get(key) || c;
      head.replaceChildren(avatar(c.title, c.id, 'group'),
        h('div', null, h('b', { dir: 'auto', id: 'info-title' }, c.title),
          h('div', { class: 'muted', id: 'info-count' }, t('membersN', { n: num(c.member_count || 0) }))));
      about.textContent = c.description || '';
      about.hidden = !c.description;
    };
    const reload = async () => {
      try {
        const [r, one] = await Promise.all([
          app.client.call('members', { conversation: c.id }),
          app.client.call('conversation', { conversation: c.id }),
        ]);
        m.setMembers(key, r.members);
        c = m.get(key) || c;
        c.description = one.conversation.description || '';
        if (describeInput && document.activeElement !== describeInput) describeInput.value = c.description;
      } catch {
        // Keep what we have.
      }
      drawHead();
      drawMembers();
    };
    let describeInput = null;
    const onFeed = (e) => {
      const msg = e.detail && e.detail.event && e.detail.event.message;
      if (!msg || String(msg.conversation) !== String(key) || msg.kind !== 'system') return;
      c = m.get(key) || c;
      if (msg.system && msg.system.title) c.title = msg.system.title;
      reload();
    };
    app.client.addEventListener('feed', onFeed);
    cleanup = () => app.client.removeEventListener('feed', onFeed);
    drawHead();
    drawMembers();
    reload();

    const titleInput = h('input', { id: 'rename-input', dir: 'auto', value: c.title, maxlength: 128, 'aria-label': t('groupName') });
    const renameForm = h('form', { class: 'inline-form', id: 'rename-form' }, titleInput,
      h('button', { type: 'submit', id: 'rename-submit' }, t('rename')));
    renameForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      const title = titleInput.value.trim();
      if (title && title !== c.title && (await run(() => app.client.call('rename', { conversation: c.id, title })))) {
        c = m.get(key) || c;
        c.title = title;
        drawHead();
        app.renderList();
        app.chat.renderHeader();
      }
    });
    describeInput = h('input', { id: 'describe-input', dir: 'auto', value: c.description || '', maxlength: 255, 'aria-label': t('groupDescription') });
    const describeForm = h('form', { class: 'inline-form', id: 'describe-form' }, describeInput,
      h('button', { type: 'submit', id: 'describe-submit' }, t('save')));
    describeForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      const description = describeInput.value.trim();
      if (description !== (c.description || '') && (await run(() => app.client.call('set_description', { conversation: c.id, description })))) {
        c = m.get(key) || c;
        c.description = description;
        drawHead();
      }
    });
    const addInput = h('input', { id: 'add-members-input', dir: 'ltr', autocomplete: 'off', spellcheck: 'false', placeholder: '@handle', 'aria-label': t('addMembers') });
    const addForm = h('form', { class: 'inline-form', id: 'add-members-form' }, addInput,
      h('button', { type: 'submit', id: 'add-members-submit' }, t('add')));
    addForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      const handles = handlesOf(addInput.value);
      if (handles.length && (await run(() => app.client.call('add_members', { conversation: c.id, handles })))) {
        addInput.value = '';
        await reload();
      }
    });
    const leave = h('button', {
      type: 'button', class: 'danger', id: 'leave-btn',
      onclick: async () => {
        if (!(await confirmDialog(t('confirmLeave', { title: c.title }), t('leave')))) return;
        if (await run(() => app.client.call('leave', { conversation: c.id }))) {
          c.left = true;
          close();
          app.chat.renderHeader();
        }
      },
    }, t('leave'));
    return h('div', { class: 'dlg-body' },
      head,
      about,
      canManage ? [h('label', { for: 'rename-input' }, t('rename')), renameForm] : null,
      canManage ? [h('label', { for: 'describe-input' }, t('groupDescription')), describeForm] : null,
      canManage ? [h('label', { for: 'add-members-input' }, t('addMembers')), addForm] : null,
      list, error,
      c.left ? null : h('div', { class: 'dlg-actions' }, leave));
  }, { id: 'info', wide: true }).then(() => cleanup());
}

/** Asks for a device's new name and saves it; resolves true when it changed. */
function renameDevice(app, d) {
  const name = h('input', { id: 'device-name-input', dir: 'auto', maxlength: 64, value: d.name, required: true, 'aria-label': t('deviceName') });
  return openDialog(t('deviceName'), (close) => formBody([name], t('save'),
    async () => {
      await app.client.call('rename_device', { device_id: d.id, name: name.value.trim() });
      return true;
    },
    close, 'device-name-form'), { id: 'device-name' }).then(Boolean);
}

function roleRank(r) {
  return { owner: 0, admin: 1, member: 2 }[r] ?? 3;
}

/** The link that opens a chat with `handle` on this server. */
export function myLink(handle) {
  return `${location.origin}/#u=${handle}`;
}

export function settingsDialog(app) {
  const me = app.model.me;
  let cleanup = () => {};
  return openDialog(t('menu'), (close) => {
    const codeBox = h('div', { class: 'link-code', id: 'link-code-box', 'aria-live': 'polite' });
    const error = h('p', { class: 'form-error', role: 'alert' });
    const devices = h('ul', { class: 'devices', id: 'device-list' });
    const loadDevices = async () => {
      try {
        const r = await app.client.call('devices');
        devices.replaceChildren(...r.devices.map((d) => h('li', { class: d.revoked ? 'revoked' : '', 'data-device': d.id },
          h('div', null, h('b', { dir: 'auto', class: 'device-name' }, d.name), ' ',
            d.current ? h('span', { class: 'muted' }, '(' + t('thisDevice') + ')') : null,
            d.revoked ? h('span', { class: 'muted' }, '(' + t('revoked') + ')') : null,
            h('div', { class: 'muted device-active' },
              d.current ? t('activeNow') : t('lastActive', { when: ago(d.last_seen || d.created_at) })),
            d.session_expires_at ? h('div', { class: 'muted session-expiry' },
              t('signedInUntil', { when: dateOf(d.session_expires_at) })) : null),
          h('button', {
            type: 'button', class: 'link-btn rename-device', 'aria-label': `${t('renameDevice')} ${d.name}`,
            onclick: () => renameDevice(app, d).then((done) => done && loadDevices()),
          }, t('renameDevice')),
          !d.current && !d.revoked ? h('button', {
            type: 'button', class: 'link-btn danger',
            onclick: async () => {
              try {
                await app.client.call('revoke_device', { device_id: d.id });
                loadDevices();
              } catch (e) {
                error.textContent = errorText(e);
              }
            },
          }, t('revoke')) : null)));
      } catch (e) {
        error.textContent = errorText(e);
      }
    };
    loadDevices();
    // A device linked with the code shown here (or one revoked elsewhere): the code is used up.
    const onSettings = (e) => {
      if (e.detail.what !== 'devices') return;
      codeBox.replaceChildren();
      loadDevices();
    };
    app.client.addEventListener('settings_changed', onSettings);
    cleanup = () => app.client.removeEventListener('settings_changed', onSettings);
    // The profile editor and the recovery key's state need `me` from the server.
    const account = h('div', { class: 'account', id: 'account-box' });
    app.client.call('me').then(({ me: mine }) => {
      account.replaceChildren(
        profileEditor(app, mine),
        h('div', { class: 'setting' },
          h('span', { id: 'recovery-status' }, mine.recovery_key_set ? t('recoveryIsSet') : t('recoveryNotSet')),
          h('button', {
            type: 'button', class: 'link-btn', id: 'recovery-new',
            onclick: () => {
              close();
              recoveryKeyDialog(app);
            },
          }, mine.recovery_key_set ? t('newRecoveryKey') : t('makeRecoveryKey'))));
    }, (e) => {
      error.textContent = errorText(e);
    });
    return h('div', { class: 'dlg-body' },
      h('div', { class: 'profile' }, avatar(me.display_name, me.id),
        h('div', null, h('div', { class: 'muted' }, t('signedInAs')), h('b', { dir: 'auto' }, me.display_name), h('div', { class: 'muted', dir: 'ltr' }, '@' + me.handle))),
      account,
      // A link to me: opened by someone signed in here, it starts a chat with me.
      h('div', { class: 'setting my-link' },
        h('span', null, t('myLink')),
        h('code', { id: 'my-link', dir: 'ltr' }, myLink(me.handle)),
        navigator.clipboard ? h('button', {
          type: 'button', class: 'link-btn', id: 'copy-my-link',
          onclick: () => navigator.clipboard.writeText(myLink(me.handle)).then(() => toast(t('linkCopied')), () => {}),
        }, t('copy')) : null),
      h('label', { class: 'setting' }, h('span', null, t('soundSetting')),
        h('input', {
          type: 'checkbox', id: 'sound-toggle', checked: prefs.sound() !== false,
          onchange: (e) => prefs.setSound(e.target.checked),
        })),
      h('div', { class: 'setting' }, h('span', null, t('language')), langSwitch(() => {
        close();
        app.build();
      })),
      h('button', {
        type: 'button', id: 'privacy-btn',
        onclick: () => {
          close();
          privacyDialog(app);
        },
      }, t('privacy')),
      h('button', {
        type: 'button', id: 'link-device-btn',
        onclick: async () => {
          error.textContent = '';
          try {
            const lc = await app.client.createLinkCode();
            codeBox.replaceChildren(h('p', null, t('linkCodeShown')), h('code', { id: 'link-code-value', dir: 'ltr' }, lc.code));
          } catch (e) {
            error.textContent = errorText(e);
          }
        },
      }, t('linkDevice')),
      codeBox,
      h('h3', null, t('devices')),
      devices,
      error,
      h('div', { class: 'dlg-actions' },
        h('button', {
          type: 'button', class: 'danger', id: 'sign-out-btn',
          onclick: () => {
            close();
            signOut(app);
          },
        }, t('signOut'))));
  }, { id: 'settings' }).then(() => cleanup());
}

const AUDIENCES = ['everybody', 'contacts', 'nobody'];
const PRIVACY = [
  { key: 'messages', label: 'privacyMessages' },
  { key: 'groups', label: 'privacyGroups', hint: 'privacyGroupsHint' },
  { key: 'last_seen', label: 'privacyLastSeen' },
  { key: 'findable', label: 'privacyFindable', hint: 'privacyFindableHint' },
];

/** A list of people, each with one button (unblock, remove from contacts). */
function peopleList(id, people, empty, button) {
  if (!people.length) return h('p', { class: 'muted', id: id + '-empty' }, empty);
  return h('ul', { class: 'members', id }, people.map((u) => h('li', { 'data-handle': u.handle },
    avatar(u.display_name || u.handle, u.id),
    h('div', { class: 'member-name' }, h('b', { dir: 'auto' }, u.display_name || u.handle), h('span', { class: 'muted', dir: 'ltr' }, '@' + u.handle)),
    button(u))));
}

/** Menu → Privacy and safety: three audiences saved with `set_privacy`, blocked people, contacts. */
export function privacyDialog(app) {
  const m = app.model;
  const c = app.client;
  return openDialog(t('privacy'), () => {
    const error = h('p', { class: 'form-error', role: 'alert' });
    const saved = h('p', { class: 'muted', id: 'privacy-status', role: 'status' });
    const selects = {};
    const fields = PRIVACY.map((p) => {
      const id = 'privacy-' + p.key.replace('_', '-');
      const hintId = p.hint ? id + '-hint' : null;
      selects[p.key] = h('select', {
        id, name: p.key, disabled: true, 'aria-describedby': hintId,
        onchange: () => {
          saved.textContent = '';
        },
      },
        AUDIENCES.map((a) => h('option', { value: a }, t('aud.' + a))));
      return h('div', { class: 'field' },
        h('label', { for: id }, t(p.label)),
        selects[p.key],
        hintId ? h('p', { class: 'hint', id: hintId }, t(p.hint)) : null);
    });
    const save = h('button', { type: 'submit', class: 'primary', id: 'privacy-save', disabled: true }, t('save'));
    const form = h('form', { class: 'privacy-form', id: 'privacy-form' }, fields, h('div', { class: 'dlg-actions' }, saved, save));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      error.textContent = '';
      saved.textContent = '';
      save.disabled = true;
      const change = Object.fromEntries(PRIVACY.map((p) => [p.key, selects[p.key].value]));
      try {
        const r = await c.call('set_privacy', change);
        for (const p of PRIVACY) selects[p.key].value = r.privacy[p.key];
        saved.textContent = t('saved');
      } catch (err) {
        error.textContent = errorText(err);
      } finally {
        save.disabled = false;
      }
    });
    c.call('privacy').then((r) => {
      for (const p of PRIVACY) {
        selects[p.key].value = r.privacy[p.key];
        selects[p.key].disabled = false;
      }
      save.disabled = false;
    }, (err) => {
      error.textContent = errorText(err);
    });

    const blockedBox = h('div', { id: 'blocked-box' });
    const contactBox = h('div', { id: 'contact-box' });
    const run = async (method, handle) => {
      error.textContent = '';
      try {
        await c.call(method, { handle });
        return true;
      } catch (err) {
        error.textContent = errorText(err);
        return false;
      }
    };
    const drawBlocked = () => blockedBox.replaceChildren(peopleList('blocked-list', m.blockedList(), t('noBlocked'), (u) =>
      h('button', {
        type: 'button', class: 'link-btn', 'aria-label': t('unblockUser', { handle: '@' + u.handle }),
        onclick: async () => {
          if (!(await run('unblock', u.handle))) return;
          m.setBlock(u, false);
          app.afterBlockChange();
          drawBlocked();
          toast(tn('unblockedToast', { handle: '@' + u.handle }));
          (blockedBox.querySelector('button') || form.querySelector('select')).focus();
        },
      }, t('unblock'))));
    const drawContacts = () => contactBox.replaceChildren(peopleList('contact-list', m.contactList(), t('noContacts'), (u) =>
      h('button', {
        type: 'button', class: 'link-btn danger', 'aria-label': `${t('removeContact')}: @${u.handle}`,
        onclick: async () => {
          if (!(await run('remove_contact', u.handle))) return;
          m.setContact(u, false);
          drawContacts();
          (contactBox.querySelector('button') || addInput).focus();
        },
      }, t('remove'))));
    const addInput = h('input', { id: 'add-contact-input', dir: 'ltr', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'none', placeholder: '@handle' });
    const addForm = h('form', { class: 'inline-form', id: 'add-contact-form' }, addInput,
      h('button', { type: 'submit', id: 'add-contact-submit' }, t('add')));
    addForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      const handle = handlesOf(addInput.value)[0];
      if (!handle) return;
      error.textContent = '';
      try {
        const user = (await c.call('user', { handle })).user;
        await c.call('add_contact', { handle });
        m.setContact(user, true);
        addInput.value = '';
        drawContacts();
      } catch (err) {
        error.textContent = err.code === 'not_found' ? t('noSuchUser', { handle }) : errorText(err);
      }
    });
    // Fresh lists (another device may have changed them).
    app.loadSafety().then(() => {
      drawBlocked();
      drawContacts();
    });
    drawBlocked();
    drawContacts();
    return h('div', { class: 'dlg-body' },
      form,
      h('h3', null, t('blockedUsers')), blockedBox,
      h('h3', null, t('contacts')), contactBox,
      h('label', { for: 'add-contact-input' }, t('addContactLabel')), addForm,
      error);
  }, { id: 'privacy', wide: true });
}

const REASONS = ['spam', 'abuse', 'illegal', 'impersonation', 'other'];

/**
 * Report a message (`target` {conversation, seq}) or a person ({handle}) to the server's
 * operators: a reason and an optional comment; then the report's number.
 */
export function reportDialog(app, target, { label, text } = {}) {
  return openDialog(t('reportTitle'), (close) => {
    const radios = REASONS.map((r, i) => h('label', { class: 'choice' },
      h('input', { type: 'radio', name: 'reason', value: r, required: i === 0 }), ' ', t('reason.' + r)));
    const comment = h('textarea', { id: 'report-comment', rows: 3, maxlength: 1000, dir: 'auto' });
    return formBody([
      label ? h('div', { class: 'report-subject' }, h('b', null, label), text ? h('span', { dir: 'auto' }, text.slice(0, 200)) : null) : null,
      h('fieldset', { class: 'choices', id: 'report-reasons' }, h('legend', null, t('reportWhy')), radios),
      h('label', { for: 'report-comment' }, t('reportComment')), comment,
    ], t('reportSend'), async () => {
      const form = comment.form;
      const reason = form.elements.reason.value;
      const params = { ...target, reason };
      if (comment.value.trim()) params.comment = comment.value.trim();
      const r = await app.client.call('report', params);
      return r.reported.id;
    }, close, 'report-form');
  }, { id: 'report' }).then((id) => {
    if (id == null) return;
    return openDialog(t('reportSentTitle'), (close) => h('div', { class: 'dlg-body' },
      h('p', { id: 'report-done', role: 'status' }, t('reportSent', { id: num(id) })),
      h('div', { class: 'dlg-actions' },
        h('button', { type: 'button', class: 'primary', id: 'report-done-ok', autofocus: true, onclick: () => close() }, t('ok')))),
    { id: 'report-sent' });
  });
}
