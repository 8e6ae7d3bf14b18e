// Settings: language (applies at once after saving), the claim server's URL (http or https
// only), and notifications (turning them on asks the system for permission).

import { api } from '../api.js';
import { h } from '../dom.js';
import { t, setLanguage } from '../i18n.js';
import { state, publish } from '../store.js';
import { heading, busy, errorBox, icon } from '../ui.js';

/** Parses a server URL; returns the normalised string or null when it is not http(s). */
export function parseServerUrl(value) {
  let url;
  try {
    url = new URL(value.trim());
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  if (!url.hostname || url.username || url.password) return null;
  return url.href.replace(/\/$/, '');
}

export function render(main, _params, ctx) {
  ctx.setTitle(t('settings.title'));
  const s = state.settings;
  let alive = true;

  const langKo = h('input', { type: 'radio', name: 'language', id: 'lang-ko', value: 'ko', checked: s.language !== 'en' });
  const langEn = h('input', { type: 'radio', name: 'language', id: 'lang-en', value: 'en', checked: s.language === 'en' });
  const server = h('input', {
    id: 'server-url',
    name: 'server_url',
    type: 'url',
    inputmode: 'url',
    autocomplete: 'url',
    spellcheck: 'false',
    value: s.server_url,
    'aria-describedby': 'server-hint',
  });
  const serverError = h('p', { id: 'server-error', class: 'field-error', hidden: true });
  const notify = h('input', { id: 'notifications', type: 'checkbox', role: 'switch', checked: Boolean(s.notifications), 'aria-describedby': 'notify-hint notify-state' });
  const notifyState = h('p', { id: 'notify-state', class: 'hint' });
  const hideCode = h('input', { id: 'hide-code', type: 'checkbox', role: 'switch', checked: s.hide_code_on_lock_screen !== false, 'aria-describedby': 'hide-code-hint' });
  const saved = h('p', { class: 'saved', role: 'status' });
  const formError = h('div');
  const save = h('button', { type: 'submit', class: 'button primary', text: t('settings.save') });

  function showPermission(permission) {
    notifyState.textContent = t(`settings.notifications.permission.${permission}`) || '';
  }

  notify.addEventListener('change', async () => {
    saved.textContent = '';
    if (!notify.checked) return;
    notify.disabled = true;
    try {
      const permission = await api.requestNotificationPermission();
      if (!alive) return;
      showPermission(permission);
      if (permission !== 'granted') notify.checked = false;
    } catch (e) {
      notify.checked = false;
      formError.replaceChildren(errorBox(e));
    } finally {
      notify.disabled = false;
      notify.focus();
    }
  });

  const form = h(
    'form',
    { class: 'form', novalidate: true },
    h(
      'fieldset',
      { class: 'field' },
      h('legend', { text: t('settings.language') }),
      h('div', { class: 'choice' }, langKo, h('label', { for: 'lang-ko', text: '한국어', lang: 'ko' })),
      h('div', { class: 'choice' }, langEn, h('label', { for: 'lang-en', text: 'English', lang: 'en' })),
    ),
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'server-url', text: t('settings.server') }),
      h('p', { id: 'server-hint', class: 'hint', text: t('settings.server.hint') }),
      server,
      serverError,
    ),
    h(
      'div',
      { class: 'field field-check' },
      notify,
      h('label', { for: 'notifications' }, h('span', { class: 'check-label', text: t('settings.notifications') }), h('span', { id: 'notify-hint', class: 'hint', text: t('settings.notifications.hint') })),
      notifyState,
    ),
    h(
      'div',
      { class: 'field field-check' },
      hideCode,
      h('label', { for: 'hide-code' }, h('span', { class: 'check-label', text: t('settings.hide_code') }), h('span', { id: 'hide-code-hint', class: 'hint', text: t('settings.hide_code.hint') })),
    ),
    formError,
    save,
    saved,
  );

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    saved.textContent = '';
    formError.replaceChildren();
    const url = parseServerUrl(server.value);
    if (!url) {
      serverError.textContent = t('settings.server.invalid');
      serverError.hidden = false;
      server.setAttribute('aria-invalid', 'true');
      server.setAttribute('aria-describedby', 'server-hint server-error');
      server.focus();
      return;
    }
    serverError.hidden = true;
    server.removeAttribute('aria-invalid');
    server.setAttribute('aria-describedby', 'server-hint');
    const next = {
      server_url: url,
      language: langEn.checked ? 'en' : 'ko',
      notifications: notify.checked,
      hide_code_on_lock_screen: hideCode.checked,
    };
    await busy(save, async () => {
      try {
        const stored = await api.setSettings(next);
        state.settings = stored || next;
        if (state.settings.server_url !== s.server_url) {
          // An identity is registered per server: the menu and routes follow the new answer.
          try {
            state.identity = await api.identityStatus();
          } catch {
            // Keep the old status; the next screen that needs the server will report the problem.
          }
        }
        const languageChanged = setLanguage(state.settings.language) !== s.language;
        publish('settings');
        if (languageChanged) {
          ctx.rerender();
          // The redrawn screen says it was saved, in the new language.
          const status = document.querySelector('.saved');
          if (status) status.textContent = t('settings.saved');
          document.querySelector('#main h1')?.focus();
        } else {
          server.value = state.settings.server_url;
          saved.textContent = t('settings.saved');
        }
      } catch (e) {
        formError.replaceChildren(errorBox(e));
      }
    });
  });

  const identity = state.identity;
  const about = h(
    'section',
    { class: 'card about', 'aria-labelledby': 'identity-title' },
    h('h2', { id: 'identity-title', text: t('settings.identity') }),
    identity && identity.registered
      ? h('p', { class: 'registered-badge', 'data-testid': 'registered-badge' }, icon('check', 'inline-icon'), h('span', { text: t('settings.identity.registered') }))
      : null,
    identity && identity.registered
      ? h(
          'dl',
          { class: 'facts' },
          h('div', { class: 'fact' }, h('dt', { text: t('settings.identity.contact') }), h('dd', { text: identity.contact_hint || '—' })),
          h('div', { class: 'fact' }, h('dt', { text: t('settings.identity.key') }), h('dd', { class: 'mono wrap', text: identity.identity || '—' })),
        )
      : h('p', {}, t('settings.identity.none'), ' ', h('a', { href: '#/register', text: t('register.title') })),
    h('p', { class: 'hint', text: t('settings.identity.hint') }),
  );

  main.append(heading(t('settings.title')), form, about, h('p', { class: 'help-link' }, h('a', { href: '#/help', text: t('settings.help') })));
  api.notificationPermission().then(
    (p) => alive && showPermission(p),
    () => {},
  );
  return () => {
    alive = false;
  };
}
