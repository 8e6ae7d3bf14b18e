//! The draw as a keyed permutation of the join order, so drawing writes nothing per ticket.
//!
//! At `draw_at` the server fixes only `n` (how many tickets joined before the draw) next to the
//! campaign's seed. The ticket that joined `i`-th (0-based) then has position
//! `Draw::position_of(i)`, and the ticket at position `p` is `Draw::index_at(p)`: both O(1), no
//! row written at the draw, so a draw of millions of tickets is one tiny transaction and no
//! request ever waits on it.
//!
//! The permutation is a balanced Feistel network over `[0, 4^h)` (the smallest power of four
//! holding `n`, so each half has `h` bits) with [`ROUNDS`] rounds whose round function is
//! `SHA-256("lineup-draw-v1" || seed || round || half)` (first 8 bytes, big-endian, masked to
//! `h` bits), restricted to `[0, n)` by cycle-walking (apply it again while the result is
//! `>= n`; it ends because the network is a permutation of the larger domain, and takes fewer
//! than four steps on average). Written out here so it can never change with a library upgrade
//! and an independent implementation can recompute every position.

use crate::schedule;
use crate::store::TicketRow;
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Drawn positions a counters read looks ahead for the next admission that may expire.
pub const RELEASE_LOOKAHEAD: u64 = 256;

/// Feistel rounds: enough that the order is indistinguishable from random without the seed.
pub const ROUNDS: u8 = 8;

/// The draw of one campaign: `n` tickets, keyed by `seed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Draw {
    seed: u64,
    n: u64,
    half_bits: u32,
}

impl Draw {
    pub fn new(seed: u64, n: u64) -> Self {
        // Bits of the largest index, rounded up to an even count (at least 2).
        let bits = 64 - n.saturating_sub(1).leading_zeros();
        let half_bits = bits.div_ceil(2).max(1);
        Draw { seed, n, half_bits }
    }

    /// Tickets in the draw.
    pub fn len(&self) -> u64 {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The 1-based position of the ticket that joined `index`-th (0-based), or `None` when
    /// `index` is not in the draw.
    pub fn position_of(&self, index: u64) -> Option<u64> {
        if index >= self.n {
            return None;
        }
        let mut x = index;
        loop {
            x = self.encrypt(x);
            if x < self.n {
                return Some(x + 1);
            }
        }
    }

    /// The 0-based join index of the ticket at 1-based `position`, or `None` when no ticket of
    /// the draw has it.
    pub fn index_at(&self, position: u64) -> Option<u64> {
        if position == 0 || position > self.n {
            return None;
        }
        let mut x = position - 1;
        loop {
            x = self.decrypt(x);
            if x < self.n {
                return Some(x);
            }
        }
    }

    fn mask(&self) -> u64 {
        (1u64 << self.half_bits) - 1
    }

    fn round(&self, round: u8, half: u64) -> u64 {
        let mut h = Sha256::new();
        h.update(b"lineup-draw-v1");
        h.update(self.seed.to_be_bytes());
        h.update([round]);
        h.update(half.to_be_bytes());
        let d = h.finalize();
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[..8]);
        u64::from_be_bytes(b) & self.mask()
    }

    fn encrypt(&self, x: u64) -> u64 {
        let (mut l, mut r) = (x >> self.half_bits, x & self.mask());
        for k in 0..ROUNDS {
            (l, r) = (r, l ^ self.round(k, r));
        }
        (l << self.half_bits) | r
    }

    fn decrypt(&self, y: u64) -> u64 {
        let (mut l, mut r) = (y >> self.half_bits, y & self.mask());
        for k in (0..ROUNDS).rev() {
            (l, r) = (r ^ self.round(k, l), l);
        }
        (l << self.half_bits) | r
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_a_bijection_for_many_sizes() {
        for n in [1u64, 2, 3, 4, 5, 7, 8, 15, 16, 17, 100, 1000, 4097] {
            let d = Draw::new(42, n);
            let mut seen = vec![false; n as usize];
            for i in 0..n {
                let p = d.position_of(i).unwrap();
                assert!((1..=n).contains(&p), "n={n} i={i} p={p}");
                assert!(!seen[(p - 1) as usize], "position {p} given twice (n={n})");
                seen[(p - 1) as usize] = true;
                assert_eq!(d.index_at(p), Some(i), "inverse (n={n})");
            }
            assert_eq!(d.position_of(n), None);
            assert_eq!(d.index_at(0), None);
            assert_eq!(d.index_at(n + 1), None);
        }
        assert!(Draw::new(1, 0).is_empty());
        assert_eq!(Draw::new(1, 0).position_of(0), None);
    }

    #[test]
    fn reproducible_from_the_seed_and_different_across_seeds() {
        let a: Vec<u64> = (0..1000).map(|i| Draw::new(7, 1000).position_of(i).unwrap()).collect();
        let b: Vec<u64> = (0..1000).map(|i| Draw::new(7, 1000).position_of(i).unwrap()).collect();
        let c: Vec<u64> = (0..1000).map(|i| Draw::new(8, 1000).position_of(i).unwrap()).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        // Test vector: an independent implementation must print the same positions.
        let v: Vec<u64> = (0..8).map(|i| Draw::new(7, 8).position_of(i).unwrap()).collect();
        assert_eq!(v, VECTOR_SEED7_N8);
    }

    /// Positions of join indexes 0..8 for seed 7 and n = 8 (see docs/protocol.md).
    const VECTOR_SEED7_N8: [u64; 8] = [2, 6, 4, 8, 7, 5, 1, 3];

    #[test]
    fn first_comers_get_no_advantage() {
        // Over many seeds, the first joiner's position is spread over the whole line.
        let n = 100u64;
        let mut front_half = 0;
        for seed in 0..2000u64 {
            if Draw::new(seed, n).position_of(0).unwrap() <= n / 2 {
                front_half += 1;
            }
        }
        assert!(
            (850..=1150).contains(&front_half),
            "first joiner in the front half {front_half} of 2000 times"
        );
    }

    #[test]
    fn large_draws_are_cheap_per_ticket() {
        let d = Draw::new(99, 5_000_000);
        for i in [0u64, 1, 2_500_000, 4_999_999] {
            let p = d.position_of(i).unwrap();
            assert_eq!(d.index_at(p), Some(i));
        }
    }
}
