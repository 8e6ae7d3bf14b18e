// The app's shared state (settings, identity, campaigns, claims, wallet) and a tiny
// publish/subscribe so screens redraw when a backend event changes something.

import { track } from './claims.js';

export const state = {
  settings: { server_url: '', language: 'ko', notifications: false, hide_code_on_lock_screen: true },
  identity: null,
  campaigns: null,
  campaignsError: null,
  /** Server clock minus device clock (ms), learnt from each campaign list's `server_time`. */
  serverOffsetMs: 0,
  /** campaign_id -> tracked progress (see claims.js `track`). */
  claims: new Map(),
  wallet: null,
  walletError: null,
  /** Campaigns whose place moved here from another device: their first progress is no news. */
  movedPlaces: new Set(),
};

const listeners = new Map();

export function subscribe(topic, fn) {
  if (!listeners.has(topic)) listeners.set(topic, new Set());
  listeners.get(topic).add(fn);
  return () => listeners.get(topic).delete(fn);
}

export function publish(topic, detail) {
  for (const fn of [...(listeners.get(topic) || [])]) fn(detail);
}

/** Records a claim-progress payload and tells subscribers; ignores malformed payloads. */
export function recordProgress(progress) {
  if (!progress || typeof progress.campaign_id !== 'string' || typeof progress.phase !== 'string') return null;
  const prev = state.claims.get(progress.campaign_id) || null;
  const tracked = track(prev, progress, performance.now());
  state.claims.set(progress.campaign_id, tracked);
  publish('claim', { campaignId: progress.campaign_id, tracked, prev });
  return tracked;
}

export function setCampaigns(list) {
  state.campaigns = Array.isArray(list) ? list : [];
  state.campaignsError = null;
  const withTime = state.campaigns.find((c) => c && c.server_time);
  if (withTime) {
    const server = Date.parse(withTime.server_time);
    if (!Number.isNaN(server)) state.serverOffsetMs = server - Date.now();
  }
  publish('campaigns');
}

export function setWallet(entries) {
  state.wallet = Array.isArray(entries) ? entries : [];
  publish('wallet');
}

export function campaignById(id) {
  return (state.campaigns || []).find((c) => c.id === id) || null;
}

/** "Now" on the server's clock, for countdowns to absolute campaign instants. */
export function serverNow() {
  return Date.now() + state.serverOffsetMs;
}
