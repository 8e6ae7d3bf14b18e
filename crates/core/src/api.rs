//! The HTTP client for a Lineup server: reqwest with rustls, timeouts, request signing with
//! the identity key, a server clock offset corrected from `stale_signature` answers, and a typed
//! error for every problem the server sends.

use crate::backoff::parse_retry_after;
use crate::engine::{Reply, Request, TransportError};
use ed25519_dalek::SigningKey;
use lineup_protocol::problem::PROBLEM_CONTENT_TYPE;
use lineup_protocol::{
    API_PREFIX, Campaign, CampaignId, CampaignList, ClaimRequest, Contact, IDEMPOTENCY_KEY_HEADER, KeysResponse,
    OneTimeCode, Problem, ProblemCode, RedeemRequest, Redemption, RegisterRequest, Registration, TicketStatus,
    VerificationSent, VerifyRequest, Voucher, VoucherList,
};
use reqwest::{Method, StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// The server answered with a problem document.
    #[error("{problem}")]
    Problem {
        problem: Box<Problem>,
        retry_after: Option<Duration>,
    },
    /// No usable answer: timeout, refused connection, broken body.
    #[error("{0}")]
    Transport(TransportError),
    /// An answer that is neither the expected body nor a problem (e.g. a proxy's error page).
    #[error("unexpected HTTP {status} from the server: {snippet}")]
    Unexpected { status: u16, snippet: String },
    #[error("the server URL is not valid: {0}")]
    BadUrl(String),
    #[error("this call needs a registered identity")]
    NoIdentity,
    #[error("could not build the HTTP client: {0}")]
    Client(String),
}

impl ApiError {
    /// The problem code, when the server sent one.
    pub fn code(&self) -> Option<ProblemCode> {
        match self {
            ApiError::Problem { problem, .. } => Some(problem.code),
            _ => None,
        }
    }

    /// A machine code for scripts and the app: the problem slug, or `offline` / `internal`.
    pub fn machine_code(&self) -> String {
        match self {
            ApiError::Problem { problem, .. } => problem.code.slug(),
            ApiError::Transport(_) => "offline".into(),
            ApiError::Unexpected { .. } => "unexpected_response".into(),
            ApiError::BadUrl(_) => "invalid_input".into(),
            ApiError::NoIdentity => "not_registered".into(),
            ApiError::Client(_) => "internal".into(),
        }
    }

    /// The engine's view of this failure.
    pub fn into_reply(self) -> Reply {
        match self {
            ApiError::Problem { problem, retry_after } => Reply::Problem {
                problem: *problem,
                retry_after,
            },
            ApiError::Transport(t) => Reply::Transport(t),
            // A 502 from a proxy or a truncated body: the request may or may not have happened,
            // which is exactly a lost response.
            other => Reply::Transport(TransportError::Other(other.to_string())),
        }
    }
}

fn transport(e: &reqwest::Error) -> ApiError {
    let kind = if e.is_timeout() {
        TransportError::Timeout
    } else if e.is_connect() {
        TransportError::Connect
    } else {
        TransportError::Other(e.to_string())
    };
    ApiError::Transport(kind)
}

/// Timeouts of the client.
#[derive(Debug, Clone, Copy)]
pub struct ApiConfig {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// How long an idle keep-alive connection is kept. A Lineup client sends a few requests
    /// seconds to minutes apart; holding each connection open between them only costs the
    /// server a file descriptor per waiting person.
    pub idle_timeout: Duration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(5),
        }
    }
}

/// Makes sure exactly one rustls crypto provider is the process default (reqwest brings
/// aws-lc-rs; another crate bringing ring would otherwise make rustls panic at first use).
pub fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing the race to another thread installing one is fine.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}

/// A client for one server, optionally signing as one identity. Cheap to clone.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    /// What requests are signed for (binds each signature to this server).
    origin: lineup_protocol::auth::Origin,
    key: Option<Arc<SigningKey>>,
    /// Server clock minus local clock, in seconds, learned from `stale_signature`.
    offset_s: Arc<AtomicI64>,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("ApiClient")
            .field("base", &self.base)
            .field("signed", &self.key.is_some())
            .finish()
    }
}

