//! What one attacker did and what the server answered it, counted from many tasks at once.

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counters shared by one attacker's tasks.
#[derive(Debug, Default)]
pub struct Tally {
    /// Requests sent, or connections opened.
    sent: AtomicU64,
    /// Connections open now, and the most at once.
    open: AtomicU64,
    peak_open: AtomicU64,
    /// Longest a connection stayed open before the server ended it, milliseconds.
    longest_held_ms: AtomicU64,
    /// Requests the attacker meant to send but did not, because its own in-flight cap was
    /// reached (the server was slower than the attack rate).
    skipped: AtomicU64,
    outcomes: Mutex<BTreeMap<String, u64>>,
}

/// A [`Tally`] read at the end of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TallySnapshot {
    pub sent: u64,
    pub peak_open: u64,
    pub longest_held_ms: u64,
    pub skipped: u64,
    /// How each request or connection ended: `408 body_timeout`, `503 overloaded`,
    /// `closed by server`, `connect failed`, ...
    pub outcomes: BTreeMap<String, u64>,
}

impl Tally {
    pub fn sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }

    pub fn skipped(&self) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
    }

    pub fn opened(&self) {
        let now = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_open.fetch_max(now, Ordering::Relaxed);
    }

    pub fn closed(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }

    /// A connection the server ended after `held`.
    pub fn held(&self, held: Duration) {
        let ms = u64::try_from(held.as_millis()).unwrap_or(u64::MAX);
        self.longest_held_ms.fetch_max(ms, Ordering::Relaxed);
    }

    pub fn outcome(&self, what: impl Into<String>) {
        if let Ok(mut m) = self.outcomes.lock() {
            *m.entry(what.into()).or_insert(0) += 1;
        }
    }

    pub fn snapshot(&self) -> TallySnapshot {
        TallySnapshot {
            sent: self.sent.load(Ordering::Relaxed),
            peak_open: self.peak_open.load(Ordering::Relaxed),
            longest_held_ms: self.longest_held_ms.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            outcomes: self.outcomes.lock().map(|m| m.clone()).unwrap_or_default(),
        }
    }
}

/// `"<status> <code>"` for an HTTP answer: the problem code from a problem+json body, when
/// there is one.
pub fn label(status: u16, body: &[u8]) -> String {
    // A success's `code` is a voucher's, not a problem's.
    let code = (status >= 400)
        .then(|| serde_json::from_slice::<serde_json::Value>(body).ok())
        .flatten()
        .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_owned));
    match code {
        Some(c) => format!("{status} {c}"),
        None => status.to_string(),
    }
}

/// The status of a raw HTTP/1.1 response's first bytes (`HTTP/1.1 408 ...`), and its body if
/// the bytes hold one.
pub fn parse_raw_response(bytes: &[u8]) -> Option<(u16, &[u8])> {
    let text = bytes.strip_prefix(b"HTTP/1.")?;
    let status = std::str::from_utf8(text.get(2..5)?).ok()?.parse().ok()?;
    let body = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(&[][..], |i| &bytes[i + 4..]);
    Some((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_labelled_by_status_and_problem_code() {
        let raw = b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/problem+json\r\n\r\n{\"code\":\"body_timeout\",\"status\":408}";
        let (status, body) = parse_raw_response(raw).unwrap();
        assert_eq!(label(status, body), "408 body_timeout");
        assert_eq!(parse_raw_response(b"HTTP/1.1 503 x\r\n").map(|r| r.0), Some(503));
        assert_eq!(label(404, b"not json"), "404");
        assert_eq!(label(201, b"{\"code\":\"A8D3-5PWU-AQC5\"}"), "201");
        assert!(parse_raw_response(b"garbage").is_none());
        assert!(parse_raw_response(b"HTTP/1.1 ").is_none());
    }

    #[test]
    fn counters_keep_peaks_and_outcomes() {
        let t = Tally::default();
        t.opened();
        t.opened();
        t.closed();
        t.opened();
        t.sent();
        t.outcome("closed by server");
        t.outcome("closed by server");
        t.held(Duration::from_millis(30_001));
        t.held(Duration::from_millis(5));
        let s = t.snapshot();
        assert_eq!((s.sent, s.peak_open, s.longest_held_ms), (1, 2, 30_001));
        assert_eq!(s.outcomes["closed by server"], 2);
    }
}
