//! Contact verification: a registration counts only once the person proves the contact with a
//! one-time code sent to it. This module holds the settings (`--verify-contacts`), the senders
//! and the per-address sending budget; the pure rules are in [`policy`], the keyed digests in
//! [`digest`], the rows in `store::contacts`, the endpoints in `routes::identities`.

pub mod digest;
pub mod policy;
pub mod sender;

use governor::clock::Clock as _;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use lineup_protocol::{Contact, ContactKind};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

pub use digest::ContactKey;
pub use policy::SendPolicy;
pub use sender::{HttpSms, Outbox, SendError, SmsSender, Smtp};

/// How registrations are verified (`--verify-contacts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum VerifyMode {
    /// No verification: `POST /v1/identities` registers at once and trusts any contact. For
    /// benchmarks, tests and the demo app only.
    #[default]
    Off,
    /// Codes are printed to the log (marked `DEMO — NOT FOR PRODUCTION`), never sent; refused on
    /// an address other than loopback.
    Log,
    /// E-mail codes through the `--smtp-url` relay (SMS too when `--sms-url` is set).
    Smtp,
    /// SMS codes through the `--sms-url` provider (e-mail too when `--smtp-url` is set).
    Sms,
}

/// The SMTP relay.
#[derive(Clone)]
pub struct SmtpConfig {
    /// lettre relay URL (`smtps://user:pass@host`, `smtp://host:587?tls=required`, ...).
    pub url: String,
    /// The From address (`Lineup <no-reply@example.com>`).
    pub from: String,
}

/// The SMS provider's HTTP endpoint (see [`HttpSms`]).
#[derive(Clone)]
pub struct SmsConfig {
    pub url: String,
    pub api_key: Option<String>,
    /// The sender number or name registered with the provider.
    pub from: String,
}

/// Everything about verification (`ServerConfig::verify`).
#[derive(Clone)]
pub struct VerifyConfig {
    pub mode: VerifyMode,
    /// How long a code is valid.
    pub code_ttl: Duration,
    /// Codes that may be tried against one pending code (then it is void).
    pub max_attempts: u32,
    /// Codes sent to one contact (stored: shared by every instance).
    pub per_contact: SendPolicy,
    /// Codes sent per client address and hour, bursts included (kept by each instance);
    /// `None`: no limit.
    pub per_address_per_hour: Option<NonZeroU32>,
    pub smtp: Option<SmtpConfig>,
    pub sms: Option<SmsConfig>,
}

impl Default for VerifyConfig {
    /// Off; when on: codes valid 10 minutes, 5 tries, 1 code a minute and 5 an hour per contact,
    /// 60 codes an hour per address.
    fn default() -> Self {
        VerifyConfig {
            mode: VerifyMode::Off,
            code_ttl: Duration::from_secs(600),
            max_attempts: 5,
            per_contact: SendPolicy::default(),
            per_address_per_hour: NonZeroU32::new(60),
            smtp: None,
            sms: None,
        }
    }
}

impl VerifyConfig {
    /// The demo sender with the default limits.
    pub fn log() -> Self {
        VerifyConfig {
            mode: VerifyMode::Log,
            ..VerifyConfig::default()
        }
    }
}

// The relay URL and the provider key are secrets: never print them.
impl std::fmt::Debug for VerifyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyConfig")
            .field("mode", &self.mode)
            .field("code_ttl", &self.code_ttl)
            .field("max_attempts", &self.max_attempts)
            .field("per_contact", &self.per_contact)
            .field("per_address_per_hour", &self.per_address_per_hour)
            .field("smtp", &self.smtp.as_ref().map(|_| "<set>"))
            .field("sms", &self.sms.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// Why verification cannot start as configured.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(
        "--verify-contacts log prints codes to the log (DEMO — NOT FOR PRODUCTION) and is refused on {0}: listen on a loopback address or configure --smtp-url / --sms-url"
    )]
    DemoNotLoopback(std::net::SocketAddr),
    #[error("--verify-contacts {0} needs {1}")]
    Missing(&'static str, &'static str),
    #[error(transparent)]
    Sender(#[from] SendError),
}

enum Channel {
    Log(Arc<Outbox>),
    Smtp(Box<Smtp>),
    Sms(Arc<dyn SmsSender>),
}

/// The running verification: settings, senders and the per-address budget.
pub struct Verifier {
    config: VerifyConfig,
    email: Option<Channel>,
    phone: Option<Channel>,
    outbox: Option<Arc<Outbox>>,
    per_address: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// No verification (registration at once).
    pub fn off() -> Self {
        Verifier {
            config: VerifyConfig::default(),
            email: None,
            phone: None,
            outbox: None,
            per_address: None,
        }
    }

