//! HTTP handlers, one module per resource. Handlers parse at the boundary, ask the store, and
//! shape the answer; decisions live in `schedule` and the store.

pub mod campaigns;
pub mod claim;
pub mod draw;
pub mod identities;
pub mod ops;
pub mod push;
pub mod redemptions;
pub mod tickets;
pub mod vouchers;

use crate::store::VoucherRow;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use chrono::{DateTime, Utc};
use lineup_protocol::{Voucher, VoucherStatus};

/// The wire form of a stored voucher, with its status at `now`.
pub fn voucher_body(v: &VoucherRow, now: DateTime<Utc>) -> Voucher {
    let status = if v.returned_at.is_some() {
        VoucherStatus::Returned
    } else if v.redeemed_at.is_some() {
        VoucherStatus::Redeemed
    } else if now > v.expires_at {
        VoucherStatus::Expired
    } else {
        VoucherStatus::Unused
    };
    Voucher {
        campaign_id: v.campaign_id.clone(),
        serial: v.serial,
        code: v.code.clone(),
        token: v.token.clone(),
        amount: v.amount,
        currency: v.currency.clone(),
        kid: v.kid,
        issued_at: v.issued_at,
        expires_at: v.expires_at,
        status,
        redeemed_at: v.redeemed_at,
    }
}

/// Marks a personal response as not cacheable by shared caches.
pub fn private(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    resp
}
