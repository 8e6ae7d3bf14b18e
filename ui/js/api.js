// The only module that touches `window.__TAURI__`: every command and event of
// docs/app-ipc.md, with rejections turned into `IpcError { code, message }`.

export class IpcError extends Error {
  constructor(code, message, extra = {}) {
    super(message || code);
    this.name = 'IpcError';
    this.code = code;
    // wrong_code: tries left; rate_limited: seconds to wait.
    if (typeof extra.attempts_left === 'number') this.attemptsLeft = extra.attempts_left;
    if (typeof extra.retry_after_s === 'number') this.retryAfterS = extra.retry_after_s;
  }
}

function tauri() {
  const t = window.__TAURI__;
  if (!t || !t.core || typeof t.core.invoke !== 'function') {
    throw new IpcError('no_backend', 'The Lineup app backend is not available.');
  }
  return t;
}

/** Commands reject with `{code, message}`; a bare string or Error is treated as internal. */
export function toIpcError(e) {
  if (e instanceof IpcError) return e;
  if (e && typeof e === 'object' && typeof e.code === 'string') {
    return new IpcError(e.code, typeof e.message === 'string' ? e.message : '', e);
  }
  if (typeof e === 'string') return new IpcError('internal', e);
  return new IpcError('internal', e && e.message ? String(e.message) : 'Unknown error');
}

async function call(command, args) {
  try {
    return await tauri().core.invoke(command, args);
  } catch (e) {
    throw toIpcError(e);
  }
}

export const api = {
  getSettings: () => call('get_settings'),
  setSettings: (settings) => call('set_settings', { settings }),
  identityStatus: () => call('identity_status'),
  /** Resolves to `{step: "registered", ...}` or `{step: "code_sent", ...}` (docs/app-ipc.md). */
  register: (contact, consent) => call('register', { contact, consent }),
  verifyCode: (code, moveHere) => call('verify_code', { code, move_here: moveHere }),
  listCampaigns: () => call('list_campaigns'),
  armClaim: (campaignId) => call('arm_claim', { campaign_id: campaignId }),
  claimStatus: (campaignId) => call('claim_status', { campaign_id: campaignId }),
  giveBack: (campaignId) => call('give_back', { campaign_id: campaignId }),
  wallet: () => call('wallet'),
  refreshWallet: () => call('refresh_wallet'),
  notificationPermission: () => call('notification_permission'),
  requestNotificationPermission: () => call('request_notification_permission'),
};

/** Subscribes to an event; resolves to an unlisten function (a no-op without a backend). */
export async function listen(name, callback) {
  const t = window.__TAURI__;
  if (!t || !t.event || typeof t.event.listen !== 'function') return () => {};
  return t.event.listen(name, (event) => callback(event ? event.payload : undefined));
}

export const onClaimProgress = (cb) => listen('claim-progress', cb);
export const onWalletChanged = (cb) => listen('wallet-changed', cb);