    /// Builds the senders `config` names, for a server listening on `addr`.
    pub fn new(config: VerifyConfig, addr: std::net::SocketAddr) -> Result<Self, VerifyError> {
        Self::with_sms(config, addr, None)
    }

    /// [`Verifier::new`] with an SMS sender of the caller's (a provider adapter, or a test's).
    pub fn with_sms(
        config: VerifyConfig,
        addr: std::net::SocketAddr,
        sms: Option<Arc<dyn SmsSender>>,
    ) -> Result<Self, VerifyError> {
        let smtp = || -> Result<Option<Channel>, VerifyError> {
            Ok(match &config.smtp {
                Some(s) => Some(Channel::Smtp(Box::new(Smtp::new(&s.url, &s.from)?))),
                None => None,
            })
        };
        let sms_channel = |sms: Option<Arc<dyn SmsSender>>| -> Result<Option<Channel>, VerifyError> {
            Ok(match (sms, &config.sms) {
                (Some(s), _) => Some(Channel::Sms(s)),
                (None, Some(s)) => Some(Channel::Sms(Arc::new(HttpSms::new(
                    &s.url,
                    s.api_key.clone(),
                    &s.from,
                )?))),
                (None, None) => None,
            })
        };
        let mut outbox = None;
        let (email, phone) = match config.mode {
            VerifyMode::Off => (None, None),
            VerifyMode::Log => {
                if !addr.ip().is_loopback() {
                    return Err(VerifyError::DemoNotLoopback(addr));
                }
                let o = Arc::new(Outbox::default());
                outbox = Some(o.clone());
                (Some(Channel::Log(o.clone())), Some(Channel::Log(o)))
            }
            VerifyMode::Smtp => {
                let email = smtp()?.ok_or(VerifyError::Missing("smtp", "--smtp-url"))?;
                (Some(email), sms_channel(sms)?)
            }
            VerifyMode::Sms => {
                let phone = sms_channel(sms)?.ok_or(VerifyError::Missing("sms", "--sms-url"))?;
                (smtp()?, Some(phone))
            }
        };
        let per_address = config.per_address_per_hour.map(|n| {
            let burst = NonZeroU32::new(n.get().min(20)).unwrap_or(NonZeroU32::MIN);
            RateLimiter::keyed(Quota::per_hour(n).allow_burst(burst))
        });
        Ok(Verifier {
            config,
            email,
            phone,
            outbox,
            per_address,
        })
    }

    /// Whether registrations wait for a code.
    pub fn enabled(&self) -> bool {
        self.config.mode != VerifyMode::Off
    }

    pub fn config(&self) -> &VerifyConfig {
        &self.config
    }

    /// Codes the demo sender printed (the `log` mode's test seam).
    pub fn outbox(&self) -> Option<&Arc<Outbox>> {
        self.outbox.as_ref()
    }

    /// Whether this server can send a code to this kind of contact.
    pub fn reaches(&self, kind: ContactKind) -> bool {
        match kind {
            ContactKind::Email => self.email.is_some(),
            ContactKind::Phone => self.phone.is_some(),
        }
    }

    /// Counts a code sent on behalf of `addr`: `Err(seconds to wait)` over the budget.
    pub fn check_address(&self, addr: Option<IpAddr>) -> Result<(), u64> {
        let (Some(limiter), Some(addr)) = (&self.per_address, addr) else {
            return Ok(());
        };
        if limiter.len() > 100_000 {
            limiter.retain_recent();
        }
        limiter.check_key(&addr).map_err(|not_until| {
            let wait = not_until.wait_time_from(limiter.clock().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }

    /// Sends `code` to `contact` by its channel.
    pub async fn send(&self, contact: &Contact, code: &str) -> Result<(), SendError> {
        let channel = match contact.kind() {
            ContactKind::Email => &self.email,
            ContactKind::Phone => &self.phone,
        };
        let ttl = self.config.code_ttl;
        match channel {
            Some(Channel::Log(o)) => {
                o.deliver(contact, code);
                Ok(())
            }
            Some(Channel::Smtp(s)) => s.send(contact, code, ttl).await,
            Some(Channel::Sms(s)) => s.send(contact.as_str(), &sender::message_text(code, ttl)).await,
            None => Err(SendError::Message("no sender for this kind of contact".into())),
        }
    }
}
