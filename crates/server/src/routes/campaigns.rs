//! `GET /v1/campaigns` and `GET /v1/campaigns/{id}`: public and cacheable. The ETag covers
//! everything but `server_time`, so it changes only when the campaign's numbers or phase do.

use super::tickets::campaign_id;
use crate::extract::CampaignPath;
use crate::problem::ApiError;
use crate::schedule::campaign_phase;
use crate::state::AppState;
use crate::store::{CampaignCounters, CampaignRow};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use lineup_protocol::{Campaign, CampaignList};
use sha2::Digest;

const CACHE_CONTROL: &str = "public, max-age=1";

pub fn campaign_body(c: &CampaignRow, k: &CampaignCounters, now: DateTime<Utc>) -> Campaign {
    let s = &c.spec;
    Campaign {
        id: s.id.clone(),
        title: s.title.clone(),
        title_en: s.title_en.clone(),
        issuer: s.issuer.clone(),
        brands: s.brands.clone(),
        amount: s.amount,
        currency: s.currency_str(),
        supply: s.supply,
        remaining: s.supply.saturating_sub(k.issued),
        entrants: k.tickets,
        issued: k.issued,
        phase: campaign_phase(s, k, now),
        prequeue_opens_at: s.prequeue_opens_at,
        draw_at: s.draw_at,
        opens_at: s.opens_at,
        closes_at: s.closes_at,
        voucher_expires_at: s.voucher_expires_at,
        admission_rate_per_s: s.admission_rate_per_s,
        admission_window_s: s.admission_window_s,
        server_time: now,
    }
}

/// A strong ETag over the body without its `server_time`.
fn etag<T: serde::Serialize>(body: &T) -> String {
    let mut v = serde_json::to_value(body).unwrap_or_default();
    strip_server_time(&mut v);
    let digest = sha2::Sha256::digest(v.to_string().as_bytes());
    format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest[..12]))
}

fn strip_server_time(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.remove("server_time");
            m.values_mut().for_each(strip_server_time);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip_server_time),
        _ => {}
    }
}

fn cached<T: serde::Serialize>(headers: &HeaderMap, body: T) -> Response {
    let tag = etag(&body);
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|inm| inm.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    let mut resp = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Json(body).into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE_CONTROL));
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    resp
}

#[utoipa::path(get, path = "/v1/campaigns", tag = "campaigns", operation_id = "list_campaigns",
    responses((status = 200, description = "every campaign", body = CampaignList)))]
pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let now = state.now();
    let mut campaigns = Vec::new();
    for c in state.campaigns().await? {
        let k = state.settle(&c, now).await?;
        campaigns.push(campaign_body(&c, &k, now));
    }
    Ok(cached(
        &headers,
        CampaignList {
            campaigns,
            server_time: now,
        },
    ))
}

#[utoipa::path(get, path = "/v1/campaigns/{id}", tag = "campaigns", operation_id = "get_campaign",
    params(("id" = String, Path, description = "campaign id")),
    responses(
        (status = 200, description = "the campaign (ETag; If-None-Match gives 304)", body = Campaign),
        (status = 304, description = "not modified"),
        (status = 404, description = "unknown campaign", body = lineup_protocol::Problem),
    ))]
pub async fn get(
    State(state): State<AppState>,
    CampaignPath(id): CampaignPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = campaign_id(&id)?;
    let c = state.campaign(&id).await?;
    let now = state.now();
    let k = state.settle(&c, now).await?;
    Ok(cached(&headers, campaign_body(&c, &k, now)))
}
