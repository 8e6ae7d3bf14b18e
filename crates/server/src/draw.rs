//! The draw as a keyed permutation of the join order, so drawing writes nothing per ticket.
//!
//! At `draw_at` the server fixes only `n` (how many tickets joined before the draw) next to the
//! campaign's seed. The ticket that joined `i`-th (0-based) then has position
//! `Draw::position_of(i)`, and the ticket at position `p` is `Draw::index_at(p)`: both O(1), no
//! row written at the draw, so a draw of millions of tickets is one tiny transaction and no
//! request ever waits on it.
//!
//! The permutation itself (a keyed Feistel network with cycle-walking) is
//! [`lineup_protocol::draw::Draw`]: the one implementation the server draws with and clients
//! verify with (`lineup verify-draw`), specified byte by byte in docs/protocol.md.

use crate::schedule;
use crate::store::TicketRow;
use chrono::{DateTime, Duration, Utc};
pub use lineup_protocol::draw::{Draw, ROUNDS};
use std::collections::HashMap;

/// Drawn positions a counters read looks ahead for the next admission that may expire.
pub const RELEASE_LOOKAHEAD: u64 = 256;

/// What a store reads with a ticket row to complete it: the campaign's draw and schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LazyDraw {
    /// `None` before the draw, and for campaigns drawn before positions became lazy (their
    /// positions are stored).
    pub draw: Option<Draw>,
    pub supply: u64,
    pub opens_at: DateTime<Utc>,
    pub admission_rate_per_s: u32,
    pub admission_window: Duration,
}

impl LazyDraw {
    /// Fills in the position and, within the supply, the scheduled admission of a ticket that
    /// joined before the draw and whose place is not stored. A stored admission (a returned
    /// voucher that reached the ticket) is kept.
    pub fn complete(&self, row: &mut TicketRow) {
        if row.position.is_some() || !row.in_draw {
            return;
        }
        let Some(p) = self.draw.and_then(|d| d.position_of(row.seq.saturating_sub(1))) else {
            return;
        };
        row.position = Some(p);
        if row.admit_at.is_none() && p <= self.supply {
            let a = schedule::admit_at_by_rate(self.opens_at, self.admission_rate_per_s, p);
            row.admit_at = Some(a);
            row.admit_until = Some(a + self.admission_window);
        }
    }

    /// Positions in the draw that are within the supply (their admission is computed, not stored).
    pub fn scheduled_positions(&self) -> u64 {
        self.draw.map_or(0, |d| d.len().min(self.supply))
    }

    /// The drawn positions in `positions`, keyed by the join sequence number of the ticket at
    /// each (how stores look tickets up, and turn what they find back into positions).
    pub fn by_seq(&self, positions: std::ops::RangeInclusive<u64>) -> HashMap<u64, u64> {
        positions.filter_map(|p| self.seq_at(p).map(|q| (q, p))).collect()
    }

    /// The join sequence number (1-based, as stored) of the ticket at `position`, when that
    /// position belongs to the draw.
    pub fn seq_at(&self, position: u64) -> Option<u64> {
        self.draw.and_then(|d| d.index_at(position)).map(|i| i + 1)
    }

    /// How many of the first [`Self::scheduled_positions`] are admitted at or before `t`.
    pub fn admitted_by(&self, t: DateTime<Utc>) -> u64 {
        let cap = self.scheduled_positions();
        if cap == 0 || schedule::admit_at_by_rate(self.opens_at, self.admission_rate_per_s, 1) > t {
            return 0;
        }
        let (mut lo, mut hi) = (1u64, cap);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if schedule::admit_at_by_rate(self.opens_at, self.admission_rate_per_s, mid) <= t {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        lo
    }

    /// The scheduled admission window of `position` (within the supply).
    pub fn window_of(&self, position: u64) -> (DateTime<Utc>, DateTime<Utc>) {
        let a = schedule::admit_at_by_rate(self.opens_at, self.admission_rate_per_s, position);
        (a, a + self.admission_window)
    }
}

/// The keys of a [`LazyDraw::by_seq`] map as stored (`i64`).
pub fn seqs(by_seq: &HashMap<u64, u64>) -> Vec<i64> {
    by_seq.keys().map(|&q| i64::try_from(q).unwrap_or(i64::MAX)).collect()
}
