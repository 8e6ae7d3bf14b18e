//! `GET /v1/vouchers`: every voucher the signing identity holds (recovers a lost claim response).

use super::{private, voucher_body};
use crate::extract::RawRequest;
use crate::problem::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use lineup_protocol::VoucherList;

#[utoipa::path(get, path = "/v1/vouchers", tag = "vouchers", operation_id = "list_vouchers",
    security(("lineup_signature" = [])),
    responses(
        (status = 200, description = "every voucher held, with status", body = VoucherList),
        (status = 401, description = "not signed by a registered identity", body = lineup_protocol::Problem),
    ))]
pub async fn list(State(state): State<AppState>, req: RawRequest) -> Result<Response, ApiError> {
    let identity = req.identity(&state).await?;
    let now = state.now();
    let vouchers = state
        .store()
        .vouchers_of(&identity)
        .await?
        .iter()
        .map(|v| voucher_body(v, now))
        .collect();
    Ok(private(Json(VoucherList { vouchers }).into_response()))
}
