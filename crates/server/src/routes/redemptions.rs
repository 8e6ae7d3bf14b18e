//! `POST /v1/redemptions`: the box office. The bearer must be some campaign's staff token
//! before the body is read (compared in constant time with every campaign's); a scanned token
//! is then verified offline; the staff token of the voucher's campaign is checked; the first
//! redemption wins one atomic conditional update.

use crate::extract::RawRequest;
use crate::issuer::{staff_token_matches, staff_token_matches_any};
use crate::problem::ApiError;
use crate::state::AppState;
use crate::store::{RedeemOutcome, RedeemTarget};
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use lineup_protocol::voucher::{self, VoucherError};
use lineup_protocol::{ProblemCode, RedeemRequest, Redemption};

#[utoipa::path(post, path = "/v1/redemptions", tag = "box office",
    request_body = RedeemRequest,
    security(("staff_bearer" = [])),
    responses(
        (status = 200, description = "redeemed now", body = Redemption),
        (status = 400, description = "malformed body, or not exactly one of token and code", body = lineup_protocol::Problem),
        (status = 401, description = "staff token missing or no campaign's (checked before the body), or not the voucher's campaign's", body = lineup_protocol::Problem),
        (status = 404, description = "no voucher with this code", body = lineup_protocol::Problem),
        (status = 409, description = "already redeemed (first_redeemed_at)", body = lineup_protocol::Problem),
        (status = 410, description = "voucher expired", body = lineup_protocol::Problem),
        (status = 422, description = "forged or altered token", body = lineup_protocol::Problem),
    ))]
pub async fn redeem(State(state): State<AppState>, req: RawRequest) -> Result<Response, ApiError> {
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
    let campaigns = state.campaigns().await?;
    if !staff_token_matches_any(&staff, campaigns.iter().map(|c| &c.staff_token_hash)) {
        return Err(ApiError::new(
            ProblemCode::StaffUnauthorized,
            "This staff token is not valid for any campaign.",
        ));
    }
    let body: RedeemRequest = req.json()?;
    let now = state.now();
    let target = match (&body.token, &body.code) {
        (Some(token), None) => {
            let t = voucher::verify(token, state.issuer().public_keys(), None).map_err(|e| match e {
                VoucherError::Expired(_) => ApiError::new(ProblemCode::VoucherExpired, e.to_string()),
                _ => ApiError::new(ProblemCode::InvalidVoucher, e.to_string()),
            })?;
            RedeemTarget::Serial {
                campaign_id: t.claims.campaign,
                serial: t.claims.serial,
            }
        }
        (None, Some(code)) => RedeemTarget::Code(code.clone()),
        _ => {
            return Err(ApiError::new(
                ProblemCode::InvalidInput,
                "Give exactly one of token (scanned) or code (typed).",
            ));
        }
    };
    let Some(v) = state.store().find_voucher(&target).await? else {
        return Err(ApiError::new(ProblemCode::NotFound, "No voucher has this code."));
    };
    let c = state.campaign(&v.campaign_id).await?;
    if !staff_token_matches(&staff, &c.staff_token_hash) {
        return Err(ApiError::new(
            ProblemCode::StaffUnauthorized,
            "This staff token is not valid for the voucher's campaign.",
        ));
    }
    if now > v.expires_at {
        return Err(ApiError::new(
            ProblemCode::VoucherExpired,
            format!("The voucher expired at {}.", v.expires_at.to_rfc3339()),
        ));
    }
    match state.store().redeem(&target, now).await? {
        RedeemOutcome::Redeemed(v) => {
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
        RedeemOutcome::AlreadyRedeemed { first_redeemed_at } => Err(ApiError::new(
            ProblemCode::AlreadyRedeemed,
            format!("This voucher was first redeemed at {}.", first_redeemed_at.to_rfc3339()),
        )
        .first_redeemed_at(first_redeemed_at)),
        RedeemOutcome::Returned => Err(ApiError::new(
            ProblemCode::Returned,
            "The holder gave this voucher back: it is void.",
        )),
        RedeemOutcome::UnknownVoucher => Err(ApiError::new(ProblemCode::NotFound, "No such voucher.")),
    }
}
