//! Test harness: a real server on port 0 (in-process `spawn`), people with Ed25519 identities
//! that sign their requests with the server's (movable) clock, and small request helpers.
//!
//! The backend is a parameter: [`backends`] gives SQLite always and PostgreSQL when
//! `LINEUP_TEST_DATABASE_URL` is set (and fails without it unless `LINEUP_SKIP_POSTGRES=1`).

use ed25519_dalek::SigningKey;
use lineup_protocol::auth::{identity_of, sign_request};
use lineup_protocol::{IdentityKey, Problem, ProblemCode};
use lineup_server::{DbLocation, DemoOptions, Running, ServerConfig};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::Duration;

/// Which database a test server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The backends to run every server test against. Without `LINEUP_TEST_DATABASE_URL` this
/// fails (see [`crate::postgres::admin_url`]) unless `LINEUP_SKIP_POSTGRES=1` asks to skip.
pub fn backends() -> Vec<Backend> {
    let mut v = vec![Backend::Sqlite];
    if crate::postgres::admin_url().is_some() {
        v.push(Backend::Postgres);
    }
    v
}

/// A running test server and what is needed to restart it on the same state.
pub struct TestApp {
    pub running: Option<Running>,
    pub config: ServerConfig,
    pub http: reqwest::Client,
    pub url: String,
    pub staff: String,
    _dir: tempfile::TempDir,
    pg: Option<crate::postgres::PgDb>,
}

/// Demo options for tests: opens 60 s after start, draw 30 s before.
pub fn demo(vouchers: u64, rate: u32, window_s: u64) -> DemoOptions {
    DemoOptions {
        vouchers,
        open_in: Duration::from_secs(60),
        draw_lead: None,
        admission_rate_per_s: rate,
        admission_window: Duration::from_secs(window_s),
        closes_after: Duration::from_secs(3600),
    }
}

pub async fn spawn_app(backend: Backend, demo: DemoOptions) -> TestApp {
    spawn_app_with(backend, demo, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, demo: DemoOptions, tweak: impl FnOnce(&mut ServerConfig)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(dir.path());
    config.demo = Some(demo);
    config.max_concurrency = 4096;
    // Every test person connects from 127.0.0.1: one address's budget would be the whole crowd's.
    // Identities keep the default limit (a calm client never meets it).
    config.rate_limits.per_address = None;
    let pg = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => {
            let db = crate::postgres::PgDb::fresh().await.expect("LINEUP_TEST_DATABASE_URL");
            config.db = db.location();
            Some(db)
        }
    };
    if let DbLocation::Sqlite(_) = config.db {
        config.db = DbLocation::Sqlite(dir.path().join("lineup.db"));
    }
    tweak(&mut config);
    let running = lineup_server::spawn(config.clone()).await.unwrap();
    let url = running.url.clone();
    let staff = running.demo_staff_token.clone().unwrap();
    TestApp {
        running: Some(running),
        config,
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .pool_idle_timeout(Duration::from_secs(5))
            .build()
            .unwrap(),
        url,
        staff,
        _dir: dir,
        pg,
    }
}

impl TestApp {
    pub fn running(&self) -> &Running {
        self.running.as_ref().unwrap()
    }

    pub fn advance(&self, secs: u64) {
        self.config.clock.advance(Duration::from_secs(secs));
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.config.clock.now()
    }

    /// Stops the server and starts it again on the same data directory and database.
    pub async fn restart(&mut self) {
        self.running.take().unwrap().shutdown().await;
        let mut config = self.config.clone();
        // The port may have been taken meanwhile; the URL may change.
        config.addr = "127.0.0.1:0".parse().unwrap();
        let running = lineup_server::spawn(config).await.unwrap();
        self.url = running.url.clone();
        assert_eq!(running.demo_staff_token.as_deref(), Some(self.staff.as_str()));
        self.running = Some(running);
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
        if let Some(pg) = self.pg.take() {
            pg.drop().await;
        }
    }

    /// The origin requests to this server are signed for.
    pub fn origin(&self) -> lineup_protocol::auth::Origin {
        self.url.parse().expect("the test server's URL is an origin")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(format!("{}{path}", self.url)).send().await.unwrap()
    }

