// Registration: contact (phone or e-mail) and consent. The hint about the contact's shape is
// advice only; the core and the server decide what is valid.

import { api } from '../api.js';
import { h } from '../dom.js';
import { t } from '../i18n.js';
import { state } from '../store.js';
import { heading, busy, errorAdvice } from '../ui.js';

/** Loose shapes for the hint: an e-mail, or 7-15 digits with common separators. */
export function contactLooksValid(value) {
  const v = value.trim();
  if (v.includes('@')) return /^[^\s@]+@[^\s@]+\.[^\s@.]+$/.test(v);
  if (!/^\+?[\d\s().-]+$/.test(v)) return false;
  const digits = v.replace(/\D/g, '');
  return digits.length >= 7 && digits.length <= 15;
}

export function render(main, _params, ctx) {
  ctx.setTitle(t('register.title'));
  const contactHintId = 'contact-hint';
  const contactErrorId = 'contact-error';
  const consentErrorId = 'consent-error';

  const contact = h('input', {
    id: 'contact',
    name: 'contact',
    type: 'text',
    inputmode: 'email',
    autocomplete: 'email',
    autocapitalize: 'off',
    spellcheck: 'false',
    required: true,
    'aria-describedby': contactHintId,
  });
  const contactError = h('p', { id: contactErrorId, class: 'field-error', hidden: true });
  const consent = h('input', { id: 'consent', name: 'consent', type: 'checkbox', required: true });
  const consentError = h('p', { id: consentErrorId, class: 'field-error', hidden: true });
  const formError = h('div', { class: 'form-error' });
  const submit = h('button', { type: 'submit', class: 'button primary', text: t('register.submit') });

  function showFieldError(input, el, id, text) {
    el.textContent = text;
    el.hidden = !text;
    const described = [input === contact ? contactHintId : null, text ? id : null].filter(Boolean).join(' ');
    if (described) input.setAttribute('aria-describedby', described);
    else input.removeAttribute('aria-describedby');
    if (text) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }

  // The shape hint appears on submit, not on blur: text appearing on blur would move the consent
  // box away from a pointer already on its way to it. Typing clears it.
  contact.addEventListener('input', () => {
    if (!contactError.hidden) showFieldError(contact, contactError, contactErrorId, '');
  });
  consent.addEventListener('change', () => {
    if (consent.checked) showFieldError(consent, consentError, consentErrorId, '');
  });

  const form = h(
    'form',
    { class: 'form', novalidate: true },
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'contact', text: t('register.contact.label') }),
      h('p', { id: contactHintId, class: 'hint', text: t('register.contact.hint') }),
      contact,
      contactError,
    ),
    h(
      'div',
      { class: 'field field-check' },
      consent,
      h(
        'label',
        { for: 'consent' },
        h('span', { class: 'check-label', text: t('register.consent.label') }),
        h('span', { class: 'hint', text: t('register.consent.detail') }),
      ),
      consentError,
    ),
    formError,
    submit,
  );

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
    showFieldError(contact, contactError, contactErrorId, contactLooksValid(value) ? '' : t('register.contact.looks_wrong'));
    await busy(submit, async () => {
      try {
        state.identity = await api.register(value, true);
        ctx.announce(t('register.done'), { urgent: true });
        ctx.navigate('#/campaigns');
      } catch (e) {
        const box = h(
          'div',
          { class: 'notice notice-error', role: 'alert' },
          h('p', { class: 'notice-title', text: e.message || t('error.unknown') }),
          h('p', { text: errorAdvice(e.code) }),
        );
        formError.replaceChildren(box);
        if (e.code === 'invalid_input' || e.code === 'contact_taken') contact.focus();
      }
    });
  });

  main.append(
    heading(t('register.title')),
    h('p', { class: 'lead', text: t('register.intro') }),
    h(
      'ul',
      { class: 'bullets' },
      h('li', { text: t('register.point.key') }),
      h('li', { text: t('register.point.contact') }),
      h('li', { text: t('register.point.once') }),
    ),
    form,
  );
  return null;
}
