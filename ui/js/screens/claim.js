// One campaign's claim: the "in line" view while waiting, the result view once final.
// Progress events redraw the line view in place (focus stays put); a change to a result
// replaces the view, moves focus to its heading and is announced at once.

import { api } from '../api.js';
import { h } from '../dom.js';
import { t, language } from '../i18n.js';
import { isResult } from '../claims.js';
import { state, subscribe, recordProgress, campaignById, setCampaigns } from '../store.js';
import { heading, errorBox } from '../ui.js';
import * as line from './line.js';
import * as result from './result.js';


export function render(main, params, ctx) {
  const id = params.id;
  let alive = true;
  let view = null;
  let mode = null;

  function campaignTitle() {
    const c = campaignById(id);
    if (!c) return id;
    return language() === 'en' && c.title_en ? c.title_en : c.title;
  }

  function show(tracked, { focus }) {
    const nextMode = isResult(tracked.progress.phase) ? 'result' : 'line';
    if (view && mode === nextMode) {
      view.update(tracked);
      return;
    }
    if (view) view.destroy();
    mode = nextMode;
    const module = mode === 'result' ? result : line;
    view = module.create({ id, tracked, campaign: campaignById(id), title: campaignTitle(), ctx, retry, giveBack });
    main.replaceChildren(view.el);
    ctx.setTitle(view.title);
    if (focus) main.querySelector('h1')?.focus();
  }

  /** Gives the place or the voucher back (idempotent on the backend); the result view follows. */
  async function giveBack() {
    recordProgress(await api.giveBack(id));
  }

  async function retry() {
    try {
      recordProgress(await api.armClaim(id));
    } catch (e) {
      main.append(errorBox(e));
    }
  }

  const unsub = subscribe('claim', ({ campaignId, tracked, prev }) => {
    if (!alive || campaignId !== id) return;
    const changedMode = !prev || isResult(prev.progress.phase) !== isResult(tracked.progress.phase);
    show(tracked, { focus: changedMode });
    if (prev && prev.progress.phase !== tracked.progress.phase) {
      ctx.announce(view.phaseAnnouncement(), { urgent: true });
    } else if (mode === 'line') {
      ctx.announce(view.routineAnnouncement());
    }
  });

  const known = state.claims.get(id);
  if (known) {
    show(known, { focus: false });
  } else {
    ctx.setTitle(t('line.title'));
    main.append(heading(t('line.title')), h('p', { class: 'loading', role: 'status', text: t('shell.loading') }));
    (async () => {
      try {
        if (!state.campaigns) setCampaigns(await api.listCampaigns());
      } catch {
        // The title falls back to the id; the claim itself is what matters here.
      }
      try {
        const p = await api.claimStatus(id);
        if (!alive) return;
        if (p) {
          recordProgress(p);
          return;
        }
        main.replaceChildren(
          heading(t('line.none.title')),
          h('p', { text: t('line.none.body') }),
          h('p', {}, h('a', { class: 'button secondary', href: '#/campaigns', text: t('action.to_campaigns') })),
        );
      } catch (e) {
        if (!alive) return;
        main.replaceChildren(heading(t('line.title')), errorBox(e, { onRetry: () => ctx.rerender() }));
      }
      main.querySelector('h1')?.focus();
    })();
  }

  return () => {
    alive = false;
    unsub();
    if (view) view.destroy();
  };
}
