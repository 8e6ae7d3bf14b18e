//! `POST /v1/redemptions`: the box office. The bearer must be some campaign's staff token
//! before the body is read (compared in constant time with every campaign's); a scanned token
//! is then verified offline; the staff token of the voucher's campaign is checked; the first
//! redemption wins one atomic conditional update. Wrong staff tokens are counted per address
//! (and per address and campaign) and throttled ([`crate::staff_guard`]); a redemption sent
//! with an `Idempotency-Key` is replayed (the same 200) when retried with that key.

use crate::extract::RawRequest;
use crate::issuer::{staff_token_matches, staff_token_matches_any};
use crate::problem::ApiError;
use crate::staff_guard::{Key, Peer};
use crate::state::AppState;
use crate::store::RedeemTarget;
use crate::store::redemption::{self, Redeemed};
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use lineup_protocol::voucher::{self, VoucherError};
use lineup_protocol::{IDEMPOTENCY_KEY_HEADER, ProblemCode, RedeemRequest, Redemption};

/// 429 while `key` is blocked for wrong staff tokens.
fn throttled(state: &AppState, key: &Key, now: DateTime<Utc>) -> Result<(), ApiError> {
    state.staff_guard().check(key, now).map_err(|secs| {
        ApiError::new(
            ProblemCode::RateLimited,
            format!("Too many wrong staff tokens from this address: try again in {secs} s."),
        )
        .retry_after(secs)
    })
}

/// Counts a refused staff token (logged with the address and campaign, never the token).
fn refused(state: &AppState, key: &Key, now: DateTime<Utc>, detail: &'static str) -> ApiError {
    let failures = state.staff_guard().failed(key, now);
    tracing::warn!(peer = %key.0, campaign = ?key.1.as_ref().map(|c| c.as_str()), failures, "staff token refused");
    ApiError::new(ProblemCode::StaffUnauthorized, detail)
}

#[utoipa::path(post, path = "/v1/redemptions", tag = "box office",
    request_body = RedeemRequest,
    security(("staff_bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "1-64 printable ASCII characters made per scan: a retry with it gets the same 200")),
    responses(
        (status = 200, description = "redeemed now, or by this Idempotency-Key before (the same body)", body = Redemption),
        (status = 400, description = "malformed body, or not exactly one of token and code", body = lineup_protocol::Problem),
        (status = 401, description = "staff token missing or no campaign's (checked before the body), or not the voucher's campaign's", body = lineup_protocol::Problem),
        (status = 404, description = "no voucher with this code", body = lineup_protocol::Problem),
        (status = 409, description = "already redeemed (first_redeemed_at)", body = lineup_protocol::Problem),
        (status = 410, description = "voucher expired (voucher_expired), given back (returned), or an old copy of a voucher that moved to its holder's new device (voucher_moved)", body = lineup_protocol::Problem),
        (status = 422, description = "forged or altered token", body = lineup_protocol::Problem),
    ))]
