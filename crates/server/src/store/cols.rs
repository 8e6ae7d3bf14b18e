//! Column conversions every store module shares: instants kept as Unix milliseconds, counts
//! kept as `i64`, identity keys as 32-byte blobs.

use super::StoreError;
use chrono::{DateTime, Utc};
use lineup_protocol::IdentityKey;

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn at(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| StoreError::Corrupt(format!("instant {ms} out of range")))
}

pub(crate) fn opt_at(ms: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    ms.map(at).transpose()
}

/// A stored count or serial (never negative; a negative one reads as 0).
pub(crate) fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A count or serial to store (saturating at `i64::MAX`).
pub(crate) fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn key_of(bytes: &[u8]) -> Result<IdentityKey, StoreError> {
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("identity key is not 32 bytes".into()))?;
    Ok(IdentityKey(arr))
}
