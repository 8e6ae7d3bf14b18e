//! Sending one message to one subscription. [`PushSender`] is the seam: [`WebPushSender`] speaks
//! Web Push (RFC 8030 delivery, RFC 8291 encryption, RFC 8292 VAPID) to any push service that
//! does (Mozilla autopush, Google's FCM Web Push endpoint, Apple's web push, UnifiedPush
//! distributors on Android). FCM's HTTP v1 API or APNs directly would be further
//! implementations (see docs/mobile.md, "Push").

use super::endpoint::{Endpoint, PublicOnly};
use super::policy::Urgency;
use super::webpush::{self, VapidKey};
use crate::clock::Clock;
use crate::store::push::SubscriptionRow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// One message, before encryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushMessage {
    /// The JSON payload (encrypted for the subscriber by the sender).
    pub plaintext: Vec<u8>,
    /// Seconds the push service may keep it while the device is away.
    pub ttl: u32,
    pub urgency: Urgency,
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// The push service took the message (2xx).
    Delivered,
    /// The subscription no longer exists (404/410): forget it.
    Gone,
    /// Try again later (429, 5xx, timeout, connection failure), no sooner than the push
    /// service's `Retry-After` when it gave one.
    Retry { after: Option<Duration>, reason: String },
    /// The push service refused the message itself (another 4xx), or it could not be made:
    /// sending it again will not help.
    Failed(String),
}

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = SendOutcome> + Send + 'a>>;

/// Sends one message to one subscription.
pub trait PushSender: Send + Sync {
    fn send<'a>(&'a self, sub: &'a SubscriptionRow, msg: &'a PushMessage) -> SendFuture<'a>;
}

/// Web Push over HTTP with the server's VAPID key.
pub struct WebPushSender {
    client: reqwest::Client,
    vapid: Arc<VapidKey>,
    /// VAPID `sub`: how the push service reaches the operator (`mailto:` or `https:`).
    contact: String,
    allow_private: bool,
    clock: Clock,
}

impl WebPushSender {
    /// A sender whose requests give up after `timeout`. Unless `allow_private`, names resolve to
    /// public addresses only; redirects are never followed and no proxy is used.
    pub fn new(
        vapid: Arc<VapidKey>,
        contact: String,
        timeout: Duration,
        allow_private: bool,
        clock: Clock,
    ) -> Result<Self, reqwest::Error> {
        let mut b = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(32);
        if !allow_private {
            b = b.dns_resolver(PublicOnly);
        }
        Ok(WebPushSender {
            client: b.build()?,
            vapid,
            contact,
            allow_private,
            clock,
        })
    }

    async fn send_one(&self, sub: &SubscriptionRow, msg: &PushMessage) -> SendOutcome {
        let endpoint = match Endpoint::parse(&sub.endpoint, self.allow_private) {
            Ok(e) => e,
            Err(e) => return SendOutcome::Failed(format!("endpoint refused: {e}")),
        };
        let body = match webpush::encrypt(&sub.p256dh, &sub.auth, &msg.plaintext) {
            Ok(b) => b,
            Err(e) => return SendOutcome::Failed(e.to_string()),
        };
        // RFC 8292: at most 24 h ahead; 12 h leaves room for clock skew at the push service.
        let exp = self.clock.now().timestamp() + 12 * 3600;
        let auth = match self.vapid.authorization(&endpoint.origin(), exp, &self.contact) {
            Ok(a) => a,
            Err(e) => return SendOutcome::Failed(e.to_string()),
        };
        let sent = self
            .client
            .post(endpoint.url().clone())
            .header("TTL", msg.ttl.to_string())
            .header("Urgency", msg.urgency.as_str())
            .header("Content-Encoding", "aes128gcm")
            .header("Content-Type", "application/octet-stream")
            .header("Authorization", auth)
            .body(body)
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                return SendOutcome::Retry {
                    after: None,
                    // The endpoint is a capability URL: it stays out of the logs.
                    reason: if e.is_timeout() {
                        "timed out".into()
                    } else {
                        format!("request failed: {}", e.without_url())
                    },
                };
            }
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
        classify(status, retry_after)
    }
}

impl PushSender for WebPushSender {
    fn send<'a>(&'a self, sub: &'a SubscriptionRow, msg: &'a PushMessage) -> SendFuture<'a> {
        Box::pin(self.send_one(sub, msg))
    }
}

/// What a push service's status means for this message.
pub fn classify(status: u16, retry_after: Option<Duration>) -> SendOutcome {
    match status {
        200..=299 => SendOutcome::Delivered,
        404 | 410 => SendOutcome::Gone,
        429 | 500..=599 => SendOutcome::Retry {
            after: retry_after,
            reason: format!("push service answered {status}"),
        },
        _ => SendOutcome::Failed(format!("push service answered {status}")),
    }
}

/// `Retry-After` as delta-seconds or an HTTP date (RFC 9110 section 10.2.3).
pub fn parse_retry_after(v: &str, now: std::time::SystemTime) -> Option<Duration> {
    let v = v.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s.min(86_400)));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(
        at.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(Duration::from_secs(86_400)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_outcomes() {
        assert_eq!(classify(201, None), SendOutcome::Delivered);
        assert_eq!(classify(410, None), SendOutcome::Gone);
        assert_eq!(classify(404, None), SendOutcome::Gone);
        assert!(matches!(
            classify(429, Some(Duration::from_secs(7))),
            SendOutcome::Retry { after: Some(d), .. } if d == Duration::from_secs(7)
        ));
        assert!(matches!(classify(503, None), SendOutcome::Retry { after: None, .. }));
        assert!(matches!(classify(413, None), SendOutcome::Failed(_)));
        assert!(matches!(classify(403, None), SendOutcome::Failed(_)));
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_900_000_000);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(30)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
