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

/// Levels of the join tree a server does not keep: a proof's lowest steps are made from the 16
/// ticket ids of the ticket's block, read when asked (a million tickets then take about 4 MB).
pub const TREE_SKIP: u32 = 4;

/// A draw whose join order is sealed: its stored row and the Merkle tree of the join order as
/// stored now, from level [`TREE_SKIP`] up (it serves per-ticket proofs; if the stored order was
/// changed after the seal, its root differs from the sealed one and every check against the
/// seal fails).
#[derive(Debug)]
pub struct Sealed {
    pub row: crate::store::draw_record::DrawRow,
    pub tree: lineup_protocol::draw::BlockTree,
}

/// Sealed draws by campaign, built once per instance (a sealed draw never changes), and the
/// lock that keeps one instance from building the same tree twice at once.
#[derive(Debug, Default)]
pub struct DrawCache {
    sealed: std::sync::Mutex<HashMap<lineup_protocol::CampaignId, std::sync::Arc<Sealed>>>,
    /// Drawn campaigns that cannot be sealed (drawn with stored positions, before draws were
    /// lazy): not tried again.
    unsealable: std::sync::Mutex<std::collections::HashSet<lineup_protocol::CampaignId>>,
    building: tokio::sync::Mutex<()>,
}

/// Ticket ids read per query while building a tree (a whole number of blocks).
const SEAL_PAGE: u64 = 3125 << TREE_SKIP;

impl DrawCache {
    pub fn get(&self, id: &lineup_protocol::CampaignId) -> Option<std::sync::Arc<Sealed>> {
        self.sealed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// Whether sealing `id` in the background is worth starting now (not sealed, not known to
    /// be unsealable, no tree being built).
    pub fn wants_seal(&self, id: &lineup_protocol::CampaignId) -> bool {
        self.get(id).is_none()
            && !self
                .unsealable
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .contains(id)
            && self.building.try_lock().is_ok()
    }

    /// The sealed draw of a drawn campaign: reads the join order (seq 1..=n), builds its tree
    /// and seals the root unless it is sealed already (the first seal stands). `None` when the
    /// campaign is not drawn, or was drawn with stored positions (no `n`).
    pub async fn seal(
        &self,
        store: &crate::store::Store,
        id: &lineup_protocol::CampaignId,
    ) -> Result<Option<std::sync::Arc<Sealed>>, crate::store::StoreError> {
        use crate::store::draw_record;
        if let Some(s) = self.get(id) {
            return Ok(Some(s));
        }
        let _building = self.building.lock().await;
        if let Some(s) = self.get(id) {
            return Ok(Some(s));
        }
        let Some(row) = draw_record::draw_row(store, id).await? else {
            return Ok(None);
        };
        let Some(n) = row.n.filter(|_| row.drawn) else {
            if row.drawn {
                self.unsealable
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(id.clone());
            }
            return Ok(None);
        };
        use lineup_protocol::draw::{BlockTree, leaf_hash};
        let mut roots = Vec::new();
        let mut from = 1;
        while from <= n {
            let to = n.min(from + SEAL_PAGE - 1);
            let leaves: Vec<[u8; 32]> = draw_record::ticket_ids(store, id, from, to)
                .await?
                .iter()
                .map(|(_, tid)| leaf_hash(tid))
                .collect();
            roots.extend(
                leaves
                    .chunks(BlockTree::block_len(TREE_SKIP) as usize)
                    .map(BlockTree::block_root),
            );
            from = to + 1;
        }
        let tree = BlockTree::from_block_roots(TREE_SKIP, n, roots);
        let stored = match row.list_root {
            Some(r) => Some(r),
            None => draw_record::seal_list_root(store, id, &tree.root()).await?,
        };
        if stored != Some(tree.root()) {
            tracing::error!(campaign = %id, "the stored join order does not match its sealed Merkle root");
        } else if row.list_root.is_none() {
            tracing::info!(campaign = %id, tickets = n, "draw sealed");
        }
        let sealed = std::sync::Arc::new(Sealed {
            row: draw_record::DrawRow {
                list_root: stored,
                ..row
            },
            tree,
        });
        self.sealed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id.clone(), sealed.clone());
        Ok(Some(sealed))
    }
}
