// A scripted fake of the Tauri IPC surface in docs/app-ipc.md, injected into the page with
// page.addInitScript(installMock, scenario). It answers every command from the scenario,
// checks argument shapes as the real backend would (violations are recorded and reject),
// and plays each campaign's `timeline` of claim-progress events after arm_claim.
// Runs inside the browser: it must not reference anything outside its own body.

export function installMock(scenario) {
  const s = JSON.parse(JSON.stringify(scenario));
  s.claims = s.claims || {};
  // What the app kept in localStorage on an earlier run (e.g. when the wallet was last checked).
  for (const [key, value] of Object.entries(s.local_storage || {})) localStorage.setItem(key, value);
  const calls = [];
  const violations = [];
  const listeners = new Map();
  let eventId = 0;
  const FINAL = ['holding', 'sold_out', 'expired', 'closed', 'failed', 'returned'];
  const clone = (v) => (v === undefined ? null : JSON.parse(JSON.stringify(v)));
  const problem = (code, message) => ({ code, message });

  function violation(text) {
    violations.push(text);
    return problem('invalid_input', `mock contract violation: ${text}`);
  }
  function needString(args, key) {
    if (!args || typeof args[key] !== 'string') throw violation(`${key} must be a string`);
    return args[key];
  }
  function emit(name, payload) {
    for (const cb of [...(listeners.get(name) || [])]) {
      cb({ event: name, id: ++eventId, payload: clone(payload) });
    }
  }
  function progress(campaignId, fields) {
    return {
      campaign_id: campaignId,
      phase: 'armed',
      position: null,
      ahead: null,
      waitlist: null,
      supply: null,
      admit_at: null,
      eta_ms: null,
      next_check_at: null,
      next_check_in_ms: null,
      attempts: 0,
      in_draw: false,
      auto_issue: false,
      entrants: null,
      voucher: null,
      error: null,
      ...fields,
    };
  }
  function playTimeline(campaignId) {
    const steps = (s.timelines && s.timelines[campaignId]) || [];
    for (const step of steps) {
      setTimeout(() => {
        const p = progress(campaignId, step.progress);
        s.claims[campaignId] = p;
        emit('claim-progress', p);
        if (step.wallet) {
          s.wallet = step.wallet;
          emit('wallet-changed', s.wallet);
        }
      }, step.after_ms);
    }
  }
  function offline() {
    return problem('offline', s.settings.language === 'en' ? 'No internet connection.' : '인터넷에 연결되어 있지 않습니다.');
  }

  const handlers = {
    get_settings: () => s.settings,
    set_settings: (args) => {
      const v = args && args.settings;
      const ok =
        v &&
        typeof v.server_url === 'string' &&
        (v.language === 'ko' || v.language === 'en') &&
        typeof v.notifications === 'boolean' &&
        typeof v.hide_code_on_lock_screen === 'boolean' &&
        Object.keys(v).length === 4;
      if (!ok) throw violation('settings must be {server_url, language, notifications, hide_code_on_lock_screen}');
      s.settings = v;
      return s.settings;
    },
    identity_status: () => s.identity,
    register: (args) => {
      const contact = needString(args, 'contact');
      if (typeof args.consent !== 'boolean') throw violation('consent must be a boolean');
      if (Object.keys(args).length !== 2) throw violation('register takes {contact, consent}');
      if (s.register_error) throw s.register_error;
      if (!args.consent) throw problem('consent_required', 'Registration needs the person\'s consent');
      const digits = contact.replace(/\D/g, '');
      const hint = contact.includes('@') ? contact.replace(/^(.).*(@.*)$/, '$1***$2') : `+82 10-****-${digits.slice(-4)}`;
      const identity = {
        registered: true,
        contact_hint: hint,
        server_url: s.settings.server_url,
        identity: 'p7Kx3vQm9TzL2cW8nB4sY6dF1gH5jR0aE3uI7oP2qXk',
      };
      if (s.verify) {
        // A server that verifies contacts: a code goes out; verify_code finishes.
        const v = s.verify;
        v.sends = (v.sends || 0) + 1;
        if (v.resend_error && v.sends > 1) throw v.resend_error;
        v.pending = { contact, identity, attempts_left: v.attempts ?? 5 };
        return { step: 'code_sent', expires_in_s: v.expires_in_s ?? 600, code_length: 6, attempts: v.attempts ?? 5, contact_hint: hint };
      }
      s.identity = identity;
      return { step: 'registered', identity: s.identity, moved: null, places: [] };
    },
    verify_code: (args) => {
      const code = needString(args, 'code');
      if (typeof args.move_here !== 'boolean') throw violation('move_here must be a boolean');
      if (Object.keys(args).length !== 2) throw violation('verify_code takes {code, move_here}');
      if (!/^\d{6}$/.test(code)) throw violation(`the UI sends six digits, not ${JSON.stringify(code)}`);
      const v = s.verify;
      if (!v || !v.pending || v.expired) throw problem('no_pending_code', 'No code is pending for this key.');
      if (code !== v.code) {
        v.pending.attempts_left = Math.max(0, v.pending.attempts_left - 1);
        const left = v.pending.attempts_left;
        if (left === 0) v.pending = null;
        throw { code: 'wrong_code', message: `Wrong code; ${left} more may be tried.`, attempts_left: left };
      }
      if (v.taken && !args.move_here) throw problem('contact_taken', 'This contact is registered to another identity.');
      s.identity = v.pending.identity;
      v.pending = null;
      const moved = v.taken && args.move_here ? v.moved : null;
      // The backend follows each moved place with a claim, whose progress it emits.
      for (const id of moved ? v.places || [] : []) {
        const fields = (v.place_progress || {})[id];
        if (!fields) continue;
        const p = progress(id, fields);
        s.claims[id] = p;
        setTimeout(() => emit('claim-progress', p), v.place_delay_ms || 0);
      }
      return { step: 'registered', identity: s.identity, moved, places: moved ? v.places || [] : [] };
    },
    list_campaigns: () => {
      if (s.offline) throw offline();
      return s.campaigns;
    },
    arm_claim: (args) => {
      const id = needString(args, 'campaign_id');
      if (!(s.campaigns || []).some((c) => c.id === id)) throw problem('unknown_campaign', 'No such campaign');
      const existing = s.claims[id];
      if (existing && !FINAL.includes(existing.phase)) return existing;
      const first = (s.arm_result && s.arm_result[id]) || { phase: 'armed' };
      s.claims[id] = progress(id, first);
      playTimeline(id);
      return s.claims[id];
    },
    claim_status: (args) => s.claims[needString(args, 'campaign_id')] || null,
    give_back: (args) => {
      const id = needString(args, 'campaign_id');
      const existing = s.claims[id];
      if (!existing) throw problem('no_ticket', 'No claim for this campaign');
      s.give_back_calls = (s.give_back_calls || 0) + 1;
      // Idempotent: a claim already given back (or otherwise over) is answered as it is.
      if (FINAL.includes(existing.phase) && existing.phase !== 'holding') return existing;
      const voucher = existing.voucher ? { ...existing.voucher, status: 'returned' } : null;
      const p = progress(id, { ...existing, phase: 'returned', voucher, next_check_at: null, next_check_in_ms: null, eta_ms: null });
      s.claims[id] = p;
      if (voucher) {
        s.wallet = (s.wallet || []).map((e) =>
          e.voucher.campaign_id === id && e.voucher.serial === voucher.serial ? { ...e, status: 'returned', voucher } : e,
        );
        setTimeout(() => emit('wallet-changed', s.wallet), 0);
      }
      setTimeout(() => emit('claim-progress', p), 0);
      return p;
    },
    wallet: () => s.wallet || [],
    refresh_wallet: () => {
      if (s.offline) throw offline();
      return s.wallet || [];
    },
    notification_permission: () => s.permission || 'prompt',
    request_notification_permission: () => {
      s.permission = s.permission_answer || 'granted';
      return s.permission;
    },
  };

  window.__TAURI__ = {
    core: {
      invoke(cmd, args) {
        calls.push({ cmd, args: args === undefined ? null : clone(args) });
        const handler = handlers[cmd];
        if (!handler) return Promise.reject(violation(`unknown command ${cmd}`));
        return new Promise((resolve, reject) => {
          setTimeout(() => {
            try {
              if (s.fail && s.fail[cmd]) throw s.fail[cmd];
              resolve(clone(handler(args)));
            } catch (e) {
              reject(e);
            }
          }, s.latency_ms || 0);
        });
      },
    },
    event: {
      listen(name, cb) {
        if (name !== 'claim-progress' && name !== 'wallet-changed') violation(`unknown event ${name}`);
        if (!listeners.has(name)) listeners.set(name, new Set());
        listeners.get(name).add(cb);
        return Promise.resolve(() => listeners.get(name).delete(cb));
      },
    },
  };
  window.__mock = {
    calls,
    violations,
    state: s,
    emit,
    /** Emits a claim-progress built from partial fields (the rest default like the backend's). */
    progress(campaignId, fields) {
      const p = progress(campaignId, fields);
      s.claims[campaignId] = p;
      emit('claim-progress', p);
    },
    listenerCount: (name) => (listeners.get(name) || new Set()).size,
  };
}