pub async fn redeem(State(state): State<AppState>, peer: Peer, req: RawRequest) -> Result<Response, ApiError> {
    let staff = req
        .bearer()
        .ok_or_else(|| {
            ApiError::new(
                ProblemCode::StaffUnauthorized,
                "Send Authorization: Bearer <staff token>.",
            )
        })?
        .to_owned();
    // The bearer is checked before the body is looked at: a token that is no campaign's staff
    // token learns nothing about which codes or tokens name a voucher (401 either way).
    let now = state.now();
    let by_address: Key = (peer, None);
    throttled(&state, &by_address, now)?;
    let campaigns = state.campaigns().await?;
    if !staff_token_matches_any(&staff, campaigns.iter().map(|c| &c.staff_token_hash)) {
        return Err(refused(
            &state,
            &by_address,
            now,
            "This staff token is not valid for any campaign.",
        ));
    }
    let idempotency_key = match req.header_bytes(IDEMPOTENCY_KEY_HEADER) {
        None => None,
        raw => Some(super::claim::IdempotencyKey::parse(raw)?.into_inner()),
    };
    let body: RedeemRequest = req.json()?;
    let (target, presented) = match (&body.token, &body.code) {
        (Some(token), None) => {
            let t = voucher::verify(token, state.issuer().public_keys(), None).map_err(|e| match e {
                VoucherError::Expired(_) => ApiError::new(ProblemCode::VoucherExpired, e.to_string()),
                _ => ApiError::new(ProblemCode::InvalidVoucher, e.to_string()),
            })?;
            let code = t.code();
            (
                RedeemTarget::Serial {
                    campaign_id: t.claims.campaign,
                    serial: t.claims.serial,
                },
                code,
            )
        }
        (None, Some(code)) => (RedeemTarget::Code(code.clone()), code.clone()),
        _ => {
            return Err(ApiError::new(
                ProblemCode::InvalidInput,
                "Give exactly one of token (scanned) or code (typed).",
            ));
        }
    };
    let v = match state.store().find_voucher(&target).await? {
        // A token signed before its voucher moved to the holder's new device names the
        // voucher by serial, but its code is the old one.
        Some(v) if v.code == presented => v,
        found => {
            if let Some(campaign) = state.store().voucher_moved(&presented).await? {
                // Said only to the voucher's own campaign's staff, as for a voucher found.
                campaign_staff(&state, peer, &campaign, &staff, now).await?;
                return Err(moved());
            }
            return Err(match found {
                None => ApiError::new(ProblemCode::NotFound, "No voucher has this code."),
                Some(_) => ApiError::new(
                    ProblemCode::InvalidVoucher,
                    "This token does not match the voucher issued under its serial.",
                ),
            });
        }
    };
    let c = campaign_staff(&state, peer, &v.campaign_id, &staff, now).await?;
    if now > v.expires_at {
        return Err(ApiError::new(
            ProblemCode::VoucherExpired,
            format!("The voucher expired at {}.", v.expires_at.to_rfc3339()),
        ));
    }
    let key = idempotency_key.map(|k| redemption::key_digest(&c.staff_token_hash, &k));
    match redemption::redeem(state.store(), &v, key.as_ref(), now).await? {
        Redeemed::Now(v) | Redeemed::Replayed(v) => {
            state.invalidate(&v.campaign_id);
            state.forget_ticket(&v.campaign_id, &v.identity);
            tracing::info!(campaign = %v.campaign_id, serial = v.serial, "voucher redeemed");
            Ok(super::private(
                Json(Redemption {
                    campaign_id: v.campaign_id,
                    serial: v.serial,
                    code: v.code,
                    amount: v.amount,
                    currency: v.currency,
                    redeemed_at: v.redeemed_at.unwrap_or(now),
                })
                .into_response(),
            ))
        }
        Redeemed::AlreadyRedeemed { first_redeemed_at } => Err(ApiError::new(
            ProblemCode::AlreadyRedeemed,
            format!("This voucher was first redeemed at {}.", first_redeemed_at.to_rfc3339()),
        )
        .first_redeemed_at(first_redeemed_at)),
        Redeemed::Returned => Err(ApiError::new(
            ProblemCode::Returned,
            "The holder gave this voucher back: it is void.",
        )),
        Redeemed::Moved => Err(moved()),
    }
}

/// Campaign `id`, once `staff` proved to be its staff token (a wrong one is counted towards
/// the address's throttle for that campaign).
async fn campaign_staff(
    state: &AppState,
    peer: Peer,
    id: &lineup_protocol::CampaignId,
    staff: &str,
    now: DateTime<Utc>,
) -> Result<std::sync::Arc<crate::store::CampaignRow>, ApiError> {
    let c = state.campaign(id).await?;
    let by_campaign: Key = (peer, Some(id.clone()));
    throttled(state, &by_campaign, now)?;
    if !staff_token_matches(staff, &c.staff_token_hash) {
        return Err(refused(
            state,
            &by_campaign,
            now,
            "This staff token is not valid for the voucher's campaign.",
        ));
    }
    Ok(c)
}

fn moved() -> ApiError {
    ApiError::new(
        ProblemCode::VoucherMoved,
        "This voucher moved to its holder's new device and got a new code there: this copy is void. Scan the code on the holder's current device.",
    )
}
