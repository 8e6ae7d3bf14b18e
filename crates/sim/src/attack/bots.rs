//! Attackers that speak HTTP at a fixed rate from one loopback address: one registered identity
//! hammering its status and claims, one address sending unsigned junk, registered identities
//! claiming tickets they do not have, and a registration flood of fresh keys and contacts.
//! Requests are signed with `lineup_protocol::auth` like a real client's (a bot reuses the
//! protocol), through a `reqwest` client bound to the attacker's source address.

use super::tally::{Tally, label};
use ed25519_dalek::SigningKey;
use lineup_protocol::auth::Origin;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use reqwest::Method;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, watch};

/// What a bot sends.
#[derive(Clone)]
pub enum BotKind {
    /// One registered identity alternating `GET .../tickets/me` and claims with a fresh
    /// `Idempotency-Key` each; at the instant given it takes a ticket, and claims that ticket
    /// from then on. Taken after the draw, the ticket joins the back of the line: the calm
    /// people's places (and so their figures) stay the baseline's.
    HammerIdentity(Box<SigningKey>, chrono::DateTime<chrono::Utc>),
    /// Unsigned or badly signed requests and public reads from one address.
    HammerAddress,
    /// Registered identities without a ticket claiming made-up ticket ids, fresh keys each.
    JunkClaims(Vec<SigningKey>),
    /// `POST /v1/identities` with a fresh key and contact each time.
    RegistrationFlood,
}

impl BotKind {
    pub fn name(&self) -> &'static str {
        match self {
            BotKind::HammerIdentity(..) => "hammer-identity",
            BotKind::HammerAddress => "hammer-address",
            BotKind::JunkClaims(_) => "junk-claims",
            BotKind::RegistrationFlood => "registration-flood",
        }
    }
}

/// One bot.
#[derive(Clone)]
pub struct Bot {
    pub kind: BotKind,
    pub rps: u32,
    pub source: IpAddr,
    /// Requests in flight at most; a tick finding none free is counted as skipped.
    pub in_flight: usize,
    pub seed: u64,
}

