// Dialogs: start a direct chat, create a group, a conversation's info (members, add, remove,
// rename, leave), and the menu (profile, language, link a device, devices, sign out).

import { h, newClientId } from '../util.js';
import { t, num, errorText, shortWhen } from '../i18n.js';
import { avatar, confirmDialog, langSwitch, openDialog } from './common.js';

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
  const input = h('input', { id: 'new-chat-handle', required: true, dir: 'ltr', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'none', placeholder: '@handle' });
  return openDialog(t('newChatTitle'), (close) => formBody(
    [h('label', { for: 'new-chat-handle' }, t('newChatLabel')), input],
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
  const c = m.get(key);
  if (!c) return;
  if (c.kind === 'direct') {
    return openDialog(t('directInfo'), () => h('div', { class: 'dlg-body' },
      h('div', { class: 'profile' }, avatar(c.title, c.peer && c.peer.id, 'direct'),
        h('div', null, h('b', { dir: 'auto' }, c.title), h('div', { dir: 'ltr', class: 'muted' }, c.peer ? '@' + c.peer.handle : '')))),
    { id: 'info' });
  }
  const mine = c.role;
  const canManage = !c.left && (mine === 'owner' || mine === 'admin');
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
    const reload = async () => {
      try {
        const r = await app.client.call('members', { conversation: c.id });
        m.setMembers(key, r.members);
      } catch {
        // Keep what we have.
      }
      drawMembers();
    };
    drawMembers();
    reload();

    const titleInput = h('input', { id: 'rename-input', dir: 'auto', value: c.title, maxlength: 128, 'aria-label': t('groupName') });
    const renameForm = h('form', { class: 'inline-form', id: 'rename-form' }, titleInput,
      h('button', { type: 'submit', id: 'rename-submit' }, t('rename')));
    renameForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      const title = titleInput.value.trim();
      if (title && title !== c.title && (await run(() => app.client.call('rename', { conversation: c.id, title })))) {
        c.title = title;
        app.renderList();
        app.chat.renderHeader();
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
      h('div', { class: 'profile' }, avatar(c.title, c.id, 'group'),
        h('div', null, h('b', { dir: 'auto' }, c.title), h('div', { class: 'muted' }, t('membersN', { n: num(c.member_count || 0) })))),
      canManage ? [h('label', { for: 'rename-input' }, t('rename')), renameForm] : null,
      canManage ? [h('label', { for: 'add-members-input' }, t('addMembers')), addForm] : null,
      list, error,
      c.left ? null : h('div', { class: 'dlg-actions' }, leave));
  }, { id: 'info', wide: true });
}

function roleRank(r) {
  return { owner: 0, admin: 1, member: 2 }[r] ?? 3;
}

export function settingsDialog(app) {
  const me = app.model.me;
  return openDialog(t('menu'), (close) => {
    const codeBox = h('div', { class: 'link-code', id: 'link-code-box', 'aria-live': 'polite' });
    const error = h('p', { class: 'form-error', role: 'alert' });
    const devices = h('ul', { class: 'devices', id: 'device-list' });
    const loadDevices = async () => {
      try {
        const r = await app.client.call('devices');
        devices.replaceChildren(...r.devices.map((d) => h('li', { class: d.revoked ? 'revoked' : '' },
          h('div', null, h('b', null, d.name), ' ',
            d.current ? h('span', { class: 'muted' }, '(' + t('thisDevice') + ')') : null,
            d.revoked ? h('span', { class: 'muted' }, '(' + t('revoked') + ')') : null,
            h('div', { class: 'muted' }, shortWhen(d.last_seen || d.created_at))),
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
    return h('div', { class: 'dlg-body' },
      h('div', { class: 'profile' }, avatar(me.display_name, me.id),
        h('div', null, h('div', { class: 'muted' }, t('signedInAs')), h('b', { dir: 'auto' }, me.display_name), h('div', { class: 'muted', dir: 'ltr' }, '@' + me.handle))),
      h('div', { class: 'setting' }, h('span', null, t('language')), langSwitch(() => {
        close();
        app.build();
      })),
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
          onclick: async () => {
            if (await confirmDialog(t('confirmSignOut'), t('signOut'))) {
              close();
              await app.client.logout();
            }
          },
        }, t('signOut'))));
  }, { id: 'settings' });
}
