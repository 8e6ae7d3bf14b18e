// The second registration step on a server that verifies contacts: the one-time code (a
// numeric field the phone can fill from the message), until when it works and how many tries
// it has, a new code on request, a wrong code with the tries left, an expired one with the way
// out. When the code proves a contact another device holds, the person is told that first and
// offered to move here, with what that does; "Changed phones?" asks for the move from the start.

import { api } from '../api.js';
import { h } from '../dom.js';
import { t, language } from '../i18n.js';
import { formatClock, formatDuration } from '../format.js';
import { heading, busy, errorBox } from '../ui.js';

/** Digits of a typed code, spaces and dashes dropped; null unless exactly `length` digits. */
export function parseCode(value, length = 6) {
  const digits = String(value).replace(/[\s-]/g, '');
  return new RegExp(`^\\d{${length}}$`).test(digits) ? digits : null;
}

/**
 * Shows the code step in `main`. `sent` is register's `code_sent` answer; `contact` what the
 * person typed (a new code goes to it); `moveHere` asks for the move with the code;
 * `onRegistered(step)` gets the `registered` answer; `onBack()` returns to the contact.
 */
export function renderCodeStep(main, ctx, { sent, contact, moveHere, onRegistered, onBack }) {
  let current = sent;
  const length = current.code_length || 6;
  const codeErrorId = 'code-error';
  const validity = h('p', { class: 'hint', 'data-testid': 'code-validity' });
  const sentText = h('p', { class: 'lead', 'data-testid': 'code-sent' });
  const input = h('input', {
    id: 'code',
    name: 'code',
    type: 'text',
    inputmode: 'numeric',
    autocomplete: 'one-time-code',
    pattern: '[0-9]*',
    maxlength: String(length + 2),
    required: true,
    spellcheck: 'false',
    'aria-describedby': 'code-hint',
    class: 'code-input',
  });
  const codeError = h('p', { id: codeErrorId, class: 'field-error', hidden: true });
  const formError = h('div', { class: 'form-error' });
  const submit = h('button', { type: 'submit', class: 'button primary', text: t('code.submit') });
  const resend = h('button', { type: 'button', class: 'button secondary', 'data-testid': 'code-resend', text: t('code.resend') });
  const back = h('button', { type: 'button', class: 'button secondary', text: t('code.back') });
  const taken = h('div');

  function describe() {
    const until = new Date(Date.now() + current.expires_in_s * 1000).toISOString();
    sentText.textContent = t('code.sent', { contact: current.contact_hint || contact, length });
    validity.textContent = t('code.validity', { time: formatClock(language(), until), n: current.attempts });
  }
  describe();

  function showCodeError(text) {
    codeError.textContent = text;
    codeError.hidden = !text;
    input.setAttribute('aria-describedby', text ? `code-hint ${codeErrorId}` : 'code-hint');
    if (text) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }
  input.addEventListener('input', () => {
    if (!codeError.hidden) showCodeError('');
  });

  /** A notice in the form's error slot; role=alert since it answers what the person just did. */
  function alertBox(text, { error } = {}) {
    return h('div', { class: 'notice notice-error', role: 'alert' }, h('p', { class: 'notice-title', text }), error ? h('p', { text: error.message }) : null);
  }

  async function verify(code, move) {
    try {
      onRegistered(await api.verifyCode(code, move));
    } catch (e) {
      failed(e, code);
    }
  }

  function failed(e, code) {
    switch (e.code) {
      case 'wrong_code': {
        const left = typeof e.attemptsLeft === 'number' ? e.attemptsLeft : null;
        showCodeError(left === 0 ? t('code.wrong.last') : left === null ? t('error.advice.wrong_code') : t('code.wrong', { n: left, count: left }));
        input.select();
        input.focus();
        return;
      }
      case 'no_pending_code':
        formError.replaceChildren(alertBox(t('code.expired')));
        resend.focus();
        return;
      case 'contact_taken':
        showTaken(code);
        return;
      default:
        formError.replaceChildren(errorBox(e));
    }
  }

  /** The code proved a contact another device holds: say so first, then offer the move. */
  function showTaken(code) {
    const move = h('button', { type: 'button', class: 'button primary', 'data-testid': 'move-here', text: t('move.confirm') });
    const cancel = h('button', { type: 'button', class: 'button secondary', text: t('action.cancel') });
    const error = h('div');
    // The statement is the page's heading now: what happened comes first.
    const title = heading(t('move.taken.title'), 'taken-title');
    taken.replaceChildren(
      h(
        'div',
        { 'data-testid': 'contact-taken' },
        title,
        h(
          'section',
          { class: 'notice notice-info taken', 'aria-labelledby': 'taken-title' },
          h('p', { text: t('move.taken.body') }),
          whatMoves('h2'),
          error,
          h('div', { class: 'actions' }, move, cancel),
        ),
      ),
    );
    main.replaceChildren(taken);
    ctx.setTitle(t('move.taken.title'));
    move.addEventListener('click', () =>
      busy(move, async () => {
        error.replaceChildren();
        try {
          onRegistered(await api.verifyCode(code, true));
        } catch (e) {
          error.replaceChildren(errorBox(e));
        }
      }),
    );
    cancel.addEventListener('click', onBack);
    title.focus();
    ctx.announce(t('move.taken.title'), { urgent: true });
  }

  const form = h(
    'form',
    { class: 'form', novalidate: true },
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'code', text: t('code.label') }),
      h('p', { id: 'code-hint', class: 'hint', text: t('code.hint', { length }) }),
      input,
      codeError,
    ),
    validity,
    formError,
    submit,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    formError.replaceChildren();
    const code = parseCode(input.value, length);
    if (!code) {
      showCodeError(t('code.required', { length }));
      input.focus();
      return;
    }
    await busy(submit, () => verify(code, moveHere));
  });

  resend.addEventListener('click', () =>
    busy(resend, async () => {
      formError.replaceChildren();
      showCodeError('');
      try {
        const step = await api.register(contact, true);
        if (step.step === 'registered') {
          onRegistered(step);
          return;
        }
        current = step;
        describe();
        input.value = '';
        formError.replaceChildren(h('p', { class: 'notice notice-ok', role: 'status', text: t('code.resent') }));
        input.focus();
      } catch (e) {
        if (e.code === 'rate_limited' && typeof e.retryAfterS === 'number') {
          formError.replaceChildren(alertBox(t('code.wait', { duration: formatDuration(language(), e.retryAfterS * 1000) })));
        } else {
          formError.replaceChildren(errorBox(e));
        }
      }
    }),
  );
  back.addEventListener('click', onBack);

  const others = h('div', { class: 'actions code-actions' }, resend, back);
  main.replaceChildren(heading(t('code.title')), sentText, form, others, taken);
  ctx.setTitle(t('code.title'));
  input.focus();
}

/** What moving here does, as a short list (shown before the move is asked for). */
export function whatMoves(level = 'h3') {
  return h(
    'div',
    { class: 'what-moves' },
    h(level, { text: t('move.what.title') }),
    h('ul', { class: 'bullets' }, h('li', { text: t('move.what.other') }), h('li', { text: t('move.what.places') }), h('li', { text: t('move.what.codes') })),
  );
}

/** The sentence saying what moved here, from `MovedHere` counts. */
export function movedSentence(moved) {
  const tickets = moved.tickets || 0;
  const vouchers = moved.vouchers || 0;
  const places = t('register.moved.places', { n: tickets, count: tickets });
  const vs = t('register.moved.vouchers', { n: vouchers, count: vouchers });
  if (tickets && vouchers) return t('register.moved.both', { places, vouchers: vs });
  if (tickets) return t('register.moved.places_only', { places });
  if (vouchers) return t('register.moved.vouchers_only', { vouchers: vs });
  return t('register.moved.none');
}