/// One request of a bot.
struct Shot {
    method: Method,
    path: String,
    body: Vec<u8>,
    sign_as: Option<SigningKey>,
    headers: Vec<(&'static str, String)>,
}

const CAMPAIGN: &str = "/v1/campaigns/sim";

fn hex(rng: &mut Pcg64) -> String {
    format!("{:016x}", rng.next_u64())
}

fn shot(kind: &BotKind, i: u64, ticket: Option<&str>, rng: &mut Pcg64) -> Shot {
    let json = |v: serde_json::Value| v.to_string().into_bytes();
    let plain = |method, path: String, body: Vec<u8>, headers| Shot {
        method,
        path,
        body,
        sign_as: None,
        headers,
    };
    match kind {
        BotKind::HammerIdentity(key, _) => {
            let key = key.as_ref();
            if i.is_multiple_of(2) {
                Shot {
                    sign_as: Some(key.clone()),
                    ..plain(Method::GET, format!("{CAMPAIGN}/tickets/me"), Vec::new(), Vec::new())
                }
            } else {
                let ticket = ticket.map_or_else(|| format!("t{}", hex(rng)), str::to_owned);
                Shot {
                    sign_as: Some(key.clone()),
                    ..plain(
                        Method::POST,
                        format!("{CAMPAIGN}/claim"),
                        json(serde_json::json!({ "ticket_id": ticket })),
                        vec![("Idempotency-Key", hex(rng))],
                    )
                }
            }
        }
        BotKind::HammerAddress => match i % 4 {
            0 => plain(
                Method::POST,
                format!("{CAMPAIGN}/claim"),
                b"{\"ticket_id\":".to_vec(),
                vec![("Content-Type", "application/json".into())],
            ),
            1 => plain(
                Method::GET,
                format!("{CAMPAIGN}/tickets/me"),
                Vec::new(),
                vec![(
                    "Authorization",
                    format!("Lineup key={}, ts=0, sig={}", hex(rng), hex(rng)),
                )],
            ),
            2 => plain(
                Method::POST,
                "/v1/identities".into(),
                b"not json".to_vec(),
                vec![("Content-Type", "application/json".into())],
            ),
            _ => plain(Method::GET, CAMPAIGN.into(), Vec::new(), Vec::new()),
        },
        BotKind::JunkClaims(keys) => {
            let key = keys[(i as usize) % keys.len().max(1)].clone();
            Shot {
                sign_as: Some(key),
                ..plain(
                    Method::POST,
                    format!("{CAMPAIGN}/claim"),
                    json(serde_json::json!({ "ticket_id": format!("t{}", hex(rng)) })),
                    vec![("Idempotency-Key", hex(rng))],
                )
            }
        }
        BotKind::RegistrationFlood => {
            let mut seed = [0u8; 32];
            rng.fill_bytes(&mut seed);
            let contact = format!("+8219{:08}", rng.next_u32() % 100_000_000);
            Shot {
                sign_as: Some(SigningKey::from_bytes(&seed)),
                ..plain(
                    Method::POST,
                    "/v1/identities".into(),
                    json(serde_json::json!({ "contact": contact, "consent": true })),
                    Vec::new(),
                )
            }
        }
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

async fn send(http: &reqwest::Client, base: &str, origin: &Origin, s: Shot, tally: &Tally) -> Option<Vec<u8>> {
    let mut req = http.request(s.method.clone(), format!("{base}{}", s.path));
    if !s.body.is_empty() && !s.headers.iter().any(|(k, _)| *k == "Content-Type") {
        req = req.header("Content-Type", "application/json");
    }
    if let Some(key) = &s.sign_as {
        let auth = lineup_protocol::auth::sign_request(key, origin, s.method.as_str(), &s.path, unix_now(), &s.body);
        req = req.header("Authorization", auth);
    }
    for (k, v) in s.headers {
        req = req.header(k, v);
    }
    if !s.body.is_empty() {
        req = req.body(s.body);
    }
    tally.sent();
    match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
            tally.outcome(label(status, &body));
            (status < 300).then_some(body)
        }
        Err(e) => {
            let what = if e.is_timeout() {
                "timeout"
            } else if e.is_connect() {
                "connect failed"
            } else {
                "transport error"
            };
            tally.outcome(what);
            None
        }
    }
}

/// Runs `bot` against `base` until `stop`.
pub fn spawn(
    tasks: &mut tokio::task::JoinSet<()>,
    bot: Bot,
    base: String,
    stop: &watch::Receiver<bool>,
    tally: &Arc<Tally>,
) -> Result<(), super::AttackError> {
    lineup_core::api::ensure_crypto_provider();
    let http = reqwest::Client::builder()
        .local_address(bot.source)
        .timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| super::AttackError::Setup(format!("attacker HTTP client: {e}")))?;
    let origin = Arc::new(Origin::parse(&base).map_err(|e| super::AttackError::Invalid(e.to_string()))?);
    let (mut stop, tally) = (stop.clone(), tally.clone());
    tasks.spawn(async move {
        let mut rng = Pcg64::seed_from_u64(bot.seed);
        // A hammering identity takes a real ticket at its instant, as a bot that joined would.
        let mut join_at = match &bot.kind {
            BotKind::HammerIdentity(key, at) => Some((key.as_ref().clone(), *at)),
            _ => None,
        };
        let mut ticket: Option<String> = None;
        let slots = Arc::new(Semaphore::new(bot.in_flight.max(1)));
        let every = Duration::from_secs_f64(1.0 / f64::from(bot.rps.max(1)));
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut i = 0u64;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => break,
            }
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                tally.skipped();
                continue;
            };
            if let Some((key, at)) = &join_at
                && chrono::Utc::now() >= *at
            {
                let s = Shot {
                    method: Method::POST,
                    path: format!("{CAMPAIGN}/tickets"),
                    body: b"{}".to_vec(),
                    sign_as: Some(key.clone()),
                    headers: Vec::new(),
                };
                ticket = send(&http, &base, &origin, s, &tally)
                    .await
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                    .and_then(|v| v.get("ticket_id")?.as_str().map(str::to_owned));
                // Refused (rate limits answer the bot too): try again at the next tick.
                if ticket.is_some() {
                    join_at = None;
                }
            }
            let s = shot(&bot.kind, i, ticket.as_deref(), &mut rng);
            i += 1;
            let (http, base, origin, tally) = (http.clone(), base.clone(), origin.clone(), tally.clone());
            tokio::spawn(async move {
                send(&http, &base, &origin, s, &tally).await;
                drop(permit);
            });
        }
        // Let what is in flight end (each request has a 10 s timeout).
        let _ = tokio::time::timeout(
            Duration::from_secs(11),
            slots.acquire_many(u32::try_from(bot.in_flight.max(1)).unwrap_or(u32::MAX)),
        )
        .await;
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shots_are_what_each_bot_claims_to_send() {
        let mut rng = Pcg64::seed_from_u64(7);
        let key = SigningKey::from_bytes(&[3; 32]);
        let hammer = BotKind::HammerIdentity(Box::new(key.clone()), chrono::Utc::now());
        let status = shot(&hammer, 0, Some("tk"), &mut rng);
        assert_eq!(
            (status.method, status.path.as_str()),
            (Method::GET, "/v1/campaigns/sim/tickets/me")
        );
        let a = shot(&hammer, 1, Some("tk"), &mut rng);
        let b = shot(&hammer, 3, Some("tk"), &mut rng);
        assert_eq!(a.path, "/v1/campaigns/sim/claim");
        assert!(String::from_utf8_lossy(&a.body).contains("\"tk\""));
        assert_ne!(a.headers, b.headers, "a fresh Idempotency-Key per claim");
        let unsigned = (0..4).map(|i| shot(&BotKind::HammerAddress, i, None, &mut rng));
        assert!(unsigned.into_iter().all(|s| s.sign_as.is_none()));
        let flood = shot(&BotKind::RegistrationFlood, 0, None, &mut rng);
        let again = shot(&BotKind::RegistrationFlood, 1, None, &mut rng);
        let pk = |s: &Shot| s.sign_as.as_ref().unwrap().verifying_key();
        assert_ne!(pk(&flood), pk(&again), "a fresh key per registration");
        let body: serde_json::Value = serde_json::from_slice(&flood.body).unwrap();
        let contact = body["contact"].as_str().unwrap();
        assert!(contact.starts_with("+8219") && contact.len() == 13, "{contact}");
        let junk = shot(&BotKind::JunkClaims(vec![key]), 5, None, &mut rng);
        assert!(junk.sign_as.is_some() && junk.path.ends_with("/claim"));
    }
}
