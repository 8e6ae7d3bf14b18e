// Registration: the language first (a switch at the top), then phone or e-mail chosen
// explicitly (inputmode tel or email), what is kept and for how long, the required consent,
// and a separate optional consent to notifications. The contact's shape is advice only; the
// core and the server decide what is valid. Success shows "등록 완료" on the next screen.
// A server that verifies contacts answers with a code step (verify.js); "휴대폰을 바꾸셨나요?"
// asks for the code with the move to this device already chosen.

import { api } from '../api.js';
import { h } from '../dom.js';
import { t, setLanguage, language } from '../i18n.js';
import { state } from '../store.js';
import { heading, busy, errorAdvice } from '../ui.js';
import { renderCodeStep, whatMoves } from './verify.js';
import { formatDuration } from '../format.js';

/** Loose shapes for the hint: an e-mail, or 7-15 digits with common separators. */
export function contactLooksValid(value, kind) {
  const v = value.trim();
  const email = /^[^\s@]+@[^\s@]+\.[^\s@.]+$/.test(v);
  if (kind === 'email' || (kind === undefined && v.includes('@'))) return email;
  if (!/^\+?[\d\s().-]+$/.test(v)) return false;
  const digits = v.replace(/\D/g, '');
  return digits.length >= 7 && digits.length <= 15;
}

/** The settings with a new language, in the shape set_settings takes. */
export function withLanguage(settings, lang) {
  return {
    server_url: settings.server_url,
    language: lang,
    notifications: Boolean(settings.notifications),
    hide_code_on_lock_screen: settings.hide_code_on_lock_screen ?? true,
  };
}

/** A one-time note for the next screen: "등록 완료", with the contact's hint and what moved. */
export let justRegistered = null;
export function takeJustRegistered() {
  const v = justRegistered;
  justRegistered = null;
  return v;
}

