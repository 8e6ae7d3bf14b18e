// Help: how the draw and issuing work, closing the app, not winning, where to use a voucher,
// a dropped connection, and giving a place or a voucher back. Open without registering.

import { h } from '../dom.js';
import { t } from '../i18n.js';
import { heading } from '../ui.js';

const TOPICS = ['how', 'auto', 'lose', 'use', 'offline', 'give_back'];

export function render(main, _params, ctx) {
  ctx.setTitle(t('help.title'));
  main.append(
    heading(t('help.title')),
    h(
      'div',
      { class: 'help-list' },
      TOPICS.map((topic) =>
        h(
          'section',
          { class: 'card help-topic', 'aria-labelledby': `help-${topic}` },
          h('h2', { id: `help-${topic}`, text: t(`help.${topic}.title`) }),
          h('p', { text: t(`help.${topic}.body`) }),
        ),
      ),
    ),
  );
  return null;
}
