//! A fault-injecting HTTP proxy in front of the real server: it can answer a storm of 503s
//! itself, forward a claim and then break the response (the server issued the voucher, the
//! client never hears), and follow the server to a new address after a restart.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct Faults {
    /// The next this many `/v1` requests get 503 `overloaded` with `Retry-After: 1`.
    pub storm: AtomicU32,
    /// The next this many claims are forwarded, then their responses are broken off.
    pub drop_claims: AtomicU32,
    pub claims_forwarded: AtomicU32,
    pub requests: AtomicU32,
    /// The next this many redemptions are forwarded, then their responses are broken off.
    pub drop_redemptions: AtomicU32,
    /// Lie about the draw's join order: 1 swaps the first two ticket ids of every page of
    /// `.../draw/tickets`, 2 leaves out the last ticket id of the list.
    pub tamper_draw: AtomicU32,
}

pub struct Proxy {
    pub url: String,
    pub faults: Arc<Faults>,
    target: Arc<Mutex<String>>,
}

impl Proxy {
    pub fn retarget(&self, url: &str) {
        *self.target.lock().unwrap() = url.to_owned();
    }
}

#[derive(Clone)]
struct Ctx {
    faults: Arc<Faults>,
    target: Arc<Mutex<String>>,
    http: reqwest::Client,
}

pub async fn start(target: &str) -> Proxy {
    let faults = Arc::new(Faults::default());
    let target = Arc::new(Mutex::new(target.to_owned()));
    let ctx = Ctx {
        faults: faults.clone(),
        target: target.clone(),
        http: reqwest::Client::new(),
    };
    let app = axum::Router::new().fallback(forward).with_state(ctx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Proxy { url, faults, target }
}

fn take(counter: &AtomicU32) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

async fn forward(State(ctx): State<Ctx>, req: Request) -> Response {
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    ctx.faults.requests.fetch_add(1, Ordering::SeqCst);
    if path.starts_with("/v1/") && take(&ctx.faults.storm) {
        let body = r#"{"type":"https://lineup.dev/problems/overloaded","title":"busy","status":503,"detail":"storm","code":"overloaded","retry_after_s":1}"#;
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [
                (header::CONTENT_TYPE, "application/problem+json"),
                (header::RETRY_AFTER, "1"),
            ],
            body,
        )
            .into_response();
    }
    let is_claim = path.ends_with("/claim");
    let target = ctx.target.lock().unwrap().clone();
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let mut out = ctx.http.request(parts.method.clone(), format!("{target}{path}"));
    // Host too, as a reverse proxy in front of the server keeps it: clients sign requests for
    // the origin they reach (the proxy's), and the server checks signatures against its Host.
    for name in [header::AUTHORIZATION, header::CONTENT_TYPE, header::HOST] {
        if let Some(v) = parts.headers.get(&name) {
            out = out.header(name, v);
        }
    }
    if let Some(v) = parts.headers.get("idempotency-key") {
        out = out.header("idempotency-key", v);
    }
    let resp = match out.body(bytes).send().await {
        Ok(r) => r,
        // The server is down (restarting): what a load balancer would say.
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("upstream: {e}")).into_response(),
    };
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.unwrap_or_default();
    let dropped = if is_claim {
        ctx.faults.claims_forwarded.fetch_add(1, Ordering::SeqCst);
        take(&ctx.faults.drop_claims)
    } else {
        path.starts_with("/v1/redemptions") && take(&ctx.faults.drop_redemptions)
    };
    {
        if dropped {
            // The server has done the claim; the client gets headers and then a broken body.
            let broken = futures_util::stream::once(async {
                Err::<Bytes, std::io::Error>(std::io::Error::other("connection reset by the fault proxy"))
            });
            return Response::builder()
                .status(status)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from_stream(broken))
                .unwrap();
        }
    }
    let body = match ctx.faults.tamper_draw.load(Ordering::SeqCst) {
        mode @ (1 | 2) if path.contains("/draw/tickets") => {
            let mut page: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let (from, n) = (page["from"].as_u64().unwrap_or(1), page["n"].as_u64().unwrap_or(0));
            if let Some(ids) = page["tickets"].as_array_mut() {
                if mode == 1 && ids.len() >= 2 {
                    ids.swap(0, 1);
                } else if mode == 2 && from + ids.len() as u64 > n {
                    ids.pop();
                }
            }
            Bytes::from(serde_json::to_vec(&page).unwrap_or_default())
        }
        _ => body,
    };
    let mut r = Response::builder().status(status);
    for name in [header::CONTENT_TYPE, header::RETRY_AFTER] {
        if let Some(v) = headers.get(&name) {
            r = r.header(name, v.clone());
        }
    }
    r.header(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
        .body(Body::from(body))
        .unwrap()
}
