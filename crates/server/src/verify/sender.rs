//! How a one-time code reaches a person: e-mail through an SMTP relay (`lettre`), SMS through a
//! provider's HTTP API ([`SmsSender`], with [`HttpSms`] as the shape most providers take), or,
//! for the demo and tests only, the server's own log ([`Outbox`]).

use lineup_protocol::Contact;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

/// Why a code was not handed over.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("the SMTP relay refused the message: {0}")]
    Smtp(String),
    #[error("the SMS provider refused the message: {0}")]
    Sms(String),
    #[error("the message could not be built: {0}")]
    Message(String),
}

/// The text a person receives (both channels).
pub fn message_text(code: &str, ttl: Duration) -> String {
    let minutes = ttl.as_secs().div_ceil(60);
    format!(
        "Lineup code: {code}\nIt expires in {minutes} minutes. If you did not ask for it, ignore this message.\n\
         Lineup 인증 코드: {code} ({minutes}분 안에 입력하세요)"
    )
}

/// Codes the demo sender "sent": printed to the log (marked `DEMO — NOT FOR PRODUCTION`) and
/// kept here, the last [`Outbox::CAPACITY`], for in-process tests (see `AppState::demo_code`).
#[derive(Debug, Default)]
pub struct Outbox {
    sent: Mutex<VecDeque<(Contact, String)>>,
}

impl Outbox {
    pub const CAPACITY: usize = 10_000;

    pub fn deliver(&self, contact: &Contact, code: &str) {
        tracing::warn!(
            target: "lineup::verify::demo",
            %contact,
            %code,
            "DEMO — NOT FOR PRODUCTION: one-time code printed instead of sent (--verify-contacts log)"
        );
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        if sent.len() == Self::CAPACITY {
            sent.pop_front();
        }
        sent.push_back((contact.clone(), code.to_owned()));
    }

    /// The last code sent to `contact`.
    pub fn latest(&self, contact: &Contact) -> Option<String> {
        let sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        sent.iter()
            .rev()
            .find(|(c, _)| c == contact)
            .map(|(_, code)| code.clone())
    }

    /// How many codes were sent in all (up to the capacity).
    pub fn len(&self) -> usize {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An SMTP relay: `smtps://user:pass@host:465` (TLS), `smtp://host:587?tls=required`
/// (STARTTLS) or `smtp://127.0.0.1:2525` (plain, for a relay on the same host).
pub struct Smtp {
    transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
    from: lettre::message::Mailbox,
}

impl Smtp {
    pub fn new(url: &str, from: &str) -> Result<Self, SendError> {
        let transport = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url)
            // The URL may carry a password: name the problem, not the URL.
            .map_err(|e| SendError::Smtp(format!("bad --smtp-url: {e}")))?
            .timeout(Some(Duration::from_secs(5)))
            .build();
        let from = from
            .parse()
            .map_err(|e| SendError::Message(format!("bad --smtp-from: {e}")))?;
        Ok(Smtp { transport, from })
    }

    pub async fn send(&self, to: &Contact, code: &str, ttl: Duration) -> Result<(), SendError> {
        use lettre::AsyncTransport as _;
        let to: lettre::message::Mailbox = to.as_str().parse().map_err(|e| SendError::Message(format!("{e}")))?;
        let msg = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(format!("Lineup code: {code}"))
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(message_text(code, ttl))
            .map_err(|e| SendError::Message(e.to_string()))?;
        self.transport
            .send(msg)
            .await
            .map(|_| ())
            .map_err(|e| SendError::Smtp(e.to_string()))
    }
}

/// A boxed future (the sender is chosen at start-up, so it is a trait object).
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>>;

/// Something that delivers a text message to an E.164 number.
pub trait SmsSender: Send + Sync {
    fn send<'a>(&'a self, to_e164: &'a str, text: &'a str) -> SendFuture<'a>;
}

/// An SMS provider's HTTP API in the shape most take: `POST <url>` with `Authorization: Bearer
/// <key>` and the JSON body `{"to": "+821012345678", "from": "<sender>", "text": "..."}`; any 2xx
/// is accepted. A provider with another shape gets a small adapter implementing [`SmsSender`].
pub struct HttpSms {
    http: reqwest::Client,
    url: String,
    api_key: Option<String>,
    from: String,
}

impl HttpSms {
    pub fn new(url: &str, api_key: Option<String>, from: &str) -> Result<Self, SendError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| SendError::Sms(e.to_string()))?;
        Ok(HttpSms {
            http,
            url: url.to_owned(),
            api_key,
            from: from.to_owned(),
        })
    }
}

impl SmsSender for HttpSms {
    fn send<'a>(&'a self, to_e164: &'a str, text: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            let mut rb = self
                .http
                .post(&self.url)
                .json(&serde_json::json!({"to": to_e164, "from": self.from, "text": text}));
            if let Some(k) = &self.api_key {
                rb = rb.bearer_auth(k);
            }
            let resp = rb
                .send()
                .await
                .map_err(|e| SendError::Sms(e.without_url().to_string()))?;
            if resp.status().is_success() {
                Ok(())
            } else {
                Err(SendError::Sms(format!("HTTP {}", resp.status())))
            }
        })
    }
}