    /// A request signed by `who` at the server's time.
    pub async fn signed(
        &self,
        who: &Person,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let bytes = body.map(|b| serde_json::to_vec(b).unwrap()).unwrap_or_default();
        let ts = self.now().timestamp();
        self.signed_raw(who, method, path, bytes, ts, headers).await
    }

    pub async fn signed_raw(
        &self,
        who: &Person,
        method: Method,
        path: &str,
        bytes: Vec<u8>,
        ts: i64,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let auth = sign_request(&who.key, &self.origin(), method.as_str(), path, ts, &bytes);
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.url))
            .header("Authorization", auth);
        if !bytes.is_empty() {
            rb = rb.header("Content-Type", "application/json");
        }
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        rb.body(bytes).send().await.unwrap()
    }

    pub async fn register(&self, who: &Person) -> StatusCode {
        let body = serde_json::json!({"contact": who.contact, "consent": true});
        self.signed(who, Method::POST, "/v1/identities", Some(&body), &[])
            .await
            .status()
    }

    /// `POST /v1/identities` for `contact` (on a verifying server: asks for a code).
    pub async fn ask_code(&self, who: &Person, contact: &str) -> reqwest::Response {
        let body = serde_json::json!({"contact": contact, "consent": true});
        self.signed(who, Method::POST, "/v1/identities", Some(&body), &[]).await
    }

    /// `POST /v1/identities/verify` with `code` (and `move_here`).
    pub async fn send_code(&self, who: &Person, code: &str, move_here: bool) -> reqwest::Response {
        let body = serde_json::json!({"code": code, "move_here": move_here});
        self.signed(who, Method::POST, "/v1/identities/verify", Some(&body), &[])
            .await
    }

    pub async fn take(&self, who: &Person) -> (StatusCode, Value) {
        let r = self
            .signed(who, Method::POST, "/v1/campaigns/demo/tickets", None, &[])
            .await;
        (r.status(), r.json().await.unwrap())
    }

    pub async fn status(&self, who: &Person) -> Value {
        let r = self
            .signed(who, Method::GET, "/v1/campaigns/demo/tickets/me", None, &[])
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    /// Claims like a client: the same key again after a 503 or a 409 `request_in_flight`,
    /// no sooner than `Retry-After`.
    pub async fn claim(&self, who: &Person, ticket_id: &str, key: &str) -> (StatusCode, Value) {
        let body = serde_json::json!({"ticket_id": ticket_id});
        for _ in 0..30 {
            let r = self
                .signed(
                    who,
                    Method::POST,
                    "/v1/campaigns/demo/claim",
                    Some(&body),
                    &[("Idempotency-Key", key)],
                )
                .await;
            let status = r.status();
            let retry = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            let v: Value = r.json().await.unwrap();
            let again = status == StatusCode::SERVICE_UNAVAILABLE
                || (status == StatusCode::CONFLICT && problem_code(&v) == ProblemCode::RequestInFlight);
            if !again {
                return (status, v);
            }
            tokio::time::sleep(Duration::from_secs(retry.unwrap_or(1))).await;
        }
        panic!("the claim kept being refused with 503 / request_in_flight");
    }

    pub async fn redeem(&self, staff: &str, body: &Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}/v1/redemptions", self.url))
            .bearer_auth(staff)
            .json(body)
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap())
    }
}

/// A person with a device key and a contact.
pub struct Person {
    pub key: SigningKey,
    pub id: IdentityKey,
    pub contact: String,
}

impl Person {
    pub fn new(n: u32) -> Self {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&n.to_be_bytes());
        b[31] = 0xa7;
        let key = SigningKey::from_bytes(&b);
        Person {
            id: identity_of(&key),
            key,
            contact: format!("person{n}@example.com"),
        }
    }
}

/// Asserts a problem+json response with `code` and returns it.
pub async fn expect_problem(r: reqwest::Response, code: ProblemCode) -> Problem {
    let status = r.status();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = r.text().await.unwrap();
    assert_eq!(ct, "application/problem+json", "{status} {text}");
    let p: Problem = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(p.code, code, "{status} {text}");
    assert_eq!(status.as_u16(), code.status(), "{text}");
    p
}

pub fn problem_code(v: &Value) -> ProblemCode {
    serde_json::from_value(v["code"].clone()).unwrap_or(ProblemCode::Unknown)
}