export function render(main, _params, ctx) {
  ctx.setTitle(t('register.title'));
  let kind = 'phone';
  /** "Changed phones?": the code is sent with the move to this device asked for. */
  let moveHere = false;
  const contactErrorId = 'contact-error';
  const consentErrorId = 'consent-error';

  const other = language() === 'en' ? 'ko' : 'en';
  const langSwitch = h('button', {
    type: 'button',
    class: 'button secondary lang-switch',
    lang: other,
    'data-testid': 'lang-switch',
    text: t('lang.switch'),
  });
  langSwitch.addEventListener('click', () =>
    busy(langSwitch, async () => {
      try {
        state.settings = (await api.setSettings(withLanguage(state.settings, other))) || withLanguage(state.settings, other);
      } catch {
        // Still switch on screen: the language is also saved with the next settings change.
      }
      setLanguage(other);
      ctx.rerender();
    }),
  );

  const kindRadio = (value) =>
    h('input', { type: 'radio', name: 'contact-kind', id: `contact-kind-${value}`, value, checked: value === kind });
  const phoneRadio = kindRadio('phone');
  const emailRadio = kindRadio('email');
  const contactLabel = h('label', { for: 'contact' });
  const contactHint = h('p', { id: 'contact-hint', class: 'hint' });
  const contact = h('input', {
    id: 'contact',
    name: 'contact',
    type: 'text',
    autocapitalize: 'off',
    spellcheck: 'false',
    required: true,
    'aria-describedby': 'contact-hint',
  });
  const contactError = h('p', { id: contactErrorId, class: 'field-error', hidden: true });
  const consent = h('input', { id: 'consent', name: 'consent', type: 'checkbox', required: true });
  const consentError = h('p', { id: consentErrorId, class: 'field-error', hidden: true });
  const notify = h('input', { id: 'notify-consent', name: 'notify', type: 'checkbox', 'aria-describedby': 'notify-detail' });
  const formError = h('div', { class: 'form-error' });
  const submit = h('button', { type: 'submit', class: 'button primary', text: t('register.submit') });

  function setKind(next) {
    kind = next;
    phoneRadio.checked = kind === 'phone';
    emailRadio.checked = kind === 'email';
    contactLabel.textContent = t(`register.contact.label.${kind}`);
    contactHint.textContent = t(`register.contact.hint.${kind}`);
    contact.setAttribute('inputmode', kind === 'phone' ? 'tel' : 'email');
    contact.setAttribute('autocomplete', kind === 'phone' ? 'tel' : 'email');
  }
  setKind('phone');
  phoneRadio.addEventListener('change', () => setKind('phone'));
  emailRadio.addEventListener('change', () => setKind('email'));

  function showFieldError(input, el, id, text) {
    el.textContent = text;
    el.hidden = !text;
    const described = [input === contact ? 'contact-hint' : null, text ? id : null].filter(Boolean).join(' ');
    if (described) input.setAttribute('aria-describedby', described);
    else input.removeAttribute('aria-describedby');
    if (text) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }

  // The shape hint appears on submit, not on blur: text appearing on blur would move the consent
  // box away from a pointer already on its way to it. Typing clears it; an "@" typed under
  // "phone" means an e-mail address, so the choice follows.
  contact.addEventListener('input', () => {
    if (!contactError.hidden) showFieldError(contact, contactError, contactErrorId, '');
    if (kind === 'phone' && contact.value.includes('@')) setKind('email');
  });
  consent.addEventListener('change', () => {
    if (consent.checked) showFieldError(consent, consentError, consentErrorId, '');
  });

  const form = h(
    'form',
    { class: 'form', novalidate: true },
    h(
      'fieldset',
      { class: 'field kind-choice' },
      h('legend', { text: t('register.kind') }),
      h(
        'div',
        { class: 'segmented' },
        h('div', { class: 'choice' }, phoneRadio, h('label', { for: 'contact-kind-phone', text: t('register.kind.phone') })),
        h('div', { class: 'choice' }, emailRadio, h('label', { for: 'contact-kind-email', text: t('register.kind.email') })),
      ),
    ),
    h('div', { class: 'field' }, contactLabel, contactHint, contact, contactError),
    h(
      'section',
      { class: 'kept', 'aria-labelledby': 'kept-title' },
      h('h2', { id: 'kept-title', text: t('register.kept.title') }),
      h(
        'ul',
        { class: 'bullets' },
        h('li', { text: t('register.kept.contact') }),
        h('li', { text: t('register.kept.device') }),
        h('li', { text: t('register.kept.how_long') }),
        h('li', { text: t('register.kept.once') }),
      ),
    ),
    h(
      'div',
      { class: 'field field-check' },
      consent,
      h('label', { for: 'consent' }, h('span', { class: 'check-label', text: t('register.consent.label') })),
      consentError,
    ),
    h(
      'div',
      { class: 'field field-check' },
      notify,
      h('label', { for: 'notify-consent' }, h('span', { class: 'check-label', text: t('register.notify.label') }), h('span', { id: 'notify-detail', class: 'hint', text: t('register.notify.detail') })),
    ),
    formError,
    submit,
  );

  const moveBox = h(
    'section',
    { class: 'notice notice-info move-mode', 'aria-labelledby': 'move-mode-title', hidden: true, 'data-testid': 'move-mode' },
    h('h2', { id: 'move-mode-title', tabindex: '-1', text: t('move.mode.title') }),
    h('p', { text: t('move.mode.lead') }),
    whatMoves(),
  );
  const leaveMove = h('button', { type: 'button', class: 'button secondary', text: t('action.cancel') });
  moveBox.append(h('div', { class: 'actions' }, leaveMove));
  const enterMove = h('button', { type: 'button', class: 'button secondary', 'data-testid': 'changed-phones', text: t('move.entry.button') });
  const entry = h(
    'section',
    { class: 'move-entry', 'aria-labelledby': 'move-entry-title' },
    h('h2', { id: 'move-entry-title', text: t('move.entry.title') }),
    h('p', { class: 'hint', text: t('move.entry.body') }),
    enterMove,
  );
  function setMove(on) {
    moveHere = on;
    moveBox.hidden = !on;
    entry.hidden = on;
    submit.textContent = t(on ? 'move.submit' : 'register.submit');
  }
  enterMove.addEventListener('click', () => {
    setMove(true);
    moveBox.querySelector('h2').focus();
  });
  leaveMove.addEventListener('click', () => {
    setMove(false);
    enterMove.focus();
  });

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    formError.replaceChildren();
    const value = contact.value.trim();
    let firstInvalid = null;
    if (!value) {
      showFieldError(contact, contactError, contactErrorId, t('register.contact.required'));
      firstInvalid = contact;
    }
    if (!consent.checked) {
      showFieldError(consent, consentError, consentErrorId, t('register.consent.required'));
      firstInvalid = firstInvalid || consent;
    }
    if (firstInvalid) {
      firstInvalid.focus();
      return;
    }
    // Advice only: the core and the server decide, so the request still goes out.
    showFieldError(contact, contactError, contactErrorId, contactLooksValid(value, kind) ? '' : t(`register.contact.looks_wrong.${kind}`));
    await busy(submit, async () => {
      let step;
      try {
        step = await api.register(value, true);
      } catch (e) {
        // Codes asked for too often: how long to wait, in words (the server's detail is English).
        const wait = e.code === 'rate_limited' && typeof e.retryAfterS === 'number';
        const box = h(
          'div',
          { class: 'notice notice-error', role: 'alert' },
          h('p', { class: 'notice-title', text: wait ? t('code.wait', { duration: formatDuration(language(), e.retryAfterS * 1000) }) : e.message || t('error.unknown') }),
          wait ? null : h('p', { text: errorAdvice(e.code) }),
        );
        formError.replaceChildren(box);
        if (e.code === 'invalid_input' || e.code === 'contact_taken') contact.focus();
        return;
      }
      if (step.step === 'code_sent') {
        const wantsNotifications = notify.checked;
        renderCodeStep(main, ctx, {
          sent: step,
          contact: value,
          moveHere,
          onRegistered: (done) => registered(done, value, wantsNotifications),
          onBack: () => ctx.rerender(),
        });
        return;
      }
      await registered(step, value, notify.checked);
    });
  });

  /** The `registered` answer (at once, or after the code): on to the campaigns with a note. */
  async function registered(step, value, wantsNotifications) {
    state.identity = step.identity;
    for (const id of step.places || []) state.movedPlaces.add(id);
    if (wantsNotifications) await turnOnNotifications();
    justRegistered = { contact: state.identity?.contact_hint || value, moved: step.moved || null, places: step.places || [] };
    ctx.announce(t(step.moved ? 'register.moved.title' : 'register.done'), { urgent: true });
    ctx.navigate('#/campaigns');
  }

  /** The optional consent: ask the system, then save the setting (failures leave it off). */
  async function turnOnNotifications() {
    try {
      const permission = await api.requestNotificationPermission();
      if (permission !== 'granted') return;
      const next = { ...withLanguage(state.settings, language()), notifications: true };
      state.settings = (await api.setSettings(next)) || next;
    } catch {
      // Registration succeeded; notifications can be turned on in Settings.
    }
  }

  main.append(
    h('div', { class: 'title-row' }, heading(t('register.title')), langSwitch),
    h('p', { class: 'lead', text: t('register.intro') }),
    moveBox,
    form,
    entry,
    h('p', { class: 'help-link' }, h('a', { href: '#/help', text: t('nav.help') })),
  );
  return null;
}
