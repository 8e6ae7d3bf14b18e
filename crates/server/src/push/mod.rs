//! Web Push from the server: people's devices register push subscriptions
//! (`routes::push`), and the server tells them the draw's result, that it issued their voucher,
//! and that a returned voucher reached their waitlisted place.
//!
//! Nothing here is on the path of a request or of issuance: notifications are derived from the
//! stored state after the fact into an outbox (`store::push`), and a sender drains it at a
//! paced rate with retries ([`worker`]). A crash loses nothing (the outbox and its cursors are
//! in the database) and a slow or failing push service delays only pushes.

pub mod endpoint;
pub mod payload;
pub mod policy;
pub mod sender;
pub mod webpush;
pub mod worker;

use crate::store::push::Finish;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// Settings of the push sender (flags `--push-*`).
#[derive(Debug, Clone)]
pub struct PushConfig {
    /// Send pushes at all (subscriptions are accepted either way).
    pub enabled: bool,
    /// VAPID `sub`: a `mailto:` or `https:` contact for push services' operators.
    pub contact: String,
    /// Pushes per second at most, over all kinds, from this instance.
    pub rate_per_s: u32,
    /// Pushes that may leave at once after an idle spell.
    pub burst: u32,
    /// Draw results are spread over this long after the draw.
    pub draw_window: Duration,
    /// Allow `http` endpoints and private, loopback and link-local hosts (tests on loopback).
    pub allow_private_endpoints: bool,
    /// One push request's deadline.
    pub timeout: Duration,
    pub retry: policy::RetryPolicy,
    /// Subscriptions one identity may hold.
    pub max_subscriptions: u32,
    /// Push requests open at once.
    pub in_flight: usize,
    /// How often the deriver and an idle sender look for work.
    pub tick: Duration,
}

/// Default VAPID contact: the project's page (set `--push-contact` to the operator's).
pub const DEFAULT_CONTACT: &str = "https://github.com/lineup-app/lineup";

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            enabled: true,
            contact: DEFAULT_CONTACT.into(),
            rate_per_s: 2000,
            burst: 200,
            draw_window: Duration::from_secs(60),
            allow_private_endpoints: false,
            timeout: Duration::from_secs(10),
            retry: policy::RetryPolicy::default(),
            max_subscriptions: 10,
            in_flight: 256,
            tick: Duration::from_millis(250),
        }
    }
}

/// What the request handlers, issuance and the push tasks share.
#[derive(Debug)]
pub struct PushHub {
    pub config: PushConfig,
    pub vapid: Arc<webpush::VapidKey>,
    /// Something happened (a batch of vouchers committed): derive now rather than at the tick.
    pub wake: Notify,
    /// New outbox rows: send now.
    pub outbox: Notify,
    pub stats: PushStats,
    metrics: crate::metrics::Metrics,
}

/// Outcomes recorded by this instance since it started.
#[derive(Debug, Default)]
pub struct PushStats {
    pub delivered: AtomicU64,
    pub gone: AtomicU64,
    pub retried: AtomicU64,
    pub given_up: AtomicU64,
    /// Push requests open now.
    pub in_flight: AtomicU64,
}

impl PushHub {
    pub fn new(config: PushConfig, vapid: webpush::VapidKey, metrics: crate::metrics::Metrics) -> Self {
        PushHub {
            config,
            vapid: Arc::new(vapid),
            wake: Notify::new(),
            outbox: Notify::new(),
            stats: PushStats::default(),
            metrics,
        }
    }

    fn record(&self, batch: &[(i64, i64, Finish)]) {
        for (_, _, f) in batch {
            let (c, outcome) = match f {
                Finish::Delivered => (&self.stats.delivered, "delivered"),
                Finish::Gone => (&self.stats.gone, "gone"),
                Finish::Retry(_) => (&self.stats.retried, "retried"),
                Finish::GiveUp(_) => (&self.stats.given_up, "given_up"),
            };
            c.fetch_add(1, Ordering::Relaxed);
            self.metrics.push_finished(outcome);
        }
    }
}