/// A successful answer with the header values the caller may need.
/// What the first registration step got.
#[derive(Debug, Clone, PartialEq)]
pub enum RegisterStep {
    /// Registered (the flag: created now, not a repeat).
    Registered(Registration, bool),
    /// A one-time code went to the contact; registration waits for it.
    CodeSent(VerificationSent),
}

struct Answer<T> {
    body: T,
    status: StatusCode,
}

impl ApiClient {
    /// A client for the server at `base_url` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base_url: &str, config: ApiConfig) -> Result<Self, ApiError> {
        Self::build(base_url, config, None)
    }

    /// The same, connecting from `local` (a load harness gives each simulated person its own
    /// loopback address, as real people have their own, so per-address limits see a crowd).
    pub fn bound_to(base_url: &str, config: ApiConfig, local: std::net::IpAddr) -> Result<Self, ApiError> {
        Self::build(base_url, config, Some(local))
    }

    fn build(base_url: &str, config: ApiConfig, local: Option<std::net::IpAddr>) -> Result<Self, ApiError> {
        let parsed = reqwest::Url::parse(base_url).map_err(|e| ApiError::BadUrl(format!("{base_url}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ApiError::BadUrl(format!("{base_url}: use http or https")));
        }
        let origin = lineup_protocol::auth::Origin::parse(base_url).map_err(|e| ApiError::BadUrl(e.to_string()))?;
        ensure_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .pool_idle_timeout(config.idle_timeout)
            .local_address(local)
            .user_agent(concat!("lineup-core/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::Client(e.to_string()))?;
        Ok(ApiClient {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            origin,
            key: None,
            offset_s: Arc::new(AtomicI64::new(0)),
        })
    }

    /// The same client signing as `key`.
    pub fn with_identity(mut self, key: SigningKey) -> Self {
        self.key = Some(Arc::new(key));
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Server clock minus local clock, seconds.
    pub fn clock_offset_s(&self) -> i64 {
        self.offset_s.load(Ordering::Relaxed)
    }

    fn now_ts(&self) -> i64 {
        let local = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        local + self.clock_offset_s()
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        signed: bool,
        extra: &[(&str, String)],
    ) -> Result<Answer<T>, ApiError> {
        let bytes = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| ApiError::Client(e.to_string()))?,
            None => Vec::new(),
        };
        // One automatic re-sign after a clock correction; the request is otherwise identical,
        // and a stale signature is refused before anything happens on the server.
        let mut corrected = false;
        loop {
            let mut req = self.http.request(method.clone(), format!("{}{}", self.base, path));
            if body.is_some() {
                req = req.header(header::CONTENT_TYPE, "application/json").body(bytes.clone());
            }
            if signed {
                let key = self.key.as_ref().ok_or(ApiError::NoIdentity)?;
                let auth = lineup_protocol::auth::sign_request(
                    key,
                    &self.origin,
                    method.as_str(),
                    path,
                    self.now_ts(),
                    &bytes,
                );
                req = req.header(header::AUTHORIZATION, auth);
            }
            for (k, v) in extra {
                req = req.header(*k, v);
            }
            let resp = req.send().await.map_err(|e| transport(&e))?;
            let status = resp.status();
            let retry_after = resp
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            let is_problem = resp
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with(PROBLEM_CONTENT_TYPE));
            let text = resp.bytes().await.map_err(|e| transport(&e))?;
            if status.is_success() {
                return match serde_json::from_slice::<T>(&text) {
                    Ok(body) => Ok(Answer { body, status }),
                    Err(e) => Err(ApiError::Unexpected {
                        status: status.as_u16(),
                        snippet: format!("undecodable body: {e}"),
                    }),
                };
            }
            let problem = if is_problem {
                serde_json::from_slice::<Problem>(&text).ok()
            } else {
                None
            };
            let Some(problem) = problem else {
                return Err(ApiError::Unexpected {
                    status: status.as_u16(),
                    snippet: String::from_utf8_lossy(&text).chars().take(120).collect(),
                });
            };
            if problem.code == ProblemCode::StaleSignature
                && !corrected
                && let Some(server) = problem.server_time
            {
                let local = self.now_ts() - self.clock_offset_s();
                self.offset_s.store(server.timestamp() - local, Ordering::Relaxed);
                tracing::info!(offset_s = server.timestamp() - local, "corrected clock offset");
                corrected = true;
                continue;
            }
            return Err(ApiError::Problem {
                problem: Box::new(problem),
                retry_after,
            });
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, signed: bool) -> Result<T, ApiError> {
        Ok(self.call::<(), T>(Method::GET, path, None, signed, &[]).await?.body)
    }

    /// `GET /v1/keys`
    pub async fn keys(&self) -> Result<KeysResponse, ApiError> {
        self.get(&format!("{API_PREFIX}/keys"), false).await
    }

    /// `GET /v1/campaigns`
    pub async fn campaigns(&self) -> Result<CampaignList, ApiError> {
        self.get(&format!("{API_PREFIX}/campaigns"), false).await
    }

    /// `GET /v1/campaigns/{id}`
    pub async fn campaign(&self, id: &CampaignId) -> Result<Campaign, ApiError> {
        self.get(&format!("{API_PREFIX}/campaigns/{id}"), false).await
    }

    /// `GET /v1/campaigns/{id}/draw`: the seed commitment, and after the draw its reveal.
    pub async fn draw(&self, id: &CampaignId) -> Result<lineup_protocol::draw::DrawInfo, ApiError> {
        self.get(&format!("{API_PREFIX}/campaigns/{id}/draw"), false).await
    }

    /// `GET /v1/campaigns/{id}/draw/tickets?from=..&limit=..`: ticket ids in join order.
    pub async fn draw_page(
        &self,
        id: &CampaignId,
        from: u64,
        limit: u64,
    ) -> Result<lineup_protocol::draw::DrawPage, ApiError> {
        self.get(
            &format!("{API_PREFIX}/campaigns/{id}/draw/tickets?from={from}&limit={limit}"),
            false,
        )
        .await
    }

    /// `GET /v1/campaigns/{id}/draw/proof/{ticket_id}`: one ticket's Merkle proof.
    pub async fn draw_proof(
        &self,
        id: &CampaignId,
        ticket_id: &str,
    ) -> Result<lineup_protocol::draw::DrawProof, ApiError> {
        self.get(&format!("{API_PREFIX}/campaigns/{id}/draw/proof/{ticket_id}"), false)
            .await
    }

    /// `POST /v1/identities`, for either kind of server: registered at once (201/200: the flag
    /// says whether it was created now), or a one-time code was sent to the contact (202): finish
    /// with [`ApiClient::verify_code`].
    pub async fn register_start(&self, contact: Contact, consent: bool) -> Result<RegisterStep, ApiError> {
        let body = RegisterRequest { contact, consent };
        let a = self
            .call::<_, serde_json::Value>(
                Method::POST,
                &format!("{API_PREFIX}/identities"),
                Some(&body),
                true,
                &[],
            )
            .await?;
        let undecodable = |e: serde_json::Error| ApiError::Unexpected {
            status: a.status.as_u16(),
            snippet: format!("undecodable body: {e}"),
        };
        if a.status == StatusCode::ACCEPTED {
            let sent: VerificationSent = serde_json::from_value(a.body.clone()).map_err(undecodable)?;
            return Ok(RegisterStep::CodeSent(sent));
        }
        let reg: Registration = serde_json::from_value(a.body.clone()).map_err(undecodable)?;
        Ok(RegisterStep::Registered(reg, a.status == StatusCode::CREATED))
    }

    /// `POST /v1/identities/verify`: the one-time code the contact received; the flag says
    /// whether the identity was created now (a repeat answers the registration made).
    /// `move_here` ("I changed phones") takes the contact over from the key that holds it:
    /// that key is revoked and its places and vouchers move here (`Registration::moved`).
    /// Without it such a contact is `contact_taken`, and the same code may be sent again with
    /// `move_here`.
    pub async fn verify_code(&self, code: OneTimeCode, move_here: bool) -> Result<(Registration, bool), ApiError> {
        let body = VerifyRequest { code, move_here };
        let a = self
            .call::<_, Registration>(
                Method::POST,
                &format!("{API_PREFIX}/identities/verify"),
                Some(&body),
                true,
                &[],
            )
            .await?;
        Ok((a.body, a.status == StatusCode::CREATED))
    }

    /// `POST /v1/identities` on a server that registers at once (no code); the flag says whether
    /// the identity was created now. A server that sends a code makes this an error: use
    /// [`ApiClient::register_start`].
    pub async fn register(&self, contact: Contact, consent: bool) -> Result<(Registration, bool), ApiError> {
        match self.register_start(contact, consent).await? {
            RegisterStep::Registered(reg, created) => Ok((reg, created)),
            // Not a new error variant: the app matches every variant, and its UI cannot take a
            // code yet (issue 13); it shows this as an unexpected answer, with the reason.
            RegisterStep::CodeSent(_) => Err(ApiError::Unexpected {
                status: 202,
                snippet: "this server verifies contacts: a one-time code was sent to the contact, and this client cannot take it yet (the CLI can: lineup register --code)".into(),
            }),
        }
    }

    /// `POST /v1/campaigns/{id}/tickets`
    pub async fn take_slot(&self, id: &CampaignId) -> Result<TicketStatus, ApiError> {
        let path = format!("{API_PREFIX}/campaigns/{id}/tickets");
        Ok(self
            .call::<_, TicketStatus>(Method::POST, &path, Some(&serde_json::json!({})), true, &[])
            .await?
            .body)
    }

    /// `POST /v1/campaigns/{id}/tickets` opting in to server-side issuance with the key the
    /// client made and stored before the first attempt (protocol 1.1).
    pub async fn take_slot_auto(&self, id: &CampaignId, idempotency_key: &str) -> Result<TicketStatus, ApiError> {
        let path = format!("{API_PREFIX}/campaigns/{id}/tickets");
        let body = lineup_protocol::TakeTicketRequest { auto_issue: true };
        let extra = [(IDEMPOTENCY_KEY_HEADER, idempotency_key.to_owned())];
        Ok(self
            .call::<_, TicketStatus>(Method::POST, &path, Some(&body), true, &extra)
            .await?
            .body)
    }

    /// `POST /v1/campaigns/{id}/tickets/me/return`: gives the place or the voucher back.
    pub async fn give_back(&self, id: &CampaignId) -> Result<TicketStatus, ApiError> {
        let path = format!("{API_PREFIX}/campaigns/{id}/tickets/me/return");
        Ok(self
            .call::<_, TicketStatus>(Method::POST, &path, Some(&serde_json::json!({})), true, &[])
            .await?
            .body)
    }

    /// `GET /v1/campaigns/{id}/tickets/me`
    pub async fn ticket(&self, id: &CampaignId) -> Result<TicketStatus, ApiError> {
        self.get(&format!("{API_PREFIX}/campaigns/{id}/tickets/me"), true).await
    }

    /// `POST /v1/campaigns/{id}/claim` with an `Idempotency-Key`.
    pub async fn claim(&self, id: &CampaignId, idempotency_key: &str, ticket_id: &str) -> Result<Voucher, ApiError> {
        let body = ClaimRequest {
            ticket_id: ticket_id.to_owned(),
        };
        let path = format!("{API_PREFIX}/campaigns/{id}/claim");
        let extra = [(IDEMPOTENCY_KEY_HEADER, idempotency_key.to_owned())];
        Ok(self
            .call::<_, Voucher>(Method::POST, &path, Some(&body), true, &extra)
            .await?
            .body)
    }

    /// `GET /v1/vouchers`
    pub async fn vouchers(&self) -> Result<VoucherList, ApiError> {
        self.get(&format!("{API_PREFIX}/vouchers"), true).await
    }

    /// `GET /v1/push/vapid`: the key to subscribe with (`applicationServerKey`).
    pub async fn push_vapid_key(&self) -> Result<lineup_protocol::push::VapidKey, ApiError> {
        self.get(&format!("{API_PREFIX}/push/vapid"), false).await
    }

    /// `POST /v1/push/subscriptions`: registers (or updates, by endpoint) this device's push
    /// subscription for the identity. Returns the stored subscription and whether it is new.
    pub async fn push_subscribe(
        &self,
        req: &lineup_protocol::push::PushSubscriptionRequest,
    ) -> Result<(lineup_protocol::push::PushSubscription, bool), ApiError> {
        let a = self
            .call::<_, lineup_protocol::push::PushSubscription>(
                Method::POST,
                &format!("{API_PREFIX}/push/subscriptions"),
                Some(req),
                true,
                &[],
            )
            .await?;
        Ok((a.body, a.status == StatusCode::CREATED))
    }

    /// `POST /v1/push/subscriptions/remove`: forgets this device's endpoint; whether it was
    /// registered to the identity.
    pub async fn push_unsubscribe(&self, endpoint: &str) -> Result<bool, ApiError> {
        let body = lineup_protocol::push::PushUnsubscribeRequest {
            endpoint: endpoint.to_owned(),
        };
        let a = self
            .call::<_, lineup_protocol::push::PushUnsubscribed>(
                Method::POST,
                &format!("{API_PREFIX}/push/subscriptions/remove"),
                Some(&body),
                true,
                &[],
            )
            .await?;
        Ok(a.body.removed)
    }

    /// `POST /v1/redemptions` with a staff bearer token (box office).
    pub async fn redeem(&self, staff_token: &str, req: &RedeemRequest) -> Result<Redemption, ApiError> {
        let extra = [(header::AUTHORIZATION.as_str(), format!("Bearer {staff_token}"))];
        Ok(self
            .call::<_, Redemption>(
                Method::POST,
                &format!("{API_PREFIX}/redemptions"),
                Some(req),
                false,
                &extra,
            )
            .await?
            .body)
    }

    /// `POST /v1/redemptions` with a staff bearer token and an `Idempotency-Key` made for this
    /// scan: a retry with the same key after a lost response gets the same 200 (protocol 1.2).
    pub async fn redeem_with_key(
        &self,
        staff_token: &str,
        req: &RedeemRequest,
        idempotency_key: &str,
    ) -> Result<Redemption, ApiError> {
        let extra = [
            (header::AUTHORIZATION.as_str(), format!("Bearer {staff_token}")),
            (IDEMPOTENCY_KEY_HEADER, idempotency_key.to_owned()),
        ];
        Ok(self
            .call::<_, Redemption>(
                Method::POST,
                &format!("{API_PREFIX}/redemptions"),
                Some(req),
                false,
                &extra,
            )
            .await?
            .body)
    }

    /// Performs an engine request for `campaign` and turns the answer into a [`Reply`].
    pub async fn execute(&self, campaign: &CampaignId, req: &Request) -> Reply {
        let r = match req {
            Request::TakeSlot => self.take_slot(campaign).await.map(Reply::Ticket),
            Request::TakeSlotAuto { idempotency_key } => {
                self.take_slot_auto(campaign, idempotency_key).await.map(Reply::Ticket)
            }
            Request::CheckTicket => self.ticket(campaign).await.map(Reply::Ticket),
            Request::Claim {
                idempotency_key,
                ticket_id,
            } => self
                .claim(campaign, idempotency_key, ticket_id)
                .await
                .map(Reply::Voucher),
            Request::ListVouchers => self.vouchers().await.map(Reply::Vouchers),
        };
        r.unwrap_or_else(ApiError::into_reply)
    }
}
