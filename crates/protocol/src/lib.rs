//! Lineup's wire protocol: the types every client and server exchange, the voucher token
//! and its offline signature check, the human-readable voucher code and the request-signing
//! scheme. Pure data and cryptography: no I/O, so it builds for every platform the app targets.
//!
//! The prose description lives in `docs/protocol.md`; the byte-level test vectors in
//! `crates/protocol/tests/vectors/`.

pub mod api;
pub mod auth;
pub mod code;
pub mod ids;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod problem;
pub mod time;
pub mod voucher;

pub use api::*;
pub use code::VoucherCode;
pub use ids::*;
pub use problem::{Problem, ProblemCode};
pub use time::When;
pub use voucher::{PublicKeySet, VoucherClaims, VoucherError, VoucherToken};

/// Path prefix of every versioned endpoint.
pub const API_PREFIX: &str = "/v1";
/// Header carrying the client's idempotency key on claims.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";
