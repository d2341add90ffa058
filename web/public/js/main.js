// Entry point: pick the language, then show the sign-in screen or the app and connect.

import { Client } from './client.js';
import { Model } from './model.js';
import { setLang, t } from './i18n.js';
import { Identity, prefs } from './storage.js';
import { h } from './util.js';
import { renderAuth } from './ui/auth.js';
import { App } from './ui/app.js';

const root = document.getElementById('root');
setLang(prefs.lang() || ((navigator.language || '').startsWith('fa') ? 'fa' : 'en'));

function boot(notice) {
  root.classList.remove('booting');
  if (!Identity.supported()) {
    root.replaceChildren(h('main', { class: 'auth' }, h('div', { class: 'auth-card' }, h('h1', null, t('appName')), h('p', { role: 'alert' }, t('insecure')))));
    return;
  }
  const client = new Client();
  const model = new Model();
  // Handy when debugging from the console; the page itself never reads it.
  window.chapar = { client, model };
  client.addEventListener('signed-out', (e) => {
    const reason = e.detail;
    sessionStorage.setItem('chapar.notice', reason === 'revoked' || reason === 'unauthorized' ? t('signedOutRevoked') : '');
    location.hash = '';
    location.reload();
  });
  if (!client.signedIn) {
    renderAuth(root, client, () => start(client, model), notice);
    return;
  }
  start(client, model);
}

function start(client, model) {
  model.me = client.me;
  model.deviceId = client.session.device_id;
  client.addEventListener('state', () => {
    // The session carries our current profile after each sign-in.
    if (client.me) model.me = client.me;
  });
  const app = new App(root, client, model);
  window.chapar.app = app;
  client.addEventListener('synced', () => app.chat.onSynced());
  client.start();
}

const notice = sessionStorage.getItem('chapar.notice');
sessionStorage.removeItem('chapar.notice');
boot(notice || undefined);
